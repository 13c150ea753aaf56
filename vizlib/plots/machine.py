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
from vizlib.i18n import N_, _
from vizlib.machine.experiments import DEVICE_LABELS, Timing
from vizlib.machine.results import Exit, RunResult
from vizlib.plots.marks import MOVING, label_bars, moving_labels
from vizlib.plots.ticks import plain_log

ACCEL_COLORS = {"kvm": LAYERS["host_kernel"], "tcg": LAYERS["emulator"]}  # who runs guest code
EMULATED, PARAVIRTUAL = LAYERS["emulator"], LAYERS["guest_kernel"]  # device models (Figure 5)
TICKS = {
    "com1": N_("COM1"),
    "com1-polling": N_("COM1\npolling"),
    "pv-console": N_("paravirtual\nconsole"),
    "display": N_("display\n(MMIO)"),
}


MMIO_KINDS = {"read": N_("MMIO read"), "write": N_("MMIO write")}  # by Exit.direction
DEVICE_PANELS = (N_("exits"), N_("µs of wall time per run"), N_("µs of wall time per exit"))
# Each panel's range (log scale), the same for every message so that they compare: exits from 1
# to past 2 per byte of the longest message (experiments.MAX_MESSAGE, 2,000 bytes); a run from
# 1 µs to 1 s; an exit from 0.1 µs to 10 ms. A value beyond widens the panel.
DEVICE_RANGES = ((0.8, 10_000), (1, 1e6), (0.1, 1e4))


def _ticks(device: str) -> str:
    """A device's tick label in the course's language."""
    return _(TICKS[device])


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def exit_kind(exit_: Exit) -> str:
    """A short name for what caused an exit, in the course's language: "OUT 0x3f8", "IN 0x3fd",
    "MMIO write". Lesson 07."""
    if exit_.reason == "io":
        return f"{exit_.direction.upper()} 0x{exit_.port:x}"
    if exit_.reason == "mmio":
        return _(MMIO_KINDS[exit_.direction])
    return exit_.reason.upper() if exit_.reason == "hlt" else exit_.reason


