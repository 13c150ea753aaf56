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
from vizlib.emulation.errors import EmulationError
from vizlib.emulation.programs import SUMS
from vizlib.i18n import _
from vizlib.plots.marks import mark_x
from vizlib.plots.qemu import (
    CACHE_AXIS,
    cache_sweep,
    show_amortization,
    show_cache_sweep,
    translation_amortization,
    translation_cache,
)
from vizlib.sim import tcache
from vizlib.sim.errors import not_one_of
from vizlib.widgets.render import Overlay, new_figure, per_language

# Loop counts the block explorer offers: 1 to the largest amortization count, in 1-2-5 steps.
LOOP_COUNTS = tuple(
    m * 10**e for e in range(6) for m in (1, 2, 5) if m * 10**e <= blocks.AMORTIZATION_COUNTS[-1]
)
MAX_CACHE = CACHE_AXIS  # blocks the cache slider reaches: the chart's capacity axis
START = (6, 5, 12)  # the cache explorer's loops, passes and capacity when it opens


def _amortization_plot(measured: dict[str, blocks.Amortization]) -> Overlay:
    """The measured chart, its axes fitting every program: the block explorer draws a program's
    lines and moves its loop-count mark over the axes drawn once."""
    first, *others = measured.values()
    chart = new_figure(translation_amortization, first, marked=first.counts[0], also=others)
    return Overlay(chart)


@functools.lru_cache(maxsize=32)
def _sweep(loops: int, passes: int) -> tuple[tcache.Program, tuple[tcache.CacheRun, ...]]:
    program = tcache.synthetic_program(loops, passes)
    return program, cache_sweep(program)


@functools.lru_cache(maxsize=1024)
def _cache_run(loops: int, passes: int, capacity: int) -> tcache.CacheRun:
    return tcache.simulate(_sweep(loops, passes)[0], capacity)


@per_language
def _cache_plot() -> Overlay:
    """The cache chart: its axes drawn once, its lines and capacity mark for each setting."""
    loops, passes, capacity = START
    program, _ = _sweep(loops, passes)
    figure = new_figure(translation_cache, program, marked=capacity)
    return Overlay(figure, shown=figure.axes[0].get_xlim())


def _html_table(header: list[str], rows: list[tuple]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def block_view(
    name: str, n: int, measured: blocks.Amortization, plot: Overlay | None = None
) -> tuple[bytes, str]:
    """The block explorer's plot (PNG) and summary (HTML) for one program and loop count.

    Lesson 06. `measured` is `blocks.amortization(name)`, measured once per program; `plot` a
    chart from `_amortization_plot` whose axes fit it (by default, one made for it alone).
    """
    if name not in SUMS:
        raise not_one_of("name", name, SUMS)
    if n not in LOOP_COUNTS:
        raise ValueError(
            _("n must be one of {allowed}; got {value}", allowed=LOOP_COUNTS, value=repr(n))
        )
    trace = blocks.trace_blocks(name, n)
    rows = [(f"{b.address:#x}", b.instructions, b.runs, b.runs - 1) for b in trace.blocks]
    said = _(
        "Summing {n} words: the translator made <b>{translated}</b> blocks, which ran "
        "<b>{executed}</b> times; every run after a block's first reused its translation. The "
        "guest's sum: {result}.",
        n=f"{n:,}",
        translated=trace.translated,
        executed=f"{trace.executed:,}",
        result=f"{trace.result:,}",
    )
    header = [_("Block at"), _("Instructions"), _("Times run"), _("Reused")]
    summary = f"<p>{said}</p>" + _html_table(header, rows)
    plot = plot or _amortization_plot({name: measured})
    show_amortization(plot.figure, measured)
    mark_x(plot.figure, n)
    return plot.png(), summary


def _note(error: EmulationError) -> str:
    """A failed run, said as a note."""
    return "<p>" + _("<b>Note.</b> {problem}", problem=html.escape(str(error))) + "</p>"


def block_explorer() -> w.VBox:
    """Program and loop count; its translation blocks, and translation amortizing as measured
    on this machine (Lesson 06).

    Every program is timed, and its chart drawn, when the widget is made; the slider updates
    when released, and each (program, loop count) is traced and drawn once: going back to a
    setting already seen is instant. A run that fails is reported, never raised.
    """
    try:
        measured = {name: blocks.amortization(name) for name in SUMS}
    except EmulationError as error:
        return w.VBox([w.HTML(_note(error))])
    plot = _amortization_plot(measured)
    program = w.Dropdown(options=list(SUMS), description=_("Program"))
    loops = w.SelectionSlider(
        options=LOOP_COUNTS, value=100, description=_("Loop count"), continuous_update=False
    )
    image, summary = w.Image(format="png"), w.HTML()
    views: dict[tuple[str, int], tuple[bytes, str]] = {}

    def update(_=None):
        name, n = program.value, loops.value
        if (name, n) not in views:
            try:
                views[name, n] = block_view(name, n, measured[name], plot)
            except EmulationError as error:  # e.g. a run stopped by its limit: say so
                image.value, summary.value = b"", _note(error)
                return
        image.value, summary.value = views[name, n]

    for control in (program, loops):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([program, loops]), image, summary])


def cache_view(loops: int, passes: int, capacity: int) -> tuple[bytes, str]:
    """The cache explorer's plot (PNG) and summary (HTML) for one setting. Lesson 06.

    A program's sweep of capacities is computed once; the chart's axes stay, its lines and the
    capacity mark move.
    """
    program, runs = _sweep(loops, passes)
    run = _cache_run(loops, passes, capacity)
    plot = _cache_plot()
    show_cache_sweep(plot.figure, program, runs)
    mark_x(plot.figure, capacity)
    plot.show(plot.figure.axes[0].get_xlim(), lambda: None)  # a larger program widens it
    rows = [
        (_("block executions"), f"{run.entries:,}"),
        (_("found translated (hits)"), f"{run.hits:,} ({run.hit_rate:.1%})"),
        (_("translated first (misses)"), f"{run.misses:,}"),
        (_("whole-cache flushes"), f"{run.flushes:,}"),
        (_("entered through a chained jump"), f"{run.chained:,}"),
        (_("lookups with chaining / without"), f"{run.lookups(True):,} / {run.lookups(False):,}"),
        (
            _("cycles per instruction with chaining / without"),
            f"{run.cycles_per_instruction(True):,.1f} / {run.cycles_per_instruction(False):,.1f}",
        ),
    ]
    speedup = run.cycles(chaining=False) / run.cycles(chaining=True)
    said = _(
        "A cache of <b>{capacity}</b> blocks for a program of {blocks} blocks whose largest loop "
        "needs {largest}: block chaining makes it <b>{speedup}x</b> faster.",
        capacity=capacity,
        blocks=len(program.blocks),
        largest=program.largest_loop,
        speedup=f"{speedup:.2f}",
    )
    table = _html_table([_("What happened"), _("How often")], rows)
    summary = f"<p>{said}</p>" + table
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
        description=_("Loops"),
        continuous_update=False,
    )
    passes = w.IntSlider(
        value=start_passes,
        min=1,
        max=tcache.MAX_PASSES,
        description=_("Passes"),
        continuous_update=False,
    )
    capacity = w.IntSlider(
        value=start_capacity, min=1, max=MAX_CACHE, description=_("Cache (blocks)")
    )
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = cache_view(loops.value, passes.value, capacity.value)

    for control in (loops, passes, capacity):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([loops, passes, capacity]), image, summary])
