"""A guest program run natively and under four virtualization techniques. Lesson 02.

`run(program, technique)` executes a small guest program, one instruction a line
(`kernel: POPF if=1`, `user: SYSCALL`), on a simulated x86 with rings, and compares what the
guest can observe with a native run. Which instructions trap comes from `isa.X86`. The guest's
IOPL is 0, as an x86 VMM sets it, so IN, OUT, CLI and STI trap outside ring 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vizlib.i18n import N_, _
from vizlib.sim import costs, techniques
from vizlib.sim.bt import INLINE_CODE
from vizlib.sim.errors import not_one_of
from vizlib.sim.isa import X86
from vizlib.sim.published import value
from vizlib.sim.techniques import EVENT_OF_INSTRUCTION, TREATMENT_KINDS

TECHNIQUES = (
    "native",
    "trap-and-emulate",
    "binary-translation",
    "paravirtualization",
    "hardware-assisted",
)
# The ring the guest kernel runs in: deprivileged to ring 1 before VT-x, as VMware and Xen did on
# 32-bit x86 (paging still keeps ring-3 user code out of it); ring 0 of non-root mode with VT-x.
KERNEL_RING = {"native": 0, "hardware-assisted": 0} | dict.fromkeys(TECHNIQUES[1:4], 1)

# Cycle costs in Pentium 4 cycles (Adams & Agesen, ASPLOS 2006), from vizlib.sim.published.
NATIVE_SIMPLE = 1  # assumption, illustrative: one ALU or MOV instruction
NATIVE_SYSTEM = value("p4.cli.native")  # used for every other system instruction (illustrative)
NATIVE_SYSCALL = value("p4.syscall.native")
NATIVE_PORT_IO = value("p4.in.native")  # `in` from port 0x80 natively; used for every port access
SOFTWARE_SYSCALL = value("p4.syscall.software")  # a system call through a software VMM, in all
TRAP_EMULATE = value("p4.rdtsc.trap")  # a simple instruction's trap round trip
BT_TRANSLATE = value("bt.translate")  # per translated instruction; a program runs once, so the
# cache starts cold
BT_CALLOUT = value("p4.rdtsc.callout")
BT_INLINE = value("p4.cr8write.software")  # a control-register write emulated in the cache
BT_INLINE_PORT_IO = value("p4.in.software")  # `in` emulated in the translation cache
HYPERCALL = costs.PV_HYPERCALL  # assumption (vizlib.sim.costs): an IDT round trip
SHARED_FLAG = 1  # assumption, illustrative: one store to memory shared with the hypervisor
VM_EXIT = value("p4.vm-round-trip")  # derived: exit + entry + 10 VMCS reads
VM_EXIT_PORT_IO = value("p4.in.hardware")  # `in` under first-generation VT-x
# `divzero`, a fault delivered to the guest kernel: natively, by a software VMM (which also
# stands for trap-and-emulate and Xen, which reflect faults in software the same way), by VT-x.
FAULT = {v: value(f"p4.divzero.{v}") for v in ("native", "software", "hardware")}

# The costs above as a table for lesson 02, in Pentium 4 cycles: (what, cycles, source).
_AA = "Adams & Agesen 2006"
COSTS = (
    (N_("ADD or MOV natively"), NATIVE_SIMPLE, "assumption (illustrative)"),
    (N_("a system call natively"), NATIVE_SYSCALL, f"{_AA}: syscall"),
    (N_("another system instruction natively"), NATIVE_SYSTEM, f"{_AA}: cli (used for all)"),
    (N_("port I/O natively"), NATIVE_PORT_IO, f"{_AA}: in from port 0x80"),
    (N_("trap to the VMM and back"), TRAP_EMULATE, f"{_AA}: rdtsc by trap-and-emulate"),
    (N_("a system call through a software VMM"), SOFTWARE_SYSCALL, f"{_AA}: syscall"),
    (N_("translate one kernel instruction"), BT_TRANSLATE, f"{_AA}: translator, per instruction"),
    (N_("run an instruction translated inline"), BT_INLINE, f"{_AA}: cr8write in the cache"),
    (N_("port I/O translated inline"), BT_INLINE_PORT_IO, f"{_AA}: in under the software VMM"),
    (N_("callout from translated code"), BT_CALLOUT, f"{_AA}: rdtsc by callout"),
    (
        N_("hypercall into Xen (32-bit)"),
        HYPERCALL,
        "assumption: an IDT round trip (native divzero)",
    ),
    (N_("load or store in memory shared with Xen"), SHARED_FLAG, "assumption (illustrative)"),
    (N_("VM exit, handling, VM entry"), VM_EXIT, f"derived ({_AA}): exit + entry + 10 VMCS reads"),
    (N_("port I/O, first-generation VT-x"), VM_EXIT_PORT_IO, f"{_AA}: in from port 0x80"),
)


def cost_rows() -> list[tuple[str, float, str]]:
    """COSTS with what each one is in the course's language (sources stay as cited). Lesson 02."""
    return [(_(what), cycles, source) for what, cycles, source in COSTS]


