"""VM entry and VM exit under Intel VT-x: modes, the VMCS, exit reasons and their cost. Lesson 05.

Hardware assist gives the processor two modes: VMX root operation, where the hypervisor runs, and
non-root operation (KVM's guest mode), where the guest runs with its usual privileges. A VM exit
saves the guest's state into the VMCS (virtual machine control structure), records why it left
(the exit reason), and loads the hypervisor's state from the VMCS; a VM entry does the reverse.
AMD-V works the same way with a VMCB. `simulate` draws a guest's run with its exits from an exit
mix, seeded, and prices each exit on three processor generations.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from numbers import Integral, Real

from vizlib.i18n import N_, _
from vizlib.sim import techniques
from vizlib.sim.errors import not_an_integer, not_one_of
from vizlib.sim.published import value
from vizlib.sim.techniques import PROCESSORS, TREATMENT_KINDS

MODES = ("root", "non-root")


@dataclass(frozen=True)
class Registers:
    """The bits of processor state the model follows. Lesson 05."""

    rip: int
    rsp: int
    cr3: int


@dataclass(frozen=True)
class Vmcs:
    """A VMCS: guest-state area, host-state area, and the exit-information fields. Lesson 05.

    `launched` is set by the first VM entry (VMLAUNCH; later entries are VMRESUME).
    """

    guest: Registers
    host: Registers
    exit_reason: str | None = None
    exit_qualification: int = 0
    exit_instruction_length: int = 0
    launched: bool = False


@dataclass(frozen=True)
class Cpu:
    """A logical processor: its VMX mode and the registers it is running with. Lesson 05."""

    mode: str
    registers: Registers

    def __post_init__(self):
        if self.mode not in MODES:
            raise not_one_of("mode", self.mode, MODES)


def vm_entry(cpu: Cpu, vmcs: Vmcs) -> tuple[Cpu, Vmcs]:
    """VMLAUNCH or VMRESUME: load the guest state, switch to non-root mode. Lesson 05."""
    if cpu.mode != "root":
        raise ValueError(
            _("cpu.mode must be 'root' for a VM entry; got {mode}", mode=repr(cpu.mode))
        )
    return Cpu("non-root", vmcs.guest), replace(vmcs, launched=True)


def vm_exit(
    cpu: Cpu, vmcs: Vmcs, reason: str, qualification: int = 0, instruction_length: int = 0
) -> tuple[Cpu, Vmcs]:
    """Save the guest state, record the exit, load the host state, switch to root. Lesson 05.

    `instruction_length` is the length of the instruction that caused the exit (0 for events
    such as an interrupt), so the hypervisor can step the guest past it.
    """
    if cpu.mode != "non-root":
        raise ValueError(
            _("cpu.mode must be 'non-root' for a VM exit; got {mode}", mode=repr(cpu.mode))
        )
    _reason("reason", reason)
    saved = replace(
        vmcs,
        guest=cpu.registers,
        exit_reason=reason,
        exit_qualification=qualification,
        exit_instruction_length=instruction_length,
    )
    return Cpu("root", vmcs.host), saved


def skip_instruction(vmcs: Vmcs) -> Vmcs:
    """The hypervisor has emulated the exiting instruction: move the guest's RIP past it.

    Lesson 05.
    """
    guest = replace(vmcs.guest, rip=vmcs.guest.rip + vmcs.exit_instruction_length)
    return replace(vmcs, guest=guest)


@dataclass(frozen=True)
class WorldSwitch:
    """One VM exit plus one VM entry on a processor generation, hardware only. Lesson 05."""

    cpu: str
    seconds: float
    exit_cycles: float | None
    entry_cycles: float | None
    source: str

    @property
    def description(self) -> str:
        """The processor in one line, in the course's language."""
        return PROCESSORS[self.cpu].description


def _switch(cpu: str) -> WorldSwitch:
    """Adams & Agesen's VM exit and entry on `cpu` ("p4" or "core2"), timed at its clock."""
    exit_cycles, entry_cycles = value(f"{cpu}.pf-exit"), value(f"{cpu}.vm-entry")
    return WorldSwitch(
        cpu,
        (exit_cycles + entry_cycles) / PROCESSORS[cpu].clock_hz,  # derived
        exit_cycles,
        entry_cycles,
        f"Adams & Agesen (ASPLOS 2006): page-fault VM exit {exit_cycles:g}, VM entry "
        f"{entry_cycles:g} cycles",
    )


