"""How fast a workload runs under each virtualization technique: a cost model. Lessons 03-05, 10.

A workload is a count of events (instructions, system calls, page faults, page-table updates,
context switches, device accesses, TLB misses, hidden page faults, new address spaces). Its
native time is guest work: instructions times the CPU's cycles per instruction plus what each
event costs on bare metal. Each technique adds a price per event, from the table of published
numbers through `vizlib.sim.costs`, and only where the course's model (`vizlib.sim.techniques`)
says the technique enters the VMM for that event: emulation runs all guest work about 8x slower
(Bellard 2005); binary translation pays a trap or a callout into the VMM for system calls, page
faults and context switches, and keeps shadow page tables up to date (Adams & Agesen 2006);
paravirtualization replaces those traps with hypercalls, batches page-table updates and has Xen
validate each new address space (Barham et al. 2003); first-generation hardware assist pays a VM
exit and entry for each of them (system calls run in the guest); with EPT the guest owns its page
tables, and TLB misses walk two dimensions instead (Bhargava et al. 2008). Cycles = guest work +
the sum of those prices, reported in `Prediction.breakdown` by cause, one cause per treatment.

The model is fitted to forkwait and to Barham et al.'s fork, and checked against SPECint, a kernel
compile and lmbench (`calibration`). Its limits show on the kernel compile (Pentium 4): it
predicts 90 % of native speed for binary translation and 67 % for hardware assist, against the
published 67.4 % and 54.8 %. It leaves out the cost of running the guest kernel as translated code
and interrupt exits other than the timer's, so it errs on the fast side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from types import MappingProxyType

from vizlib.i18n import N_, _
from vizlib.sim import costs, techniques
from vizlib.sim.costs import COSTS, CpuCosts
from vizlib.sim.errors import not_an_integer, not_one_of
from vizlib.sim.published import value

# The model's techniques: every one of `techniques` but trap-and-emulate, which cannot run an x86
# guest correctly (lesson 02) and has no published whole-workload figures.
TECHNIQUES = tuple(t for t in techniques.TECHNIQUES if t != "trap-and-emulate")
CPUS = techniques.CPUS
# What the price of virtualization is paid in: the guest's own work, then one cause per
# treatment kind of `techniques` (TREATMENT_KINDS), then the two costs that are no VMM entry.
CAUSES = (
    N_("guest work"),
    N_("emulation"),
    N_("traps"),
    N_("callouts"),
    N_("inline emulation"),
    N_("hypercalls"),
    N_("VM exits"),
    N_("page walks"),
    N_("device emulation"),
)
CAUSE_OF_KIND = MappingProxyType(
    {
        "emulated": "emulation",
        "trap": "traps",
        "callout": "callouts",
        "inline": "inline emulation",
        "hypercall": "hypercalls",
        "exit-kernel": "VM exits",
        "exit-user": "VM exits",
    }
)
# The Workload fields that are events of `techniques`, and the event each one is.
EVENT_OF_FIELD = MappingProxyType(
    {
        "instructions": "instruction",
        "syscalls": "system-call",
        "page_faults": "page-fault",
        "page_table_updates": "page-table-write",
        "context_switches": "context-switch",
        "io_operations": "port-io",
        "tlb_misses": "tlb-miss",
        "hidden_page_faults": "page-fault",  # a page fault only a shadow-paging VMM takes
    }
)
DEFAULT_PV_BATCH = int(value("linux.mc-batch"))
MAX_PV_BATCH = int(value("xenolinux.batch"))  # XenoLinux's batch buffer (Barham et al.)


@dataclass(frozen=True)
class Workload:
    """Counts of events in one run of a workload. Lesson 03.

    `hidden_page_faults` are faults only a shadow-paging VMM takes: the guest's page table maps
    the page but the VMM's shadow copy does not yet (after a fork, an exec, a page-table update).
    Natively they do not happen; paravirtualization, EPT and emulation do not take them either.
    `address_spaces` counts the processes given new page tables (by fork or exec), which a
    paravirtualized guest must have Xen validate.
    """

    name: str
    instructions: float
    syscalls: float = 0
    page_faults: float = 0
    page_table_updates: float = 0
    context_switches: float = 0
    io_operations: float = 0
    tlb_misses: float = 0
    hidden_page_faults: float = 0
    address_spaces: float = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                _("name must be a non-empty string; got {value}", value=repr(self.name))
            )
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(
                    _(
                        "{parameter} must be a finite number of events; got {value}",
                        parameter=f.name,
                        value=repr(value),
                    )
                )
            if f.name == "instructions" and value <= 0:
                raise ValueError(_("instructions must be positive; got {value}", value=repr(value)))
            if value < 0:
                raise ValueError(
                    _(
                        "{parameter} must be zero or more; got {value}",
                        parameter=f.name,
                        value=repr(value),
                    )
                )


@dataclass(frozen=True)
class Prediction:
    """The model's prediction for one workload, technique and CPU. Lesson 03.

    `breakdown` maps each cause in CAUSES to its cycles; "guest work" is the native run, so the
    other causes are the price of virtualization. `hypothetical` marks a technique the CPU never
    had (EPT on the P4 and Core 2): the model still prices it, from the same ratios.
    """

    workload: str
    technique: str
    cpu: str
    cycles: float
    native_cycles: float
    seconds: float
    breakdown: dict[str, float]
    hypothetical: bool

    @property
    def relative_speed(self) -> float:
        """Native cycles / cycles: 1.0 is native speed, 0.5 half as fast."""
        return self.native_cycles / self.cycles

    @property
    def slowdown(self) -> float:
        """Cycles / native cycles: how many times longer than native."""
        return self.cycles / self.native_cycles


def _choice(parameter: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise not_one_of(parameter, value, allowed)
    return value


def _batch(parameter: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= value <= MAX_PV_BATCH:
        raise not_an_integer(parameter, value, 1, MAX_PV_BATCH)
    return value


def _native(c: CpuCosts) -> dict[str, float]:
    """Cycles of one event on bare metal, by Workload field."""
    return {
        "instructions": c.cpi,
        "syscalls": c.syscall,
        "page_faults": c.page_fault,
        "page_table_updates": c.pte_write,
        "context_switches": c.context_switch,
        "io_operations": c.io_access,
        "tlb_misses": c.page_walk,
        "hidden_page_faults": 0.0,
        "address_spaces": 0.0,  # its work is in the instructions and page-table updates
    }


def _prices(technique: str, c: CpuCosts, batch: int) -> dict[str, float]:
    """Extra cycles of one event under a technique, by Workload field (the device model apart)."""
    if technique == "native":
        return {}
    if technique == "emulation":
        factor = c.emulation_factor - 1
        return {e: factor * n for e, n in _native(c).items() if e != "io_operations"}
    if technique == "binary-translation":
        return {
            "syscalls": c.bt_syscall,
            "page_faults": c.bt_page_fault,
            "hidden_page_faults": c.bt_hidden_fault,
            "page_table_updates": c.bt_pte_write,
            "context_switches": c.bt_context_switch,
            "io_operations": c.bt_io_access,
        }
    if technique == "paravirtualization":
        # The backend drives the real device: no register-level device model, one notification.
        return {
            "syscalls": c.pv_syscall,
            "page_faults": c.pv_page_fault,
            "page_table_updates": c.pv_hypercall / batch + c.pv_pte_validate,
            "context_switches": c.pv_context_switch,
            "io_operations": c.pv_hypercall,
            "address_spaces": c.pv_address_space,
        }
    io_exit = {"io_operations": c.hw_io_access}
    if technique == "hardware-assisted":
        return io_exit | {
            "syscalls": c.hw_syscall,
            "page_faults": c.hw_page_fault,
            "hidden_page_faults": c.hw_hidden_fault,
            "page_table_updates": c.hw_pte_write,
            "context_switches": c.hw_context_switch,
        }
    # hardware-assisted-ept: the guest owns its page tables; a TLB miss walks two dimensions.
    return io_exit | {"tlb_misses": c.page_walk * (c.ept_walk_factor - 1)}


def _device(technique: str, c: CpuCosts) -> float:
    """The device model's work for one device access, less the native access it replaces (the
    VMM's own handling of the access is its price in `_prices`)."""
    return 0.0 if technique in ("native", "paravirtualization") else c.device_model - c.io_access


