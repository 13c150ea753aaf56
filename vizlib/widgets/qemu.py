"""Lesson 06's widgets: translation blocks on a real CPU emulator, and the translation cache model.

`block_explorer` runs a guest array sum on unicorn at a chosen loop count, lists the blocks it
formed and how often each ran, and plots cold against warm runs measured on this machine.
`cache_explorer` replays a synthetic program through the translation cache model.
"""

from __future__ import annotations

import functools
import html

import ipywidgets as w

from vizlib.emulation import blocks
from vizlib.emulation.errors import EmulatorMissing
from vizlib.emulation.programs import SUMS
from vizlib.plots.marks import mark_x
from vizlib.plots.qemu import (
    cache_sweep,
    show_cache_sweep,
    translation_amortization,
    translation_cache,
)
from vizlib.sim import tcache
from vizlib.widgets.render import Overlay, new_figure

# Loop counts the block explorer offers: 1 to the largest amortization count, in 1-2-5 steps.
LOOP_COUNTS = tuple(
    m * 10**e for e in range(6) for m in (1, 2, 5) if m * 10**e <= blocks.AMORTIZATION_COUNTS[-1]
)
MAX_CACHE = 64  # blocks the cache slider reaches: more than the largest synthetic program has
START = (6, 5, 12)  # the cache explorer's loops, passes and capacity when it opens
_AMORTIZATION_PLOTS: dict[tuple, Overlay] = {}  # the latest measurements' charts, oldest first


def _amortization_plot(measured: blocks.Amortization) -> Overlay:
    """The measured chart, drawn once: the block explorer moves its loop-count mark."""
    key = (measured.program.name, measured.counts, measured.cold, measured.warm)
    if key not in _AMORTIZATION_PLOTS:
        if len(_AMORTIZATION_PLOTS) == len(SUMS):
            del _AMORTIZATION_PLOTS[next(iter(_AMORTIZATION_PLOTS))]
        chart = new_figure(translation_amortization, measured, marked=measured.counts[0])
        _AMORTIZATION_PLOTS[key] = Overlay(chart)
    return _AMORTIZATION_PLOTS[key]


@functools.lru_cache(maxsize=32)
def _sweep(loops: int, passes: int) -> tuple[tcache.Program, tuple[tcache.CacheRun, ...]]:
    program = tcache.synthetic_program(loops, passes)
    return program, cache_sweep(program)


@functools.lru_cache(maxsize=1024)
def _cache_run(loops: int, passes: int, capacity: int) -> tcache.CacheRun:
    return tcache.simulate(_sweep(loops, passes)[0], capacity)


@functools.cache
def _cache_plot() -> Overlay:
    """The cache chart: drawn again for another program, its capacity mark moved otherwise."""
    loops, passes, capacity = START
    program, runs = _sweep(loops, passes)
    shown = (loops, passes, max(capacity, len(runs)))
    return Overlay(new_figure(translation_cache, program, marked=capacity), shown=shown)