# The guest's own machine state and the VMM's (illustrative values). The VMM's tables live high
# in the address space, and its CR0 has TS and NE set where the guest's does not.
# CPUID's feature bits differ too: the VMM offers its guest only the features it can virtualize
# (illustrative values of CPUID leaf 1, EDX).
_GUEST = dict(if_flag=1, gdt_base=0x1000, idt_base=0x2000, cr3=0x100000, msw=0x11, tr=0x28)
_GUEST |= dict(features=0x0183FBFF)
_HOST = dict(if_flag=1, gdt_base=0xFFC01000, idt_base=0xFFC02000, cr3=0x7F00000, msw=0x39, tr=8)
_HOST |= dict(features=0xBFEBFBFF)
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


# A paravirtualized kernel's replacement for the sensitive instructions that are no event of
# `techniques` (Xen, Barham et al. 2003): (treatment kind, what it does).
PV_KERNEL = {
    **{
        n: ("direct", N_("the modified kernel reads its own copy, no trap"))
        for n in ("SGDT", "SIDT", "SMSW", "STR", "MOV_FROM_CR3")
    },
    "LGDT": ("hypercall", N_("hypercall set_gdt")),
    "INVLPG": ("hypercall", N_("hypercall mmuext_op (invalidate one page)")),
}
# First-generation VT-x without EPT: the sensitive instructions that are no event of `techniques`
# but exit all the same, for shadow paging.
_SHADOW_EXITS = {
    "MOV_FROM_CR3": N_("CR_ACCESS (CR3-store exiting, shadow paging)"),
    "INVLPG": N_("INVLPG (INVLPG exiting, shadow paging)"),
}


def vt_x_exits() -> dict[str, str]:
    """The instructions the model's first-generation VT-x VMM makes exit, and why, in the
    course's language. Lesson 02."""
    exits = {}
    for mnemonic, event in EVENT_OF_INSTRUCTION.items():
        chosen = techniques.treatment("hardware-assisted", event)
        if chosen.exit_reason:
            kind = TREATMENT_KINDS[chosen.kind].name()
            exits[mnemonic] = _("{reason} ({treatment})", reason=chosen.exit_reason, treatment=kind)
    return exits | {mnemonic: _(why) for mnemonic, why in _SHADOW_EXITS.items()}


@dataclass(frozen=True)
class ProgramLine:
    """One parsed line of a guest program: its ring, instruction and operands. Lesson 02."""

    line: int
    ring: str
    mnemonic: str
    operands: tuple[tuple[str, int], ...]
    text: str


@dataclass(frozen=True)
class Event:
    """What happened to one instruction: where it ran, how it was handled, and its cost.

    `handler` is one of `techniques.TREATMENT_KINDS`, the model's words for how. Lesson 02.
    """

    line: int
    text: str
    ring: int
    what: str
    handler: str
    cycles: float

    @property
    def enters_vmm(self) -> bool:
        """True when control passed to the VMM (a trap, callout, hypercall or VM exit)."""
        return TREATMENT_KINDS[self.handler].leaves_guest


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
    cycles: float
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
    features: int


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


