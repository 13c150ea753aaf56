"""Lesson 10's pictures and widget: the cloud diagrams, the plots, the workload builder."""

import re

import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.sim import costmodel, nested
from vizlib.widgets import choosing as w

PNG = b"\x89PNG"


def test_the_cloud_request_goes_from_the_api_to_kvm_in_order():
    source = diagrams.cloud_request().source
    path = ["client", "api", "scheduler", "nova_compute", "libvirtd", "qemu", "dev", "kvm"]
    for tail, head in zip(path, path[1:], strict=False):
        assert re.search(rf"^\t+{tail} -> {head}\b", source, re.MULTILINE), (tail, head)
    assert "qemu-system-x86_64 -accel kvm" in source


def test_the_nested_figure_sends_nested_kvm_through_l0_and_pvm_not():
    source = diagrams.nested_virtualization().source
    assert "k_guest -> k_l0" in source and "k_hyp -> k_l0" in source
    drawn = re.findall(r"^\t+p_\w+ -> p_\w+ \[(?!style=invis)", source, re.MULTILINE)
    assert len(drawn) == 2 and "p_l0 [" in source
    assert not re.search(r"p_guest -> p_l0|p_hyp -> p_l0 \[label", source)


def test_the_recap_names_every_lesson_from_01_to_10():
    source = diagrams.course_recap().source
    lessons = set(re.findall(r"lesson (\d\d(?:-\d\d)?)", source))
    assert lessons == {"01-02", "03", "04", "05", "06", "07", "08", "09", "10"}


def test_the_workload_grid_has_a_panel_per_cpu_and_a_bar_group_per_technique():
    fig = plots.workload_grid()
    assert isinstance(fig, Figure) and len(fig.axes) == len(costmodel.CPUS)
    techniques = len(costmodel.TECHNIQUES) - 1
    assert all(len(ax.containers) == techniques for ax in fig.axes)
    assert all(len(ax.patches) == 4 * techniques for ax in fig.axes)
    one = plots.workload_grid(["forkwait"], ["emulation"], ["p4"])
    assert len(one.axes) == 1 and len(one.axes[0].patches) == 1
    with pytest.raises(ValueError, match="cpus must be among p4, core2, modern"):
        plots.workload_grid(cpus=["i386"])


def test_the_nested_plot_shows_every_event_under_every_setup_and_hatches_estimates():
    fig = plots.nested_costs()
    bars = fig.axes[0].patches
    assert len(bars) == len(nested.EVENTS) * len(nested.SETUPS)
    hatched = [b for b in bars if b.get_hatch()]
    assert len(hatched) == 2  # hidden page fault, nested KVM and PVM
    assert [round(b.get_height(), 2) for b in bars[: len(nested.EVENTS)]][:5] == [
        0.46,
        1.66,
        0.87,
        0.54,
        3.79,
    ]
    with pytest.raises(ValueError, match="events must be among"):
        plots.nested_costs(["page walk"])


def test_technique_bars_show_what_the_cpu_had_and_label_the_fastest():
    fig = plots.technique_bars(costmodel.WORKLOADS["forkwait"], "p4")
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # emulation, binary translation, PV, VT-x: no EPT on the P4
    labels = [t.get_text() for t in ax.texts]
    assert sum("fastest" in text for text in labels) == 1
    assert any("1.80x  fastest" in text for text in labels)  # paravirtualization on the P4
    idle = costmodel.Workload("idle", instructions=1)
    ties = [t.get_text() for t in plots.technique_bars(idle, "modern").axes[0].texts]
    assert sum("tie: fastest" in text for text in ties) == 4  # all but emulation


def test_snap_and_named_rates():
    assert [w.snap(r) for r in (0, 0.4, 0.6, 2, 2.5, 5e5)] == [0, 0, 1, 3, 3, 100_000]
    rates = w.rates_of("syscall-heavy")
    assert rates["syscalls"] == 10_000 and rates["io_operations"] == 0
    assert set(rates) == set(w.EVENTS)
    with pytest.raises(ValueError, match="name must be one of forkwait"):
        w.rates_of("database")
    with pytest.raises(ValueError, match="rates keys must be among syscalls"):
        w.build_workload({"interrupts": 3})


EXTREMES = [dict.fromkeys(w.EVENTS, 0), dict.fromkeys(w.EVENTS, w.RATE_STEPS[-1])]


@pytest.mark.parametrize("cpu", costmodel.CPUS)
@pytest.mark.parametrize("rates", EXTREMES, ids=["all zero", "all at most"])
def test_the_workload_view_works_at_every_extreme(cpu, rates):
    png, text = w.workload_view(cpu, rates)
    assert png.startswith(PNG)
    assert ("A tie on the" in text) == (max(rates.values()) == 0)
    assert ("Fastest on the" in text) == (max(rates.values()) > 0)
    offered = 5 if cpu == "modern" else 4  # EPT only on the modern CPU
    assert text.count("<tr>") == 1 + offered and ("EPT" in text) == (cpu == "modern")


def test_the_builder_answers_every_control():
    box = widgets.workload_builder()
    (cpu, start), sliders = box.children[0].children, box.children[1:-2]
    text = box.children[-1]
    assert start.value == "syscall-heavy" and sliders[0].value == 10_000
    before = text.value
    cpu.value = "p4"
    assert text.value != before
    for slider in sliders:
        before = text.value
        slider.value = slider.options[-1] if slider.value != slider.options[-1] else 0
        assert text.value != before, slider.description
        assert start.value == w.CUSTOM
    start.value = "forkwait"
    assert [s.value for s in sliders] == list(w.rates_of("forkwait").values())
    assert "paravirtualization" in text.value.split("</b>")[0]  # fastest on the P4
