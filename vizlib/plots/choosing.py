"""Choosing a technique and counting what nesting costs, drawn from the models. Lesson 10.

Slowdowns come from `vizlib.sim.costmodel` (lessons 03-05), nested costs from `vizlib.sim.nested`
(the PVM paper's Table 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vizlib.i18n import _
from vizlib.plots.costs import TECHNIQUE_COLORS, TECHNIQUE_LABELS, check_among
from vizlib.sim import costmodel, nested
from vizlib.sim import techniques as techniques_model
from vizlib.sim.costmodel import CPUS, TECHNIQUES, WORKLOADS, Workload
from vizlib.sim.costs import COSTS

# The lesson's four kinds of workload: compute-bound, syscall-heavy, fork-heavy, I/O-heavy.
LESSON_WORKLOADS = ("compute", "syscall-heavy", "fork-heavy", "io-heavy")
# Paul Tol's "bright" scheme (personal.sron.nl/~pault), one colour per setup.
SETUP_COLORS = {"kvm": "#4477AA", "nested-kvm": "#EE6677", "pvm": "#228833"}
HYPOTHETICAL_HATCH = "//"  # a technique the CPU never had (EPT on the P4 and Core 2)
DERIVED_HATCH = ".."  # a cost derived by the model rather than published


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def _times(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _log_ticks(ax, axis: str, top: float) -> None:
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= top]
    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"set_{axis}lim")(0.9, top)
    getattr(ax, f"set_{axis}ticks")(ticks, [str(t) for t in ticks])
    ax.minorticks_off()


def workload_grid(
    workloads: Sequence[str] = LESSON_WORKLOADS,
    techniques: Sequence[str] = TECHNIQUES[1:],
    cpus: Sequence[str] = CPUS,
) -> Figure:
    """Slowdown of each workload under each technique, one panel per CPU, log scale. Lesson 10.

    Hatched bars price a technique the CPU never had (EPT on the P4 and Core 2).
    """
    names = check_among("workloads", workloads, tuple(WORKLOADS))
    chosen = check_among("techniques", techniques, TECHNIQUES)
    machines = check_among("cpus", cpus, CPUS)
    fig, axes = plt.subplots(len(machines), 1, figsize=(9, 2.6 * len(machines) + 0.6), sharex=True)
    axes = [axes] if len(machines) == 1 else list(axes)
    width = 0.8 / len(chosen)
    for ax, cpu in zip(axes, machines, strict=True):
        for i, technique in enumerate(chosen):
            predictions = [costmodel.predict(WORKLOADS[w], technique, cpu) for w in names]
            xs = [x + (i - (len(chosen) - 1) / 2) * width for x in range(len(names))]
            bars = ax.bar(
                xs,
                [p.slowdown - 1 for p in predictions],
                width,
                bottom=1,
                color=TECHNIQUE_COLORS[technique],
                label=TECHNIQUE_LABELS[technique],
                hatch=[HYPOTHETICAL_HATCH if p.hypothetical else None for p in predictions],
                edgecolor="white",
                linewidth=0,
            )
            ax.bar_label(
                bars, labels=[_times(p.slowdown) for p in predictions], fontsize=6, padding=1
            )
        ax.axhline(1, color=TECHNIQUE_COLORS["native"], linewidth=1)
        _log_ticks(ax, "y", 20)
        ax.set_ylabel(_("run time / native"))
        ax.set_title(COSTS[cpu].description, fontsize=9, loc="left")
        _tidy(ax)
    axes[-1].set_xticks(range(len(names)), names, fontsize=9)
    axes[0].legend(fontsize=7, frameon=False, ncol=3, loc="upper left")
    fig.suptitle(
        _(
            "Slowdown by technique and CPU (model, log scale); native = 1; "
            "hatched: a technique the CPU never had"
        ),
        fontsize=10,
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def offered(cpu: str) -> tuple[str, ...]:
    """The techniques `cpu` had, native aside: what lesson 10 lets a learner choose from."""
    return tuple(t for t in techniques_model.available(cpu) if t != "native")


def technique_bars(workload: Workload, cpu: str = "modern") -> Figure:
    """One workload's slowdown under each technique the CPU had. Lesson 10.

    Horizontal bars on a log scale, the fastest labelled (all of them when they tie).
    """
    techniques = offered(cpu)
    predictions = [costmodel.predict(workload, t, cpu) for t in techniques]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.barh(
        [TECHNIQUE_LABELS[t] for t in techniques],
        [1] * len(techniques),
        color=[TECHNIQUE_COLORS[t] for t in techniques],
        edgecolor="white",
        linewidth=0,
        height=0.6,
    )
    ax.axvline(1, color=TECHNIQUE_COLORS["native"], linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel(_("run time / native run time (model, log scale)"))
    _tidy(ax)
    show_slowdowns(
        fig, predictions, _("{workload} on the {cpu} CPU", workload=workload.name, cpu=cpu)
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_slowdowns(fig: Figure, predictions: Sequence[costmodel.Prediction], title: str) -> None:
    """Draw one workload's `predictions` (one per bar, in the bars' order) on a `technique_bars`
    figure, in place of what it showed. Lesson 10."""
    low = min(p.slowdown for p in predictions)
    best = [math.isclose(p.slowdown, low) for p in predictions]
    word = "  " + (_("fastest") if sum(best) == 1 else _("tie: fastest"))
    ax = fig.axes[0]
    bars = ax.containers[0]
    for bar, p in zip(bars, predictions, strict=True):
        bar.set_width(p.slowdown)
        bar.set_hatch(HYPOTHETICAL_HATCH if p.hypothetical else None)
    for text in list(ax.texts):  # the labels of the previous workload
        text.remove()
    marks = [
        f" {_times(p.slowdown)}x" + (word if fast else "")
        for p, fast in zip(predictions, best, strict=True)
    ]
    ax.bar_label(bars, labels=marks, fontsize=8)
    _log_ticks(ax, "x", max(20.0, max(p.slowdown for p in predictions) * 3))
    if any(p.hypothetical for p in predictions):
        title = _("{title}; hatched: a technique this CPU never had", title=title)
    ax.set_title(title, fontsize=10)


def nested_costs(events: Sequence[str] = nested.EVENTS) -> Figure:
    """Microseconds per round trip, bare-metal KVM, nested KVM and PVM, log scale. Lesson 10.

    Table 1 of the PVM paper; the dotted bars (a hidden page fault) are the model's estimate.
    """
    chosen = check_among("events", events, nested.EVENTS)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(nested.SETUPS)
    for i, setup in enumerate(nested.SETUPS):
        costs = [nested.cost_us(e, setup) for e in chosen]
        xs = [x + (i - (len(nested.SETUPS) - 1) / 2) * width for x in range(len(chosen))]
        bars = ax.bar(
            xs,
            costs,
            width,
            color=SETUP_COLORS[setup],
            label=_(nested.SETUP_LABELS[setup]),
            hatch=[None if nested.published(e, setup) else DERIVED_HATCH for e in chosen],
            edgecolor="white",
            linewidth=0,
        )
        ax.bar_label(bars, labels=[f"{c:.3g}" for c in costs], fontsize=7, padding=1)
    ax.set_yscale("log")
    ax.set_ylim(0.1, 100)
    ticks = (0.1, 0.3, 1, 3, 10, 30, 100)
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xticks(range(len(chosen)), [_(event) for event in chosen], fontsize=9)
    ax.set_ylabel(_("µs per round trip (log scale)"))
    ax.set_title(
        _("One guest exit, three ways (PVM paper, Table 1; dotted: the model's estimate)"),
        fontsize=10,
    )
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    _tidy(ax)
    fig.tight_layout()
    plt.close(fig)
    return fig
