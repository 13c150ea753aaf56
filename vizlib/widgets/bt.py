"""When does binary translation pay off? Loop count and cache size against an interpreter.

Lesson 03.
"""

from __future__ import annotations

import html
import io

import ipywidgets as w

from vizlib.plots.costs import translation_payoff
from vizlib.sim import bt

MAX_LOOP = 100  # loop iterations the slider reaches; the break-even is searched up to 200
MAX_CACHE = 8  # translation units the cache slider reaches


def payoff_view(example: str, iterations: int, cache_size: int) -> tuple[bytes, str]:
    """The widget's plot (PNG) and summary (HTML) for one setting of its controls. Lesson 03."""
    if example not in bt.EXAMPLES:
        raise ValueError(f"example must be one of {', '.join(bt.EXAMPLES)}; got {example!r}")
    program = bt.parse(bt.EXAMPLES[example])
    r = bt.run(program, iterations, cache_size)
    even = bt.break_even(program, cache_size)
    if even is None:
        verdict = (
            "Translation <b>never pays off</b> here (not within 200 iterations): the loop needs "
            "more translation units than the cache holds, so each pass flushes the cache and "
            "translates again."
        )
    else:
        verdict = f"Translating beats interpreting from <b>{even}</b> loop iterations on."
    figure = translation_payoff(program, iterations, cache_size)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=80)
    summary = (
        f"<p>{verdict}</p><p>At {iterations} iterations with a cache of {cache_size} "
        f"translation units: {r.hits} hits, {r.misses} misses, {r.flushes} flushes, "
        f"{r.translated} instructions translated, {r.faults} page-table faults, "
        f"{r.callouts} callouts. Cycles: binary translation {r.cycles:,.0f}, interpreter "
        f"{r.interpreted_cycles:,.0f}, native {r.native_cycles:,.0f}.</p>"
        f"<pre>{html.escape(bt.EXAMPLES[example])}</pre>"
    )
    return png.getvalue(), summary


def translation_payoff_explorer() -> w.VBox:
    """Routine, loop count and cache size; the cycles of translating against interpreting and
    the break-even loop count (Lesson 03)."""
    example = w.Dropdown(options=list(bt.EXAMPLES), description="Routine")
    loops = w.IntSlider(value=30, min=1, max=MAX_LOOP, description="Iterations")
    cache = w.IntSlider(value=MAX_CACHE, min=1, max=MAX_CACHE, description="Cache (TUs)")
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = payoff_view(example.value, loops.value, cache.value)

    for control in (example, loops, cache):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([example, loops, cache]), image, summary])