def cause(technique: str, field: str, cpu: str) -> str:
    """Which of CAUSES an extra price of `field` (a Workload event) is paid in. Lesson 03.

    The treatment `techniques` gives the event decides, so the breakdown speaks the model's words.
    """
    if field == "address_spaces":
        return "hypercalls"  # Xen validates and pins them in an mmuext_op hypercall
    if field == "tlb_misses" and technique == "hardware-assisted-ept":
        return "page walks"  # the hardware's two-dimensional walk, no VMM
    kind = techniques.treatment(technique, EVENT_OF_FIELD[field], cpu).kind
    return CAUSE_OF_KIND.get(kind, "guest work")


def event_costs(technique: str, cpu: str = "core2", *, pv_batch_size: int = DEFAULT_PV_BATCH):
    """Cycles one event costs under a technique, native part included, by Workload field.

    Lesson 03's table of where each technique pays. `instructions` is per instruction.
    """
    _choice("technique", technique, TECHNIQUES)
    c = COSTS[_choice("cpu", cpu, CPUS)]
    extra = _prices(technique, c, _batch("pv_batch_size", pv_batch_size))
    costs_ = {e: n + extra.get(e, 0.0) for e, n in _native(c).items()}
    costs_["io_operations"] += _device(technique, c)
    return costs_


def cost_per_pte_update(
    technique: str, cpu: str = "core2", batch_size: int = DEFAULT_PV_BATCH
) -> float:
    """Cycles per guest page-table update, native store included. Lesson 04.

    Only paravirtualization batches (one hypercall per `batch_size` updates); for the other
    techniques the batch size changes nothing.
    """
    _batch("batch_size", batch_size)
    return event_costs(technique, cpu, pv_batch_size=batch_size)["page_table_updates"]


def predict(
    workload: Workload,
    technique: str,
    cpu: str = "core2",
    *,
    pv_batch_size: int = DEFAULT_PV_BATCH,
) -> Prediction:
    """Predict the cycles and slowdown of a workload under a technique on a CPU. Lesson 03.

    `pv_batch_size` (1 to 2048, default 32) is how many page-table updates a paravirtualized
    guest sends per hypercall; the other techniques ignore it.
    """
    if not isinstance(workload, Workload):
        raise ValueError(
            _(
                "workload must be a Workload (see WORKLOADS); got {workload}",
                workload=repr(workload),
            )
        )
    _choice("technique", technique, TECHNIQUES)
    c = COSTS[_choice("cpu", cpu, CPUS)]
    extra = _prices(technique, c, _batch("pv_batch_size", pv_batch_size))
    breakdown = dict.fromkeys(CAUSES, 0.0)
    for event, cycles in _native(c).items():
        count = getattr(workload, event)
        breakdown["guest work"] += count * cycles
        if extra.get(event):
            breakdown[cause(technique, event, cpu)] += count * extra[event]
    breakdown["device emulation"] += workload.io_operations * _device(technique, c)
    total = sum(breakdown.values())
    return Prediction(
        workload=workload.name,
        technique=technique,
        cpu=cpu,
        cycles=total,
        native_cycles=breakdown["guest work"],
        seconds=total / c.clock_hz,
        breakdown=breakdown,
        hypothetical=technique not in techniques.available(cpu),
    )


