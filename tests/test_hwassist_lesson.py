"""Lesson 05's pictures and widgets: diagrams, plots, and each widget at its extremes."""

import re
import shutil
import subprocess

import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.diagrams.style import LANGS, LAYERS
from vizlib.sim import paging, paging_costs, tlb, vmexit
from vizlib.widgets import hwassist as w

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
FILL = re.compile(r'(?:fillcolor|BGCOLOR)="([^"]*)"')
SVG_WIDTH = re.compile(r'<svg width="([\d.]+)pt"')
MAX_WIDTH_PT = 600  # a notebook cell, about 800 px (derived: 800 * 72 / 96)
PNG = b"\x89PNG"


def _walk(mode="nested", case="mapped", levels=4):
    return paging.example(levels).walk(mode, paging.EXAMPLE_ADDRESSES[case])


# Figures drawn from their language alone are checked by tests/test_diagrams.py (ALL_FIGURES);
# the page walk is drawn from a walk, so its rules are checked here.
FIGURES = {
    "page_walk": lambda lang: diagrams.page_walk(_walk(), 10, lang),
    "page_walk_fault": lambda lang: diagrams.page_walk(
        _walk(case="not backed by the host"), None, lang
    ),
    "page_walk_native": lambda lang: diagrams.page_walk(_walk("native"), 0, lang),
}
CASES = [(name, lang) for name in FIGURES for lang in LANGS]


@pytest.mark.parametrize(("name", "lang"), CASES, ids=[f"{n}-{lang}" for n, lang in CASES])
def test_figures_render_within_a_notebook_cell_in_the_course_colours(name, lang):
    g = FIGURES[name](lang)
    assert g.source == FIGURES[name](lang).source
    colours = {part.split(";")[0] for fill in FILL.findall(g.source) for part in fill.split(":")}
    assert colours <= {*LAYERS.values(), "#FFFFFF"}, colours
    if lang == "en":
        assert not CJK.search(g.source) and re.fullmatch(r"[A-Z][^\n]*\.", g.comment)
    else:
        assert CJK.search(g.source) and g.comment.endswith("。") and g.comment.count("。") == 1
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` binary is not installed")
    out = subprocess.run(["dot", "-Tsvg"], input=g.source, capture_output=True, text=True)
    assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr
    assert 100 < float(SVG_WIDTH.search(out.stdout).group(1)) <= MAX_WIDTH_PT


def test_the_walk_grid_fills_references_up_to_the_step_and_numbers_them_all():
    walk = _walk()
    fills = [FILL.findall(diagrams.page_walk(walk, step).source) for step in (0, 10, 24)]
    coloured = [sum(f in (LAYERS["hypervisor"], LAYERS["guest_kernel"]) for f in x) for x in fills]
    assert coloured == [0, 10, 24]
    full = diagrams.page_walk(walk).source
    assert all(f">{n}<" in full for n in range(1, 24)) and "0x205567" in full
    assert (
        "EPT violation at EPT level 1"
        in diagrams.page_walk(_walk(case="not backed by the host")).source
    )
    with pytest.raises(ValueError, match="step must be None or an integer from 0 to 24"):
        diagrams.page_walk(walk, 25)
    with pytest.raises(ValueError, match="lang must be one of"):
        diagrams.vmx_modes("fr")


def test_plots_return_closed_figures_with_their_artists():
    bars = plots.world_switches()
    assert isinstance(bars, Figure) and len(bars.axes[0].patches) == 3
    timeline = vmexit.simulate(exits=10, seed=2)
    fig = plots.exit_timeline(timeline)
    # one collection for the guest's runs, one per exit reason that occurred
    assert len(fig.axes[0].collections) == 1 + len(timeline.counts())
    stream = tlb.access_stream(500, 200, seed=1)
    lines = plots.tlb_references(stream, [4, 16, 64])
    assert [len(line.get_xdata()) for line in lines.axes[0].lines] == [3, 3]
    grid = paging_costs.crossover_grid([0, 1000, 3000], [1, 10, 100, 1000])
    cross = plots.crossover_map(grid, (1000, 20))
    assert len(cross.axes) == 2 and len(cross.axes[0].lines) == 1  # the map, its colour bar


@pytest.mark.parametrize(("mix", "cpu"), list(zip(vmexit.EXIT_MIXES, vmexit.CPUS, strict=True)))
@pytest.mark.parametrize(("run", "seed"), [(0.1, 0), (1000, 99)])
def test_the_timeline_widget_works_at_every_extreme(mix, cpu, run, seed):
    png, text = w.timeline_view(mix, cpu, run, seed)
    assert png.startswith(PNG) and "of the time in root mode" in text


def test_the_timeline_seed_slider_redraws_and_the_same_seed_draws_the_same_run():
    box = widgets.exit_timeline_explorer()
    seed, text = box.children[1].children[1], box.children[3]
    first = text.value
    seed.value = seed.max
    assert text.value != first
    seed.value = seed.min
    assert text.value == first
    # A seed fixes the reasons and the run lengths on every CPU: only the exits' cost differs.
    runs = [vmexit.simulate(cpu=cpu, seed=7) for cpu in vmexit.CPUS]
    assert len({tuple(run.counts().items()) for run in runs}) == 1
    guest = [run.total_us - run.exit_us for run in runs]
    assert guest == pytest.approx([guest[0]] * len(runs))


def test_the_timeline_widget_answers_its_controls():
    base = w.timeline_view("linux guest", "modern", 10, 0)
    assert w.timeline_view("linux guest", "p4", 10, 0)[1] != base[1]
    assert w.timeline_view("linux guest", "modern", 10, 1)[1] != base[1]
    box = widgets.exit_timeline_explorer()
    run = box.children[1].children[0]
    before = box.children[3].value
    run.value = 10**run.min  # a log slider: its min is an exponent
    assert box.children[3].value != before


@pytest.mark.parametrize("mode", paging.MODES)
@pytest.mark.parametrize("levels", [4, 5])
@pytest.mark.parametrize("case", w.CASES)
def test_the_walk_widget_works_at_both_ends_of_every_walk(mode, levels, case):
    first, total = w.walk_view(mode, levels, case, 0)
    last, _ = w.walk_view(mode, levels, case, total)
    assert first != last and "<svg" in last
    assert total == len(_walk(mode, case, levels).references)


def test_the_walk_widget_keeps_its_slider_inside_the_walk():
    box = widgets.page_walk_explorer()
    (mode, levels, case), (play, step) = box.children[0].children, box.children[1].children
    assert step.max == play.max == 24
    step.value = 24
    mode.value = "native"
    assert step.max == 4 and step.value == 4
    levels.value = 5
    mode.value = "nested"
    case.value = "not mapped by the guest"
    assert step.max == 30
    step.value = 30
    assert "guest page fault" in box.children[2].value


@pytest.mark.parametrize(
    ("misses", "updates", "winner"),
    [(0, 1, "EPT"), (3000, 1, "shadow paging"), (0, 1000, "EPT"), (3000, 1000, "EPT")],
)
def test_the_crossover_widget_works_at_its_corners(misses, updates, winner):
    png, text = w.crossover_view(misses, updates)
    assert png.startswith(PNG) and f"<b>{winner}</b> wins" in text


def test_the_crossover_widget_answers_its_sliders():
    box = widgets.crossover_explorer()
    misses, updates = box.children[0].children
    before = box.children[2].value
    misses.value = misses.max
    assert box.children[2].value != before and "shadow paging" in box.children[2].value
    updates.value = 10**updates.max  # a log slider: its max is an exponent
    assert "<b>EPT</b> wins" in box.children[2].value
