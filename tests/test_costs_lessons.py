"""What lessons 03 and 04 say with the cost model: the numbers their prose quotes, their plots,
lesson 04's widget and figure. A failure here means a lesson's text needs another look."""

import shutil
import subprocess

import pytest
from matplotlib.figure import Figure

from vizlib import diagrams
from vizlib.plots import costs as plots
from vizlib.sim import costmodel
from vizlib.sim.costmodel import CPUS, WORKLOADS, cost_per_pte_update, event_costs, predict
from vizlib.widgets import pv as pv_widget

NOT_NATIVE = costmodel.TECHNIQUES[1:]


def slowdown(workload, technique, cpu, **kwargs):
    return predict(WORKLOADS[workload], technique, cpu, **kwargs).slowdown


def overheads(workload, technique, cpu):
    b = predict(WORKLOADS[workload], technique, cpu).breakdown
    return {k: v for k, v in b.items() if k != "guest work"}


# Lesson 03


def test_the_event_costs_lesson_03_quotes():
    native, sw, hw = (
        event_costs(t, "p4") for t in ("native", "binary-translation", "hardware-assisted")
    )
    # Adams & Agesen: syscall 242 cycles natively, 2308 under the software VMM, no exit with VT-x.
    assert sw["syscalls"] - native["syscalls"] == 2308 - 242
    assert hw["syscalls"] == native["syscalls"]
    assert (sw["page_table_updates"], hw["page_table_updates"]) == (391, 12733)
    assert (sw["hidden_page_faults"], hw["hidden_page_faults"]) == (3927, 11242)


def test_where_binary_translation_spends_its_time():
    for w in ("compute", "tlb-heavy"):
        assert slowdown(w, "binary-translation", "p4") < 1.01
    assert set(
        k for k, v in overheads("syscall-heavy", "binary-translation", "p4").items() if v
    ) == {"traps"}
    assert round(slowdown("syscall-heavy", "binary-translation", "p4"), 1) == 5.2  # "five times"
    for w, cause in (
        ("forkwait", "traps"),
        ("fork-heavy", "traps"),
        ("io-heavy", "device emulation"),
    ):
        extra = overheads(w, "binary-translation", "p4")
        assert max(extra, key=extra.get) == cause, w


def test_the_kernel_compile_gap_lesson_03_explains():
    rows = {(r.workload, r.technique): r for r in costmodel.calibration() if r.cpu == "p4"}
    sw, hw = (
        rows["kernel-compile", "binary-translation"],
        rows["kernel-compile", "hardware-assisted"],
    )
    assert (sw.kind, hw.kind) == ("check", "check") and sw.error < 0 and hw.error < 0
    assert 1 / sw.model_slowdown == pytest.approx(0.90, abs=0.01)
    assert 1 / hw.model_slowdown == pytest.approx(0.67, abs=0.01)


def test_full_virtualization_by_translation_sits_between_native_and_emulation():
    for w in WORKLOADS:
        for cpu in CPUS:
            assert 1 < slowdown(w, "binary-translation", cpu) < slowdown(w, "emulation", cpu)


def test_first_generation_hardware_assist_loses_to_the_flat_emulator_on_forkwait():
    assert round(slowdown("forkwait", "hardware-assisted", "p4"), 1) == 17.7
    assert slowdown("forkwait", "emulation", "p4") == 8
    losers = [
        w
        for w in WORKLOADS
        if slowdown(w, "hardware-assisted", "p4") > slowdown(w, "emulation", "p4")
    ]
    assert losers == ["forkwait"]  # exercise 03, question 5


def test_the_update_box_numbers_for_forkwait_on_the_modern_cpu():
    got = {t: round(slowdown("forkwait", t, "modern"), 2) for t in NOT_NATIVE[1:]}
    assert got == {
        "binary-translation": 6.86,
        "paravirtualization": 1.86,  # lesson 04 quotes it
        "hardware-assisted": 7.05,
        "hardware-assisted-ept": 1.15,  # and this one
    }


def test_exercise_03_choice_of_hypervisor():
    sw, hw = (
        slowdown("fork-heavy", t, "core2") for t in ("binary-translation", "hardware-assisted")
    )
    assert hw / sw == pytest.approx(2.3797, rel=1e-3)
    extra = overheads("fork-heavy", "binary-translation", "core2")
    assert max(extra, key=extra.get) == "traps"


# Lesson 04


@pytest.mark.parametrize(
    ("cpu", "versus_bt"),
    [("p4", 4), ("core2", 3), ("modern", 11)],
)
def test_the_batch_sizes_at_which_paravirtualization_wins(cpu, versus_bt):
    assert plots.first_batch_beating("binary-translation", cpu) == versus_bt
    assert plots.first_batch_beating("hardware-assisted", cpu) == 1
    assert plots.first_batch_beating("hardware-assisted-ept", cpu) is None
    assert plots.first_batch_beating("native", cpu) is None


def test_first_batch_beating_is_the_brute_force_answer():
    for cpu in CPUS:
        other = cost_per_pte_update("binary-translation", cpu)
        wins = [
            b for b in range(1, 2049) if cost_per_pte_update("paravirtualization", cpu, b) < other
        ]
        assert wins[0] == plots.first_batch_beating("binary-translation", cpu)
        assert wins == list(range(wins[0], 2049))  # once cheaper, always cheaper