def exit_profile(result: RunResult, title: str | None = None) -> Figure:
    """One run: its exits by kind, and the wall time per exit. Lesson 07."""
    fig, (count_ax, time_ax) = plt.subplots(
        1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [3, 1]}
    )
    count_ax.set_ylabel(_("exits"))
    count_ax.tick_params(axis="x", labelsize=8)
    time_ax.set_ylabel(_("µs of wall time per exit"))
    for ax in (count_ax, time_ax):
        _tidy(ax)
    show_exit_profile(fig, result, title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _bars(ax, labels: list[str], values: list[float], **style):
    """Bars at 0, 1, ... with `labels` as ticks, in place of the axes' bars and texts."""
    for old in [*ax.containers, *ax.texts]:
        old.remove()
    bars = ax.bar(range(len(values)), values, **style)
    ax.set_xticks(range(len(labels)), labels)
    ax.relim()
    ax.autoscale_view(scaley=False)  # the caller sets the y limits
    return bars


def show_exit_profile(fig: Figure, result: RunResult, title: str | None = None) -> None:
    """Draw `result` on an `exit_profile` figure, in place of what it showed. Lesson 07."""
    count_ax, time_ax = fig.axes
    kinds = Counter(exit_kind(e) for e in result.exits)
    style = {"color": ACCEL_COLORS[result.accel], "edgecolor": "#333333"}
    bars = _bars(count_ax, list(kinds), list(kinds.values()), **style)
    if kinds:
        count_ax.bar_label(bars, fontsize=8, padding=2)
        count_ax.set_ylim(0, max(kinds.values()) * 1.2)
    else:
        count_ax.text(
            0.5, 0.5, _("no exit"), ha="center", va="center", transform=count_ax.transAxes
        )
        count_ax.set_ylim(0, 1)
    per_exit = result.wall_time * 1e6 / max(len(result.exits), 1)
    bar = _bars(time_ax, [result.accel], [per_exit], **style)
    time_ax.bar_label(bar, labels=[f"{per_exit:.1f} µs"], fontsize=8, padding=2)
    time_ax.set_ylim(0, per_exit * 1.25 or 1)
    fig.suptitle(
        title
        or _(
            "{exits} exits in {ms} ms on {accel}",
            exits=len(result.exits),
            ms=f"{result.wall_time * 1e3:.2f}",
            accel=result.accel,
        ),
        fontsize=10,
    )


def device_exits(runs: Mapping[str, RunResult], length: int) -> Figure:
    """Exits, total time and time per exit of the same message through each device. Lesson 08.

    `runs` maps a device of `experiments.DEVICES` to its run; every axis is logarithmic. The
    time per exit includes the fixed cost of starting a run, shared by few exits or by many.
    The bars, their labels and the title are tagged MOVING: only they change with the runs.
    """
    _check_runs(runs)
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    names = list(runs)
    colors = [PARAVIRTUAL if name == "pv-console" else EMULATED for name in names]
    for ax, label, limits in zip(axes, DEVICE_PANELS, DEVICE_RANGES, strict=True):
        ax.set_yscale("log")
        plain_log(ax.yaxis)
        ax.set_ylim(*limits)
        ax.set_ylabel(_("{quantity} (log scale)", quantity=_(label)))
        ax.bar(range(len(names)), [1] * len(names), color=colors, edgecolor="#333333", gid=MOVING)
        moving_labels(ax, len(names))
        ax.set_xticks(range(len(names)), [_ticks(name) for name in names])
        ax.tick_params(axis="x", labelsize=7)
        _tidy(ax)
    fig.suptitle(" ", fontsize=10).set_gid(MOVING)
    show_device_exits(fig, runs, length)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _check_runs(runs: Mapping[str, RunResult]) -> None:
    unknown = set(runs) - set(DEVICE_LABELS)
    if unknown or not runs:
        raise ValueError(
            _(
                "runs must map devices among {allowed}, got {devices}",
                allowed=list(DEVICE_LABELS),
                devices=list(runs),
            )
        )


def show_device_exits(fig: Figure, runs: Mapping[str, RunResult], length: int) -> None:
    """Draw `runs` of a message of `length` bytes on a `device_exits` figure made for the same
    devices, in place of what it showed. Lesson 08."""
    _check_runs(runs)
    names = list(runs)
    shown = [label.get_text() for label in fig.axes[0].get_xticklabels()]
    if shown != [_ticks(name) for name in names]:
        raise ValueError(
            _(
                "runs must hold the devices of the figure, {shown}; got {devices}",
                shown=shown,
                devices=names,
            )
        )
    exits = [len(runs[name].exits) for name in names]
    total = [runs[name].wall_time * 1e6 for name in names]
    per_exit = [t / max(n, 1) for t, n in zip(total, exits, strict=True)]
    panels = ((exits, "{:,d}"), (total, "{:,.0f}"), (per_exit, "{:,.1f}"))
    for ax, (values, form), (low, high) in zip(fig.axes, panels, DEVICE_RANGES, strict=True):
        for bar, value in zip(ax.patches, values, strict=True):
            bar.set_height(value)
        label_bars(ax, values, [form.format(value) for value in values])
        ax.set_ylim(min(low, min(values) / 2), max(high, max(values) * 3))
    accel = runs[names[0]].accel
    fig.suptitle(
        _(
            "A message of {length} bytes through each device, on {accel}",
            length=length,
            accel=accel,
        ),
        fontsize=10,
    )


def accelerator_times(timings: Sequence[Timing]) -> Figure:
    """Median wall time of each guest on each accelerator, log scale. Lessons 07-08."""
    if not timings:
        raise ValueError(_("timings must hold at least one Timing"))
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
    ax.set_ylabel(_("µs per run (median, log scale)"))
    ax.legend(title=_("accelerator"), fontsize=8)
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig
