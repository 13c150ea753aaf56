"""How fast a workload runs under each virtualization technique: a cost model. Lessons 03-05, 10.

A workload is a count of events (instructions, system calls, page faults, page-table updates,
context switches, device accesses, TLB misses, hidden page faults). Its native time is guest work:
instructions times the CPU's cycles per instruction plus what each event costs on bare metal.
Each technique adds a price per event, taken from published measurements on three CPUs
(`vizlib.sim.costs`): emulation runs all guest work about 8x slower (Bellard 2005); binary
translation pays a callout or fault into the VMM for system calls, page faults and context
switches, and keeps shadow page tables up to date (Adams & Agesen 2006); paravirtualization
replaces those traps with hypercalls and batches page-table updates (Barham et al. 2003);
first-generation hardware assist pays a VM exit and entry for each of them (system calls run
natively on the P4 and Core 2); with EPT the guest owns its page tables, and TLB misses walk two
dimensions instead (Bhargava et al. 2008). Cycles = guest work + the sum of those prices, reported
by cause in `Prediction.breakdown`.

The model is fitted to forkwait and checked against SPECint and a kernel compile (`calibration`).
Its limits show on the kernel compile (Pentium 4): it predicts 90 % of native speed for binary
translation and 67 % for hardware assist, against the published 67.4 % and 54.8 %. It leaves out
the cost of running the guest kernel as translated code, interrupt exits other than the timer's,
and the validation of whole page tables when a paravirtualized guest creates a process, so it errs
on the fast side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from types import MappingProxyType

from vizlib.sim import costs
from vizlib.sim.costs import COSTS, CpuCosts

TECHNIQUES = (
    "native",
    "emulation",
    "binary-translation",
    "paravirtualization",
    "hardware-assisted",
    "hardware-assisted-ept",
)
CPUS = tuple(COSTS)
CAUSES = (
    "guest work",
    "translation",
    "traps/exits",
    "hypercalls",
    "page-table maintenance",
    "page walks",
    "device emulation",
)
# assumption: Linux's Xen PV code flushes its multicall buffer at 32 entries (MC_BATCH) and 512
# bytes of arguments, i.e. 32 mmu_update requests of 16 bytes (arch/x86/xen/multicalls.c).
DEFAULT_PV_BATCH = 32
MAX_PV_BATCH = 2048  # Barham et al. (SOSP 2003): up to 2048 updates per hypercall
# No CPU of the P4 and Core 2 generations had EPT / NPT (AMD RVI 2007, Intel Nehalem 2008).
_HYPOTHETICAL = frozenset({("hardware-assisted-ept", "p4"), ("hardware-assisted-ept", "core2")})


@dataclass(frozen=True)
class Workload:
    """Counts of events in one run of a workload. Lesson 03.

    `hidden_page_faults` are faults only a shadow-paging VMM takes: the guest's page table maps
    the page but the VMM's shadow copy does not yet (after a fork, an exec, a page-table update).
    Natively they do not happen; paravirtualization, EPT and emulation do not take them either.
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

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string; got {self.name!r}")
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number of events; got {value!r}")
            if value < 0 or (f.name == "instructions" and value == 0):
                low = "positive" if f.name == "instructions" else "zero or more"
                raise ValueError(f"{f.name} must be {low}; got {value!r}")


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
        raise ValueError(f"{parameter} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _batch(parameter: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= value <= MAX_PV_BATCH:
        raise ValueError(f"{parameter} must be an integer from 1 to {MAX_PV_BATCH}; got {value!r}")
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
    }