_SWITCH_US = value("pvm.world-switch")
WORLD_SWITCHES = {
    "p4": _switch("p4"),
    "core2": _switch("core2"),
    "modern": WorldSwitch(
        "modern",
        _SWITCH_US * 1e-6,
        None,
        None,
        f"PVM paper (SOSP 2023): a single-level world switch takes {_SWITCH_US:g} us",
    ),
}
CPUS = tuple(WORLD_SWITCHES)

# Handling times (hypervisor software, world switch excluded), measured on the modern machine.
# derived: the PVM paper's round trips on bare-metal KVM (SOSP 2023, Table 1) minus its world
# switch. The same handler times are used for every generation (assumption), so the generations
# differ only in the hardware's world switch.


def _handler_us(operation: str) -> float:
    """The PVM paper's round trip of `operation` on bare-metal KVM minus the world switch."""
    return value(f"pvm.{operation}.kvm") - _SWITCH_US


_SIMPLE_US = _handler_us("CPUID")  # the simplest exit


@dataclass(frozen=True)
class ExitReason:
    """A VT-x basic exit reason: its number, its cause, how long its handler runs. Lesson 05."""

    name: str
    number: int | None
    cause: str
    handler_us: float
    source: str

    @property
    def shown_cause(self) -> str:
        """The cause in the course's language."""
        return _(self.cause)


_TABLE1 = "derived: PVM paper Table 1 round trip minus the world switch"
_AS_CPUID = "assumption: as cheap to handle as CPUID, the simplest exit"
# Numbers: Intel SDM vol. 3C, appendix C ("VMX basic exit reasons"); names as Linux's perf prints.
EXIT_REASONS = {
    r.name: r
    for r in (
        ExitReason(
            "EXCEPTION_NMI",
            0,
            N_("an exception the hypervisor intercepts"),
            _handler_us("exception"),
            _TABLE1,
        ),
        ExitReason(
            "EXTERNAL_INTERRUPT",
            1,
            N_("a host device interrupts while the guest runs"),
            _SIMPLE_US,
            _AS_CPUID,
        ),
        ExitReason("CPUID", 10, N_("the guest executes CPUID"), _SIMPLE_US, _TABLE1),
        ExitReason(
            "HLT",
            12,
            N_("the guest halts, waiting for an interrupt (the time it sleeps is not counted)"),
            _SIMPLE_US,
            _AS_CPUID,
        ),
        ExitReason(
            "VMCALL", 18, N_("the guest makes a hypercall"), _handler_us("hypercall"), _TABLE1
        ),
        ExitReason(
            "CR_ACCESS",
            28,
            N_(
                "the guest touches an intercepted control register (loads CR3, under shadow paging)"
            ),
            _SIMPLE_US,
            _AS_CPUID,
        ),
        ExitReason(
            "IO_INSTRUCTION",
            30,
            N_("the guest executes IN or OUT on an emulated device (handled in user space)"),
            _handler_us("PIO"),
            _TABLE1,
        ),
        ExitReason(
            "MSR_READ", 31, N_("the guest executes RDMSR"), _handler_us("MSR access"), _TABLE1
        ),
        ExitReason(
            "MSR_WRITE", 32, N_("the guest executes WRMSR"), _handler_us("MSR access"), _TABLE1
        ),
        ExitReason(
            "EPT_VIOLATION",
            48,
            N_("the guest touches a guest-physical page the EPT does not map"),
            # assumption: filling in a missing second-level entry costs what shadow paging adds
            # to a page fault: PVM paper, 0.93 us (kvm-spt) - 0.15 us (kvm-ept).
            value("kvm-spt.page-fault") - value("kvm-ept.page-fault") - _SWITCH_US,
            "assumption: PVM paper page fault, kvm-spt minus kvm-ept, minus the world switch",
        ),
        ExitReason("OTHERS", None, N_("every other reason together"), _SIMPLE_US, _AS_CPUID),
    )
}