def test_the_price_of_one_paravirtual_update():
    assert cost_per_pte_update("paravirtualization", "p4", 1) == 1 + 889 + 100
    saved = cost_per_pte_update("paravirtualization", "p4", 1) - cost_per_pte_update(
        "paravirtualization", "p4", 2048
    )
    assert saved == pytest.approx(888.566, abs=1e-3)  # exercise 04, question 3


def test_batching_and_forkwait_on_the_pentium_4():
    got = [
        round(slowdown("forkwait", "paravirtualization", "p4", pv_batch_size=b), 3)
        for b in (1, 32, 2048)
    ]
    assert got == [1.947, 1.800, 1.795]


def test_paravirtualization_is_near_native_except_where_processes_are_created():
    # Lesson 04: on the 32-bit CPUs within 12 % of native but for forkwait (1.8x, fitted to
    # Barham et al.'s fork) and fork-heavy (a third slower); on the modern CPU system calls too.
    for cpu in ("p4", "core2"):
        slow = {w for w in WORKLOADS if slowdown(w, "paravirtualization", cpu) > 1.12}
        assert slow == {"forkwait", "fork-heavy"}
        assert round(slowdown("forkwait", "paravirtualization", cpu), 1) == 1.8
        assert 1.3 < slowdown("fork-heavy", "paravirtualization", cpu) < 1.4
    assert 2.5 < slowdown("syscall-heavy", "paravirtualization", "modern") < 3
    slow = [w for w in WORKLOADS if slowdown(w, "paravirtualization", "modern") > 1.2]
    assert slow == ["forkwait", "syscall-heavy", "io-heavy", "fork-heavy"]  # exercise 04, Q5
    compile_ = slowdown("kernel-compile", "paravirtualization", "p4")
    assert round(100 * (compile_ - 1), 1) == 1.6  # "the model's 1.6 %"


def test_only_paravirtualization_skips_the_device_model():
    for t in NOT_NATIVE:
        device = overheads("io-heavy", t, "modern")["device emulation"]
        assert (device == 0) == (t == "paravirtualization"), t
    assert slowdown("io-heavy", "paravirtualization", "modern") < slowdown(
        "io-heavy", "hardware-assisted-ept", "modern"
    )


def test_the_published_arithmetic_of_lesson_04():
    # Barham et al.: 2995 lines are 1.36 % of the x86 code base. Sugerman et al.: of a 31.63 us
    # transmit, 30.65 us in world switches and the host, 17.55 us the real transmit.
    assert round(2995 / 0.0136) == 220_221
    assert f"{(30.65 - 17.55) / 31.63:.0%}" == "41%"


# Plots, widget and figure


def test_pte_update_plot_lines():
    fig = plots.pte_update_costs("p4")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    lines = fig.axes[0].lines  # PV, three flat techniques, the crossover with BT at 4
    assert len(lines) == 5 and lines[0].get_label() == "paravirtualization"
    assert len(plots.pte_update_costs("modern", 2048).axes[0].lines) == 6  # and the chosen batch
    with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 2048"):
        plots.pte_update_costs("p4", 0)


def test_breakdown_and_slowdown_plots():
    fig = plots.slowdown_breakdown("p4")
    ax = fig.axes[0]
    assert len(ax.containers) == 5  # guest work, traps, callouts, inline emulation, device model
    assert [t.get_text().strip() for t in ax.texts][0] == "6.15x"  # forkwait first
    io = plots.slowdown_breakdown("modern", ["io-heavy"], NOT_NATIVE).axes[0]
    assert [t.get_text() for t in io.get_yticklabels()] == [
        plots.TECHNIQUE_LABELS[t] for t in NOT_NATIVE
    ]
    bars = plots.technique_slowdowns(["forkwait", "compute"], "p4")
    assert len(bars.axes[0].containers) == len(NOT_NATIVE)
    with pytest.raises(ValueError, match="workloads must be among"):
        plots.slowdown_breakdown("p4", ["nope"])
    with pytest.raises(ValueError, match="techniques must be among"):
        plots.technique_slowdowns(["forkwait"], "p4", ["xen"])


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("batch", [pv_widget.BATCHES[0], pv_widget.BATCHES[-1]])
def test_batch_view_at_the_extremes(cpu, batch):
    png, summary = pv_widget.batch_view(cpu, batch)
    assert png.startswith(b"\x89PNG")
    pv = cost_per_pte_update("paravirtualization", cpu, batch)
    assert f"{pv:,.1f} cycles" in summary and "never (up to 2048)" in summary


def test_the_batch_widget_redraws_when_each_control_moves():
    box = pv_widget.batch_explorer()
    cpu, batch = box.children[0].children
    image, summary = box.children[1:]
    seen = {summary.value}
    for control, value in ((batch, 1), (batch, 2048), (cpu, "modern")):
        before = image.value
        control.value = value
        assert image.value != before
        seen.add(summary.value)
    assert len(seen) == 4
    assert set(pv_widget.BATCHES) >= {1, 3, 4, 13, 32, 2048}  # every crossover can be reached


@pytest.mark.parametrize("lang", diagrams.LANGS)
def test_the_paravirtual_interfaces_figure(lang):
    g = diagrams.paravirtual_interfaces(lang)
    assert g.comment and ("共享信息页" in g.source) == (lang == "zh")
    assert "mmu_update" in g.source and "2048" in g.source
    if shutil.which("dot"):
        out = subprocess.run(["dot", "-Tsvg"], input=g.source.encode(), capture_output=True)
        assert out.returncode == 0 and not out.stderr, out.stderr