def parse(program: str) -> tuple[ProgramLine, ...]:
    """Parse a guest program: `ring: MNEMONIC name=value ...` per line, `#` comments. Lesson 02."""
    steps = []
    for number, raw in enumerate(program.splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        where = _("program line {number}", number=number)
        ring, colon, rest = text.partition(":")
        ring = ring.strip()
        if not colon or ring not in RINGS:
            raise ValueError(
                _(
                    "{where}: ring must be one of {allowed}, as 'kernel: CLI'",
                    where=where,
                    allowed=_allowed(RINGS),
                )
            )
        words = rest.split()
        mnemonic = words[0].upper() if words else ""
        if mnemonic not in OPERANDS:
            problem = not_one_of("mnemonic", mnemonic, OPERANDS)
            raise ValueError(_("{where}: {problem}", where=where, problem=problem))
        spec, operands = OPERANDS[mnemonic], {}
        for word in words[1:]:
            name, equals, value = word.partition("=")
            if name not in spec or name in operands:
                choices = _allowed(f"{n}=" for n in spec) or _("none")
                raise ValueError(
                    _(
                        "{where}: {mnemonic} operands are {choices}; got {word}",
                        where=where,
                        mnemonic=mnemonic,
                        choices=choices,
                        word=repr(word),
                    )
                )
            low, high = spec[name]
            try:
                number_value = int(value, 0)
            except ValueError:
                number_value = None
            if not equals or number_value is None or not low <= number_value <= high:
                limits = (
                    _("{low} to {high}", low=low, high=f"{high:#x}")
                    if high > 9
                    else _("{low} or {high}", low=low, high=high)
                )
                raise ValueError(
                    _(
                        "{where}: {name} must be an integer, {limits}",
                        where=where,
                        name=name,
                        limits=limits,
                    )
                )
            operands[name] = number_value
        if missing := [n for n in spec if n not in operands]:
            needed = _allowed(f"{n}=" for n in missing)
            raise ValueError(
                _(
                    "{where}: {mnemonic} needs {operands}",
                    where=where,
                    mnemonic=mnemonic,
                    operands=needed,
                )
            )
        steps.append(ProgramLine(number, ring, mnemonic, tuple(operands.items()), " ".join(words)))
    return tuple(steps)


# What each instruction reads or writes: (state field, label) and, for writes, the operand.
_GDT_BASE, _IDT_BASE = N_("GDT base"), N_("IDT base")
_READS = {"PUSHF": ("if_flag", "IF"), "SGDT": ("gdt_base", _GDT_BASE), "SMSW": ("msw", "MSW")}
_READS |= {"SIDT": ("idt_base", _IDT_BASE), "STR": ("tr", "TR"), "MOV_FROM_CR3": ("cr3", "CR3")}
_CPUID_FEATURES = N_("CPUID features")
_READS |= {"CPUID": ("features", _CPUID_FEATURES)}
_WRITES = {"LGDT": ("gdt_base", _GDT_BASE, "base"), "MOV_CR3": ("cr3", "CR3", "value")}
_WRITES |= {"POPF": ("if_flag", "IF", "if")}
_WORDS = {_GDT_BASE, _IDT_BASE, _CPUID_FEATURES}  # the labels in words, which are translated
_NOTES = {"HLT": N_("waits for the next interrupt")}
_NOTES |= {"RDTSC": N_("reads the time-stamp counter"), "INVLPG": N_("drops one TLB entry")}
_NOTES |= {"SYSCALL": N_("enters the guest kernel's system-call handler")}


def _label(label: str) -> str:
    """A register's label in the course's language: "GDT base", "CR3"."""
    return _(label) if label in _WORDS else label


def _read(machine: _Machine, step: ProgramLine, label: str, value: int) -> str:
    machine.reads.append((step.line, label, value))
    return _("reads {value}", value=_show(label, value))


def _effect(step: ProgramLine, cpu: _Cpu, machine: _Machine, applies_if: bool) -> str:
    """Perform `step` on `cpu`; return what it did, in the course's language. `applies_if`: a
    change to IF takes effect."""
    name, ops = step.mnemonic, dict(step.operands)
    if name in ("CLI", "STI"):
        cpu.if_flag = int(name == "STI")
        return f"IF := {cpu.if_flag}"
    if name == "POPF" and not applies_if:
        return _("CPL > IOPL, so the CPU silently ignores the change to IF")
    if name in _WRITES:
        attribute, label, operand = _WRITES[name]
        setattr(cpu, attribute, ops[operand])
        return _show(_label(label), ops[operand], ":=")
    if name in _READS:
        attribute, label = _READS[name]
        return _read(machine, step, _label(label), getattr(cpu, attribute))
    if name == "IN":
        port = _("port {port}", port=f"{ops['port']:#x}")
        return _read(machine, step, port, PORT_VALUES.get(ops["port"], 0xFF))
    if name == "OUT":
        machine.output.append((ops["port"], ops["value"]))
        return _(
            "writes {value} to port {port}", value=f"{ops['value']:#x}", port=f"{ops['port']:#x}"
        )
    return _(_NOTES.get(name, N_("innocuous")))


def _native_cycles(name: str) -> float:
    if name in ("IN", "OUT"):
        return NATIVE_PORT_IO
    if name == "SYSCALL":
        return NATIVE_SYSCALL
    return NATIVE_SIMPLE if name in ("ADD", "MOV") else NATIVE_SYSTEM


def _kind(step: ProgramLine, technique: str) -> tuple[str, str]:
    """(treatment kind, what happens, in the course's language) of `step` under `technique`: the
    model's treatment of the instruction's event where it has one, the instruction's own rule
    otherwise."""
    name, kernel = step.mnemonic, step.ring == "kernel"
    event = EVENT_OF_INSTRUCTION.get(name)
    if technique == "native":
        return "native", _("runs directly on the CPU")
    # VT-x's controls hold in every ring; before it, only the kernel's code was the VMM's concern.
    if event and (
        kernel or event in ("instruction", "system-call") or technique == "hardware-assisted"
    ):
        chosen = techniques.treatment(technique, event)
        if name in chosen.not_equivalent:
            return "direct", _("runs directly on the real CPU, no trap")
        return chosen.kind, _(chosen.how)
    if technique == "hardware-assisted":
        if name in _SHADOW_EXITS:
            reason = _(_SHADOW_EXITS[name])
            return "exit-kernel", _("VM exit {reason}, the VMM emulates it", reason=reason)
        return "direct", _("runs directly in non-root mode on the guest's state")
    if not kernel or X86[name].innocuous:
        return "direct", _("runs directly on the real CPU")
    if technique == "binary-translation":
        if name in INLINE_CODE:
            return "inline", _("translated inline, acting on the virtual CPU")
        return "callout", _("translated to a callout, the VMM emulates it")
    if technique == "paravirtualization":
        kind, how = PV_KERNEL[name]
        return kind, _(how)
    if X86[name].privileged:
        return "trap", _("traps to the VMM, which emulates it")
    return "direct", _("runs directly on the real CPU, no trap")


def _cycles(step: ProgramLine, technique: str, kind: str) -> float:
    """What `step` costs when handled as `kind` under `technique`, in Pentium 4 cycles."""
    name = step.mnemonic
    native = _native_cycles(name)
    port = name in ("IN", "OUT")
    translate = BT_TRANSLATE if technique == "binary-translation" and step.ring == "kernel" else 0
    if kind == "trap":
        return SOFTWARE_SYSCALL if name == "SYSCALL" else TRAP_EMULATE
    if kind == "inline":
        return translate + (BT_INLINE_PORT_IO if port else BT_INLINE)
    if kind == "callout":
        return translate + BT_CALLOUT
    if kind == "hypercall":
        return HYPERCALL
    if kind == "exit-user" or kind == "exit-kernel":
        return VM_EXIT_PORT_IO if port else VM_EXIT
    if technique == "paravirtualization" and step.ring == "kernel" and X86[name].sensitive:
        return SHARED_FLAG  # the modified kernel's load or store instead of the instruction
    return translate + native


def _route(step: ProgramLine, technique: str) -> tuple[str, str, float, str]:
    """How `step` is handled under `technique`: (treatment kind, what happens, cycles, target).
    The target is "emulated" (software acts on the guest's virtual CPU), "guest" (the hardware
    runs it on the guest's own state) or "real" (the hardware runs it on the real CPU, which the
    VMM owns)."""
    kind, how = _kind(step, technique)
    cycles = _cycles(step, technique, kind)
    if kind == "native" or technique == "hardware-assisted" and kind == "direct":
        return kind, how, cycles, "guest"
    pv_kernel = technique == "paravirtualization" and step.ring == "kernel"
    if kind == "direct" and not (pv_kernel and X86[step.mnemonic].sensitive):
        return kind, how, cycles, "real"
    return kind, how, cycles, "emulated"


def _fault(step: ProgramLine, technique: str, ring: int) -> Event:
    """A privileged instruction in ring 3: #GP, delivered to the guest kernel."""
    if technique in ("native", "hardware-assisted"):
        kind = "native" if technique == "native" else "direct"
        cost = FAULT["native" if technique == "native" else "hardware"]
        how = _("#GP: privileged in ring 3; delivered to the guest kernel by the CPU")
        return Event(step.line, step.text, ring, how, kind, cost)
    how = _("#GP: privileged in ring 3; delivered to the guest kernel by the VMM")
    return Event(step.line, step.text, ring, how, "trap", FAULT["software"])


def _execute(steps: tuple[ProgramLine, ...], technique: str) -> tuple[list[Event], list[GuestView]]:
    machine, events, views = _Machine(), [], []
    kernel_ring = KERNEL_RING[technique]
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
            what = _("{how}: {effect}", how=how, effect=_effect(step, cpu, machine, applies_if))
            event = Event(step.line, step.text, ring, what, handler, cost)
        events.append(event)
        views.append(machine.view())
    return events, views


def _show(label: str, value: int, sign: str = "=") -> str:
    return f"{label} {sign} {value}" if label == "IF" else f"{label} {sign} {value:#x}"


def _difference(native: GuestView, got: GuestView) -> str:
    """How the guest's view `got` first differs from the native run's, in the course's language."""
    if native.interrupt_flag != got.interrupt_flag:
        return _(
            "the guest's IF is {got}, natively {native}",
            got=got.interrupt_flag,
            native=native.interrupt_flag,
        )
    for (_line, label, want), (_same_line, _same_label, have) in zip(
        native.reads, got.reads, strict=True
    ):
        if want != have:
            return _("natively the guest reads {value}", value=_show(label, want))
    for name in ("gdt_base", "cr3", "output", "faults"):
        want, have = getattr(native, name), getattr(got, name)
        if want != have:
            return _(
                "the guest's {name} is {got}, natively {native}", name=name, got=have, native=want
            )
    raise AssertionError("the views are equal")


def run(program: str, technique: str) -> Result:
    """Run `program` under `technique` and compare it with the native run. Lesson 02."""
    if technique not in TECHNIQUES:
        raise not_one_of("technique", technique, TECHNIQUES)
    steps = parse(program)
    native_views = _execute(steps, "native")[1]
    events, views = _execute(steps, technique)
    divergence = None
    for step, event, want, got in zip(steps, events, native_views, views, strict=True):
        if want != got:
            reason = _("{what}; {difference}", what=event.what, difference=_difference(want, got))
            divergence = Divergence(step.line, step.text, reason)
            break
    start = _Machine().view()
    return Result(
        technique=technique,
        correct=divergence is None,
        divergence=divergence,
        traps=sum(e.enters_vmm for e in events),
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
# Each example's title above its figure (`plots.technique_costs`), shown in the course's language.
EXAMPLE_TITLES = {
    "cli-popf": N_("cli-popf: save the flags, mask interrupts, restore the flags"),
    "sgdt": N_("sgdt: load the descriptor table, then read it back"),
    "io": N_("io: print three bytes on the serial port"),
    "mixed": N_("mixed: a system call and an address-space switch"),
    "user-sidt": N_("user-sidt: a user program reads the interrupt table's address"),
}
