"""Shadow paging or EPT? Which wins as TLB misses and page-table updates vary. Lesson 05.

Both prices come from the course's cost model (`vizlib.sim.costmodel`), on the modern machine
unless told otherwise: under shadow paging ("hardware-assisted") every guest page-table update
traps to the hypervisor, while TLB misses walk one dimension as natively; under EPT
("hardware-assisted-ept") updates are plain stores, while each TLB miss walks two dimensions.
Rates are per million guest instructions; nothing else happens in the workload, so the answer
isolates these two events (a real guest also pays shadow paging's hidden page faults and its
system-call exits, which tilt the balance further toward EPT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

from vizlib.i18n import N_, _
from vizlib.sim import costmodel
from vizlib.sim.costmodel import WORKLOADS, Workload, predict
from vizlib.sim.errors import not_an_integer

SHADOW = "hardware-assisted"  # the cost model's name for VT-x with shadow page tables
EPT = "hardware-assisted-ept"
INSTRUCTIONS = 1_000_000  # rates are per million instructions
# Widget ranges. Bhargava et al. (ASPLOS 2008): 18-294 TLB misses per 100,000 instructions, i.e.
# 180-2,940 per million (derived); the slider reaches a little beyond.
MAX_TLB_MISSES = 3_000
# illustrative: the cost model's fork-heavy workload makes about 570 (see `workload_rates`).
MAX_PTE_UPDATES = 1_000
# Which of the two runs faster (`Comparison.winner`), keys for code and words for learners.
EPT_WINS, SHADOW_WINS, TIE = N_("EPT"), N_("shadow paging"), N_("tie")


@dataclass(frozen=True)
class Comparison:
    """Cycles per million instructions under shadow paging and under EPT. Lesson 05."""

    tlb_misses: float
    pte_updates: float
    cpu: str
    shadow_cycles: float
    ept_cycles: float

    @property
    def ratio(self) -> float:
        """Shadow cycles / EPT cycles: above 1, EPT wins."""
        return self.shadow_cycles / self.ept_cycles

    @property
    def winner(self) -> str:
        """ "EPT", "shadow paging", or "tie"."""
        if math.isclose(self.shadow_cycles, self.ept_cycles, rel_tol=1e-9):
            return TIE
        return EPT_WINS if self.ept_cycles < self.shadow_cycles else SHADOW_WINS

    @property
    def shown_winner(self) -> str:
        """`winner` in the course's language."""
        return _(self.winner)


def _rate(parameter: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < math.inf:
        raise ValueError(
            _(
                "{parameter} must be a finite number, zero or more; got {value}",
                parameter=parameter,
                value=repr(value),
            )
        )
    return float(value)


def compare(tlb_misses: float, pte_updates: float, cpu: str = "modern") -> Comparison:
    """Price a million instructions with these TLB misses and page-table updates. Lesson 05."""
    workload = Workload(
        "per million instructions",
        instructions=INSTRUCTIONS,
        tlb_misses=_rate("tlb_misses", tlb_misses),
        page_table_updates=_rate("pte_updates", pte_updates),
    )
    shadow, ept = (predict(workload, t, cpu) for t in (SHADOW, EPT))
    return Comparison(
        workload.tlb_misses, workload.page_table_updates, cpu, shadow.cycles, ept.cycles
    )


def break_even_updates(tlb_misses: float, cpu: str = "modern") -> float:
    """Page-table updates per million instructions at which the two tie. Lesson 05.

    Fewer updates than this: shadow paging wins; more: EPT. derived: the extra price of a TLB miss
    under EPT times the misses, over the extra price of an update under shadow paging.
    """
    shadow, ept = (costmodel.event_costs(t, cpu) for t in (SHADOW, EPT))
    per_miss = ept["tlb_misses"] - shadow["tlb_misses"]
    per_update = shadow["page_table_updates"] - ept["page_table_updates"]
    return _rate("tlb_misses", tlb_misses) * per_miss / per_update


@dataclass(frozen=True)
class CrossoverGrid:
    """Shadow / EPT cycle ratios: one row per page-table update rate, one column per TLB miss
    rate. Lesson 05."""

    tlb_misses: tuple[float, ...]
    pte_updates: tuple[float, ...]
    ratio: tuple[tuple[float, ...], ...]
    cpu: str


def crossover_grid(
    tlb_misses: Sequence[float], pte_updates: Sequence[float], cpu: str = "modern"
) -> CrossoverGrid:
    """`compare` over every pair of rates. Lesson 05."""
    if not tlb_misses or not pte_updates:
        raise ValueError(_("tlb_misses and pte_updates must each hold at least one rate"))
    ratio = tuple(tuple(compare(t, u, cpu).ratio for t in tlb_misses) for u in pte_updates)
    return CrossoverGrid(tuple(map(float, tlb_misses)), tuple(map(float, pte_updates)), ratio, cpu)


def standard_grid(cpu: str = "modern", points: int = 41) -> CrossoverGrid:
    """The map of Lesson 05: 0 to MAX_TLB_MISSES misses, 1 to MAX_PTE_UPDATES updates (log)."""
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 201:
        raise not_an_integer("points", points, 2, 201)
    misses = [MAX_TLB_MISSES * i / (points - 1) for i in range(points)]
    updates = [MAX_PTE_UPDATES ** (i / (points - 1)) for i in range(points)]
    return crossover_grid(misses, updates, cpu)


@dataclass(frozen=True)
class WorkloadRates:
    """A named workload of the cost model: its rates and the full prediction. Lesson 05."""

    name: str
    tlb_misses: float
    pte_updates: float
    shadow_slowdown: float
    ept_slowdown: float

    @property
    def winner(self) -> str:
        """The faster of the two under the full cost model (all the workload's events)."""
        return EPT_WINS if self.ept_slowdown < self.shadow_slowdown else SHADOW_WINS

    @property
    def shown_winner(self) -> str:
        """`winner` in the course's language."""
        return _(self.winner)


def workload_rates(names: Sequence[str] = ("fork-heavy", "tlb-heavy"), cpu="modern"):
    """Rates per million instructions and slowdowns of the cost model's workloads. Lesson 05."""
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(
            _(
                "names must be among {allowed}; got {unknown}",
                allowed=", ".join(WORKLOADS),
                unknown=unknown,
            )
        )
    rows = []
    for name in names:
        w = WORKLOADS[name]
        per_million = INSTRUCTIONS / w.instructions
        rows.append(
            WorkloadRates(
                name,
                w.tlb_misses * per_million,
                w.page_table_updates * per_million,
                predict(w, SHADOW, cpu).slowdown,
                predict(w, EPT, cpu).slowdown,
            )
        )
    return tuple(rows)