_PERF = N_("perf kvm stat on a Linux guest (kvm@vger, 2019-10-15)")
# Each mix: reason -> share of exits, and its source.
_LINUX_GUEST = {r: value(f"kvm-stat.{r}") for r in ("HLT", "VMCALL", "MSR_WRITE", "EPT_VIOLATION")}
# Each mix: reason -> share of exits, and its source.
EXIT_MIXES = {
    # derived: OTHERS is what is left, each other reason below 1.3 %.
    N_("linux guest"): (_LINUX_GUEST | {"OTHERS": 1 - sum(_LINUX_GUEST.values())}, _PERF),
    N_("emulated network card"): (
        {"IO_INSTRUCTION": 0.6, "EXTERNAL_INTERRUPT": 0.2, "HLT": 0.1, "OTHERS": 0.1},
        N_("illustrative: a guest driving an emulated device register by register"),
    ),
    N_("CPUID loop"): ({"CPUID": 1.0}, N_("a microbenchmark, as in the PVM paper's Table 1")),
}
MAX_EXITS = 10_000


def _reason(parameter: str, reason) -> str:
    if reason not in EXIT_REASONS:
        raise not_one_of(parameter, reason, EXIT_REASONS)
    return reason


def _cpu(cpu) -> WorldSwitch:
    if cpu not in WORLD_SWITCHES:
        raise not_one_of("cpu", cpu, CPUS)
    return WORLD_SWITCHES[cpu]


def exit_cost_us(reason: str, cpu: str = "modern") -> float:
    """Microseconds one exit keeps the guest out: world switch plus handler. Lesson 05."""
    return _cpu(cpu).seconds * 1e6 + EXIT_REASONS[_reason("reason", reason)].handler_us


def mix_shares(mix: str | Mapping[str, float]) -> dict[str, float]:
    """A mix by name (EXIT_MIXES) or as {reason: weight}, as shares summing to 1. Lesson 05."""
    if isinstance(mix, str):
        if mix not in EXIT_MIXES:
            raise not_one_of("mix", mix, EXIT_MIXES)
        mix = EXIT_MIXES[mix][0]
    if not isinstance(mix, Mapping) or not mix:
        raise ValueError(
            _(
                "mix must be a name or a non-empty {{reason: weight}}; got {mix}",
                mix=repr(mix),
            )
        )
    for reason, weight in mix.items():
        _reason("mix reasons", reason)
        if isinstance(weight, bool) or not isinstance(weight, Real) or not 0 <= weight < math.inf:
            raise ValueError(
                _("mix weights must be finite numbers >= 0; got {weight}", weight=repr(weight))
            )
    total = sum(mix.values())
    if total <= 0:
        raise ValueError(_("mix weights must not all be zero"))
    return {reason: weight / total for reason, weight in mix.items()}


@dataclass(frozen=True)
class Segment:
    """A stretch of the timeline: the guest running (non-root) or one exit (root). Lesson 05."""

    start_us: float
    duration_us: float
    mode: str
    reason: str | None = None


@dataclass(frozen=True)
class Timeline:
    """A guest's run, exit by exit, on one processor generation. Lesson 05."""

    cpu: str
    mix: dict[str, float]
    segments: tuple[Segment, ...]

    @property
    def total_us(self) -> float:
        """Length of the whole run."""
        return sum(s.duration_us for s in self.segments)

    @property
    def exit_us(self) -> float:
        """Time spent in root mode, handling exits."""
        return sum(s.duration_us for s in self.segments if s.mode == "root")

    @property
    def fraction_in_exits(self) -> float:
        """Share of the run spent handling exits."""
        return self.exit_us / self.total_us

    @property
    def summary(self) -> str:
        """The share of the run spent in root mode, in one line in the course's language."""
        return _(
            "{share} of {total} µs in root mode",
            share=f"{self.fraction_in_exits:.1%}",
            total=f"{self.total_us:.0f}",
        )

    def counts(self) -> dict[str, int]:
        """Exits per reason, in the mix's order."""
        found = [s.reason for s in self.segments if s.mode == "root"]
        return {reason: found.count(reason) for reason in self.mix if reason in found}

    def exit_us_by_reason(self) -> dict[str, float]:
        """Root-mode time per reason, in the mix's order."""
        spent = dict.fromkeys(self.counts(), 0.0)
        for s in self.segments:
            if s.mode == "root":
                spent[s.reason] += s.duration_us
        return spent