def _overheads(technique: str, c: CpuCosts, batch: int) -> dict[str, dict[str, float]]:
    """Extra cycles of one event under a technique, by Workload field, then by cause."""
    native = _native(c)
    device = {"device emulation": c.device_model - c.io_access}
    if technique == "native":
        return {}
    if technique == "emulation":
        translated = {e: {"translation": (c.emulation_factor - 1) * n} for e, n in native.items()}
        return translated | {"io_operations": device}
    if technique == "binary-translation":
        return {
            "syscalls": {"traps/exits": c.bt_syscall},
            "page_faults": {"traps/exits": c.bt_page_fault},
            "hidden_page_faults": {"page-table maintenance": c.bt_hidden_fault},
            "page_table_updates": {"page-table maintenance": c.bt_pte_write},
            "context_switches": {"traps/exits": c.bt_context_switch},
            "io_operations": {"traps/exits": c.bt_io_access} | device,
        }
    if technique == "paravirtualization":
        # The backend drives the real device: no register-level device model to run.
        return {
            "syscalls": {"traps/exits": c.pv_syscall},
            "page_faults": {"traps/exits": c.pv_page_fault},
            "page_table_updates": {
                "hypercalls": c.pv_hypercall / batch,
                "page-table maintenance": c.pv_pte_validate,
            },
            "context_switches": {"hypercalls": c.pv_hypercall},
            "io_operations": {"hypercalls": c.pv_hypercall},
        }
    io_exit = {"io_operations": {"traps/exits": c.hw_io_access} | device}
    if technique == "hardware-assisted":
        return io_exit | {
            "syscalls": {"traps/exits": c.hw_syscall},
            "page_faults": {"traps/exits": c.hw_page_fault},
            "hidden_page_faults": {"page-table maintenance": c.hw_hidden_fault},
            "page_table_updates": {"page-table maintenance": c.hw_pte_write},
            "context_switches": {"traps/exits": c.hw_context_switch},
        }
    # hardware-assisted-ept: the guest owns its page tables; a TLB miss walks two dimensions.
    walk = c.page_walk * (c.ept_walk_factor - 1)
    return io_exit | {"tlb_misses": {"page walks": walk}}


def event_costs(technique: str, cpu: str = "core2", *, pv_batch_size: int = DEFAULT_PV_BATCH):
    """Cycles one event costs under a technique, native part included, by Workload field.

    Lesson 03's table of where each technique pays. `instructions` is per instruction.
    """
    _choice("technique", technique, TECHNIQUES)
    c = COSTS[_choice("cpu", cpu, CPUS)]
    extra = _overheads(technique, c, _batch("pv_batch_size", pv_batch_size))
    return {e: n + sum(extra.get(e, {}).values()) for e, n in _native(c).items()}


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
        raise ValueError(f"workload must be a Workload (see WORKLOADS); got {workload!r}")
    _choice("technique", technique, TECHNIQUES)
    c = COSTS[_choice("cpu", cpu, CPUS)]
    extra = _overheads(technique, c, _batch("pv_batch_size", pv_batch_size))
    breakdown = dict.fromkeys(CAUSES, 0.0)
    for event, cycles in _native(c).items():
        count = getattr(workload, event)
        breakdown["guest work"] += count * cycles
        for cause, price in extra.get(event, {}).items():
            breakdown[cause] += count * price
    total = sum(breakdown.values())
    return Prediction(
        workload=workload.name,
        technique=technique,
        cpu=cpu,
        cycles=total,
        native_cycles=breakdown["guest work"],
        seconds=total / c.clock_hz,
        breakdown=breakdown,
        hypothetical=(technique, cpu) in _HYPOTHETICAL,
    )


def _forkwait() -> Workload:
    n = costs.FORKWAIT_ITERATIONS
    return Workload(
        "forkwait",
        instructions=costs.FORKWAIT_INSTRUCTIONS * n,
        syscalls=costs.FORKWAIT_SYSCALLS * n,
        page_faults=costs.FORKWAIT_PAGE_FAULTS * n,
        page_table_updates=costs.FORKWAIT_PAGE_TABLE_UPDATES * n,
        context_switches=costs.FORKWAIT_CONTEXT_SWITCHES * n,
        tlb_misses=costs.FORKWAIT_TLB_MISSES * n,
        hidden_page_faults=costs.FORKWAIT_HIDDEN_PAGE_FAULTS * n,
    )


def _processes(count: int, *, pages: int, syscalls: int, switches: int) -> dict:
    """Events of `count` process lifecycles: a fork/wait each (as in forkwait), plus an exec that
    touches `pages` pages (a page fault, a hidden fault, a PTE set and a PTE clear per page)."""
    return {
        "syscalls": count * (costs.FORKWAIT_SYSCALLS + syscalls),
        "page_faults": count * (costs.FORKWAIT_PAGE_FAULTS + pages),
        "page_table_updates": count * (costs.FORKWAIT_PAGE_TABLE_UPDATES + 2 * pages),
        "hidden_page_faults": count * (costs.FORKWAIT_HIDDEN_PAGE_FAULTS + pages),
        "context_switches": count * (costs.FORKWAIT_CONTEXT_SWITCHES + switches),
        "tlb_misses": count * costs.FORKWAIT_TLB_MISSES,
    }


