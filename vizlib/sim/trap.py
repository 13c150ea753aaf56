"""A guest program run natively and under four virtualization techniques. Lesson 02.

`run(program, technique)` executes a small guest program, one instruction a line
(`kernel: POPF if=1`, `user: SYSCALL`), on a simulated x86 with rings, and compares what the
guest can observe with a native run. Which instructions trap comes from `isa.X86`. The guest's
IOPL is 0, as an x86 VMM sets it, so IN, OUT, CLI and STI trap outside ring 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vizlib.sim import costs
from vizlib.sim.isa import X86

# Cycle costs (Adams & Agesen, ASPLOS 2006, Pentium 4 unless said otherwise).
NATIVE_SIMPLE = 1  # illustrative: one ALU or MOV instruction
NATIVE_SYSTEM = 60  # `cli` natively; used for every other system instruction (illustrative)
NATIVE_PORT_IO = 3209  # `in` from port 0x80 natively; used for every port access
# `divzero`, a fault delivered to the guest kernel: native / BT VMM / VT-x. The BT figure also
# stands for trap-and-emulate and Xen, which reflect faults in software the same way (derived).
FAULT = {"native": 889, "software": 3223, "hardware": 1014}
TRAP_EMULATE = 2030  # `rdtsc` by trap-and-emulate: a simple instruction's trap round trip
BT_CALLOUT = 1254  # `rdtsc` by a callout from translated code
BT_TRANSLATE = 2300  # per translated instruction; a program runs once, so the cache starts cold
BT_SYSCALL = 2000  # `syscall` under BT: about native + 2000
# assumption (costs.P4.pv_hypercall, the figure lesson 04's cost model uses): a 32-bit Xen
# hypercall is a software interrupt into Xen and back, an IDT round trip like Adams & Agesen's
# native divzero (889). No published figure in our notes.
HYPERCALL = costs.P4.pv_hypercall
SHARED_FLAG = 1  # illustrative: one load or store to memory shared with the hypervisor
VM_EXIT = 1931 + 2409 + 10 * 178  # derived: a VM exit (page-fault exit, P4), a VM entry, and
# the ~10 VMCS reads a typical exit needs
VM_EXIT_PORT_IO = 15826  # `in` under first-generation VT-x

# The costs above as a table for lesson 02, in Pentium 4 cycles: (what, cycles, source).
_AA = "Adams & Agesen 2006"
COSTS = (
    ("ADD or MOV natively", NATIVE_SIMPLE, "illustrative"),
    ("another system instruction natively", NATIVE_SYSTEM, f"{_AA}: cli (used for all)"),
    ("port I/O natively", NATIVE_PORT_IO, f"{_AA}: in from port 0x80"),
    ("trap to the VMM and back", TRAP_EMULATE, f"{_AA}: rdtsc by trap-and-emulate"),
    ("translate one kernel instruction", BT_TRANSLATE, f"{_AA}: translator, per instruction"),
    ("callout from translated code", BT_CALLOUT, f"{_AA}: rdtsc by callout"),
    ("hypercall into Xen (32-bit)", HYPERCALL, "assumption: an IDT round trip (native divzero)"),
    ("load or store in memory shared with Xen", SHARED_FLAG, "illustrative"),
    ("VM exit, handling, VM entry", VM_EXIT, f"derived ({_AA}): exit + entry + 10 VMCS reads"),
    ("port I/O, first-generation VT-x", VM_EXIT_PORT_IO, f"{_AA}: in from port 0x80"),
)

# The guest's own machine state and the VMM's (illustrative values). The VMM's tables live high
# in the address space, and its CR0 has TS and NE set where the guest's does not.
_GUEST = dict(if_flag=1, gdt_base=0x1000, idt_base=0x2000, cr3=0x100000, msw=0x11, tr=0x28)
_HOST = dict(if_flag=1, gdt_base=0xFFC01000, idt_base=0xFFC02000, cr3=0x7F00000, msw=0x39, tr=8)
PORT_VALUES = {0x3FD: 0x60}  # 16550 UART line status: transmitter empty; other ports read 0xFF

# Mnemonics the simulator runs, each with its operands and their ranges.
OPERANDS: dict[str, dict[str, tuple[int, int]]] = {
    **{name: {} for name in ("ADD", "MOV", "CLI", "STI", "PUSHF", "SGDT", "SIDT", "SMSW")},
    **{name: {} for name in ("STR", "MOV_FROM_CR3", "HLT", "CPUID", "RDTSC", "SYSCALL", "INVLPG")},
    "POPF": {"if": (0, 1)},
    "LGDT": {"base": (0, 0xFFFFFFFF)},
    "MOV_CR3": {"value": (0, 0xFFFFFFFF)},
    "IN": {"port": (0, 0xFFFF)},
    "OUT": {"port": (0, 0xFFFF), "value": (0, 0xFF)},
}
RINGS = {"kernel": 0, "user": 3}


@dataclass(frozen=True)
class Technique:
    """How a technique runs the guest kernel. Lesson 02."""

    name: str
    kernel_ring: int
    summary: str


TECHNIQUES = {
    t.name: t
    for t in (
        Technique("native", 0, "No VMM: the guest kernel owns the real CPU in ring 0."),
        Technique(
            "trap-and-emulate",
            1,
            "The guest kernel is deprivileged to ring 1, as VMware and Xen did on 32-bit x86 "
            "(paging still keeps ring-3 user code out of it); privileged instructions trap to "
            "the VMM in ring 0, which emulates them on the guest's virtual CPU.",
        ),
        Technique(
            "binary-translation",
            1,
            "VMware (1999): kernel code is translated before it runs in ring 1, sensitive "
            "instructions become callouts to the VMM; user code runs directly.",
        ),
        Technique(
            "paravirtualization",
            1,
            "Xen (2003): the guest kernel, modified, runs in ring 1 and replaces its sensitive "
            "instructions by hypercalls or by reads and writes of memory shared with Xen.",
        ),
        Technique(
            "hardware-assisted",
            0,
            "VT-x / AMD-V (2005-06): the guest kernel runs in ring 0 of non-root mode on its own "
            "state; configured instructions cause VM exits (first generation: no EPT).",
        ),
    )
}

# Paravirtualized kernel: what replaces each sensitive instruction (Xen, Barham et al. 2003).
_PV_SHARED = "the modified kernel uses memory shared with Xen, no trap"
PV_KERNEL = {
    **{n: ("cpu", f"{_PV_SHARED} (event mask = virtual IF)") for n in ("CLI", "STI", "POPF")},
    "PUSHF": ("cpu", f"{_PV_SHARED} (reads the event mask)"),
    **{
        n: ("cpu", "the modified kernel reads its own copy, no trap")
        for n in ("SGDT", "SIDT", "SMSW", "STR", "MOV_FROM_CR3")
    },
    "LGDT": ("vmm (hypercall)", "hypercall set_gdt"),
    "MOV_CR3": ("vmm (hypercall)", "hypercall mmuext_op (new page-table base)"),
    "INVLPG": ("vmm (hypercall)", "hypercall mmuext_op (invalidate one page)"),
    "HLT": ("vmm (hypercall)", "hypercall sched_op (block until an event)"),
    **{n: ("vmm (trap)", "traps; Xen emulates the port access") for n in ("IN", "OUT")},
    "CPUID": ("vmm (trap)", "marked with Xen's forced-emulation prefix, it faults; Xen emulates"),
}
# First-generation VT-x without EPT: the instructions configured to cause VM exits.
VT_X_EXITS = {
    "CPUID": "always exits",
    "HLT": "HLT exiting",
    **{n: "unconditional I/O exiting" for n in ("IN", "OUT")},
    "MOV_CR3": "CR3-load exiting (shadow paging)",
    "MOV_FROM_CR3": "CR3-store exiting (shadow paging)",
    "INVLPG": "INVLPG exiting (shadow paging)",
}


@dataclass(frozen=True)
class Step:
    """One parsed program line."""

    line: int
    ring: str
    mnemonic: str
    operands: tuple[tuple[str, int], ...]
    text: str


@dataclass(frozen=True)
class Event:
    """What happened to one instruction: where it ran, who handled it, and its cost."""

    line: int
    text: str
    ring: int
    what: str
    handler: str
    cycles: int


@dataclass(frozen=True)
class GuestView:
    """Everything the guest can observe: its flags and tables, what it read, wrote, faulted on."""

    interrupt_flag: int
    gdt_base: int
    cr3: int
    reads: tuple[tuple[int, str, int], ...]
    output: tuple[tuple[int, int], ...]
    faults: tuple[int, ...]


@dataclass(frozen=True)
class Divergence:
    """The first line after which the guest's view differs from the native run's, and why."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class Result:
    """A run under one technique, compared with the native run. Lesson 02."""

    technique: str
    correct: bool
    divergence: Divergence | None
    traps: int
    cycles: int
    events: tuple[Event, ...]
    view: GuestView


