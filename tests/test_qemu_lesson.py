"""Lesson 06's figure, charts and widgets, and the lesson itself without the emulator packages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import ipywidgets as w
import matplotlib.pyplot as plt
import nbformat
import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.course import ROOT
from vizlib.diagrams.style import LAYERS
from vizlib.emulation import blocks, programs, show
from vizlib.emulation.blocks import MODES, PUBLISHED, Amortization, Speeds
from vizlib.emulation.errors import GuestRunaway
from vizlib.machine import qemu as pc
from vizlib.sim import tcache
from vizlib.widgets.qemu import LOOP_COUNTS, MAX_CACHE, block_view, cache_view

LESSON = ROOT / "notebooks" / "06_qemu.ipynb"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
NODE = re.compile(r"^\t+(\w+) \[label=<(.*)> (.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\t+(\w+) -> (\w+) \[", re.MULTILINE)
MAX_WIDTH_PT = 600  # a notebook cell of about 800 px (derived: 800 px * 72 / 96)
# Timings made up for the charts' tests: the charts draw whatever they are given.
SPEEDS = Speeds(
    programs.PPC_SUM,
    dict.fromkeys(MODES, 100),
    dict(zip(MODES, (1e-10, 3e-9, 5e-7, 7e-8, 2e-6), strict=True)),
)
AMORTIZATION = Amortization(programs.PPC_SUM, (1, 10, 100), (5e-5, 6e-5, 9e-5), (1e-5, 2e-5, 5e-5))


def nodes(source: str) -> dict[str, tuple[str, str]]:
    return {
        node: (" ".join(re.sub(r"<[^>]*>", " ", label).split()), attrs)
        for node, label, attrs in NODE.findall(source)
    }


# ---- the figure ----


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_architecture_renders_within_a_notebook_cell(lang):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` binary is not installed")
    source = diagrams.qemu_architecture(lang).source
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    width = float(re.search(r'<svg width="([\d.]+)pt"', done.stdout).group(1))
    assert 100 < width <= MAX_WIDTH_PT


def test_the_architecture_speaks_each_language_and_uses_the_layer_colours():
    english, chinese = diagrams.qemu_architecture("en"), diagrams.qemu_architecture("zh")
    assert not CJK.search(english.source)
    en_nodes, zh_nodes = nodes(english.source), nodes(chinese.source)
    assert en_nodes.keys() == zh_nodes.keys() >= {"code", "frontend", "ops", "backend", "cache"}
    for node, (text, attrs) in zh_nodes.items():
        assert CJK.search(text) or text == en_nodes[node][0], (node, text)
        fills = re.search(r'fillcolor="([^"]*)"', attrs).group(1).split(":")
        assert {fill.split(";")[0] for fill in fills} <= set(LAYERS.values()), node
    for name in ("frontend", "ops", "backend", "cache", "softmmu", "devices", "loop"):
        assert LAYERS["emulator"] in en_nodes[name][1]
    assert set(EDGE.findall(english.source)) >= {
        ("loop", "frontend"),
        ("backend", "cache"),
        ("cache", "cache"),
        ("cache", "softmmu"),
        ("softmmu", "devices"),
    }
    assert re.fullmatch(r"[A-Z][^!?\n]*\.", english.comment) and ". " not in english.comment
    assert chinese.comment.endswith("。") and chinese.comment.count("。") == 1


@pytest.mark.parametrize("bad", ["fr", ""])
def test_the_architecture_refuses_unknown_languages(bad):
    with pytest.raises(ValueError, match="lang must be one of 'en', 'zh'"):
        diagrams.qemu_architecture(bad)


# ---- the charts ----


def test_the_speed_chart_has_a_bar_per_way_and_per_published_figure():
    figure = plots.emulation_speeds(SPEEDS)
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    ax = figure.axes[0]
    assert len(ax.patches) == len(MODES) + len(PUBLISHED)
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths[-1] == pytest.approx(2e-6 / 1e-10) and 240.0 in widths
    assert ax.get_xscale() == "log"
    assert plt.fignum_exists(figure.number) is False  # closed: shown once, by the cell


def test_the_amortization_chart_draws_cold_warm_and_the_translation_share():
    figure = plots.translation_amortization(AMORTIZATION)
    per_loop, share = figure.axes
    assert len(per_loop.lines) == 2 and len(share.lines) == 1
    assert list(per_loop.lines[0].get_ydata()) == pytest.approx([50, 6, 0.9])
    assert list(share.lines[0].get_ydata()) == pytest.approx([80, 100 / 3 * 2, 100 * 4 / 9])
    marked = plots.translation_amortization(AMORTIZATION, marked=10)
    assert len(marked.axes[0].lines) == 3 and len(marked.axes[1].lines) == 2


def test_the_cache_chart_draws_the_model_where_its_curves_break():
    program = tcache.synthetic_program(loops=2, passes=1)
    hits, cycles = plots.translation_cache(program, marked=3).axes
    drawn = list(hits.lines[0].get_xdata())
    size, largest = len(program.blocks), program.largest_loop
    assert drawn == sorted(drawn) and drawn[0] == 1 and drawn[-1] == plots.qemu.CACHE_AXIS
    assert {*range(1, 17), largest - 1, largest, size - 1, size, size + 1} <= set(drawn)
    assert hits.lines[0].get_ydata()[drawn.index(size - 1)] == pytest.approx(
        tcache.simulate(program, size - 1).hit_rate * 100
    )
    assert hits.get_xscale() == "log" and hits.get_xlim()[1] > plots.qemu.CACHE_AXIS
    assert len(cycles.lines) == 2 + 2  # without and with chaining, the largest loop, the mark


# ---- the widgets ----


@pytest.mark.parametrize(
    ("name", "n"),
    [("ppc-sum", LOOP_COUNTS[-1]), *((name, LOOP_COUNTS[0]) for name in programs.SUMS)],
)
def test_the_block_view_works_for_every_program_and_at_both_ends_of_the_slider(name, n):
    pytest.importorskip("unicorn")
    png, summary = block_view(name, n, AMORTIZATION)
    assert png.startswith(b"\x89PNG")
    expected = (
        "made <b>2</b> blocks, which ran <b>100,000</b> times"
        if n > 1
        else ("made <b>1</b> blocks, which ran <b>1</b> times")
    )
    assert expected in summary


def test_the_block_view_refuses_what_its_controls_cannot_give():
    with pytest.raises(ValueError, match="n must be one of"):
        block_view("ppc-sum", 3, AMORTIZATION)
    with pytest.raises(ValueError, match="name must be one of ppc-sum"):
        block_view("arm-spin", 10, AMORTIZATION)


@pytest.mark.parametrize("setting", [(1, 1, 1), (tcache.MAX_LOOPS, tcache.MAX_PASSES, MAX_CACHE)])
def test_the_cache_view_works_at_the_extremes_of_its_sliders(setting):
    png, summary = cache_view(*setting)
    assert png.startswith(b"\x89PNG") and "block chaining makes it" in summary


def test_the_cache_view_changes_with_the_cache_size():
    below, fits = cache_view(6, 5, 7)[1], cache_view(6, 5, 8)[1]
    assert "<td>whole-cache flushes</td><td>479</td>" in below  # one block below the largest loop
    assert "<td>whole-cache flushes</td><td>20</td>" in fits


def test_the_explorers_build_their_controls():
    box = widgets.cache_explorer()
    assert isinstance(box, w.VBox) and bytes(box.children[1].value).startswith(b"\x89PNG")
    sliders = box.children[0].children
    assert [(s.min, s.max) for s in sliders] == [
        (1, tcache.MAX_LOOPS),
        (1, tcache.MAX_PASSES),
        (1, MAX_CACHE),
    ]
    assert MAX_CACHE <= tcache.MAX_CAPACITY


def test_the_block_explorer_measures_and_reacts(monkeypatch):
    pytest.importorskip("unicorn")
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    box = widgets.block_explorer()
    program, loops = box.children[0].children
    before = box.children[2].value
    loops.value = LOOP_COUNTS[0]
    assert box.children[2].value != before and "ran <b>1</b> times" in box.children[2].value
    program.value = "arm64-sum"
    assert "0x10000" in box.children[2].value


def test_the_block_explorer_reports_a_run_stopped_by_its_limit_instead_of_raising(monkeypatch):
    pytest.importorskip("unicorn")
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    box = widgets.block_explorer()
    _, loops = box.children[0].children

    def stopped(name, n):
        raise GuestRunaway(0x10008, "time limit of 2 s reached")

    monkeypatch.setattr(blocks, "trace_blocks", stopped)
    loops.value = LOOP_COUNTS[-1]
    assert "guest stopped by the limit at pc=0x10008" in box.children[2].value
    assert box.children[1].value == b""


def test_the_block_explorer_updates_on_release_and_draws_each_setting_once(monkeypatch):
    pytest.importorskip("unicorn")
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    drawn = []

    def counting_view(name, n, measured, plot):
        drawn.append((name, n))
        return block_view(name, n, measured, plot)

    monkeypatch.setattr("vizlib.widgets.qemu.block_view", counting_view)
    box = widgets.block_explorer()
    _, loops = box.children[0].children
    assert loops.continuous_update is False
    first = box.children[2].value
    loops.value = LOOP_COUNTS[0]
    loops.value = 100
    assert box.children[2].value == first and drawn == [("ppc-sum", 100), ("ppc-sum", 1)]


# ---- the lesson ----


def code_cells() -> list[str]:
    return [c.source for c in nbformat.read(LESSON, as_version=4).cells if c.cell_type == "code"]


def test_machine_dependent_cells_and_only_they_ignore_their_output():
    volatile = ("show_status()", "show_speeds(", "show_boot_sector()", "widgets.")
    for source in code_cells():
        ignored = source.startswith("# NBVAL_IGNORE_OUTPUT\n")
        assert ignored == any(call in source for call in volatile), source


def test_the_lesson_runs_to_the_end_without_the_emulators(monkeypatch):
    for package in ("unicorn", "capstone", "keystone"):
        for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.setattr(pc, "shutil", SimpleNamespace(which=lambda name: None))
    monkeypatch.setattr(show, "_hinted", set())
    shown: list[str] = []
    monkeypatch.setattr(show, "_display", lambda *items: shown.extend(map(str, items)))
    monkeypatch.setattr("IPython.display.display", lambda *objects, **_: None)
    namespace: dict = {}
    for source in code_cells():
        exec(compile(source, str(LESSON), "exec"), namespace)  # no cell may raise
    notes = [line for line in shown if line.startswith("> **Note.**")]
    assert [n.split(" is not installed")[0] for n in notes] == [
        "> **Note.** capstone",
        "> **Note.** unicorn",
        "> **Note.** qemu-system-x86_64",
        "> **Note.** keystone",
    ]
    assert any("**Stored log**" in line for line in shown)
    plt.close("all")
