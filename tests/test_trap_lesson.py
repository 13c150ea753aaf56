"""Lesson 02's pictures and widget: the rings and trap-path figures, the cost plot, the explorer."""

from __future__ import annotations

import re

import ipywidgets as w
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.sim import trap
from vizlib.widgets.trap import step_view, trap_explorer

NODE = re.compile(r"^\t+(\w+) \[label=<(.*)> (.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\t+(\w+) -> (\w+) \[(.*?)\]$", re.MULTILINE | re.DOTALL)
CLI_POPF = trap.EXAMPLES["cli-popf"]  # 4 instructions; POPF (step 4) breaks trap-and-emulate


def nodes(source: str) -> dict[str, tuple[str, str]]:
    """Node id -> (label text without tags, other attributes)."""
    return {
        node: (" ".join(re.sub(r"<[^>]*>", " ", label).split()), attrs)
        for node, label, attrs in NODE.findall(source)
    }


def test_rings_moves_the_guest_kernel_out_of_ring_0_only_before_vt_x():
    drawn = nodes(diagrams.rings().source)
    assert drawn["n_os"][0].endswith("ring 0")
    assert drawn["d_os"][0].endswith("ring 1 · deprivileged")
    assert drawn["d_vmm"][0].endswith("ring 0")
    assert drawn["h_os"][0].endswith("non-root · ring 0")
    assert drawn["h_vmm"][0].endswith("root · ring 0") and "non-root" not in drawn["h_vmm"][0]


def test_trap_path_goes_guest_cpu_vmm_and_back():
    source = diagrams.trap_path().source
    edges = {}
    for tail, head, attrs in EDGE.findall(source):
        edges[(tail, head)] = edges.get((tail, head), "") + attrs
    assert "1. CLI" in edges[("guest", "cpu")] and "POPF, SGDT: no trap" in edges[("guest", "cpu")]
    assert "trap to ring 0" in edges[("cpu", "handler")] and "dashed" in edges[("cpu", "handler")]
    assert "virtual IF := 0" in edges[("handler", "vcpu")]
    assert "resume" in edges[("handler", "guest")]
    assert "ring 1 · deprivileged" in nodes(source)["guest"][0]


@pytest.mark.parametrize("example", trap.EXAMPLES)
def test_cost_plot_has_one_bar_per_technique_and_hatches_the_wrong_runs(example):
    program = trap.EXAMPLES[example]
    fig = plots.technique_costs(program, title=example)
    assert isinstance(fig, Figure) and fig.number not in plt.get_fignums()
    traps_ax, cycles_ax = fig.axes
    results = [trap.run(program, t) for t in trap.TECHNIQUES]
    for ax, values in (
        (traps_ax, [r.traps for r in results]),
        (cycles_ax, [r.cycles for r in results]),
    ):
        drawn = ax.patches
        assert len(drawn) == len(trap.TECHNIQUES) == 5
        assert [bar.get_height() for bar in drawn] == values
        assert [bool(bar.get_hatch()) for bar in drawn] == [not r.correct for r in results]
    assert fig._suptitle.get_text() == example


def test_cost_plot_rejects_a_bad_program():
    with pytest.raises(ValueError, match="program line 1"):
        plots.technique_costs("kernel: FROB")


def test_step_zero_shows_nothing_run_and_the_last_step_shows_the_divergence():
    start, count = step_view(CLI_POPF, "trap-and-emulate", 0)
    assert count == 4 and "Step 0 of 4" in start and "POPF" not in start.split("</table>")[0]
    before, _ = step_view(CLI_POPF, "trap-and-emulate", 3)
    assert "Step 3 of 4" in before and "breaks" not in before
    end, _ = step_view(CLI_POPF, "trap-and-emulate", 4)
    assert "view breaks at line 5" in end and "silently ignores" in end
    assert re.search(r"<tr style='background:#f9d0d0'><td[^>]*>interrupt flag", end)
    assert "trap to the VMM (VMM in ring 0)" in end and "direct (CPU, no VMM)" in end


def test_steps_are_clamped_and_a_correct_run_says_so():
    assert step_view(CLI_POPF, "native", 99) == step_view(CLI_POPF, "native", 4)
    assert step_view(CLI_POPF, "native", -5) == step_view(CLI_POPF, "native", 0)
    page, _ = step_view(CLI_POPF, "hardware-assisted", 4)
    assert "Equivalent" in page and "breaks" not in page and "ring 0, non-root" in page
    io, count = step_view(trap.EXAMPLES["io"], "hardware-assisted", 5)
    assert count == 5 and "0x48 0x69 0xa" in io
    assert "VM exit to user space (kvm.ko, then QEMU in root ring 3)" in io
    assert "VM exit, handled in the kernel (VMM in root ring 0)" in io


def test_bad_or_empty_programs_give_a_message_not_a_traceback():
    page, count = step_view("kernel: <FROB>", "native", 3)
    assert count == 0 and "does not parse" in page and "program line 1" in page
    assert "&#x27;&lt;FROB&gt;&#x27;" in page and "<FROB>" not in page
    empty, count = step_view("# nothing yet\n", "binary-translation", 5)
    assert count == 0 and "Step 0 of 0" in empty and "Equivalent" not in empty
    with pytest.raises(ValueError, match="technique must be one of"):
        step_view(CLI_POPF, "emulation", 0)


def controls(box: w.Widget) -> dict[type, list[w.Widget]]:
    found: dict[type, list[w.Widget]] = {}
    for child in getattr(box, "children", ()):
        for kind, items in controls(child).items():
            found.setdefault(kind, []).extend(items)
        found.setdefault(type(child), []).append(child)
    return found


def test_explorer_follows_every_control_to_its_extremes():
    box = widgets.trap_explorer()
    found = controls(box)
    examples, techniques = found[w.Dropdown]
    [text], [step], [out] = found[w.Textarea], found[w.IntSlider], found[w.HTML][1:]
    assert (step.min, step.max, step.value) == (0, 4, 0) and "Step 0 of 4" in out.value
    step.value = step.max
    assert "breaks at line 5" in out.value
    techniques.value = techniques.options[-1][1]
    assert "Equivalent" in out.value and "hardware assist (shadow paging)" in out.value
    techniques.value = techniques.options[0][1]
    assert "Equivalent" in out.value and "native (no VMM)" in out.value
    examples.value = examples.options[-1]
    assert text.value == trap.EXAMPLES["user-sidt"] and (step.max, step.value) == (1, 0)
    examples.value = "mixed"
    step.value = step.max
    assert step.max == 9 and "Step 9 of 9" in out.value
    text.value = "kernel: CLI\nkernel: POPF if=2"
    assert (step.max, step.value) == (0, 0) and "if must be an integer, 0 or 1" in out.value
    text.value = "kernel: CLI\nkernel: PUSHF"
    techniques.value = "trap-and-emulate"
    step.value = step.max
    assert step.max == 2 and "natively the guest reads IF = 0" in out.value


def test_explorer_rejects_unknown_starting_choices():
    with pytest.raises(ValueError, match="example must be one of cli-popf"):
        trap_explorer(example="nope")
    with pytest.raises(ValueError, match="technique must be one of native"):
        trap_explorer(technique="emulation")


def test_writes_of_the_interrupt_flag_read_like_reads_of_it():
    # Fixed in the model for this lesson: POPF used to report "IF := 0x1" next to CLI's "IF := 0".
    events = trap.run("kernel: CLI\nkernel: POPF if=1\nkernel: LGDT base=0x5000", "native").events
    assert [e.what.split(": ")[-1] for e in events] == ["IF := 0", "IF := 1", "GDT base := 0x5000"]
