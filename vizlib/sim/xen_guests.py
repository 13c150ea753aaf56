"""Xen's guest types, what each asks of the guest kernel and of the hardware, as data. Lesson 09.

Sources: xl.cfg(5) (`type="pv"`, `"pvh"`, `"hvm"`; "PVH: a lightweight HVM-like guest without a
device model ... requires a PVH aware kernel"; "HVM: a fully virtualised computer with emulated
BIOS, disk and network peripherals"; `hdtype`, default "ide"; `bootloader` (pygrub) and
`firmware="pvgrub32|pvgrub64"` for PV; PVH boots by direct kernel boot or a bootloader, "no
firmware available"; `device_model_stubdomain_override`); xl-network-configuration(5) (emulated
NIC `model=`: rtl8139, the default, or e1000; `type=ioemu` offers the PV device beside it);
Barham et al. (SOSP 2003) for PV; the Xen 3.0 Interface Guide and XSA-370 for the PV kernel's
ring (ring 1 on 32-bit x86; ring 3 on x86-64, which enforces no segment limits); Xen's
docs/misc/pvh (the PVH entry point, XEN_ELFNOTE_PHYS32_ENTRY) and docs/misc/hvm-emulated-unplug
(PV drivers unplug the emulated disk and NIC). "PVHVM" is not an xl.cfg type: the name means an
HVM guest whose kernel uses PV drivers.
"""

from __future__ import annotations

from dataclasses import dataclass

from vizlib.i18n import N_, _
from vizlib.sim.errors import not_a_bool


@dataclass(frozen=True)
class GuestType:
    """One way to run a Xen DomU. Lesson 09."""

    name: str
    xl_type: str  # the value of `type=` in an xl.cfg file
    kernel: str  # what the guest kernel must be
    kernel_unchanged: bool  # an unmodified kernel works (drivers may be added as modules)
    needs_vtx: bool  # needs Intel VT-x or AMD-V
    device_model: str | None  # who emulates devices, None if nobody does
    disk_and_network: str
    boot: str
    privileged_instructions: str  # what happens when the guest kernel does privileged work

    def row(self) -> tuple:
        """The guest type as a table row under GUEST_COLUMNS, in the course's language."""
        model = _(self.device_model) if self.device_model else _("none")
        kernel, disk_and_network = _(self.kernel), _(self.disk_and_network)
        return (self.name, self.xl_type, kernel, self.needs_vtx, model, disk_and_network)

    def running_row(self) -> tuple[str, str, str]:
        """How the guest type boots and does privileged work, a row under RUNNING_COLUMNS, in the
        course's language."""
        return (self.name, _(self.boot), _(self.privileged_instructions))


GUEST_TYPES = (
    GuestType(
        name="PV",
        xl_type="pv",
        kernel=N_(
            "Xen-aware: calls Xen (hypercalls) instead of touching page tables, interrupts, "
            "the CPU's control state"
        ),
        kernel_unchanged=False,
        needs_vtx=False,
        device_model=None,
        disk_and_network=N_("PV frontends (blkfront, netfront) to Dom0's backends"),
        boot=N_(
            "Xen loads the guest kernel directly (kernel=), or a bootloader finds it (pygrub "
            "in Dom0, pvgrub in the guest)"
        ),
        privileged_instructions=N_(
            "the kernel runs deprivileged (ring 1 on 32-bit x86, ring 3 on "
            "64-bit) and asks Xen by hypercall; Xen checks every page-table update"
        ),
    ),
    GuestType(
        name="PVH",
        xl_type="pvh",
        kernel=N_("PVH-aware: boots at Xen's PVH entry point, uses PV drivers and event channels"),
        kernel_unchanged=False,
        needs_vtx=True,
        device_model=None,
        disk_and_network=N_("PV frontends to Dom0's backends; no emulated devices"),
        boot=N_("Xen loads the guest kernel directly (kernel=), or a bootloader; no BIOS"),
        privileged_instructions=N_(
            "the kernel runs in non-root ring 0 with its own page tables "
            "(hardware-assisted paging), like an HVM guest"
        ),
    ),
    GuestType(
        name="PVHVM",
        xl_type="hvm",
        kernel=N_("unmodified, with PV drivers added (built into Linux, installable on Windows)"),
        kernel_unchanged=True,
        needs_vtx=True,
        device_model=N_(
            "QEMU in Dom0 or a stub domain (for boot; emulated disk and NIC unplugged "
            "once the PV drivers load)"
        ),
        disk_and_network=N_("PV frontends to Dom0's backends once booted"),
        boot=N_("emulated BIOS or UEFI firmware, as a PC"),
        privileged_instructions=N_(
            "the kernel runs in non-root ring 0; VT-x / AMD-V trap what Xen must see (VM exits)"
        ),
    ),
    GuestType(
        name="HVM",
        xl_type="hvm",
        kernel=N_("any unmodified OS (e.g. Windows)"),
        kernel_unchanged=True,
        needs_vtx=True,
        device_model=N_("QEMU in Dom0 or a stub domain"),
        disk_and_network=N_(
            "emulated by QEMU (IDE disk, e1000 or RTL8139 NIC); each register access is a VM exit"
        ),
        boot=N_("emulated BIOS or UEFI firmware, as a PC"),
        privileged_instructions=N_(
            "the kernel runs in non-root ring 0; VT-x / AMD-V trap what Xen must see (VM exits)"
        ),
    ),
)
NAMES = tuple(g.name for g in GUEST_TYPES)
GUEST_COLUMNS = (
    N_("Type"),
    N_("type ="),
    N_("Guest kernel"),
    N_("Needs VT-x / AMD-V"),
    N_("Device model"),
    N_("Disk and network"),
)