@dataclass
class _Cpu:
    if_flag: int
    gdt_base: int
    idt_base: int
    cr3: int
    msw: int
    tr: int


@dataclass
class _Machine:
    virtual: _Cpu = field(default_factory=lambda: _Cpu(**_GUEST))
    real: _Cpu = field(default_factory=lambda: _Cpu(**_HOST))
    reads: list = field(default_factory=list)
    output: list = field(default_factory=list)
    faults: list = field(default_factory=list)

    def view(self) -> GuestView:
        v = self.virtual
        reads, output, faults = tuple(self.reads), tuple(self.output), tuple(self.faults)
        return GuestView(v.if_flag, v.gdt_base, v.cr3, reads, output, faults)


def _allowed(values) -> str:
    return ", ".join(values)


def parse(program: str) -> tuple[Step, ...]:
    """Parse a guest program: `ring: MNEMONIC name=value ...` per line, `#` comments. Lesson 02."""
    steps = []
    for number, raw in enumerate(program.splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        where = f"program line {number}"
        ring, colon, rest = text.partition(":")
        ring = ring.strip()
        if not colon or ring not in RINGS:
            raise ValueError(f"{where}: ring must be one of {_allowed(RINGS)}, as 'kernel: CLI'")
        words = rest.split()
        mnemonic = words[0].upper() if words else ""
        if mnemonic not in OPERANDS:
            raise ValueError(
                f"{where}: mnemonic must be one of {_allowed(OPERANDS)}; got {mnemonic!r}"
            )
        spec, operands = OPERANDS[mnemonic], {}
        for word in words[1:]:
            name, equals, value = word.partition("=")
            if name not in spec or name in operands:
                choices = _allowed(f"{n}=" for n in spec) or "none"
                raise ValueError(f"{where}: {mnemonic} operands are {choices}; got {word!r}")
            low, high = spec[name]
            try:
                number_value = int(value, 0)
            except ValueError:
                number_value = None
            if not equals or number_value is None or not low <= number_value <= high:
                limits = f"{low} to {high:#x}" if high > 9 else f"{low} or {high}"
                raise ValueError(f"{where}: {name} must be an integer, {limits}")
            operands[name] = number_value
        if missing := [n for n in spec if n not in operands]:
            raise ValueError(f"{where}: {mnemonic} needs {_allowed(f'{n}=' for n in missing)}")
        steps.append(Step(number, ring, mnemonic, tuple(operands.items()), " ".join(words)))
    return tuple(steps)


# What each instruction reads or writes: (state field, label) and, for writes, the operand.
_READS = {"PUSHF": ("if_flag", "IF"), "SGDT": ("gdt_base", "GDT base"), "SMSW": ("msw", "MSW")}
_READS |= {"SIDT": ("idt_base", "IDT base"), "STR": ("tr", "TR"), "MOV_FROM_CR3": ("cr3", "CR3")}
_WRITES = {"LGDT": ("gdt_base", "GDT base", "base"), "MOV_CR3": ("cr3", "CR3", "value")}
_WRITES |= {"POPF": ("if_flag", "IF", "if")}
_NOTES = {"HLT": "waits for the next interrupt", "CPUID": "returns the processor's identity"}
_NOTES |= {"RDTSC": "reads the time-stamp counter", "INVLPG": "drops one TLB entry"}
_NOTES |= {"SYSCALL": "enters the guest kernel's system-call handler"}


def _read(machine: _Machine, step: Step, label: str, value: int) -> str:
    machine.reads.append((step.line, label, value))
    return f"reads {_show(label, value)}"


def _effect(step: Step, cpu: _Cpu, machine: _Machine, applies_if: bool) -> str:
    """Perform `step` on `cpu`; return what it did. `applies_if`: a change to IF takes effect."""
    name, ops = step.mnemonic, dict(step.operands)
    if name in ("CLI", "STI"):
        cpu.if_flag = int(name == "STI")
        return f"IF := {cpu.if_flag}"
    if name == "POPF" and not applies_if:
        return "CPL > IOPL, so the CPU silently ignores the change to IF"
    if name in _WRITES:
        attribute, label, operand = _WRITES[name]
        setattr(cpu, attribute, ops[operand])
        return _show(label, ops[operand], ":=")
    if name in _READS:
        attribute, label = _READS[name]
        return _read(machine, step, label, getattr(cpu, attribute))
    if name == "IN":
        return _read(machine, step, f"port {ops['port']:#x}", PORT_VALUES.get(ops["port"], 0xFF))
    if name == "OUT":
        machine.output.append((ops["port"], ops["value"]))
        return f"writes {ops['value']:#x} to port {ops['port']:#x}"
    return _NOTES.get(name, "innocuous")


def _native_cycles(name: str) -> int:
    if name in ("IN", "OUT"):
        return NATIVE_PORT_IO
    return NATIVE_SIMPLE if name in ("ADD", "MOV") else NATIVE_SYSTEM


def _route(step: Step, technique: str) -> tuple[str, str, int, str]:
    """Who handles `step` under `technique`: (handler, how, cycles, target). The target is
    "emulated" (software acts on the guest's virtual CPU), "guest" (the hardware runs it on the
    guest's own state) or "real" (the hardware runs it on the real CPU, which the VMM owns)."""
    name, entry, kernel = step.mnemonic, X86[step.mnemonic], step.ring == "kernel"
    native = _native_cycles(name)
    if name == "SYSCALL" and technique in ("trap-and-emulate", "binary-translation"):
        cost = TRAP_EMULATE if technique == "trap-and-emulate" else native + BT_SYSCALL
        return "vmm (trap)", "lands in the VMM in ring 0, which reflects it", cost, "emulated"
    if name == "SYSCALL" and technique == "paravirtualization":
        return "cpu", "Xen's fast path: straight to the guest's handler", native, "emulated"
    if technique == "hardware-assisted" and name in VT_X_EXITS:
        cost = VM_EXIT_PORT_IO if name in ("IN", "OUT") else VM_EXIT
        return "vmm (VM exit)", f"VM exit ({VT_X_EXITS[name]}), VMM emulates", cost, "emulated"
    if technique == "native":
        return "cpu", "runs directly on the CPU", native, "guest"
    if technique == "hardware-assisted":
        return "cpu", "runs directly in non-root mode on the guest's state", native, "guest"
    if not kernel or entry.innocuous:
        if kernel and technique == "binary-translation":
            return "cpu", "runs translated on the real CPU", native + BT_TRANSLATE, "real"
        return "cpu", "runs directly on the real CPU", native, "real"
    if technique == "binary-translation":
        return "vmm (callout)", "translated to a callout", BT_TRANSLATE + BT_CALLOUT, "emulated"
    if technique == "paravirtualization":
        handler, how = PV_KERNEL[name]
        cost = {"cpu": SHARED_FLAG, "vmm (hypercall)": HYPERCALL}.get(handler, TRAP_EMULATE)
        return handler, how, cost, "emulated"
    if entry.privileged:
        return "vmm (trap)", "traps to the VMM, which emulates it", TRAP_EMULATE, "emulated"
    return "cpu", "runs directly on the real CPU, no trap", native, "real"


def _fault(step: Step, technique: str, ring: int) -> Event:
    """A privileged instruction in ring 3: #GP, delivered to the guest kernel."""
    how = "#GP: privileged in ring 3; delivered to the guest kernel"
    if technique in ("native", "hardware-assisted"):
        cost = FAULT["native" if technique == "native" else "hardware"]
        return Event(step.line, step.text, ring, f"{how} by the CPU", "cpu", cost)
    return Event(step.line, step.text, ring, f"{how} by the VMM", "vmm (trap)", FAULT["software"])


def _execute(steps: tuple[Step, ...], technique: str) -> tuple[list[Event], list[GuestView]]:
    machine, events, views = _Machine(), [], []
    kernel_ring = TECHNIQUES[technique].kernel_ring
    for step in steps:
        ring = kernel_ring if step.ring == "kernel" else RINGS["user"]
        if step.ring == "user" and X86[step.mnemonic].privileged:
            machine.faults.append(step.line)
            event = _fault(step, technique, ring)
        else:
            handler, how, cost, target = _route(step, technique)
            cpu = machine.real if target == "real" else machine.virtual
            # The hardware changes IF on POPF only at CPL <= IOPL (0); emulation always does.
            applies_if = target == "emulated" or ring == 0
            what = f"{how}: {_effect(step, cpu, machine, applies_if)}"
            event = Event(step.line, step.text, ring, what, handler, cost)
        events.append(event)
        views.append(machine.view())
    return events, views


def _show(label: str, value: int, sign: str = "=") -> str:
    return f"{label} {sign} {value}" if label == "IF" else f"{label} {sign} {value:#x}"


def _difference(native: GuestView, got: GuestView) -> str:
    """How the guest's view `got` first differs from the native run's."""
    if native.interrupt_flag != got.interrupt_flag:
        return f"the guest's IF is {got.interrupt_flag}, natively {native.interrupt_flag}"
    for (_, label, want), (_, _, have) in zip(native.reads, got.reads, strict=True):
        if want != have:
            return f"natively the guest reads {_show(label, want)}"
    for name in ("gdt_base", "cr3", "output", "faults"):
        want, have = getattr(native, name), getattr(got, name)
        if want != have:
            return f"the guest's {name} is {have}, natively {want}"
    raise AssertionError("the views are equal")


def run(program: str, technique: str) -> Result:
    """Run `program` under `technique` and compare it with the native run. Lesson 02."""
    if technique not in TECHNIQUES:
        raise ValueError(f"technique must be one of {_allowed(TECHNIQUES)}; got {technique!r}")
    steps = parse(program)
    _, native_views = _execute(steps, "native")
    events, views = _execute(steps, technique)
    divergence = None
    for step, event, want, got in zip(steps, events, native_views, views, strict=True):
        if want != got:
            reason = f"{event.what}; {_difference(want, got)}"
            divergence = Divergence(step.line, step.text, reason)
            break
    start = _Machine().view()
    return Result(
        technique=technique,
        correct=divergence is None,
        divergence=divergence,
        traps=sum(e.handler.startswith("vmm") for e in events),
        cycles=sum(e.cycles for e in events),
        events=tuple(events),
        view=views[-1] if views else start,
    )


EXAMPLES = {
    "cli-popf": """\
# A critical section: save the flags, mask interrupts, restore the flags.
kernel: PUSHF
kernel: CLI
kernel: ADD
kernel: POPF if=1
""",
    "sgdt": """\
# The guest kernel loads its descriptor table, then reads back where it is.
kernel: LGDT base=0x5000
kernel: SGDT
""",
    "io": """\
# Print "Hi" on the serial port after checking it is ready, then wait.
kernel: IN port=0x3fd
kernel: OUT port=0x3f8 value=72
kernel: OUT port=0x3f8 value=105
kernel: OUT port=0x3f8 value=10
kernel: HLT
""",
    "mixed": """\
# A process makes a system call; the kernel switches address space and returns.
user: ADD
user: SYSCALL
kernel: MOV_CR3 value=0x200000
kernel: INVLPG
kernel: MOV_FROM_CR3
kernel: SMSW
kernel: STI
user: RDTSC
user: CLI    # privileged in ring 3: #GP
""",
    "user-sidt": """\
# A user program reads the interrupt table base, which needs no privilege.
user: SIDT
""",
}