def _kernel_compile() -> Workload:
    # assumption: ~1,500 C files, 4 processes each (make's shell, gcc, cc1, as); each process
    # touches ~1,500 pages (cc1 some 20 MB, the others a few hundred pages), makes ~2,000 system
    # calls (opening, stat-ing and reading headers; mmap, brk) and hands a pipe back and forth
    # ~50 times.
    events = _processes(6_000, pages=1_500, syscalls=2_000, switches=50)
    # assumption: a 250 Hz timer (Linux 2.6's default) for 265 s, two interrupt-controller
    # accesses per tick.
    events["io_operations"] = 250 * 265 * 2
    # The instructions fill the rest of the native 265 s on the P4 (Adams & Agesen), with 100 TLB
    # misses per 100,000 instructions (assumption: inside Bhargava et al.'s 18-294). derived.
    p4 = _native(costs.P4)
    native_events = sum(count * p4[e] for e, count in events.items())
    per_instruction = p4["instructions"] + 100e-5 * p4["tlb_misses"]
    instructions = round((265 * costs.P4.clock_hz - native_events) / per_instruction)
    events["tlb_misses"] += round(100e-5 * instructions)
    return Workload("kernel-compile", instructions=instructions, **events)


def _fork_heavy() -> Workload:
    # assumption: a shell script: 10,000 short commands, each a process lifecycle touching 300
    # pages with 50 system calls and 1,000,000 instructions of work (100 TLB misses per 100,000).
    events = _processes(10_000, pages=300, syscalls=50, switches=0)
    work = 10_000 * 1_000_000
    instructions = 10_000 * costs.FORKWAIT_INSTRUCTIONS + work
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


@dataclass(frozen=True)
class CalibrationRow:
    """The model against one published number. Lesson 03.

    `kind` is "fitted" when the model's counts or constants were derived from this very number
    (it must match, by construction), "check" when the number played no part in building the
    model. `baseline` is what the slowdown is relative to.
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


_AA = "Adams & Agesen, ASPLOS 2006:"
_PUBLISHED = (  # workload, cpu, technique, published slowdown, kind, source
    ("forkwait", "p4", "binary-translation", 36.9 / 6.0, "fitted", f"{_AA} 36.9 s / 6.0 s"),
    ("forkwait", "p4", "hardware-assisted", 106.4 / 6.0, "fitted", f"{_AA} 106.4 s / 6.0 s"),
    ("forkwait", "core2", "binary-translation", 18.4 / 2.62, "fitted", f"{_AA} 18.4 s / 2.62 s"),
    ("forkwait", "core2", "hardware-assisted", 38.9 / 2.62, "fitted", f"{_AA} 38.9 s / 2.62 s"),
    ("compute", "p4", "emulation", 4 * 2, "fitted", "Bellard 2005: ~4x, ~2x more for soft MMU"),
    ("compute", "p4", "binary-translation", 1.04, "check", f"{_AA} SPECint, 0-9 %, mean 4 %"),
    ("compute", "p4", "hardware-assisted", 1.05, "check", f"{_AA} SPECint, mean 5 %"),
    ("kernel-compile", "p4", "binary-translation", 393 / 265, "check", f"{_AA} 393 s / 265 s"),
    ("kernel-compile", "p4", "hardware-assisted", 484 / 265, "check", f"{_AA} 484 s / 265 s"),
)


def calibration() -> tuple[CalibrationRow, ...]:
    """The model's slowdowns beside the published ones they were fitted to or checked against.

    Lesson 03 shows them as a table. The last row compares shadow paging with EPT on the modern
    machine (the PVM paper's fork, 505 us under kvm-spt, 82 us under kvm-ept).
    """
    rows = [
        CalibrationRow(w, cpu, t, predict(WORKLOADS[w], t, cpu).slowdown, p, src, kind)
        for w, cpu, t, p, kind, src in _PUBLISHED
    ]
    spt, ept = (predict(WORKLOADS["forkwait"], t, "modern") for t in TECHNIQUES[-2:])
    source = "PVM paper (SOSP 2023): fork 505 us under kvm-spt / 82 us under kvm-ept"
    rows.append(
        CalibrationRow(
            "forkwait",
            "modern",
            "hardware-assisted",
            spt.cycles / ept.cycles,
            505 / 82,
            source,
            "fitted",
            baseline="hardware-assisted-ept",
        )
    )
    return tuple(rows)
