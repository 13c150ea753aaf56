"""Runs of real guests in numbers: exits by kind, exits per device, time per accelerator.

Lessons 07 and 08. Every number plotted is measured: exit counts come from `RunResult.exits`,
times from `RunResult.wall_time` or `experiments.Timing`. Nothing here runs a guest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vizlib.diagrams.style import LAYERS
from vizlib.machine.experiments import DEVICE_LABELS, Timing
from vizlib.machine.results import Exit, RunResult

ACCEL_COLORS = {"kvm": LAYERS["host_kernel"], "tcg": LAYERS["emulator"]}  # who runs guest code
EMULATED, PARAVIRTUAL = LAYERS["emulator"], LAYERS["guest_kernel"]  # device models (Figure 5)
TICKS = {
    "com1": "COM1",
    "com1-polling": "COM1\npolling",
    "pv-console": "paravirtual\nconsole",
    "display": "display\n(MMIO)",
}


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def exit_kind(exit_: Exit) -> str:
    """A short name for what caused an exit: "OUT 0x3f8", "IN 0x3fd", "MMIO write". Lesson 07."""
    if exit_.reason == "io":
        return f"{exit_.direction.upper()} 0x{exit_.port:x}"
    if exit_.reason == "mmio":
        return f"MMIO {exit_.direction}"
    return exit_.reason.upper() if exit_.reason == "hlt" else exit_.reason


def exit_profile(result: RunResult, title: str | None = None) -> Figure:
    """One run: its exits by kind, and the wall time per exit. Lesson 07."""
    kinds = Counter(exit_kind(e) for e in result.exits)
    fig, (count_ax, time_ax) = plt.subplots(
        1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [3, 1]}
    )
    color = ACCEL_COLORS[result.accel]
    if kinds:
        bars = count_ax.bar(list(kinds), list(kinds.values()), color=color, edgecolor="#333333")
        count_ax.bar_label(bars, fontsize=8, padding=2)
        count_ax.set_ylim(0, max(kinds.values()) * 1.2)
    else:
        count_ax.text(0.5, 0.5, "no exit", ha="center", va="center", transform=count_ax.transAxes)
    count_ax.set_ylabel("exits")
    count_ax.tick_params(axis="x", labelsize=8)
    per_exit = result.wall_time * 1e6 / max(len(result.exits), 1)
    bar = time_ax.bar([result.accel], [per_exit], color=color, edgecolor="#333333")
    time_ax.bar_label(bar, labels=[f"{per_exit:.1f} µs"], fontsize=8, padding=2)
    time_ax.set_ylim(0, per_exit * 1.25 or 1)
    time_ax.set_ylabel("µs of wall time per exit")
    for ax in (count_ax, time_ax):
        _tidy(ax)
    fig.suptitle(
        title or f"{len(result.exits)} exits in {result.wall_time * 1e3:.2f} ms on {result.accel}",
        fontsize=10,
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def device_exits(runs: Mapping[str, RunResult], length: int) -> Figure:
    """Exits, total time and time per exit of the same message through each device. Lesson 08.

    `runs` maps a device of `experiments.DEVICES` to its run; the exit axis is logarithmic. The
    time per exit includes the fixed cost of starting a run, shared by few exits or by many.
    """
    unknown = set(runs) - set(DEVICE_LABELS)
    if unknown or not runs:
        raise ValueError(f"runs must map devices among {list(DEVICE_LABELS)}, got {list(runs)}")
    names = list(runs)
    ticks = [TICKS[name] for name in names]
    colors = [PARAVIRTUAL if name == "pv-console" else EMULATED for name in names]
    exits = [len(runs[name].exits) for name in names]
    total = [runs[name].wall_time * 1e6 for name in names]
    per_exit = [t / max(n, 1) for t, n in zip(total, exits, strict=True)]
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    panels = (
        (exits, "exits (log scale)", "{:,d}"),
        (total, "µs of wall time per run", "{:,.0f}"),
        (per_exit, "µs of wall time per exit", "{:,.1f}"),
    )
    for ax, (values, label, form) in zip(axes, panels, strict=True):
        bars = ax.bar(ticks, values, color=colors, edgecolor="#333333")
        ax.bar_label(bars, labels=[form.format(v) for v in values], fontsize=7, padding=2)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(values) * 1.2 or 1)
        ax.tick_params(axis="x", labelsize=7)
        _tidy(ax)
    axes[0].set_yscale("log")
    axes[0].set_ylim(0.8, max(exits) * 3)
    accel = runs[names[0]].accel
    fig.suptitle(f"A message of {length} bytes through each device, on {accel}", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def accelerator_times(timings: Sequence[Timing]) -> Figure:
    """Median wall time of each guest on each accelerator, log scale. Lessons 07-08."""
    if not timings:
        raise ValueError("timings must hold at least one Timing")
    guests = list(dict.fromkeys(t.guest for t in timings))
    accels = list(dict.fromkeys(t.accel for t in timings))
    width = 0.8 / len(accels)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for i, accel in enumerate(accels):
        mine = {t.guest: t for t in timings if t.accel == accel}
        xs = [g + (i - (len(accels) - 1) / 2) * width for g in range(len(guests))]
        values = [mine[name].seconds * 1e6 if name in mine else 0 for name in guests]
        bars = ax.bar(xs, values, width, label=accel, color=ACCEL_COLORS[accel], edgecolor="#333")
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=7)
    ax.set_xticks(range(len(guests)), guests, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("µs per run (median, log scale)")
    ax.legend(title="accelerator", fontsize=8)
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig
