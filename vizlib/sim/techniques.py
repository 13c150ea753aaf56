"""The four kinds of virtualization side by side: who handles what. Lesson 01 introduces them.

A pure model of the article's classification (hardware emulation, full virtualization,
paravirtualization) plus hardware-assisted virtualization: for each technique, what the guest
needs and gets (`properties`), and for a guest event, the path it takes through the layers (`path`).
Facts: Popek & Goldberg 1974; Adams & Agesen, ASPLOS 2006; Barham et al., SOSP 2003; Bellard,
USENIX 2005 (shared REFERENCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

TECHNIQUES = ("emulation", "full-virtualization", "paravirtualization", "hardware-assisted")
EVENTS = ("app-arithmetic", "system-call", "disable-interrupts", "page-table-write", "device-io")

EVENT_LABELS = {
    "app-arithmetic": "an application adds two numbers (ADD)",
    "system-call": "an application makes a system call (SYSCALL)",
    "disable-interrupts": "the guest kernel disables interrupts (CLI)",
    "page-table-write": "the guest kernel updates a page-table entry",
    "device-io": "the guest kernel writes to a device register (OUT)",
}

# Who acts, as one of the course's diagram layers (see vizlib.diagrams).
GUEST_USER, GUEST_KERNEL, CPU = "guest user", "guest kernel", "hardware"
VMM, EMULATOR = "hypervisor", "emulator"


@dataclass(frozen=True)
class Step:
    """One hop of an event's path: who acts (a layer) and what it does."""

    actor: str
    action: str


@dataclass(frozen=True)
class Properties:
    """What a technique needs from the guest and the hardware, and what it gives."""

    technique: str
    guest_modified: bool
    needs_hardware_support: bool
    guest_isa_may_differ: bool
    guest_kernel_runs_in: str
    speed: str
    examples: tuple[str, ...]


PROPERTIES = {
    "emulation": Properties(
        "emulation",
        guest_modified=False,
        needs_hardware_support=False,
        guest_isa_may_differ=True,
        guest_kernel_runs_in="nowhere on the real CPU: the emulator runs it as data, in user space",
        speed="slowest: every guest instruction is interpreted or translated (QEMU user mode ~4x "
        "slower than native on integer code, ~2x more with a soft MMU; Bellard 2005)",
        examples=("QEMU (TCG)", "Bochs", "PearPC"),
    ),
    "full-virtualization": Properties(
        "full-virtualization",
        guest_modified=False,
        needs_hardware_support=False,
        guest_isa_may_differ=False,
        guest_kernel_runs_in="ring 1, deprivileged; its code is binary-translated by the VMM",
        speed="near native for user code, slower for kernel-heavy work (forkwait 6.1x on a "
        "Pentium 4; Adams & Agesen 2006)",
        examples=("VMware Workstation (1999)", "VirtualBox (software mode)"),
    ),
    "paravirtualization": Properties(
        "paravirtualization",
        guest_modified=True,
        needs_hardware_support=False,
        guest_isa_may_differ=False,
        guest_kernel_runs_in="ring 1 (x86-32) or ring 3 (x86-64), calling the hypervisor",
        speed="close to native: the guest asks the hypervisor instead of being trapped "
        "(Barham et al. 2003)",
        examples=("Xen PV guests (2003)",),
    ),
    "hardware-assisted": Properties(
        "hardware-assisted",
        guest_modified=False,
        needs_hardware_support=True,
        guest_isa_may_differ=False,
        guest_kernel_runs_in="ring 0 of VMX non-root (guest) mode",
        speed="near native for most work; each VM exit costs a world switch (about 0.1 us on "
        "recent Xeons, PVM paper 2023)",
        examples=("KVM", "Xen HVM", "Hyper-V", "VMware ESXi (today)"),
    ),
}

_DIRECT = Step(CPU, "runs the instruction directly, at full speed")
_EMULATE = Step(EMULATOR, "decodes the guest instruction and performs it on its model of the CPU")

