"""Hardware assist in numbers: world switches, exit timelines, TLBs, shadow paging vs EPT.

Lesson 05. Every number plotted comes from `vizlib.sim.vmexit`, `vizlib.sim.paging`,
`vizlib.sim.tlb` or `vizlib.sim.paging_costs`, whose constants cite their sources.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from vizlib.diagrams.style import LAYERS
from vizlib.i18n import N_, _
from vizlib.plots.marks import MOVING, moving
from vizlib.sim import paging, tlb, vmexit
from vizlib.sim.paging_costs import CrossoverGrid

# Paul Tol's colour-blind-safe "muted" palette (personal.sron.nl/~pault), one colour per reason.
REASON_COLORS = dict(
    zip(
        vmexit.EXIT_REASONS,
        (
            "#CC6677",
            "#332288",
            "#DDCC77",
            "#117733",
            "#88CCEE",
            "#882255",
            "#44AA99",
            "#999933",
            "#AA4499",
            "#DDDDDD",
            "#BBBBBB",
        ),
        strict=True,
    )
)
CPU_LABELS = {"p4": "Pentium 4\n(2006)", "core2": "Core 2\n(2006)", "modern": "Xeon 8269CY\n(2019)"}
MODE_COLORS = {"native": "#4477AA", "shadow": "#EE6677", "nested": "#228833"}  # Tol "bright"
# The lines of `tlb_references`: a native (or shadow) walk and a nested one, with its references.
_TLB_LINES = {
    "native": N_("native / shadow: {references} per miss"),
    "nested": N_("nested: {references} per miss"),
}


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def world_switches() -> Figure:
    """One VM exit plus entry, in microseconds, on each CPU generation. Lesson 05."""
    switches = list(vmexit.WORLD_SWITCHES.values())
    fig, ax = plt.subplots(figsize=(6, 3))
    values = [s.seconds * 1e6 for s in switches]
    bars = ax.bar([CPU_LABELS[s.cpu] for s in switches], values, color=LAYERS["hypervisor"])
    ax.bar_label(bars, labels=[f"{v:.3g} µs" for v in values], fontsize=8, padding=2)
    ax.set_ylabel(_("µs per exit + entry"))
    ax.set_ylim(0, max(values) * 1.2)
    ax.set_title(_("The hardware's world switch (Adams & Agesen 2006; PVM paper 2023)"), fontsize=9)
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def exit_timeline(timeline: vmexit.Timeline) -> Figure:
    """A guest's run: non-root stretches above, exits below, coloured by reason. Lesson 05."""
    fig, ax = plt.subplots(figsize=(9, 2.6))
    guest = [(s.start_us, s.duration_us) for s in timeline.segments if s.mode == "non-root"]
    ax.broken_barh(guest, (1.1, 0.8), facecolors=LAYERS["guest_kernel"])
    for reason in timeline.counts():
        spans = [(s.start_us, s.duration_us) for s in timeline.segments if s.reason == reason]
        ax.broken_barh(spans, (0.1, 0.8), facecolors=REASON_COLORS[reason])
    ax.set_yticks([0.5, 1.5], [_("root\n(hypervisor)"), _("non-root\n(guest)")])
    ax.set_xlim(0, timeline.total_us)
    ax.set_ylim(0, 2)
    ax.set_xlabel(_("time (µs)"))
    counts = timeline.counts()
    handles = [Patch(facecolor=REASON_COLORS[r], label=f"{r} ×{n}") for r, n in counts.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    ax.set_title(
        _(
            "{exits} exits on the {cpu} CPU: {share} of the time in root mode",
            exits=sum(counts.values()),
            cpu=timeline.cpu,
            share=f"{timeline.fraction_in_exits:.1%}",
        ),
        fontsize=9,
    )
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def tlb_references(
    stream: Sequence[int], sizes: Sequence[int], guest_levels: int = 4, host_levels: int = 4
) -> Figure:
    """Page-walk references per access against TLB size, native (or shadow) and nested.

    Lesson 05. The stream runs through an LRU TLB of each size (`vizlib.sim.tlb`); each miss costs
    a full walk (`paging.reference_count`).
    """
    if not sizes:
        raise ValueError(_("sizes must hold at least one TLB size"))
    stats = [tlb.run_tlb(stream, size) for size in sizes]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for mode in ("native", "nested"):
        walk = paging.reference_count(mode, guest_levels, host_levels)
        label = _(_TLB_LINES[mode], references=walk)
        ys = [s.references_per_access(walk) for s in stats]
        ax.plot(sizes, ys, marker="o", color=MODE_COLORS[mode], label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(_("TLB entries"))
    ax.set_ylabel(_("walk references per access"))
    ax.legend(fontsize=8, frameon=False)
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def crossover_map(grid: CrossoverGrid, point: tuple[float, float] | None = None) -> Figure:
    """Where shadow paging beats EPT: the cycle ratio over TLB misses and updates. Lesson 05.

    Blue: shadow paging is faster, red: EPT is, white: a tie (the black line). Update rates are
    drawn on a log scale. `point` (TLB misses, updates) marks one workload.
    """
    ratio = np.log2(np.array(grid.ratio))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    limit = max(float(np.abs(ratio).max()), 0.1)
    mesh = ax.pcolormesh(
        grid.tlb_misses,
        grid.pte_updates,
        ratio,
        cmap="RdBu_r",
        norm=TwoSlopeNorm(0, -limit, limit),
        shading="nearest",
    )
    ax.contour(grid.tlb_misses, grid.pte_updates, ratio, levels=[0], colors="black")
    bar = fig.colorbar(mesh, ax=ax)
    ticks = [t for t in range(-8, 9) if abs(t) <= limit]
    bar.set_ticks(ticks, labels=[f"{2.0**t:g}×" for t in ticks])
    bar.set_label(_("shadow time / EPT time"), fontsize=8)
    if point is not None:
        mark_workload(fig, point)
    ax.set_yscale("log")
    ax.set_xlabel(_("TLB misses per million instructions"))
    ax.set_ylabel(_("page-table updates\nper million instructions"))
    ax.text(0.02, 0.04, _("shadow paging wins"), transform=ax.transAxes, fontsize=8)
    ax.text(0.02, 0.92, _("EPT wins"), transform=ax.transAxes, fontsize=8)
    ax.set_title(_("Shadow paging vs EPT, {cpu} CPU (cost model)", cpu=grid.cpu), fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def mark_workload(fig: Figure, point: tuple[float, float]) -> None:
    """Mark the workload `point` (TLB misses, updates) on a `crossover_map` with a star, or move
    the star there. Lesson 05."""
    star = moving(fig)
    if star:
        star[0].set_data([point[0]], [point[1]])
    else:
        style = {"marker": "*", "markersize": 14, "color": "gold", "markeredgecolor": "black"}
        fig.axes[0].plot(*point, **style, gid=MOVING)
