"""The widgets' fast drawing (`vizlib.widgets.render`): a kept figure drawn again, or a mark moved
over a saved background, gives the picture a new figure of the same setting gives."""

from __future__ import annotations

import io

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from vizlib import plots
from vizlib.machine import run_guest
from vizlib.machine.experiments import DEVICES, message_guest
from vizlib.machine.guests import GUESTS
from vizlib.plots import costs, machine
from vizlib.plots import hwassist as hwassist_plots
from vizlib.plots.marks import MOVING, X_MARK, mark_x, moving
from vizlib.sim import bt, paging_costs, tcache
from vizlib.widgets import bt as bt_widget
from vizlib.widgets import choosing, hwassist, kvm, pv, qemu, render, xen

PNG = b"\x89PNG"


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def differing(a: bytes, b: bytes) -> int:
    """How many pixels differ between two PNGs of the same size."""
    first, second = pixels(a), pixels(b)
    assert first.shape == second.shape
    return int((np.abs(first - second).sum(axis=2) > 0).sum())


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def fresh(plot, *args, dpi=render.DPI, **kwargs) -> bytes:
    return render.png(render.new_figure(plot, *args, dpi=dpi, **kwargs), dpi)


# ---- the helpers ----


def test_png_draws_what_savefig_draws():
    expected = io.BytesIO()
    plots.world_switches().savefig(expected, format="png", dpi=80)
    drawn = render.png(plots.world_switches(), 80)
    assert differing(drawn, expected.getvalue()) == 0
    assert pixels(drawn).shape[:2] == (240, 480)  # 6 x 3 inches at 80 dpi


def test_new_figure_is_laid_out_at_its_dpi_and_closed():
    fig = render.new_figure(plots.world_switches, dpi=72)
    assert fig.dpi == 72 and fig.number not in plt.get_fignums()
    assert plt.rcParams["figure.dpi"] == 100  # the context is left as it was


def test_relayout_forgets_what_the_figure_showed_before():
    program = bt.parse(bt.EXAMPLES["sum-array"])
    kept = render.new_figure(plots.translation_payoff, program, 100, 1)
    render.png(kept)
    costs.show_payoff(kept, bt.sweep(program, 3, 8), bt.break_even(program, 8))
    render.relayout(kept)
    assert differing(render.png(kept), fresh(plots.translation_payoff, program, 3, 8)) == 0


def test_overlay_paints_the_moved_mark_over_its_background():
    grid = paging_costs.crossover_grid([0, 1000, 3000], [1, 10, 100, 1000])
    overlay = render.Overlay(render.new_figure(plots.crossover_map, grid, (0, 1)))
    [star] = overlay.marks
    assert star.get_gid() == MOVING and star.get_animated()
    before = overlay.png()
    hwassist_plots.mark_workload(overlay.figure, (2000, 50))
    after = overlay.png()
    assert differing(before, after) > 0
    assert differing(after, fresh(plots.crossover_map, grid, (2000, 50))) == 0
    assert len(moving(overlay.figure)) == 1  # moved, not added


def test_overlay_needs_a_mark():
    with pytest.raises(ValueError, match="marks must hold at least one artist"):
        render.Overlay(plots.world_switches())


def test_overlay_redraws_its_background_only_for_what_it_does_not_show():
    program = tcache.synthetic_program(2, 1)
    overlay = render.Overlay(render.new_figure(plots.translation_cache, program, 3), shown="a")
    drawn = []
    overlay.show("a", lambda: drawn.append("a"))
    overlay.show("b", lambda: drawn.append("b"))
    overlay.show("b", lambda: drawn.append("b again"))
    assert drawn == ["b"]


def test_mark_x_marks_every_axes_once_and_moves_the_marks():
    fig = plots.translation_cache(tcache.synthetic_program(2, 1))
    mark_x(fig, 3)
    mark_x(fig, 5)
    marks = fig.findobj(lambda artist: artist.get_gid() == X_MARK)
    assert [list(line.get_xdata()) for line in marks] == [[5, 5], [5, 5]]
    assert all(len(ax.findobj(lambda a: a.get_gid() == X_MARK)) == 1 for ax in fig.axes)
    assert set(marks) <= set(moving(fig))  # moving too, with the chart's lines


# ---- every kept figure draws what a new one draws ----


def test_batch_explorer_moves_its_mark_on_the_cpu_s_figure():
    pv.batch_view("p4", 1)
    for cpu, batch in (("core2", 13), ("modern", 2048)):
        expected = fresh(plots.pte_update_costs, cpu, batch)
        assert differing(pv.batch_view(cpu, batch)[0], expected) == 0


