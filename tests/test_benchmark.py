"""The benchmark's pieces run and return numbers (no timing is asserted: machines differ)."""

import importlib
import sys
import time
import types

import ipywidgets as w
import nbformat
import pytest

from vizlib.authoring import benchmark as b


def test_a_notebook_is_timed_from_a_fresh_kernel_and_its_copy_kept(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    seconds = b.time_notebook(nb, tmp_path, tmp_path / "copy.ipynb")
    copy = nbformat.read(tmp_path / "copy.ipynb", as_version=4)
    assert seconds > 0
    assert copy.cells[0].outputs[0].text == "42\n"
    assert b.kernel_floor(runs=1) > 0


def test_percentile_takes_the_nearest_rank():
    samples = list(range(1, 101))
    assert (b.percentile(samples, 50), b.percentile(samples, 95)) == (50, 95)
    assert b.percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError, match="samples"):
        b.percentile([], 95)


def test_differences_of_timings_are_shown_to_their_noise():
    assert (b.us(2.54e-6), b.us(1.2e-7), b.us(-1e-8)) == ("2.5 us", "0.12 us", "< 0.01 us")
    assert (b.ms(0.0042), b.ms(0.1234)) == ("4.20 ms", "123 ms")


@pytest.fixture
def fake_model(monkeypatch):
    """A model module whose outer function sleeps 10 ms and calls an inner one sleeping 10 ms."""
    module = types.ModuleType("fake_model")
    exec(
        "import time\n"
        "def inner():\n    time.sleep(0.01)\n"
        "def outer():\n    time.sleep(0.01)\n    inner()\n",
        module.__dict__,
    )
    for function in (module.inner, module.outer):
        function.__module__ = "fake_model"
    monkeypatch.setitem(sys.modules, "fake_model", module)
    return module


def test_the_model_clock_counts_model_calls_once_and_restores_them(fake_model):
    original = fake_model.outer
    with b.ModelClock(model=("fake_model",)) as clock:
        start = time.perf_counter()
        fake_model.outer()
        wall = time.perf_counter() - start
    assert 0.02 <= clock.seconds <= wall  # both sleeps, the nested call not counted twice
    assert fake_model.outer is original


def _panel():
    """A widget as the course builds them: controls observed by one update, a Play linked in the
    browser only, an HTML output."""
    slider = w.IntSlider(value=3, min=0, max=10)
    menu = w.Dropdown(options=[("one", 1), ("two", 2), ("three", 3)], value=2)
    text = w.Text(value="hello")
    log = w.FloatLogSlider(value=10, base=10, min=0, max=3)
    play = w.Play(value=0, min=0, max=10)
    out = w.HTML()

    def update(_=None):
        out.value = f"{slider.value} {menu.value} {text.value} {log.value:.0f}"

    for control in (slider, menu, text, log):
        control.observe(update, "value")
    update()
    return w.VBox([w.HBox([slider, menu, text, log, play]), out])


def test_controls_are_the_observed_value_widgets_swept_across_their_range():
    panel = _panel()
    slider, menu, text, log, play = panel.children[0].children
    assert b.controls(panel) == [slider, menu, text, log]  # not the Play, linked in the browser
    changes = b.control_changes(slider)
    assert changes[0] == ("value", 0) and ("value", 10) in changes and changes[-1] == ("value", 3)
    assert b.control_changes(menu) == [("index", 0), ("index", 1), ("index", 2), ("index", 1)]
    assert {v for _, v in b.control_changes(log)} >= {1.0, 1000.0, 10}
    typed = b.control_changes(text)
    assert ("value", "") in typed and typed[-1] == ("value", "hello")
    plan = b.schedule([[("value", 1), ("value", 2)], [("index", 0)]])
    assert plan == [(0, "value", 1), (1, "index", 0), (0, "value", 2)]


def test_a_widget_is_timed_change_by_change_and_model_time_is_na_without_model_code():
    timing = b.time_widget("panel", _panel, seconds=10)
    assert timing.controls == 4 and not timing.error
    assert len(timing.total) >= b.MIN_SAMPLES and all(t >= 0 for t in timing.total)
    assert not timing.has_model


def test_a_course_widget_spends_part_of_each_change_in_its_model():
    from vizlib.widgets import technique_explorer

    timing = b.time_widget("technique_explorer", technique_explorer, seconds=0.2)
    assert timing.has_model and not timing.error
    assert all(m <= t for m, t in zip(timing.model, timing.total, strict=True))


def test_a_widget_that_cannot_be_built_is_reported_not_raised():
    def broken():
        raise RuntimeError("no display")

    assert "RuntimeError: no display" in b.time_widget("broken", broken).error


def test_the_simulators_that_exist_report_steps_per_second():
    section = b.measure_simulators(seconds=0.01)
    rates = {row[0]: row[2] for row in section.rows}
    for model in ("trap.run", "costmodel.predict"):
        assert rates[model].split()[0].replace(",", "").isdigit(), rates[model]


def _machine():
    try:
        machine = importlib.import_module("vizlib.machine")
    except ImportError:
        pytest.skip("vizlib.machine is not installed")
    if machine.accelerators()["tcg"] != "available":
        pytest.skip("no tcg accelerator (unicorn) here")
    return machine


def test_the_loop_guest_executes_the_instructions_it_is_said_to():
    machine = _machine()
    with machine.VirtualMachine(accel="tcg") as vm:
        vm.load(b.loop_guest(3, 100))
        result = vm.run(count_instructions=True)
    assert result.instructions == b.loop_instructions(3, 100) == 3 * 103 + 2
    assert b.instructions_per_second(machine, "tcg", target=0.01) > 0


def test_the_exit_guest_exits_once_per_write_and_never_with_nops():
    machine = _machine()
    for exits, io in ((True, 50 + 3), (False, 3)):  # + A, B and the power-off
        with machine.VirtualMachine(accel="tcg") as vm:
            vm.load(b.exit_guest(50, exits))
            result = vm.run()
        assert (result.serial, result.stop_reason) == (b"AB", "debug-exit")
        assert result.exit_counts == {"io": io}


def test_the_same_guest_boots_in_qemu_and_its_loop_is_timed():
    _machine()
    qemu = importlib.import_module("vizlib.machine.qemu")
    if qemu.unavailable_reason():
        pytest.skip(qemu.unavailable_reason())
    assert b.qemu_seconds(qemu, "tcg", b.exit_guest(100)) > 0


def test_the_environment_size_adds_up_its_packages(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "data.bin").write_bytes(b"x" * 100_000)
    (tmp_path / "small.py").write_text("x = 1\n")
    (tmp_path / "big-1.0.dist-info").mkdir()
    total, largest = b.environment_size(tmp_path, top=5)
    assert [name for name, _ in largest] == ["big", "small.py"]
    assert largest[0][1] >= 100_000 and total >= sum(size for _, size in largest)


def test_the_report_names_the_machine_and_every_goal():
    section = b.Section("Lessons", ("lesson", "seconds"), rows=[("00_welcome.ipynb", "3.0")])
    section.goals.append((b.GOALS["lesson"], False))
    text = b.report([section], {"CPU": "Test CPU", "cores": "2"})
    assert "CPU Test CPU, cores 2" in text
    assert f"| {b.GOALS['lesson']} | **not met** |" in text
    assert f"| {b.GOALS['suite']} | not measured |" in text
    assert "| 00_welcome.ipynb | 3.0 |" in text