def _html_table(header: list[str], rows: list[tuple]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def block_view(name: str, n: int, measured: blocks.Amortization) -> tuple[bytes, str]:
    """The block explorer's plot (PNG) and summary (HTML) for one program and loop count.

    Lesson 06. `measured` is `blocks.amortization(name)`, measured once per program.
    """
    if name not in SUMS:
        raise ValueError(f"name must be one of {', '.join(SUMS)}; got {name!r}")
    if n not in LOOP_COUNTS:
        raise ValueError(f"n must be one of {LOOP_COUNTS}; got {n!r}")
    trace = blocks.trace_blocks(name, n)
    rows = [(f"{b.address:#x}", b.instructions, b.runs, b.runs - 1) for b in trace.blocks]
    summary = (
        f"<p>Summing {n:,} words: the translator made <b>{trace.translated}</b> blocks, which ran "
        f"<b>{trace.executed:,}</b> times; every run after a block's first reused its "
        f"translation. The guest's sum: {trace.result:,}.</p>"
        + _html_table(["Block at", "Instructions", "Times run", "Reused"], rows)
    )
    plot = _amortization_plot(measured)
    mark_x(plot.figure, n)
    return plot.png(), summary


def block_explorer() -> w.VBox:
    """Program and loop count; its translation blocks, and translation amortizing as measured
    on this machine (Lesson 06).

    The slider updates when released, and each (program, loop count) is traced and drawn once:
    going back to a setting already seen is instant. A program is timed when first chosen.
    """
    try:
        measured = {SUMS[0]: blocks.amortization(SUMS[0])}
    except EmulatorMissing as missing:
        return w.VBox([w.HTML(f"<p><b>Note.</b> {html.escape(str(missing))}</p>")])
    program = w.Dropdown(options=list(SUMS), description="Program")
    loops = w.SelectionSlider(
        options=LOOP_COUNTS, value=100, description="Loop count", continuous_update=False
    )
    image, summary = w.Image(format="png"), w.HTML()
    views: dict[tuple[str, int], tuple[bytes, str]] = {}

    def update(_=None):
        name, n = program.value, loops.value
        if name not in measured:
            measured[name] = blocks.amortization(name)
        if (name, n) not in views:
            views[name, n] = block_view(name, n, measured[name])
        image.value, summary.value = views[name, n]

    for control in (program, loops):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([program, loops]), image, summary])


def cache_view(loops: int, passes: int, capacity: int) -> tuple[bytes, str]:
    """The cache explorer's plot (PNG) and summary (HTML) for one setting. Lesson 06.

    A program's sweep of capacities is computed and drawn once; the capacity moves a mark (the
    axes widen for a capacity beyond the program's blocks).
    """
    program, runs = _sweep(loops, passes)
    run = _cache_run(loops, passes, capacity)
    plot = _cache_plot()
    mark_x(plot.figure, capacity)
    plot.show(
        (loops, passes, max(capacity, len(runs))),
        lambda: show_cache_sweep(plot.figure, program, runs),
    )
    rows = [
        ("block executions", f"{run.entries:,}"),
        ("found translated (hits)", f"{run.hits:,} ({run.hit_rate:.1%})"),
        ("translated first (misses)", f"{run.misses:,}"),
        ("whole-cache flushes", f"{run.flushes:,}"),
        ("entered through a chained jump", f"{run.chained:,}"),
        ("lookups with chaining / without", f"{run.lookups(True):,} / {run.lookups(False):,}"),
        (
            "cycles per instruction with chaining / without",
            f"{run.cycles_per_instruction(True):,.1f} / {run.cycles_per_instruction(False):,.1f}",
        ),
    ]
    speedup = run.cycles(chaining=False) / run.cycles(chaining=True)
    summary = (
        f"<p>A cache of <b>{capacity}</b> blocks for a program of {len(program.blocks)} blocks "
        f"whose largest loop needs {program.largest_loop}: block chaining makes it "
        f"<b>{speedup:.2f}x</b> faster.</p>" + _html_table(["What happened", "How often"], rows)
    )
    return plot.png(), summary


def cache_explorer() -> w.VBox:
    """Loops, passes and cache capacity; hit rate and cycles from the translation cache model
    (Lesson 06). Loops and passes, which make a new program, act when their slider is released.
    """
    start_loops, start_passes, start_capacity = START
    loops = w.IntSlider(
        value=start_loops,
        min=1,
        max=tcache.MAX_LOOPS,
        description="Loops",
        continuous_update=False,
    )
    passes = w.IntSlider(
        value=start_passes,
        min=1,
        max=tcache.MAX_PASSES,
        description="Passes",
        continuous_update=False,
    )
    capacity = w.IntSlider(value=start_capacity, min=1, max=MAX_CACHE, description="Cache (blocks)")
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = cache_view(loops.value, passes.value, capacity.value)

    for control in (loops, passes, capacity):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([loops, passes, capacity]), image, summary])
