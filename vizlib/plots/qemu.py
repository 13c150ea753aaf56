"""Lesson 06's charts: emulation speeds, translation amortizing, the translation cache.

`speed_ratios` and `amortization` draw measurements made on this machine by
`vizlib.emulation.blocks`, with Bellard's published ratios beside them; `cache_sweep` draws the
translation cache model `vizlib.sim.tcache`, whose constants cite their sources.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from vizlib.diagrams.style import LAYERS
from vizlib.emulation.blocks import MODES, PUBLISHED, Amortization, Speeds
from vizlib.i18n import _
from vizlib.plots.marks import MOVING, mark_x
from vizlib.plots.ticks import plain_log
from vizlib.sim import tcache

# The course's layer colours: guest code run by the emulator, the host's own code, published.
GUEST = LAYERS["emulator"]
HOST = LAYERS["host_user"]
PUBLISHED_COLOR = LAYERS["hardware"]
# Paul Tol's colour-blind-safe "bright" palette (personal.sron.nl/~pault) for lines.
COLD, WARM = "#EE6677", "#4477AA"
CHAINED_LINE, UNCHAINED_LINE = "#228833", "#AA3377"
HOST_MODES = ("numpy", "CPython loop")
LARGEST_LOOP = MOVING + ": largest loop"  # the gid of the lines and label at the largest loop
# The capacity axis of the cache chart, the same for every program of the lessons (seed 0 has at
# most 51 blocks): 1 to 64 blocks on a log scale; a program with more blocks widens it.
CACHE_AXIS = 64
# The cycles panel's range, the same for every program: from a block that is always chained (its
# instructions alone) to one translated again at each of its runs (lookup included), with room.
CYCLES_RANGE = (tcache.EXECUTE * 0.7, (tcache.TRANSLATE + tcache.EXECUTE + tcache.LOOKUP) * 1.4)


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def emulation_speeds(result: Speeds) -> Figure:
    """Bars: how many times slower than numpy each way of summing is, measured here, above
    Bellard's and PearPC's published ratios to native. Log scale. Lesson 06."""
    labels = [_("{way} (measured here)", way=_(mode)) for mode in MODES]
    labels += [_("{way} (published)", way=_(name)) for name, _ratio, _source in PUBLISHED]
    values = [result.ratio(mode) for mode in MODES] + [ratio for _name, ratio, _source in PUBLISHED]
    colors = [HOST if mode in HOST_MODES else GUEST for mode in MODES]
    colors += [PUBLISHED_COLOR] * len(PUBLISHED)
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    positions = list(range(len(labels)))[::-1]
    bars = ax.barh(positions, values, color=colors, edgecolor="#333333")
    ax.bar_label(bars, labels=[f"{v:,.0f}x" if v >= 10 else f"{v:.1f}x" for v in values], padding=3)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.5, max(values) * 8)
    ax.set_xlabel(_("times slower than native (numpy on this machine; published: native code)"))
    ax.set_title(
        _(
            "Summing words: {program} on this machine, and published ratios",
            program=result.program.name,
        ),
        fontsize=10,
    )
    _tidy(ax)
    plt.close(fig)
    return fig


def translation_amortization(
    result: Amortization, marked: int | None = None, also: Sequence[Amortization] = ()
) -> Figure:
    """Two panels: time per loop iteration cold and warm, and the share of the cold run that
    translation and start-up take, against the loop count. The axes also fit the measurements
    `also`, which `show_amortization` can then draw in place of `result`. Lesson 06."""
    fig, (per_loop, share) = plt.subplots(1, 2, figsize=(10, 3.6))
    per_loop.plot([], [], "o-", color=COLD, label=_("cold: fresh CPU, blocks translated first"))
    per_loop.plot([], [], "s-", color=WARM, label=_("warm: blocks found in the cache"))
    share.plot([], [], "o-", color=COLD)
    for line in (*per_loop.lines, *share.lines):
        line.set_gid(MOVING)
    fig.suptitle(" ", fontsize=10).set_gid(MOVING)
    for ax in (per_loop, share):
        ax.set_xscale("log")
        plain_log(ax.xaxis)
        ax.set_xlabel(_("loop count (words summed)"))
        _tidy(ax)
    per_loop.set_yscale("log")
    plain_log(per_loop.yaxis)
    per_loop.set_ylabel(_("microseconds per loop iteration"))
    per_loop.legend(fontsize=8, frameon=False)
    share.set_ylabel(_("% of the cold run beyond the warm one"))
    for measured in (*also, result):  # the axes fit all of them; `result` is drawn last
        show_amortization(fig, measured)
        for line in (*per_loop.lines, *share.lines):
            line.axes.update_datalim(line.get_xydata())
    for ax in (per_loop, share):
        ax.autoscale_view()
    share.set_ylim(0, 100)
    if marked is not None:
        mark_x(fig, marked)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_amortization(fig: Figure, result: Amortization) -> None:
    """Draw `result` on a `translation_amortization` figure, in place of what it showed, within
    its axes (made to fit it with `also`). Lesson 06."""
    per_loop, share = fig.axes
    counts = result.counts
    cold = [c / n * 1e6 for c, n in zip(result.cold, counts, strict=True)]
    warm = [w / n * 1e6 for w, n in zip(result.warm, counts, strict=True)]
    extra = [max(c - w, 0) / c * 100 for c, w in zip(result.cold, result.warm, strict=True)]
    lines = (*per_loop.lines[:2], share.lines[0])
    for line, values in zip(lines, (cold, warm, extra), strict=True):
        line.set_data(counts, values)
    fig.suptitle(
        _("Translation cost amortizing: {program}, measured here", program=result.program.name),
        fontsize=10,
    )


def translation_cache(program: tcache.Program, marked: int | None = None) -> Figure:
    """Two panels against the cache's capacity in blocks: the hit rate, and cycles per guest
    instruction with and without block chaining (model). Only the lines change from one program
    to the next (they are tagged MOVING), the axes stay. Lesson 06."""
    fig, (hits, cycles) = plt.subplots(1, 2, figsize=(10, 3.6))
    hits.plot([], [], "o-", color=WARM, markersize=3, gid=MOVING)
    hits.set_ylim(0, 102)
    hits.set_ylabel(_("% of block executions\nfinding their block translated"))
    for label, color in (
        (_("no chaining: a lookup per block"), UNCHAINED_LINE),
        (_("block chaining"), CHAINED_LINE),
    ):
        cycles.plot([], [], "o-", markersize=3, color=color, label=label, gid=MOVING)
    cycles.set_yscale("log")
    plain_log(cycles.yaxis)
    cycles.set_ylim(*CYCLES_RANGE)
    cycles.set_ylabel(_("cycles per guest instruction (model)"))
    cycles.legend(fontsize=8, frameon=False, loc="center right")
    for ax in (hits, cycles):
        ax.axvline(1, color="#999999", linestyle="--", linewidth=1, gid=LARGEST_LOOP)
        ax.set_xscale("log", base=2)
        plain_log(ax.xaxis)
        ax.set_xlabel(_("cache capacity (blocks, log scale)"))
        _tidy(ax)
    hits.annotate(
        _("largest loop"),
        (1, 5),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
        color="#666666",
        gid=LARGEST_LOOP,
    )
    fig.suptitle(" ", fontsize=10).set_gid(MOVING)
    show_cache_sweep(fig, program, cache_sweep(program))
    if marked is not None:
        mark_x(fig, marked)
    fig.tight_layout()
    plt.close(fig)
    return fig


def cache_capacities(program: tcache.Program) -> tuple[int, ...]:
    """The capacities `translation_cache` draws, spread as its log-scale axis is: every one up to
    16 blocks, then four per doubling up to CACHE_AXIS (or one block more than the program has),
    and those around its largest loop and its size, where the curves break. Lesson 06."""
    top = max(CACHE_AXIS, len(program.blocks) + 1)
    spread = {round(2 ** (k / 4)) for k in range(int(4 * math.log2(top)) + 1)}
    breaks = {program.largest_loop + d for d in (-1, 0, 1)}
    breaks |= {len(program.blocks) + d for d in (-1, 0, 1)}
    return tuple(sorted(c for c in {*range(1, 17), *spread, *breaks, top} if 1 <= c <= top))


def cache_sweep(program: tcache.Program) -> tuple[tcache.CacheRun, ...]:
    """The runs `translation_cache` draws, at `cache_capacities`. Lesson 06."""
    return tcache.sweep(program, cache_capacities(program))


def show_cache_sweep(
    fig: Figure, program: tcache.Program, runs: tuple[tcache.CacheRun, ...]
) -> None:
    """Draw `program`'s `cache_sweep` on a `translation_cache` figure, in place of what it showed;
    the capacity axis widens for a program of more than CACHE_AXIS blocks. Lesson 06."""
    hits, cycles = fig.axes
    capacities = [r.capacity for r in runs]
    hits.lines[0].set_data(capacities, [r.hit_rate * 100 for r in runs])
    for line, chaining in zip(cycles.lines[:2], (False, True), strict=True):
        line.set_data(capacities, [r.cycles_per_instruction(chaining=chaining) for r in runs])
    for artist in fig.findobj(lambda artist: artist.get_gid() == LARGEST_LOOP):
        if isinstance(artist, Annotation):
            artist.xy = (program.largest_loop, 5)
        else:
            artist.set_xdata([program.largest_loop] * 2)
    for ax in (hits, cycles):
        ax.set_xlim(0.85, max(capacities) * 1.15)
    fig.suptitle(
        _(
            "Translation cache model: {blocks} blocks, {loops} loops, {executions} block "
            "executions (seed {seed})",
            blocks=len(program.blocks),
            loops=program.loops,
            executions=f"{len(program.trace):,}",
            seed=program.seed,
        ),
        fontsize=10,
    )
