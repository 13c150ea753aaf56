"""Lesson 09's pictures and widgets: the split-driver, guest-type and Xen-and-KVM figures, the
ring plot, the request stepper and the ring explorer."""

from __future__ import annotations

import re
import shutil
import subprocess

import ipywidgets as w
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.diagrams.style import LAYERS
from vizlib.diagrams.xen import FOCUS_COLOR, SPLIT_DRIVER_NODES
from vizlib.sim import xenio, xenring
from vizlib.widgets.xen import STARTS, request_step_view, ring_view

# Figures drawn from their language alone are checked by tests/test_diagrams.py (ALL_FIGURES).
FIGURES = {"split_driver": diagrams.split_driver}
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
NODE = re.compile(r"^\t+(\w+) \[label=<(.*)> (.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\t+(\w+) -> (\w+) \[(.*?)\]$", re.MULTILINE | re.DOTALL)
MAX_WIDTH_PT = 600  # a notebook cell of about 800 px (derived: 800 px * 72 / 96)


def nodes(source: str) -> dict[str, tuple[str, str]]:
    """Node id -> (label text without tags, other attributes)."""
    return {
        node: (" ".join(re.sub(r"<[^>]*>", " ", label).split()), attrs)
        for node, label, attrs in NODE.findall(source)
    }


def edges(source: str) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for tail, head, attrs in EDGE.findall(source):
        found[(tail, head)] = found.get((tail, head), "") + attrs
    return found