RUNNING_COLUMNS = (N_("Type"), N_("Boot"), N_("Privileged work"))


def suitable(
    *, kernel_can_change: bool, has_vtx: bool, device_model_allowed: bool, needs_fast_io: bool
) -> tuple[str, ...]:
    """The guest types that meet a set of constraints, in GUEST_TYPES order. Lesson 09.

    `kernel_can_change`: the guest's kernel may be Xen-aware or PVH-aware (Linux, the BSDs);
    False for an OS you cannot change (Windows). `has_vtx`: the CPU has VT-x / AMD-V.
    `device_model_allowed`: a QEMU may run for the guest. `needs_fast_io`: disk and network
    must go through PV drivers, not emulated devices.
    """
    flags = {
        "kernel_can_change": kernel_can_change,
        "has_vtx": has_vtx,
        "device_model_allowed": device_model_allowed,
        "needs_fast_io": needs_fast_io,
    }
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise not_a_bool(name, value)
    return tuple(
        g.name
        for g in GUEST_TYPES
        if (kernel_can_change or g.kernel_unchanged)
        and (has_vtx or not g.needs_vtx)
        and (device_model_allowed or g.device_model is None)
        and (not needs_fast_io or g.name != "HVM")
    )


# Typical constraints, as arguments of `suitable`.
EXAMPLES = {
    N_("Linux on an old CPU without VT-x"): dict(
        kernel_can_change=True, has_vtx=False, device_model_allowed=True, needs_fast_io=True
    ),
    N_("Linux, VT-x, no QEMU allowed"): dict(
        kernel_can_change=True, has_vtx=True, device_model_allowed=False, needs_fast_io=True
    ),
    N_("Windows, fast disk and network"): dict(
        kernel_can_change=False, has_vtx=True, device_model_allowed=True, needs_fast_io=True
    ),
    N_("Windows, no QEMU allowed"): dict(
        kernel_can_change=False, has_vtx=True, device_model_allowed=False, needs_fast_io=False
    ),
}

# Xen beside KVM, one question a row (lessons 01, 07 and 08 for KVM; PVM: SOSP 2023, posted to
# Linux as an RFC in 2024 and not merged; xl.cfg(5) for Xen's schedulers).
XEN_AND_KVM = (
    (
        N_("What is the hypervisor?"),
        N_("Xen, a small kernel of its own on the bare metal (type 1)"),
        N_("Linux itself, with the kvm.ko module (type 1 or 2: argued, lesson 01)"),
    ),
    (
        N_("Who schedules the vCPUs?"),
        N_("Xen's own scheduler (credit, credit2)"),
        N_("Linux's scheduler: each vCPU is a thread of a QEMU process"),
    ),
    (
        N_("Who owns the memory?"),
        N_("Xen, which gives each domain its pages"),
        N_("Linux: guest memory is memory of the QEMU process"),
    ),
    (
        N_("Where do the device drivers live?"),
        N_("in Dom0's kernel (or in a driver domain)"),
        N_("in the host's Linux kernel"),
    ),
    (
        N_("What is the privileged OS?"),
        N_(
            "Dom0: itself a virtual machine that Xen schedules; its toolstack (xl) creates the "
            "others"
        ),
        N_("the host: the same Linux that is the hypervisor"),
    ),
    (
        N_("Paravirtual I/O"),
        N_("split drivers: frontend, backend, shared ring, grant table, event channel"),
        N_("virtio: virtqueues, with backends in QEMU or the host kernel (vhost)"),
    ),
    (
        N_("Emulated devices for unmodified guests"),
        N_("QEMU in Dom0 or in a stub domain"),
        N_("QEMU, a process in the host's user space"),
    ),
    (
        N_("Needs VT-x / AMD-V?"),
        N_("not for PV guests; yes for PVH, PVHVM and HVM"),
        N_("yes on x86 (PVM, lesson 07, does without, but is not part of Linux)"),
    ),
)


def example_rows() -> list[tuple[str, str]]:
    """Each of EXAMPLES and the guest types `suitable` finds for it (or none), in the course's
    language. Lesson 09."""
    return [
        (_(case), _(", ").join(suitable(**constraints)) or _("none"))
        for case, constraints in EXAMPLES.items()
    ]


def xen_and_kvm_rows() -> list[tuple[str, str, str]]:
    """XEN_AND_KVM in the course's language: a question, Xen's answer, KVM's. Lesson 09."""
    return [tuple(map(_, row)) for row in XEN_AND_KVM]