def test_crossover_explorer_moves_its_star():
    grid = paging_costs.standard_grid()
    hwassist.crossover_view(0, 1)
    drawn = hwassist.crossover_view(1500, 200)[0]
    assert differing(drawn, fresh(plots.crossover_map, grid, (1500, 200), dpi=96)) == 0


def test_payoff_explorer_draws_each_setting_as_a_new_figure():
    bt_widget.payoff_view("map-pages", bt_widget.MAX_LOOP, 1)
    program = bt.parse(bt.EXAMPLES["sum-array"])
    expected = fresh(plots.translation_payoff, program, 1, bt_widget.MAX_CACHE)
    assert differing(bt_widget.payoff_view("sum-array", 1, bt_widget.MAX_CACHE)[0], expected) == 0


def test_workload_builder_draws_each_workload_as_a_new_figure():
    top = dict.fromkeys(choosing.EVENTS, choosing.RATE_STEPS[-1])
    choosing.workload_view("modern", top)
    rates = choosing.rates_of("fork-heavy")
    expected = fresh(plots.technique_bars, choosing.build_workload(rates), "p4", dpi=96)
    assert differing(choosing.workload_view("p4", rates)[0], expected) == 0


# Blitting paints the moving artists over the still ones, where a full drawing may put a legend
# or the axes' frame over them: a few pixels where they cross, never a line or a label.
OVERPAINTED = 60


def test_cache_explorer_draws_each_program_over_the_same_axes():
    qemu.cache_view(tcache.MAX_LOOPS, tcache.MAX_PASSES, 1)
    axes = qemu._cache_plot().figure.axes[0].get_xlim()
    program = tcache.synthetic_program(2, 3)
    drawn = qemu.cache_view(2, 3, qemu.MAX_CACHE)[0]
    assert differing(drawn, fresh(plots.translation_cache, program, qemu.MAX_CACHE)) < OVERPAINTED
    assert qemu._cache_plot().figure.axes[0].get_xlim() == axes
    moved = qemu.cache_view(2, 3, 4)[0]
    assert differing(moved, fresh(plots.translation_cache, program, 4)) < OVERPAINTED
    assert differing(moved, drawn) > OVERPAINTED


def test_ring_explorer_draws_each_setting_as_a_new_figure():
    xen.ring_view("block", 1, 64)
    drawn = xen.ring_view("network", 8, 4)[0]
    assert differing(drawn, fresh(plots.ring_notifications, "network", 8, 4)) < OVERPAINTED
    assert differing(drawn, xen.ring_view("network", 8, 8)[0]) > OVERPAINTED


def test_machine_figures_drawn_again_match_new_ones():
    polling = run_guest(GUESTS["hello_polling"], accel="tcg")
    console = run_guest(GUESTS["hello_pv"], accel="tcg")
    kept = render.new_figure(plots.exit_profile, polling, dpi=96)
    machine.show_exit_profile(kept, console)
    render.relayout(kept)
    assert differing(render.png(kept, 96), fresh(plots.exit_profile, console, dpi=96)) == 0
    runs = {
        n: {d: run_guest(message_guest(d, b"x" * n), accel="tcg") for d in DEVICES} for n in (1, 90)
    }
    kept = render.new_figure(plots.device_exits, runs[90], 90, dpi=96)
    machine.show_device_exits(kept, runs[1], 1)
    render.relayout(kept)
    assert differing(render.png(kept, 96), fresh(plots.device_exits, runs[1], 1, dpi=96)) == 0


# ---- the machine explorers run each setting once ----


@pytest.mark.parametrize(
    ("explorer", "view", "control", "value"),
    [
        (kvm.exit_explorer, "exit_view", lambda box: box.children[0], "hello_pv"),
        (kvm.device_explorer, "device_view", lambda box: box.children[0].children[0], 1),
    ],
)
def test_machine_explorers_run_a_setting_once_and_again_on_request(
    monkeypatch, explorer, view, control, value
):
    runs = []

    def counted(*setting):
        runs.append(setting)
        return PNG + bytes(len(runs)), f"run {len(runs)}"

    monkeypatch.setattr(kvm, view, counted)
    box = explorer()
    slider_or_menu = control(box)
    [again] = [c for c in walk(box) if isinstance(c, w.Button)]
    first = slider_or_menu.value
    slider_or_menu.value = value
    slider_or_menu.value = first
    assert len(runs) == 2 and box.children[-1].value == "run 1"  # the first run, shown again
    again.click()
    assert len(runs) == 3 and runs[-1] == runs[0] and box.children[-1].value == "run 3"