@pytest.mark.parametrize("name", FIGURES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_figures_render_within_a_notebook_cell(name, lang):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` binary is not installed")
    source = FIGURES[name](lang).source
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    width = float(re.search(r'<svg width="([\d.]+)pt"', done.stdout).group(1))
    assert 100 < width <= MAX_WIDTH_PT
    assert FIGURES[name](lang).source == source


@pytest.mark.parametrize("name", FIGURES)
def test_figures_speak_each_language_and_use_layer_colours(name):
    english, chinese = FIGURES[name]("en"), FIGURES[name]("zh")
    assert not CJK.search(english.source)
    en_nodes, zh_nodes = nodes(english.source), nodes(chinese.source)
    assert en_nodes.keys() == zh_nodes.keys() and len(en_nodes) >= 6
    for node, (text, attrs) in zh_nodes.items():
        assert CJK.search(text) or text == en_nodes[node][0], (node, text)
        fills = re.search(r'fillcolor="([^"]*)"', attrs).group(1).split(":")
        assert {fill.split(";")[0] for fill in fills} <= set(LAYERS.values()), node
    drawn = {n for pair in edges(english.source) for n in pair}
    assert drawn <= en_nodes.keys()
    assert re.fullmatch(r"[A-Z][^!?\n]*\.", english.comment) and ". " not in english.comment
    assert chinese.comment.endswith("。") and chinese.comment.count("。") == 1


@pytest.mark.parametrize("figure", FIGURES.values())
@pytest.mark.parametrize("bad", ["fr", ""])
def test_figures_reject_unknown_languages(figure, bad):
    with pytest.raises(ValueError, match="lang must be one of 'en', 'zh'"):
        figure(bad)


def test_split_driver_puts_each_driver_in_its_domain_and_events_through_xen():
    source = diagrams.split_driver().source
    assert set(nodes(source)) == set(SPLIT_DRIVER_NODES)
    domu = source[source.index("subgraph cluster_domu") : source.index("subgraph cluster_dom0")]
    assert "frontend [" in domu and "backend [" not in domu
    drawn = edges(source)
    for a, b in (("frontend", "xen"), ("xen", "backend"), ("backend", "xen"), ("xen", "frontend")):
        assert (a, b) in drawn
    assert "dashed" in drawn[("xen", "backend")] and "upcall" in drawn[("xen", "backend")]
    assert "dotted" in drawn[("frontend", "ring")]
    assert FOCUS_COLOR not in source


def test_split_driver_outlines_the_focus_and_the_edges_either_way_when_drawn_one_way():
    source = diagrams.split_driver(focus=("xen",), edges=(("backend", "ring"), ("xen", "frontend")))
    drawn, shown = edges(source.source), nodes(source.source)
    assert FOCUS_COLOR in shown["xen"][1] and FOCUS_COLOR not in shown["frontend"][1]
    assert FOCUS_COLOR in drawn[("ring", "backend")]  # drawn ring -> backend, asked backward
    assert FOCUS_COLOR in drawn[("xen", "frontend")]
    assert FOCUS_COLOR not in drawn[("frontend", "xen")]  # the other direction is its own edge
    with pytest.raises(ValueError, match="focus and edges must name nodes among"):
        diagrams.split_driver(focus=("netback",))


def test_every_step_of_a_request_names_edges_the_split_driver_draws():
    drawn = set(edges(diagrams.split_driver().source))
    for step in xenring.one_request():
        assert step.actor in SPLIT_DRIVER_NODES
        for pair in step.edges:
            assert pair in drawn or pair[::-1] in drawn, (step.action, pair)


def test_guest_types_send_pv_io_to_backends_and_hvm_io_to_qemu():
    source = diagrams.guest_types().source
    drawn, shown = edges(source), nodes(source)
    for key in ("pv", "pvh", "pvhvm"):
        assert (f"{key}_dev", "backends") in drawn
    assert "VM exit" in drawn[("hvm_dev", "qemu")] and ("hvm_dev", "backends") not in drawn
    assert "boot only" in drawn[("pvhvm_dev", "qemu")]
    assert shown["pv_os"][0].endswith("ring 3 · deprivileged")
    assert all(shown[f"{k}_os"][0].endswith("non-root · ring 0") for k in ("pvh", "pvhvm", "hvm"))
    assert 'type = \\"pvh\\"' in source and source.count('type = \\"hvm\\"') == 2


def test_xen_and_kvm_say_who_schedules():
    shown = nodes(diagrams.xen_and_kvm().source)
    assert "schedules vCPUs" in shown["x_hyp"][0] and "device drivers" in shown["x_dom0k"][0]
    assert "schedules vCPU threads" in shown["k_linux"][0] and "kvm.ko" in shown["k_linux"][0]


@pytest.mark.parametrize(("device", "size", "batch"), [("block", 32, 1), ("network", 1, 64)])
def test_ring_plot_stacks_both_directions_and_marks_the_choice(device, size, batch):
    fig = plots.ring_notifications(device, size, batch)
    assert isinstance(fig, Figure) and fig.number not in plt.get_fignums()
    left, right = fig.axes
    from vizlib.plots.xen import BATCHES

    n = len(BATCHES)
    # two stacked bars per batch and one outline around the chosen batch's
    assert len(left.patches) == 2 * n + 1
    runs = [xenio.simulate(device, size, b) for b in BATCHES]
    heights = [bar.get_height() for bar in left.patches[:n]]
    assert heights == pytest.approx([r.notifications_to_backend / r.requests for r in runs])
    assert [bar.get_height() for bar in right.patches] == [
        xenio.simulate(device, s, batch).stall_ticks for s in xenio.RING_SIZES
    ]
    chosen = xenio.RING_SIZES.index(size)
    colours = [bar.get_facecolor() for bar in right.patches]
    assert colours.count(colours[chosen]) == 1


def test_request_stepper_view_walks_the_steps_and_clamps():
    start, count = request_step_view(0)
    assert count == 12 and "Step 0 of 12" in start and "idle ring of 32 slots" in start
    check, _ = request_step_view(4)
    assert "check whether to notify" in check and "→ notify" in check
    assert "<svg" in check or "<pre>" in check
    last, _ = request_step_view(12)
    assert "consume the response" in last and "32 of 32 free" in last
    assert request_step_view(99) == (last, 12) and request_step_view(-3) == (start, count)
    wrapped, _ = request_step_view(2, xenring.MAX_INDEX)
    assert "req_prod_pvt 4294967295 -&gt; 0" in wrapped and "slot 31" in wrapped


def test_request_stepper_tints_the_indices_each_step_changes():
    page, _ = request_step_view(6)  # the backend consumes: req_cons changes, nothing else
    rows = re.findall(r"<tr style='([^']*)'><td[^>]*>(\w+)</td>", page)
    assert [name for style, name in rows if style] == ["req_cons"]


def controls(box: w.Widget) -> dict[type, list[w.Widget]]:
    found: dict[type, list[w.Widget]] = {}
    for child in getattr(box, "children", ()):
        for kind, items in controls(child).items():
            found.setdefault(kind, []).extend(items)
        found.setdefault(type(child), []).append(child)
    return found


def test_request_stepper_follows_its_controls_to_their_extremes():
    found = controls(widgets.request_stepper())
    [step], [start], [out] = found[w.IntSlider], found[w.Dropdown], found[w.HTML]
    assert (step.min, step.max) == (0, 12) and "Step 0 of 12" in out.value
    step.value = step.max
    assert "Step 12 of 12" in out.value
    start.value = STARTS["4294967295 (about to wrap)"]
    assert "rsp_cons 4294967295 -&gt; 0" in out.value
    step.value = step.min
    assert "Step 0 of 12" in out.value


def test_ring_view_reports_the_run_and_its_price():
    png, page = ring_view("block", 32, 1)
    assert png.startswith(b"\x89PNG")
    run = xenio.simulate("block", 32, 1)
    assert f"the backend was notified {run.notifications_to_backend} times" in page
    assert f"during {run.stall_ticks} of {run.ticks}" in page
    assert "VM exits to QEMU" in page


def test_ring_explorer_follows_every_control_to_its_extremes():
    found = controls(widgets.ring_explorer())
    [device], [size, batch] = found[w.Dropdown], found[w.SelectionSlider]
    [image], summary = found[w.Image], found[w.HTML][-1]
    assert size.value == 32 and "ring of <b>32</b>" in summary.value
    first = image.value
    batch.value = batch.options[-1]
    assert "batches of <b>64</b>" in summary.value and image.value != first
    size.value = size.options[0]
    assert "ring of <b>1</b>" in summary.value
    device.value = "network"
    assert size.value == 256 and "<b>network</b>" in summary.value
    size.value = size.options[-1]
    batch.value = batch.options[0]
    assert "ring of <b>256</b>" in summary.value and "batches of <b>1</b>" in summary.value
