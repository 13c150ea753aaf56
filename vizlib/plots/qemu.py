"""Lesson 06's charts: emulation speeds, translation amortizing, the translation cache.

`speed_ratios` and `amortization` draw measurements made on this machine by
`vizlib.emulation.blocks`, with Bellard's published ratios beside them; `cache_sweep` draws the
translation cache model `vizlib.sim.tcache`, whose constants cite their sources.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from vizlib.diagrams.style import LAYERS
from vizlib.emulation.blocks import MODES, PUBLISHED, Amortization, Speeds
from vizlib.plots.marks import mark_x
from vizlib.sim import tcache

# The course's layer colours: guest code run by the emulator, the host's own code, published.
GUEST = LAYERS["emulator"]
HOST = LAYERS["host_user"]
PUBLISHED_COLOR = LAYERS["hardware"]
# Paul Tol's colour-blind-safe "bright" palette (personal.sron.nl/~pault) for lines.
COLD, WARM = "#EE6677", "#4477AA"
CHAINED_LINE, UNCHAINED_LINE = "#228833", "#AA3377"
HOST_MODES = ("numpy", "CPython loop")
LARGEST_LOOP = "largest loop"  # the gid of the lines and label at the largest loop's size


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def emulation_speeds(result: Speeds) -> Figure:
    """Bars: how many times slower than numpy each way of summing is, measured here, above
    Bellard's and PearPC's published ratios to native. Log scale. Lesson 06."""
    labels = [f"{mode} (measured here)" for mode in MODES]
    labels += [f"{name} (published)" for name, _, _ in PUBLISHED]
    values = [result.ratio(mode) for mode in MODES] + [ratio for _, ratio, _ in PUBLISHED]
    colors = [HOST if mode in HOST_MODES else GUEST for mode in MODES]
    colors += [PUBLISHED_COLOR] * len(PUBLISHED)
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    positions = list(range(len(labels)))[::-1]
    bars = ax.barh(positions, values, color=colors, edgecolor="#333333")
    ax.bar_label(bars, labels=[f"{v:,.0f}x" if v >= 10 else f"{v:.1f}x" for v in values], padding=3)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.5, max(values) * 8)
    ax.set_xlabel("times slower than native (numpy on this machine; published: native code)")
    ax.set_title(
        f"Summing words: {result.program.name} on this machine, and published ratios", fontsize=10
    )
    _tidy(ax)
    plt.close(fig)
    return fig


def translation_amortization(result: Amortization, marked: int | None = None) -> Figure:
    """Two panels: time per loop iteration cold and warm, and the share of the cold run that
    translation and start-up take, against the loop count. Lesson 06."""
    counts = result.counts
    fig, (per_loop, share) = plt.subplots(1, 2, figsize=(10, 3.6))
    per_loop.plot(
        counts,
        [c / n * 1e6 for c, n in zip(result.cold, counts, strict=True)],
        "o-",
        color=COLD,
        label="cold: fresh CPU, blocks translated first",
    )
    per_loop.plot(
        counts,
        [w / n * 1e6 for w, n in zip(result.warm, counts, strict=True)],
        "s-",
        color=WARM,
        label="warm: blocks found in the cache",
    )
    per_loop.set_xscale("log")
    per_loop.set_yscale("log")
    per_loop.set_xlabel("loop count (words summed)")
    per_loop.set_ylabel("microseconds per loop iteration")
    per_loop.legend(fontsize=8, frameon=False)
    extra = [max(c - w, 0) / c * 100 for c, w in zip(result.cold, result.warm, strict=True)]
    share.plot(counts, extra, "o-", color=COLD)
    share.set_xscale("log")
    share.set_ylim(0, 100)
    share.set_xlabel("loop count (words summed)")
    share.set_ylabel("% of the cold run beyond the warm one")
    for ax in (per_loop, share):
        _tidy(ax)
    if marked is not None:
        mark_x(fig, marked)
    fig.suptitle(f"Translation cost amortizing: {result.program.name}, measured here", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def translation_cache(program: tcache.Program, marked: int | None = None) -> Figure:
    """Two panels against the cache's capacity in blocks: the hit rate, and cycles per guest
    instruction with and without block chaining (model). Lesson 06."""
    runs = cache_sweep(program)
    fig, (hits, cycles) = plt.subplots(1, 2, figsize=(10, 3.6))
    hits.plot([], [], "o-", color=WARM, markersize=3)
    hits.set_ylim(0, 102)
    hits.set_ylabel("% of block executions\nfinding their block translated")
    for label, color in (
        ("no chaining: a lookup per block", UNCHAINED_LINE),
        ("block chaining", CHAINED_LINE),
    ):
        cycles.plot([], [], "o-", markersize=3, color=color, label=label)
    cycles.set_yscale("log")
    cycles.set_ylabel("cycles per guest instruction (model)")
    cycles.legend(fontsize=8, frameon=False)
    for ax in (hits, cycles):
        ax.axvline(1, color="#999999", linestyle="--", linewidth=1, gid=LARGEST_LOOP)
        ax.set_xlabel("cache capacity (blocks)")
        _tidy(ax)
    hits.annotate(
        "largest loop",
        (1, 5),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
        color="#666666",
        gid=LARGEST_LOOP,
    )
    show_cache_sweep(fig, program, runs)
    if marked is not None:
        mark_x(fig, marked)
    fig.tight_layout()
    plt.close(fig)
    return fig


def cache_sweep(program: tcache.Program) -> tuple[tcache.CacheRun, ...]:
    """The runs `translation_cache` draws: capacities 1 to one block more than the program has.
    Lesson 06."""
    return tcache.sweep(program, range(1, len(program.blocks) + 2))


def show_cache_sweep(
    fig: Figure, program: tcache.Program, runs: tuple[tcache.CacheRun, ...]
) -> None:
    """Draw `program`'s `cache_sweep` on a `translation_cache` figure, in place of what it showed,
    its axes scaled to fit the data and the capacity marked. Lesson 06."""
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
        ax.relim()
        ax.autoscale_view()
    fig.suptitle(
        f"Translation cache model: {len(program.blocks)} blocks, {program.loops} loops, "
        f"{len(program.trace):,} block executions (seed {program.seed})",
        fontsize=10,
    )
