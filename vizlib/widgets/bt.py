"""When does binary translation pay off? Loop count and cache size against an interpreter.

Lesson 03.
"""

from __future__ import annotations

import functools
import html

import ipywidgets as w
from matplotlib.figure import Figure

from vizlib.i18n import _
from vizlib.plots.costs import show_payoff, translation_payoff
from vizlib.sim import bt
from vizlib.sim.errors import not_one_of
from vizlib.widgets.render import new_figure, per_language, png, relayout

MAX_LOOP = 100  # loop iterations the slider reaches; the break-even is searched up to 200
MAX_CACHE = 8  # translation units the cache slider reaches


@functools.cache
def _program(example: str) -> bt.Program:
    if example not in bt.EXAMPLES:
        raise not_one_of("example", example, bt.EXAMPLES)
    return bt.parse(bt.EXAMPLES[example])


@functools.cache
def _payoff(example: str, cache_size: int) -> tuple[tuple[bt.Run, ...], int | None]:
    """Every run the slider reaches (1 to MAX_LOOP iterations), and the break-even."""
    program = _program(example)
    return bt.sweep(program, MAX_LOOP, cache_size), bt.break_even(program, cache_size)


@per_language
def _plot() -> Figure:
    """The widget's figure, drawn again for each setting."""
    return new_figure(translation_payoff, _program(next(iter(bt.EXAMPLES))), MAX_LOOP, MAX_CACHE)


def payoff_view(example: str, iterations: int, cache_size: int) -> tuple[bytes, str]:
    """The widget's plot (PNG) and summary (HTML) for one setting of its controls. Lesson 03."""
    runs, even = _payoff(example, cache_size)
    if not (isinstance(iterations, int) and 1 <= iterations <= MAX_LOOP):
        raise ValueError(
            _(
                "iterations must be an int from 1 to {high}; got {value}",
                high=MAX_LOOP,
                value=repr(iterations),
            )
        )
    r = runs[iterations - 1]
    if even is None:
        verdict = _(
            "Translation <b>never pays off</b> here (not within 200 iterations): the loop needs "
            "more translation units than the cache holds, so each pass flushes the cache and "
            "translates again."
        )
    else:
        verdict = _(
            "Translating beats interpreting from <b>{even}</b> loop iterations on.", even=even
        )
    figure = _plot()
    show_payoff(figure, runs[:iterations], even)
    relayout(figure)
    counts = _(
        "At {iterations} iterations with a cache of {cache_size} translation units: {hits} "
        "hits, {misses} misses, {flushes} flushes, {translated} instructions translated, "
        "{faults} page-table faults, {callouts} callouts. Cycles: binary translation {cycles}, "
        "interpreter {interpreted}, native {native}.",
        iterations=iterations,
        cache_size=cache_size,
        hits=r.hits,
        misses=r.misses,
        flushes=r.flushes,
        translated=r.translated,
        faults=r.faults,
        callouts=r.callouts,
        cycles=f"{r.cycles:,.0f}",
        interpreted=f"{r.interpreted_cycles:,.0f}",
        native=f"{r.native_cycles:,.0f}",
    )
    summary = f"<p>{verdict}</p><p>{counts}</p><pre>{html.escape(bt.EXAMPLES[example])}</pre>"
    return png(figure), summary


def translation_payoff_explorer() -> w.VBox:
    """Routine, loop count and cache size; the cycles of translating against interpreting and
    the break-even loop count (Lesson 03).

    Every routine and cache size is swept once, when the widget is built: a change only redraws.
    """
    for name in bt.EXAMPLES:
        for size in range(1, MAX_CACHE + 1):
            _payoff(name, size)
    example = w.Dropdown(options=list(bt.EXAMPLES), description=_("Routine"))
    loops = w.IntSlider(value=30, min=1, max=MAX_LOOP, description=_("Iterations"))
    cache = w.IntSlider(value=MAX_CACHE, min=1, max=MAX_CACHE, description=_("Cache (TUs)"))
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = payoff_view(example.value, loops.value, cache.value)

    for control in (example, loops, cache):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([example, loops, cache]), image, summary])