_PATHS: dict[tuple[str, str], tuple[Step, ...]] = {
    ("emulation", "app-arithmetic"): (Step(GUEST_USER, "ADD"), _EMULATE),
    ("emulation", "system-call"): (
        Step(GUEST_USER, "SYSCALL"),
        Step(EMULATOR, "switches its virtual CPU to the guest kernel's entry point"),
        Step(GUEST_KERNEL, "handles the call, itself emulated instruction by instruction"),
    ),
    ("emulation", "disable-interrupts"): (
        Step(GUEST_KERNEL, "CLI"),
        Step(EMULATOR, "clears the interrupt flag of its virtual CPU"),
    ),
    ("emulation", "page-table-write"): (
        Step(GUEST_KERNEL, "writes the entry into guest memory"),
        Step(EMULATOR, "its soft MMU flushes the cached translations of that page"),
    ),
    ("emulation", "device-io"): (
        Step(GUEST_KERNEL, "OUT"),
        Step(EMULATOR, "calls the device model that owns the port"),
    ),
    ("full-virtualization", "app-arithmetic"): (Step(GUEST_USER, "ADD"), _DIRECT),
    ("full-virtualization", "system-call"): (
        Step(GUEST_USER, "SYSCALL"),
        Step(CPU, "traps to ring 0, where the VMM, not the guest kernel, is"),
        Step(VMM, "reflects the call into the guest kernel, which runs translated"),
    ),
    ("full-virtualization", "disable-interrupts"): (
        Step(GUEST_KERNEL, "CLI, rewritten by the binary translator"),
        Step(VMM, "translated code clears the guest's virtual interrupt flag (no trap)"),
    ),
    ("full-virtualization", "page-table-write"): (
        Step(GUEST_KERNEL, "writes the entry"),
        Step(CPU, "the page is write-protected: page fault into the VMM"),
        Step(VMM, "updates its shadow page table to match, then resumes the guest"),
    ),
    ("full-virtualization", "device-io"): (
        Step(GUEST_KERNEL, "OUT, replaced by a callout"),
        Step(VMM, "emulates the device register"),
    ),
    ("paravirtualization", "app-arithmetic"): (Step(GUEST_USER, "ADD"), _DIRECT),
    ("paravirtualization", "system-call"): (
        Step(GUEST_USER, "SYSCALL"),
        Step(VMM, "bounces it to the guest kernel (or a fast path the guest registered)"),
        Step(GUEST_KERNEL, "handles the call"),
    ),
    ("paravirtualization", "disable-interrupts"): (
        Step(GUEST_KERNEL, "sets its 'events masked' flag in memory shared with Xen (no trap)"),
    ),
    ("paravirtualization", "page-table-write"): (
        Step(GUEST_KERNEL, "queues the update; a batch of up to 2048 goes in one hypercall"),
        Step(VMM, "validates each update and writes the real page table"),
    ),
    ("paravirtualization", "device-io"): (
        Step(GUEST_KERNEL, "its frontend driver puts a request on a shared ring, notifies once"),
        Step(VMM, "delivers the event to Dom0"),
        Step(EMULATOR, "Dom0's backend driver performs the I/O on the real device"),
    ),
    ("hardware-assisted", "app-arithmetic"): (Step(GUEST_USER, "ADD"), _DIRECT),
    ("hardware-assisted", "system-call"): (
        Step(GUEST_USER, "SYSCALL"),
        Step(CPU, "enters the guest kernel directly, inside guest mode (no VM exit)"),
        Step(GUEST_KERNEL, "handles the call"),
    ),
    ("hardware-assisted", "disable-interrupts"): (
        Step(GUEST_KERNEL, "CLI"),
        Step(CPU, "clears the guest's own interrupt flag in guest mode (no VM exit)"),
    ),
    ("hardware-assisted", "page-table-write"): (
        Step(GUEST_KERNEL, "writes the entry"),
        Step(CPU, "with EPT/NPT nothing to do: the guest owns its page tables (no VM exit)"),
    ),
    ("hardware-assisted", "device-io"): (
        Step(GUEST_KERNEL, "OUT"),
        Step(CPU, "VM exit: saves the guest state, returns to the hypervisor"),
        Step(VMM, "kvm.ko sees an I/O exit and hands it to user space"),
        Step(EMULATOR, "QEMU's device model emulates the register, then the guest resumes"),
    ),
}


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def properties(technique: str) -> Properties:
    """What `technique` needs and gives (Lesson 01)."""
    _check("technique", technique, TECHNIQUES)
    return PROPERTIES[technique]


def path(technique: str, event: str) -> tuple[Step, ...]:
    """The steps a guest `event` takes under `technique`, first to last (Lesson 01)."""
    _check("technique", technique, TECHNIQUES)
    _check("event", event, EVENTS)
    return _PATHS[(technique, event)]


def leaves_guest(technique: str, event: str) -> bool:
    """True when handling `event` needs software outside the guest (hypervisor or emulator)."""
    return any(step.actor in (VMM, EMULATOR) for step in path(technique, event))