def simulate(
    mix: str | Mapping[str, float] = "linux guest",
    cpu: str = "modern",
    *,
    exits: int = 40,
    mean_run_us: float = 10.0,
    seed: int = 0,
) -> Timeline:
    """A guest that runs, exits, runs again: `exits` exits drawn from `mix`. Lesson 05.

    The guest's runs between exits last `mean_run_us` microseconds on average (exponentially
    distributed, assumption: exits arrive at random); each exit costs `exit_cost_us`. The same
    seed gives the same reasons and run lengths on every CPU, so generations compare fairly.
    """
    shares = mix_shares(mix)
    switch = _cpu(cpu)
    if isinstance(exits, bool) or not isinstance(exits, Integral) or not 1 <= exits <= MAX_EXITS:
        raise not_an_integer("exits", exits, 1, MAX_EXITS)
    run = mean_run_us
    if isinstance(run, bool) or not isinstance(run, Real) or not 0 < run < math.inf:
        raise ValueError(
            _(
                "mean_run_us must be a positive finite number; got {value}",
                value=repr(mean_run_us),
            )
        )
    rng = random.Random(seed)
    reasons = rng.choices(list(shares), weights=list(shares.values()), k=exits)
    segments, now = [], 0.0
    for reason in reasons:
        length = rng.expovariate(1 / run)
        segments.append(Segment(now, length, "non-root"))
        now += length
        cost = exit_cost_us(reason, switch.cpu)
        segments.append(Segment(now, cost, "root", reason))
        now += cost
    return Timeline(switch.cpu, shares, tuple(segments))


PAGING = ("ept", "shadow")
_TECHNIQUE_OF_PAGING = {"ept": "hardware-assisted-ept", "shadow": "hardware-assisted"}


def _exit(technique: str, event: str) -> str | None:
    chosen = techniques.treatment(technique, event)
    return chosen.exit_reason if chosen.kind.startswith("exit") else None


# What makes a guest leave non-root mode, with EPT and with shadow paging (KVM on VT-x): the
# model's events under `techniques`' two hardware-assisted techniques, then three exits that are
# no event of the model. None: no VM exit.
GUEST_EVENTS = {
    techniques.EVENTS[e].does: tuple(_exit(_TECHNIQUE_OF_PAGING[p], e) for p in PAGING)
    for e in techniques.EVENTS
} | {
    N_("writes a model-specific register (WRMSR)"): ("MSR_WRITE", "MSR_WRITE"),
    N_("makes a hypercall (VMCALL)"): ("VMCALL", "VMCALL"),
    # Under shadow paging the shadow entry is missing too: a page fault the hypervisor takes.
    N_("touches a guest-physical page the host has not backed yet"): (
        "EPT_VIOLATION",
        "EXCEPTION_NMI",
    ),
}
# How KVM treats each event of GUEST_EVENTS with EPT: one of techniques.TREATMENT_KINDS.
HANDLED_WITH_EPT = {
    techniques.EVENTS[e].does: techniques.treatment(_TECHNIQUE_OF_PAGING["ept"], e).kind
    for e in techniques.EVENTS
} | dict.fromkeys(list(GUEST_EVENTS)[len(techniques.EVENTS) :], "exit-kernel")


def guest_event_rows() -> list[tuple[str, str, str, str]]:
    """GUEST_EVENTS as rows of `vizlib.tables.show_table`, in the course's language: what the
    guest does, its exit with EPT and with shadow paging ("no exit" when none), and how KVM
    treats it with EPT. Lesson 05."""
    rows = []
    for event, reasons in GUEST_EVENTS.items():
        exits = (reason or _("no exit") for reason in reasons)
        rows.append((_(event), *exits, TREATMENT_KINDS[HANDLED_WITH_EPT[event]].name()))
    return rows


def exit_reason(event: str, paging: str = "ept") -> str | None:
    """The exit reason a guest event causes under `paging` ("ept" or "shadow"), or None.

    Lesson 05. EXCEPTION_NMI is the exit of an intercepted exception, here a page fault.
    """
    if event not in GUEST_EVENTS:
        raise not_one_of("event", event, map(repr, GUEST_EVENTS))
    if paging not in PAGING:
        raise not_one_of("paging", paging, PAGING)
    return GUEST_EVENTS[event][PAGING.index(paging)]
