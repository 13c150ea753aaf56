"""Lesson 06's widgets: translation blocks on a real CPU emulator, and the translation cache model.

`block_explorer` runs a guest array sum on unicorn at a chosen loop count, lists the blocks it
formed and how often each ran, and plots cold against warm runs measured on this machine.
`cache_explorer` replays a synthetic program through the translation cache model.
"""

from __future__ import annotations

import html
import io

import ipywidgets as w
from matplotlib.figure import Figure

from vizlib.emulation import blocks
from vizlib.emulation.errors import EmulatorMissing
from vizlib.emulation.programs import SUMS
from vizlib.plots.qemu import translation_amortization, translation_cache
from vizlib.sim import tcache

# Loop counts the block explorer offers: 1 to the largest amortization count, in 1-2-5 steps.
LOOP_COUNTS = tuple(
    m * 10**e for e in range(6) for m in (1, 2, 5) if m * 10**e <= blocks.AMORTIZATION_COUNTS[-1]
)
MAX_CACHE = 64  # blocks the cache slider reaches: more than the largest synthetic program has


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


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
    return _png(translation_amortization(measured, marked=n)), summary


def block_explorer() -> w.VBox:
    """Program and loop count; its translation blocks, and translation amortizing as measured
    on this machine (Lesson 06).

    The slider updates when released, and each (program, loop count) is traced and drawn once:
    going back to a setting already seen is instant.
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
    """The cache explorer's plot (PNG) and summary (HTML) for one setting. Lesson 06."""
    program = tcache.synthetic_program(loops, passes)
    run = tcache.simulate(program, capacity)
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
    return _png(translation_cache(program, marked=capacity)), summary


def cache_explorer() -> w.VBox:
    """Loops, passes and cache capacity; hit rate and cycles from the translation cache model
    (Lesson 06)."""
    loops = w.IntSlider(value=6, min=1, max=tcache.MAX_LOOPS, description="Loops")
    passes = w.IntSlider(value=5, min=1, max=tcache.MAX_PASSES, description="Passes")
    capacity = w.IntSlider(value=12, min=1, max=MAX_CACHE, description="Cache (blocks)")
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = cache_view(loops.value, passes.value, capacity.value)

    for control in (loops, passes, capacity):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([loops, passes, capacity]), image, summary])