def fastest(
    workload: Workload, cpu: str = "core2", *, tolerance: float = 0.0, real_only: bool = True
) -> tuple[str, ...]:
    """The techniques that run `workload` fastest on `cpu`, all of them when they tie. Lesson 10.

    Native aside. Techniques within `tolerance` (0.05: 5 %) of the best slowdown tie with it;
    with 0, only those the model cannot tell apart at all (an all-zero workload ties every
    technique but emulation). `real_only` leaves out the techniques the CPU never had.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, Real) or not 0 <= tolerance < 1:
        raise ValueError(
            _(
                "tolerance must be a number from 0 to below 1; got {tolerance}",
                tolerance=repr(tolerance),
            )
        )
    _choice("cpu", cpu, CPUS)
    chosen = techniques.available(cpu) if real_only else TECHNIQUES
    chosen = [t for t in chosen if t in TECHNIQUES]
    slowdowns = {t: predict(workload, t, cpu).slowdown for t in chosen if t != "native"}
    best = min(slowdowns.values())
    limit = best * (1 + tolerance)
    return tuple(t for t, s in slowdowns.items() if s <= limit or math.isclose(s, best))


def _forkwait() -> Workload:
    n = costs.ITERATIONS
    return Workload(
        "forkwait",
        instructions=costs.INSTRUCTIONS * n,
        syscalls=costs.SYSCALLS * n,
        page_faults=costs.PAGE_FAULTS * n,
        page_table_updates=costs.PAGE_TABLE_UPDATES * n,
        context_switches=costs.CONTEXT_SWITCHES * n,
        tlb_misses=costs.TLB_MISSES * n,
        hidden_page_faults=costs.HIDDEN_PAGE_FAULTS * n,
        address_spaces=costs.ADDRESS_SPACES * n,
    )


def _processes(count: int, *, pages: int, syscalls: int, switches: int) -> dict:
    """Events of `count` process lifecycles: a fork/wait each (as in forkwait), plus an exec that
    touches `pages` pages (a page fault, a hidden fault, a PTE set and a PTE clear per page) in
    a new address space of its own."""
    return {
        "syscalls": count * (costs.SYSCALLS + syscalls),
        "page_faults": count * (costs.PAGE_FAULTS + pages),
        "page_table_updates": count * (costs.PAGE_TABLE_UPDATES + 2 * pages),
        "hidden_page_faults": count * (costs.HIDDEN_PAGE_FAULTS + pages),
        "context_switches": count * (costs.CONTEXT_SWITCHES + switches),
        "tlb_misses": count * costs.TLB_MISSES,
        "address_spaces": count * (costs.ADDRESS_SPACES + 1),
    }


def _kernel_compile() -> Workload:
    # assumption: ~1,500 C files, 4 processes each (make's shell, gcc, cc1, as); each process
    # touches ~1,500 pages (cc1 some 20 MB, the others a few hundred pages), makes ~2,000 system
    # calls (opening, stat-ing and reading headers; mmap, brk) and hands a pipe back and forth
    # ~50 times.
    events = _processes(6_000, pages=1_500, syscalls=2_000, switches=50)
    # assumption: a 250 Hz timer (Linux 2.6's default) for the native run, two interrupt-
    # controller accesses per tick.
    seconds = value("p4.compile.native")
    events["io_operations"] = 250 * seconds * 2
    # The instructions fill the rest of the native run on the P4 (Adams & Agesen), with 100 TLB
    # misses per 100,000 instructions (assumption: inside Bhargava et al.'s 18-294). derived.
    p4 = _native(costs.P4)
    native_events = sum(count * p4[e] for e, count in events.items())
    per_instruction = p4["instructions"] + 100e-5 * p4["tlb_misses"]
    instructions = round((seconds * costs.P4.clock_hz - native_events) / per_instruction)
    events["tlb_misses"] += round(100e-5 * instructions)
    return Workload("kernel-compile", instructions=instructions, **events)


def _fork_heavy() -> Workload:
    # assumption: a shell script: 10,000 short commands, each a process lifecycle touching 300
    # pages with 50 system calls and 1,000,000 instructions of work (100 TLB misses per 100,000).
    events = _processes(10_000, pages=300, syscalls=50, switches=0)
    work = 10_000 * 1_000_000
    instructions = 10_000 * costs.INSTRUCTIONS + work
    events["tlb_misses"] += round(100e-5 * work)
    return Workload("fork-heavy", instructions=instructions, **events)


WORKLOADS = MappingProxyType(
    {
        # Adams & Agesen's forkwait; counts derived in vizlib.sim.costs.
        "forkwait": _forkwait(),
        # SPECint-like (assumption): 1.5e11 instructions (~100 s on the P4), a 200 MB footprint
        # faulted in once (51,200 pages: a fault, a hidden fault, a PTE set and clear each), 250
        # timer ticks a second with two interrupt-controller accesses each, 20 TLB misses per
        # 100,000 instructions (Bhargava et al.'s low end, 18).
        "compute": Workload(
            "compute",
            instructions=150_000_000_000,
            syscalls=100_000,
            page_faults=51_200,
            page_table_updates=102_400,
            context_switches=10_000,
            io_operations=50_000,
            tlb_misses=30_000_000,
            hidden_page_faults=51_200,
        ),
        # A getpid loop (assumption): 10 million system calls, 100 instructions each.
        "syscall-heavy": Workload(
            "syscall-heavy",
            instructions=1_000_000_000,
            syscalls=10_000_000,
            tlb_misses=200_000,
        ),
        # A server on an emulated network card (assumption): 200,000 packets, each a send or
        # receive system call, 5 device-register accesses and 10,000 instructions; a context
        # switch every other packet.
        "io-heavy": Workload(
            "io-heavy",
            instructions=2_000_000_000,
            syscalls=200_000,
            io_operations=1_000_000,
            context_switches=100_000,
            tlb_misses=400_000,
        ),
        # A static address space with many TLB misses (assumption): 1e10 instructions with
        # Bhargava et al.'s worst 294 misses per 100,000; 100 MB faulted in once, few system calls.
        "tlb-heavy": Workload(
            "tlb-heavy",
            instructions=10_000_000_000,
            syscalls=10_000,
            page_faults=25_600,
            page_table_updates=51_200,
            context_switches=1_000,
            tlb_misses=29_400_000,
            hidden_page_faults=25_600,
        ),
        "fork-heavy": _fork_heavy(),
        "kernel-compile": _kernel_compile(),
    }
)


# How a calibration row was used: fitted (the model was built from it) or a check.
FITTED, CHECK = N_("fitted"), N_("check")


@dataclass(frozen=True)
class CalibrationRow:
    """The model against one published number. Lesson 03.

    `kind` is "fitted" when the model's counts or constants were derived from this very number
    (it must match, by construction), "check" when the number played no part in building the
    model. `baseline` is what the slowdown is relative to. A `workload` named "lmbench ..." is a
    single event of the cost model, priced by `event_costs`.
    """

    workload: str
    cpu: str
    technique: str
    model_slowdown: float
    published_slowdown: float
    source: str
    kind: str
    baseline: str = "native"

    @property
    def error(self) -> float:
        """Model / published - 1: +0.10 means the model says 10 % slower than published."""
        return self.model_slowdown / self.published_slowdown - 1

    def row(self) -> tuple[str, ...]:
        """A row under CALIBRATION_COLUMNS, its words in the course's language (the source as
        cited). Lessons 03 and 10."""
        ratios = f"{self.model_slowdown:.2f}x", f"{self.published_slowdown:.2f}x"
        versus = f"{techniques.name(self.technique)} / {techniques.name(self.baseline)}"
        error, kind = f"{self.error:+.0%}", _(self.kind)
        return (self.workload, self.cpu, versus, *ratios, error, kind, self.source)


CALIBRATION_COLUMNS = (
    N_("Workload"),
    N_("CPU"),
    N_("Technique / relative to"),
    N_("Model"),
    N_("Published"),
    N_("Error"),
    N_("Kind"),
    N_("Source"),
)


def _ratio(later: str, earlier: str) -> float:
    return value(later) / value(earlier)


def _published() -> tuple[tuple, ...]:
    """(workload, cpu, technique, published slowdown, kind, source) of every calibration row."""
    aa = "Adams & Agesen, ASPLOS 2006:"
    xen = "Barham et al., SOSP 2003, lmbench (2.4 GHz Xeon, NetBurst like the P4):"
    rows = []
    for cpu in ("p4", "core2"):
        for technique, vmm in (
            ("binary-translation", "software"),
            ("hardware-assisted", "hardware"),
        ):
            later, earlier = f"{cpu}.forkwait.{vmm}", f"{cpu}.forkwait.native"
            source = f"{aa} forkwait {value(later):g} s / {value(earlier):g} s"
            rows.append(("forkwait", cpu, technique, _ratio(later, earlier), FITTED, source))
    rows += [
        ("compute", "p4", "emulation", value("emulation.factor"), FITTED,
         "Bellard 2005: ~4x, ~2x more for the soft MMU"),
        ("compute", "p4", "binary-translation", value("p4.specint.software"), CHECK,
         f"{aa} SPECint, 0-9 %, mean 4 %"),
        ("compute", "p4", "hardware-assisted", value("p4.specint.hardware"), CHECK,
         f"{aa} SPECint, mean 5 %"),
    ]  # fmt: skip
    for technique, vmm in (("binary-translation", "software"), ("hardware-assisted", "hardware")):
        later, earlier = f"p4.compile.{vmm}", "p4.compile.native"
        source = f"{aa} kernel compile {value(later):g} s / {value(earlier):g} s"
        rows.append(("kernel-compile", "p4", technique, _ratio(later, earlier), CHECK, source))
    for name, workload, kind in (
        ("fork", "forkwait", FITTED),
        ("null-call", "lmbench null call", CHECK),
        ("page-fault", "lmbench page fault", CHECK),
        ("context-switch", "lmbench context switch", CHECK),
    ):
        later, earlier = f"lmbench.{name}.xen", f"lmbench.{name}.linux"
        source = f"{xen} {name} {value(earlier):g} -> {value(later):g} us"
        rows.append((workload, "p4", "paravirtualization", _ratio(later, earlier), kind, source))
    return tuple(rows)


# A single lmbench event and the Workload field that prices it.
_LMBENCH_FIELDS = {
    "lmbench null call": "syscalls",
    "lmbench page fault": "page_faults",
    "lmbench context switch": "context_switches",
}


def _model_slowdown(workload: str, technique: str, cpu: str) -> float:
    if workload in _LMBENCH_FIELDS:
        field = _LMBENCH_FIELDS[workload]
        return event_costs(technique, cpu)[field] / event_costs("native", cpu)[field]
    return predict(WORKLOADS[workload], technique, cpu).slowdown


def calibration() -> tuple[CalibrationRow, ...]:
    """The model's slowdowns beside the published ones they were fitted to or checked against.

    Lessons 03, 04 and 10 show them as a table. The last row compares shadow paging with EPT on
    the modern machine (the PVM paper's fork, 505 us under kvm-spt, 82 us under kvm-ept).
    """
    rows = [
        CalibrationRow(w, cpu, t, _model_slowdown(w, t, cpu), p, src, kind)
        for w, cpu, t, p, kind, src in _published()
    ]
    spt, ept = (predict(WORKLOADS["forkwait"], t, "modern") for t in TECHNIQUES[-2:])
    fork = "PVM paper (SOSP 2023): fork {:g} us under kvm-spt / {:g} us under kvm-ept"
    rows.append(
        CalibrationRow(
            "forkwait",
            "modern",
            "hardware-assisted",
            spt.cycles / ept.cycles,
            _ratio("kvm-spt.fork", "kvm-ept.fork"),
            fork.format(value("kvm-spt.fork"), value("kvm-ept.fork")),
            FITTED,
            baseline="hardware-assisted-ept",
        )
    )
    return tuple(rows)
