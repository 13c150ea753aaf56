"""What virtualization costs, drawn from the cost model and the translator model. Lessons 03-04.

Every number plotted comes from `vizlib.sim.costmodel` (published measurements, see
`vizlib.sim.costs`) or `vizlib.sim.bt` (Adams & Agesen 2006).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vizlib.i18n import N_, _, language
from vizlib.plots.marks import MOVING, moving
from vizlib.sim import bt, costmodel, techniques
from vizlib.sim.costmodel import CAUSES, TECHNIQUES, WORKLOADS

# Paul Tol's colour-blind-safe palettes (personal.sron.nl/~pault): "light" for filled areas,
# "bright" for lines; the same as the diagrams' layers where a cause belongs to one.
CAUSE_COLORS = {
    "guest work": "#DDDDDD",  # the hardware's pale grey: the guest's own work
    "emulation": "#FFAABB",  # the emulator's pink
    "traps": "#EE8866",  # the hypervisor's orange
    "callouts": "#EEDD88",
    "inline emulation": "#99DDFF",
    "hypercalls": "#77AADD",
    "VM exits": "#AAAA00",
    "page walks": "#44BB99",
    "device emulation": "#BBCC33",
}
TECHNIQUE_COLORS = {
    "native": "#333333",
    "emulation": "#AA3377",
    "binary-translation": "#EE6677",
    "paravirtualization": "#228833",
    "hardware-assisted": "#4477AA",
    "hardware-assisted-ept": "#66CCEE",
}
PAYOFF_LINES = {  # the lines of `translation_payoff`, in drawing order
    N_("binary translation"): TECHNIQUE_COLORS["binary-translation"],
    N_("interpreter"): TECHNIQUE_COLORS["emulation"],
    N_("native"): TECHNIQUE_COLORS["native"],
}
BREAK_EVEN = "break-even"  # the gid of the break-even line and its label


class _TechniqueNames(Mapping[str, str]):
    """Technique id -> its name (the model's `Name`) in the course's language when read."""

    def __getitem__(self, technique: str) -> str:
        return techniques.TECHNIQUES[technique].name(language())

    def __iter__(self) -> Iterator[str]:
        return iter(TECHNIQUES)

    def __len__(self) -> int:
        return len(TECHNIQUES)


TECHNIQUE_LABELS = _TechniqueNames()


def check_among(parameter: str, values, allowed) -> list:
    """`values` as a list, or a ValueError naming `parameter` and the `allowed` values when one is
    not allowed or there is none."""
    values = list(values)
    wrong = [v for v in values if v not in allowed]
    if wrong or not values:
        raise ValueError(
            _(
                "{parameter} must be among {allowed}; got {values}",
                parameter=parameter,
                allowed=", ".join(allowed),
                values=wrong or values,
            )
        )
    return values


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def slowdown_breakdown(
    cpu: str = "p4",
    workloads: Sequence[str] = tuple(WORKLOADS),
    techniques: Sequence[str] = ("binary-translation",),
) -> Figure:
    """Run times in native run times, split by cause: one bar per workload and technique.

    Lessons 03-04: horizontal stacked bars; the grey part (1.0) is the guest's own work.
    """
    names = check_among("workloads", workloads, tuple(WORKLOADS))
    chosen = check_among("techniques", techniques, TECHNIQUES)
    pairs = [(w, t) for w in names for t in chosen]
    predictions = [costmodel.predict(WORKLOADS[w], t, cpu) for w, t in pairs]
    labels = [
        " / ".join(
            part
            for part, varies in ((w, len(names) > 1), (TECHNIQUE_LABELS[t], len(chosen) > 1))
            if varies
        )
        or w
        for w, t in pairs
    ]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(pairs) + 1.6))
    left = [0.0] * len(pairs)
    for cause in CAUSES:
        widths = [p.breakdown[cause] / p.native_cycles for p in predictions]
        if any(widths):
            color = CAUSE_COLORS[cause]
            ax.barh(labels, widths, left=left, color=color, label=_(cause), height=0.6)
            left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, p in enumerate(predictions):
        ax.text(p.slowdown, y, f"  {p.slowdown:.2f}x", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(left) * 1.15)
    ax.set_xlabel(_("run time / native run time (model)"))
    what = TECHNIQUE_LABELS[chosen[0]] if len(chosen) == 1 else ", ".join(names)
    ax.set_title(_("{what} on the {cpu} CPU: where the time goes", what=what, cpu=cpu), fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def technique_slowdowns(
    workloads: Sequence[str], cpu: str = "p4", techniques: Sequence[str] = TECHNIQUES[1:]
) -> Figure:
    """Slowdown of each workload under each technique, on a log scale. Lessons 03-04.

    Native is the line at 1; a bar's label is its slowdown.
    """
    names = check_among("workloads", workloads, tuple(WORKLOADS))
    chosen = check_among("techniques", techniques, TECHNIQUES)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(chosen)
    for i, technique in enumerate(chosen):
        values = [costmodel.predict(WORKLOADS[w], technique, cpu).slowdown for w in names]
        xs = [x + (i - (len(chosen) - 1) / 2) * width for x in range(len(names))]
        bars = ax.bar(
            xs,
            [v - 1 for v in values],
            width,
            bottom=1,
            color=TECHNIQUE_COLORS[technique],
            label=TECHNIQUE_LABELS[technique],
        )
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=6, padding=1)
    ax.axhline(1, color=TECHNIQUE_COLORS["native"], linewidth=1)
    ax.set_yscale("log")
    ax.set_ylim(0.9, 80)
    ticks = (1, 2, 5, 10, 20, 50)
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel(_("run time / native (log scale)"))
    ax.set_title(
        _("Slowdown by technique on the {cpu} CPU (model); native = 1", cpu=cpu), fontsize=10
    )
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper right")
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


@cache
def first_batch_beating(technique: str, cpu: str = "p4") -> int | None:
    """The smallest paravirtual batch size whose cost per page-table update is below
    `technique`'s, None if no batch up to MAX_PV_BATCH (2048) is. Lesson 04."""
    other = costmodel.cost_per_pte_update(technique, cpu)
    for batch in range(1, costmodel.MAX_PV_BATCH + 1):
        if costmodel.cost_per_pte_update("paravirtualization", cpu, batch) < other:
            return batch
    return None


def pte_update_costs(cpu: str = "p4", batch: int | None = None) -> Figure:
    """Cycles per guest page-table update against the paravirtual batch size. Lesson 04.

    Only paravirtualization batches, so the other techniques are flat lines; a dotted line marks
    where paravirtualization first beats each of them, a dot the chosen `batch`.
    """
    # every size to 16, then 16 points per doubling up to MAX_PV_BATCH (a smooth curve)
    doublings = costmodel.MAX_PV_BATCH.bit_length() - 1
    sizes = sorted({*range(1, 17), *(round(2 ** (k / 16)) for k in range(64, 16 * doublings + 1))})
    pv = [costmodel.cost_per_pte_update("paravirtualization", cpu, b) for b in sizes]
    fig, ax = plt.subplots(figsize=(8, 4))
    pv_color = TECHNIQUE_COLORS["paravirtualization"]
    ax.plot(sizes, pv, color=pv_color, label=TECHNIQUE_LABELS["paravirtualization"])
    for technique in ("binary-translation", "hardware-assisted", "hardware-assisted-ept"):
        cost = costmodel.cost_per_pte_update(technique, cpu)
        label = f"{TECHNIQUE_LABELS[technique]}: {cost:,.0f}"
        if technique == "hardware-assisted-ept":
            label = _("{label} (a plain store, as native)", label=label)
        ax.axhline(cost, color=TECHNIQUE_COLORS[technique], linestyle="--", label=label)
        beats = first_batch_beating(technique, cpu)
        if beats is not None and beats > 1:
            ax.axvline(beats, color=TECHNIQUE_COLORS[technique], linestyle=":", linewidth=1)
            ax.annotate(
                _("PV cheaper from batch {batch}", batch=beats),
                (beats, cost),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
    if batch is not None:
        mark_batch(fig, cpu, batch)
    ax.set_xscale("log", base=2)
    ticks = [2**k for k in range(doublings + 1)]
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(0.5, 3e6)  # room for the legend above the lines
    ticks = [10**k for k in range(7)]
    ax.set_yticks(ticks, [f"{t:,}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(_("page-table updates per hypercall (paravirtualization's batch size)"))
    ax.set_ylabel(_("cycles per update (log scale)"))
    ax.set_title(
        _("Cost of one guest page-table update on the {cpu} CPU (model)", cpu=cpu), fontsize=10
    )
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig


def mark_batch(fig: Figure, cpu: str, batch: int) -> None:
    """Mark `batch` on a `pte_update_costs` figure of `cpu` with a dot and its cost, or move the
    mark there. Lesson 04. Right of the middle, the label goes left of the dot, inside the axes."""
    cost = costmodel.cost_per_pte_update("paravirtualization", cpu, batch)
    ax = fig.axes[0]
    mark = moving(fig)
    if not mark:
        color = TECHNIQUE_COLORS["paravirtualization"]
        dot = ax.plot([], [], "o", color=color, gid=MOVING)[0]
        label = ax.annotate("", (1, 1), (6, -14), "data", "offset points", fontsize=8, gid=MOVING)
        mark = [dot, label]
    dot, label = mark
    dot.set_data([batch], [cost])
    left = batch * batch > costmodel.MAX_PV_BATCH  # in the right half of the log axis
    label.xy = (batch, cost)
    label.set(
        text=_("batch {batch}: {cost}", batch=batch, cost=f"{cost:,.0f}"),
        ha="right" if left else "left",
    )
    label.xyann = (-6 if left else 6, -14)


def translation_payoff(program: bt.Program, iterations: int, cache_size: int = 8) -> Figure:
    """Total cycles of a guest routine against its loop count: translated, interpreted, native.

    Lesson 03. A dotted line marks the break-even loop count when it falls inside the plot.
    """
    runs, even = bt.sweep(program, iterations, cache_size), bt.break_even(program, cache_size)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for label, color in PAYOFF_LINES.items():
        ax.plot([], [], color=color, label=_(label), marker=".")
    ax.set_xlabel(_("loop iterations"))
    ax.set_ylabel(_("thousands of cycles (model)"))
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    _tidy(ax)
    show_payoff(fig, runs, even)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_payoff(fig: Figure, runs: Sequence[bt.Run], even: int | None) -> None:
    """Draw `runs` (`bt.sweep`: 1, 2, ... iterations) and the break-even `even` (`bt.break_even`)
    on a `translation_payoff` figure, in place of what it showed. Lesson 03."""
    ax = fig.axes[0]
    counts = [r.iterations for r in runs]
    values = (
        [r.cycles for r in runs],
        [r.interpreted_cycles for r in runs],
        [r.native_cycles for r in runs],
    )
    for line, ys in zip(ax.lines[: len(PAYOFF_LINES)], values, strict=True):
        line.set_data(counts, [v / 1000 for v in ys])
    for old in fig.findobj(lambda artist: artist.get_gid() == BREAK_EVEN):
        old.remove()
    if even is not None and even <= counts[-1]:
        ax.axvline(even, color="#333333", linestyle=":", linewidth=1, gid=BREAK_EVEN)
        ax.annotate(
            _("break-even: {iterations}", iterations=even),
            (even, 0),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=8,
            gid=BREAK_EVEN,
        )
    ax.relim()
    ax.set_autoscale_on(True)
    ax.autoscale_view()
    ax.set_ylim(bottom=0)
    title = _(
        "Translate once or interpret every time? (cache of {size} TUs)", size=runs[0].cache_size
    )
    ax.set_title(title, fontsize=10)
