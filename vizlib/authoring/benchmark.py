"""`python3 scripts/course.py bench [--suite] [--write]`: the figures that matter to a learner and
to CI, measured on this machine, beside the course's goals.

- Lessons: each ready lesson executed from a fresh kernel (nbclient, into a temporary copy), as a
  ratio to the kernel-start floor (an empty notebook executed the same way, in the same run).
- Browser (`--browser`): each lesson opened and run in JupyterLab in headless Chromium.
- Test suite (`--suite`): the README's test command, beside its floor (pytest starting its
  workers on one empty test, plus the lessons' execution shared among the workers).
- Widgets: every widget of `vizlib.widgets.__all__`, built without a browser; each control is set
  across its range and the observer callbacks timed (control change to redrawn output). Model time
  is the part spent inside the model code they call (`vizlib.sim`, `vizlib.machine`, ...: all of
  `vizlib` but the layers that draw).
- Simulators: steps per second of the models of `vizlib.sim` (those present).
- Machine: guest instructions per second under each accelerator of `vizlib.machine`, and the cost
  of one exit in the Python VMM beside the same guest in qemu-system-x86_64; lesson 08's Linux
  guest booted on each accelerator (`vizlib.machine.linux`).
- Grading: a roster of 200 students, each released their own variant of exercise 04, completed
  with the solution and graded with the roster, sandboxed: the time for the release and for the
  class, and seconds per submission per core.
- The installed size of the environment, and of a learner's: what `python3 scripts/course.py lab`
  installs, into a fresh virtual environment.
`--write` stores the tables, with the machine they were measured on, in course/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import itertools
import math
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets import ObserveHandler

from vizlib.authoring.execute import CELL_TIMEOUT
from vizlib.course import ROOT, syllabus

OUTPUT = ROOT / "course" / "benchmarks.md"
WORKERS = 2  # the README's test command runs pytest with 2 workers (scripts/course.py test)
SUITE_COMMAND = (
    "-m",
    "pytest",
    "-q",
    "-rfE",
    "--color=no",
    "-n",
    str(WORKERS),
    "--dist",
    "loadfile",
)
FLOOR_RUNS = 3  # empty notebooks executed to measure the kernel-start floor (median)
# A widget's model time: calls into vizlib outside these layers, which draw and display.
VIEW_MODULES = (
    "vizlib.widgets",
    "vizlib.plots",
    "vizlib.diagrams",
    "vizlib.display",
    "vizlib.tables",
    "vizlib.authoring",
)
MAX_VALUES = 8  # values tried per widget control, spread across its range
WIDGET_SECONDS = 2.0  # a slow widget stops after this long (each control changed at least once)
MIN_SAMPLES = 30  # a fast widget goes through all its changes, repeated up to this many
SIM_SECONDS = 0.3  # each simulator runs at least this long
TEXT_SAMPLES = ("", "a", "vm", "hyper", "虚拟", "zzz")  # typed into text boxes
LOOP_COUNT = 0xFFFF  # iterations of the machine guests' inner loop (CX, 16 bits)
VMM_TIMEOUT = 120.0  # seconds; a guest run of the benchmark ends well before
GOALS = {
    "widget": "every widget: p95 under 100 ms from a control's change to the redrawn output",
    "lesson": "every lesson executes in under 10 s",
    "suite": "the whole test suite runs in under twice its floor",
    "size": "a learner's environment (`lab`) under 450 MiB",
    "grading": "grading exercise 04 in the sandbox: under 1.5 s per submission per core",
}
WIDGET_P95_MS, LESSON_SECONDS, SUITE_RATIO, LEARNER_MIB = 100.0, 10.0, 2.0, 450.0
GUEST_BOOTS = 3  # boots of lesson 08's Linux guest per accelerator (the median is reported)
GRADING_EXERCISE, GRADING_CLASS, GRADING_SECONDS = "04_paravirtualization", 200, 1.5


def say(message: str) -> None:
    """A progress line."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Section:
    """One table of the report, with notes under it and the goals it checks (text, met)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[tuple[str, bool]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.rows:
            lines += ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
            lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in self.rows]
            lines.append("")
        lines += [*(f"{note}  " for note in self.notes)]
        return "\n".join(lines).rstrip() + "\n"


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) of `samples`, nearest rank."""
    if not samples:
        raise ValueError("samples must not be empty")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def us(seconds: float) -> str:
    """Microseconds, for a difference of two timings (below the noise: "< 0.01 us")."""
    if seconds < 0.005e-6:
        return "< 0.01 us"
    return f"{seconds * 1e6:.2f} us" if seconds < 1e-6 else f"{seconds * 1e6:.1f} us"


def mark(met: bool) -> str:
    return "met" if met else "**not met**"


# --- lessons -------------------------------------------------------------------------------------


def time_notebook(nb: nbformat.NotebookNode, cwd: Path, copy: Path | None = None) -> float:
    """Seconds to execute `nb` from a fresh kernel started in `cwd` (saved to `copy` if given)."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if copy is not None:
        nbformat.write(nb, copy)
    return seconds


def kernel_floor(runs: int = FLOOR_RUNS) -> float:
    """Median seconds to execute an empty notebook: starting and stopping a kernel."""
    return statistics.median(time_notebook(nbformat.v4.new_notebook(), ROOT) for _ in range(runs))


def lesson_times(root: Path = ROOT) -> Iterator[tuple[str, float]]:
    """(notebook, seconds) for each ready lesson, executed into a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="course-bench-") as folder:
        for lesson in syllabus(root):
            if lesson.ready:
                path = root / lesson.file
                nb = nbformat.read(path, as_version=4)
                yield path.name, time_notebook(nb, path.parent, Path(folder) / path.name)


def measure_lessons() -> tuple[Section, float]:
    """The lessons' table, and the lessons' total execution time."""
    say("kernel-start floor: executing an empty notebook ...")
    floor = kernel_floor()
    say(f"kernel-start floor: {floor:.2f} s")
    section = Section("Lessons", ("lesson", "execution", "x kernel floor", "under 10 s"))
    total, met = 0.0, True
    for name, seconds in lesson_times():
        say(f"lesson {name}: {seconds:.1f} s")
        total += seconds
        fast = seconds < LESSON_SECONDS
        met = met and fast
        section.rows.append((name, f"{seconds:.1f} s", f"{seconds / floor:.1f}", mark(fast)))
    section.notes.append(
        f"Each lesson executed top to bottom in a fresh kernel (nbclient). Kernel-start floor "
        f"(an empty notebook, median of {FLOOR_RUNS}): {floor:.2f} s."
    )
    section.goals.append((GOALS["lesson"], met))
    return section, total


def measure_browser() -> Section:
    """Each ready lesson opened in JupyterLab in headless Chromium and run, as a learner does."""
    from vizlib.authoring import browser

    section = Section("In the browser", ("lesson", "open and run all cells", "problems"))
    reason = browser.unavailable()
    if reason:
        section.notes.append(f"n/a ({reason})")
        return section
    say("browser: starting JupyterLab and Chromium ...")
    with browser.JupyterLab(ROOT) as lab, browser.Browser(lab) as chromium:
        for lesson in syllabus():
            if lesson.ready:
                check = chromium.check(lesson.file)
                say(f"browser {lesson.name}: {check.seconds:.1f} s")
                problems = "; ".join(map(str, check.problems))[:200] or "none"
                section.rows.append((lesson.name, f"{check.seconds:.1f} s", problems))
    section.notes.append(
        "JupyterLab's Run All from opening the notebook to the kernel idle after the last cell "
        "(`vizlib.authoring.browser`, the driver of the browser test)."
    )
    return section


# --- test suite ----------------------------------------------------------------------------------


def _timed_run(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, done


def pytest_start_floor() -> float:
    """Seconds for the suite's pytest command to start its workers and run one empty test."""
    with tempfile.TemporaryDirectory(prefix="course-bench-") as folder:
        empty = Path(folder) / "test_empty.py"
        empty.write_text("def test_nothing():\n    pass\n", encoding="utf-8")
        config = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
        seconds, _ = _timed_run([sys.executable, *SUITE_COMMAND, *config, str(empty)])
    return seconds


def measure_suite(lessons_total: float) -> Section:
    say("test suite: running the README's test command (a minute or more) ...")
    seconds, done = _timed_run([sys.executable, *SUITE_COMMAND])
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    say(f"test suite: {seconds:.0f} s ({summary})")
    start = pytest_start_floor()
    floor = start + lessons_total / WORKERS
    section = Section("Test suite", ("figure", "seconds"))
    section.rows += [
        ("whole suite (`python3 scripts/course.py test`)", f"{seconds:.0f}"),
        ("floor: pytest and its workers on one empty test", f"{start:.1f}"),
        (
            f"floor: the lessons' execution shared by {WORKERS} workers",
            f"{lessons_total / WORKERS:.1f}",
        ),
        ("floor, total", f"{floor:.1f}"),
        ("suite / floor", f"{seconds / floor:.1f}"),
    ]
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    section.notes += [f"Result: {summary}", *(f"`{line[:160]}`" for line in failed[:5])]
    section.goals.append((GOALS["suite"], seconds < SUITE_RATIO * floor))
    return section


# --- widgets -------------------------------------------------------------------------------------


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


class ModelClock:
    """Inside `with`: times every call into model code (functions of the modules under `model`
    but not under `view`) made from any `vizlib` module, counting nested calls once. `seconds`
    accumulates; reset it at will."""

    def __init__(self, model: tuple[str, ...] = ("vizlib",), view: tuple[str, ...] = VIEW_MODULES):
        self.model, self.view = model, view
        self.seconds = 0.0
        self._depth = 0
        self._patched: list[tuple[types.ModuleType, str, object]] = []

    def _is_model(self, name: str | None) -> bool:
        return bool(name) and _under(name, self.model) and not _under(name, self.view)

    def _timed(self, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        return timed

    def __enter__(self) -> ModelClock:
        for name, module in list(sys.modules.items()):
            if module is None or not _under(name, ("vizlib", *self.model)):
                continue
            for attr, value in list(vars(module).items()):
                is_function = callable(value) and not isinstance(value, (type, types.ModuleType))
                if is_function and self._is_model(getattr(value, "__module__", None)):
                    self._patched.append((module, attr, value))
                    setattr(module, attr, self._timed(value))
        return self

    def __exit__(self, *exc) -> None:
        for module, attr, value in reversed(self._patched):
            setattr(module, attr, value)
        self._patched.clear()


def _walk(widget) -> Iterator:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def controls(widget) -> list:
    """The controls inside `widget`: value widgets whose changes a callback of the course observes
    (controls linked only in the browser, such as a Play button, are left out)."""
    import ipywidgets as w

    found = []
    for item in _walk(widget):
        if not isinstance(item, w.ValueWidget):
            continue
        handlers = item._trait_notifiers.get("value", {}).get("change", [])
        if any(callable(h) and not isinstance(h, ObserveHandler) for h in handlers):
            found.append(item)
    return found


def _spread(low: float, high: float, count: int = MAX_VALUES) -> list[float]:
    if count < 2 or high == low:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def control_changes(control) -> list[tuple[str, object]]:
    """(trait, value) settings that move `control` across its range, ending where it started
    ([] for kinds not handled: range sliders, multiple selections)."""
    import ipywidgets as w

    value = control.value
    if isinstance(value, tuple):
        return []
    if isinstance(control, w.widgets.widget_selection._Selection):  # by position: labels vary
        n, start = len(control.options), control.index
        indices = sorted({round(x) for x in _spread(0, n - 1, min(n, MAX_VALUES))})
        return [("index", i) for i in [*indices, start] if i is not None]
    if isinstance(control, w.FloatLogSlider):
        values = [control.base**x for x in _spread(control.min, control.max)]
    elif isinstance(value, bool):
        values = [not value]
    elif isinstance(value, (int, float)) and hasattr(control, "min"):
        values = _spread(control.min, control.max)
        values = sorted({round(x) for x in values}) if isinstance(value, int) else values
    elif isinstance(value, str):
        values = [*TEXT_SAMPLES, *(value[: len(value) * k // 3] for k in (1, 2) if value)]
    else:
        return []
    return [("value", v) for v in [*values, value]]


def schedule(changes: list[list[tuple[str, object]]]) -> list[tuple[int, str, object]]:
    """The controls' changes interleaved (first change of each control, then the second, ...), as
    (control index, trait, value): stopping early still moves every control."""
    longest = max((len(c) for c in changes), default=0)
    return [(i, *c[k]) for k in range(longest) for i, c in enumerate(changes) if k < len(c)]


@dataclass
class WidgetTiming:
    """Seconds per control change of one widget: the whole callback, and its model part."""

    name: str
    total: list[float] = field(default_factory=list)
    model: list[float] = field(default_factory=list)
    controls: int = 0
    error: str = ""

    @property
    def has_model(self) -> bool:
        return any(self.model)


def time_widget(name: str, factory: Callable, seconds: float = WIDGET_SECONDS) -> WidgetTiming:
    """Build the widget, then change its controls across their ranges, timing every change.

    Goes through all the changes at least once and until MIN_SAMPLES, unless `seconds` run out
    first (then after each control has changed at least once).
    """
    result = WidgetTiming(name)
    try:
        widget = factory()
    except Exception as e:  # noqa: BLE001 -- reported in the table, the benchmark goes on
        result.error = f"could not build it: {type(e).__name__}: {e}"
        return result
    found = controls(widget)
    result.controls = len(found)
    plan = schedule([control_changes(c) for c in found])
    if not plan:
        return result
    deadline = time.perf_counter() + seconds
    with ModelClock() as clock:
        for n, (index, trait, value) in enumerate(itertools.cycle(plan), 1):
            clock.seconds = 0.0
            start = time.perf_counter()
            try:
                setattr(found[index], trait, value)
            except Exception as e:  # noqa: BLE001 -- a widget driven into an error
                result.error = f"{type(found[index]).__name__}.{trait} = {value!r}: {e}"
                return result
            result.total.append(time.perf_counter() - start)
            result.model.append(clock.seconds)
            done = n >= len(plan) and n >= MIN_SAMPLES
            if done or (n >= len(found) and time.perf_counter() > deadline):
                return result


def measure_widgets() -> Section:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import contextlib
    import io

    widgets = importlib.import_module("vizlib.widgets")
    section = Section(
        "Widgets",
        (
            "widget",
            "controls",
            "changes",
            "model median",
            "model p95",
            "total median",
            "total p95",
            "goal",
        ),
    )
    met = True
    for name in getattr(widgets, "__all__", []):
        say(f"widget {name} ...")
        with contextlib.redirect_stdout(io.StringIO()):  # what a widget prints outside a kernel
            t = time_widget(name, getattr(widgets, name))
        if t.error or not t.total:
            section.rows.append(
                (name, t.controls, 0, "n/a", "n/a", "n/a", "n/a", t.error or "no control to change")
            )
            met = met and not t.error
            continue
        p95 = percentile(t.total, 95)
        ok = p95 < WIDGET_P95_MS / 1000
        met = met and ok
        model = (
            (ms(statistics.median(t.model)), ms(percentile(t.model, 95)))
            if t.has_model
            else ("n/a", "n/a")
        )
        section.rows.append(
            (
                name,
                t.controls,
                len(t.total),
                *model,
                ms(statistics.median(t.total)),
                ms(p95),
                mark(ok),
            )
        )
        say(f"widget {name}: p95 {ms(p95)}")
    section.notes.append(
        "Time from setting a control (each across its range) to the end of the callbacks that "
        "redraw the output, without a browser; the goal is on the total. Model: the part spent "
        "in the course's models (`vizlib` but its widgets, plots, diagrams, display and tables), "
        "not counting real guests run through classes; n/a when the callbacks call none. The "
        "browser adds the transfer of the new output to the page."
    )
    section.goals.append((GOALS["widget"], met))
    return section


# --- simulators ----------------------------------------------------------------------------------


def _trap(m) -> Callable[[], int]:
    cases = [(p, t) for p in m.EXAMPLES.values() for t in m.TECHNIQUES]
    return lambda: sum(len(m.run(p, t).events) for p, t in cases)


def _costmodel(m) -> Callable[[], int]:
    cases = [(w, t) for w in m.WORKLOADS.values() for t in m.TECHNIQUES]
    return lambda: sum(1 for w, t in cases if m.predict(w, t))


def _bt(m) -> Callable[[], int]:
    programs = [m.parse(listing) for listing in m.EXAMPLES.values()]
    return lambda: sum(len(m.run(p, iterations=100).entries) for p in programs)


def _vmexit(m) -> Callable[[], int]:
    return lambda: len(m.simulate(exits=m.MAX_EXITS).segments) // 2


def _tlb(m) -> Callable[[], int]:
    stream = m.access_stream(10_000, 512)
    return lambda: m.run_tlb(stream, 64).accesses


def _paging(m) -> Callable[[], int]:
    example = m.example()
    cases = [(mode, a) for mode in m.MODES for a in m.EXAMPLE_ADDRESSES.values()]
    return lambda: sum(1 for mode, a in cases if example.walk(mode, a))


def _xenio(m) -> Callable[[], int]:
    return lambda: sum(m.simulate(d, requests=1000).requests for d in m.DEVICES)


# (model, what it runs, unit of a step, module, how to build the timed call)
SIMULATORS = (
    (
        "trap.run",
        "every example under every technique",
        "guest instructions",
        "vizlib.sim.trap",
        _trap,
    ),
    (
        "costmodel.predict",
        "every workload under every technique",
        "predictions",
        "vizlib.sim.costmodel",
        _costmodel,
    ),
    ("bt.run", "every example, 100 iterations", "translation-unit runs", "vizlib.sim.bt", _bt),
    ("vmexit.simulate", "the largest timeline", "VM exits", "vizlib.sim.vmexit", _vmexit),
    ("tlb.run_tlb", "10,000 accesses, 64 entries", "accesses", "vizlib.sim.tlb", _tlb),
    (
        "paging walk",
        "every example address in every mode",
        "page walks",
        "vizlib.sim.paging",
        _paging,
    ),
    ("xenio.simulate", "1,000 requests per device", "requests", "vizlib.sim.xenio", _xenio),
)


def throughput(run: Callable[[], int], seconds: float = SIM_SECONDS) -> float:
    """Steps per second of `run` (which returns the steps it took), repeated for `seconds`."""
    steps, start = 0, time.perf_counter()
    while True:
        steps += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def measure_simulators(seconds: float = SIM_SECONDS) -> Section:
    section = Section("Simulators", ("model", "runs", "steps per second"))
    covered = set()
    for label, what, unit, module_name, build in SIMULATORS:
        try:
            module = importlib.import_module(module_name)
            rate = f"{throughput(build(module), seconds):,.0f} {unit}/s"
            covered.add(module_name)
        except Exception as e:  # noqa: BLE001 -- a model that is missing or changed its API
            rate = f"n/a ({type(e).__name__}: {e})"
        say(f"simulator {label}: {rate}")
        section.rows.append((label, what, rate))
    import pkgutil

    sim = importlib.import_module("vizlib.sim")
    others = sorted(
        f"`{m.name}`"
        for m in pkgutil.iter_modules(sim.__path__, "vizlib.sim.")
        if m.name not in covered
    )
    if others:
        section.notes.append(f"Models without a throughput figure: {', '.join(others)}.")
    return section


# --- machine -------------------------------------------------------------------------------------


def loop_guest(outer: int, inner: int = LOOP_COUNT) -> bytes:
    """Real-mode code running `outer` x `inner` LOOP iterations, then HLT; no exit on the way.
    It executes outer * (inner + 3) + 2 instructions."""
    for name, value in (("outer", outer), ("inner", inner)):
        if not (isinstance(value, int) and 1 <= value <= 0xFFFF):
            raise ValueError(f"{name} must be an int in 1..65535, got {value!r}")
    # mov bx, outer; again: mov cx, inner; spin: loop spin; dec bx; jnz again; hlt
    return bytes(
        [0xBB, outer & 0xFF, outer >> 8, 0xB9, inner & 0xFF, inner >> 8]
        + [0xE2, 0xFE, 0x4B, 0x75, 0xF8, 0xF4]
    )


def loop_instructions(outer: int, inner: int = LOOP_COUNT) -> int:
    """Instructions `loop_guest(outer, inner)` executes."""
    return outer * (inner + 3) + 2


def exit_guest(count: int = LOOP_COUNT, exits: bool = True) -> bytes:
    """Real-mode code that prints A on COM1, writes port 0x80 `count` times (one exit each; two
    NOPs instead when `exits` is False), prints B, then powers off through isa-debug-exit. It is
    also a valid boot sector, so QEMU runs the very same bytes."""
    if not (isinstance(count, int) and 1 <= count <= 0xFFFF):
        raise ValueError(f"count must be an int in 1..65535, got {count!r}")
    body = b"\xe6\x80" if exits else b"\x90\x90"  # out 0x80, al  |  nop; nop
    # cli; mov dx, 0x3f8; mov al, 'A'; out dx, al; mov cx, count
    start = bytes([0xFA, 0xBA, 0xF8, 0x03, 0xB0, 0x41, 0xEE, 0xB9, count & 0xFF, count >> 8])
    # again: <body>; loop again; mov al, 'B'; out dx, al; mov al, 0; out 0xf4, al; hlt
    end = bytes([0xE2, 0xFC, 0xB0, 0x42, 0xEE, 0xB0, 0x00, 0xE6, 0xF4, 0xF4])
    return start + body + end


def guest_run_seconds(machine, accel: str, code: bytes) -> float:
    """Wall time of one run of `code` on a fresh Python-VMM machine (`vizlib.machine`)."""
    with machine.VirtualMachine(accel=accel) as vm:
        vm.load(code)
        return vm.run(timeout=VMM_TIMEOUT, max_exits=LOOP_COUNT + 8).wall_time


def instructions_per_second(machine, accel: str, target: float = 0.3) -> float:
    """Guest instructions per second of the loop guest, sized to run about `target` seconds."""
    one = guest_run_seconds(machine, accel, loop_guest(1))
    outer = max(1, min(0xFFFF, round(target / max(one, 1e-6))))
    best = min(guest_run_seconds(machine, accel, loop_guest(outer)) for _ in range(2))
    return loop_instructions(outer) / best


def qemu_seconds(qemu, accel: str, code: bytes) -> float:
    """Seconds between the A and the B that `exit_guest` code prints, booted in QEMU
    (`vizlib.machine.qemu`): the loop alone, without QEMU's start and the firmware's boot."""
    run = qemu.run_in_qemu(qemu.boot_sector(code), accel, timeout=VMM_TIMEOUT)
    if not run.serial.startswith(b"AB"):
        why = run.stderr[:200] or ("timed out" if run.timed_out else "no output")
        raise ValueError(f"qemu -accel {accel} did not run the guest: {why}")
    return run.serial_times[1] - run.serial_times[0]


def exit_cost(run: Callable[[bytes], float], count: int = LOOP_COUNT) -> float:
    """Seconds per exit: best time of the guest with `count` exits minus the same without."""
    with_exits = min(run(exit_guest(count, True)) for _ in range(2))
    without = min(run(exit_guest(count, False)) for _ in range(2))
    return (with_exits - without) / count


def measure_machine() -> Section:
    section = Section(
        "Machine lessons",
        (
            "accelerator",
            "guest instructions/s (Python VMM)",
            "per exit, Python VMM",
            "per exit, QEMU",
        ),
    )
    try:
        machine = importlib.import_module("vizlib.machine")
    except ImportError:
        section.notes.append("n/a (vizlib.machine not installed)")
        return section
    try:
        qemu = importlib.import_module("vizlib.machine.qemu")
        qemu_missing = qemu.unavailable_reason()
    except ImportError:
        qemu, qemu_missing = None, "vizlib.machine.qemu not installed"
    for accel, state in machine.accelerators().items():
        if state != "available":
            section.rows.append((accel, f"n/a ({state})", "n/a", "n/a"))
            continue
        say(f"machine {accel}: guest instructions per second ...")
        ips = instructions_per_second(machine, accel)
        say(f"machine {accel}: per exit, Python VMM ...")
        vmm = exit_cost(lambda code, a=accel: guest_run_seconds(machine, a, code))
        if qemu_missing:
            in_qemu = f"n/a ({qemu_missing})"
        else:
            say(f"machine {accel}: per exit, QEMU ...")
            try:
                in_qemu = us(exit_cost(lambda code, a=accel: qemu_seconds(qemu, a, code)))
            except ValueError as e:
                in_qemu = f"n/a ({e})"
        section.rows.append((accel, f"{ips:,.0f}", us(vmm), in_qemu))
    section.notes.append(
        f"Instructions: a LOOP guest sized to run about 0.3 s (best of 2). Per exit: the same "
        f"real-mode guest writing port 0x80 {LOOP_COUNT:,} times, minus the guest with NOPs "
        f"instead (best of 2 each). In QEMU the same bytes boot as a boot sector (`-accel` the "
        f"same) and the loop is timed between two characters the guest prints on COM1. Under "
        f"tcg no exit happens: an OUT is a call from translated code into the device model."
    )
    return section


def measure_guest(boots: int = GUEST_BOOTS) -> Section:
    """Lesson 08's Linux guest booted `boots` times on each accelerator, one boot at a time."""
    section = Section(
        "Linux guest (lesson 08)",
        (
            "accelerator",
            "boots",
            "how they ended",
            "s to the guest's first line (median)",
            "s of kernel uptime then (median)",
        ),
    )
    linux = importlib.import_module("vizlib.machine.linux")
    kvm = importlib.import_module("vizlib.machine.kvm")
    reason = linux.unavailable_reason()
    if reason:
        section.notes.append(f"n/a ({reason})")
        return section
    for accel in linux.qemu.ACCELS:
        if accel == "kvm" and kvm.unavailable_reason():
            section.rows.append((accel, 0, f"not tried: {kvm.unavailable_reason()}", "n/a", "n/a"))
            continue
        say(f"guest: {boots} boots on {accel} ...")
        runs = [linux.boot(accel) for _ in range(boots)]
        ended = "; ".join(sorted({r.outcome for r in runs}))
        to_init = [r.seconds_to_init for r in runs if r.seconds_to_init is not None]
        uptime = [r.report.init_uptime for r in runs if r.report.init_uptime is not None]
        section.rows.append(
            (
                accel,
                boots,
                ended + (f" ({runs[0].note})" if runs[0].note else ""),
                f"{statistics.median(to_init):.2f}" if to_init else "n/a",
                f"{statistics.median(uptime):.2f}" if uptime else "n/a",
            )
        )
    manifest = linux.Manifest.read()
    section.notes.append(
        f"Each boot alone, from QEMU's start: {manifest.kernel_package} {manifest.kernel_version} "
        f"with a busybox initramfs, three virtio devices, COM1 as the console "
        f"(`vizlib.machine.linux.command`). The first line comes from the guest's /init; the "
        f"kernel's uptime then leaves out QEMU's start, its firmware and the kernel's unpacking."
    )
    return section


# --- grading -------------------------------------------------------------------------------------


def measure_grading(size: int = GRADING_CLASS) -> Section:
    """A class of `size` students on a roster: the release of a copy per student, then the
    grading command on every copy completed with the solution, sandboxed, WORKERS jobs."""
    import secrets

    from vizlib.grading.grader import GradingError, grade
    from vizlib.grading.release import release_roster, solved_copy

    section = Section("Grading", ("figure", "value"))
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        root = Path(tmp)
        (root / "secret").write_text(secrets.token_hex(32))
        students = [f"student{number:03}" for number in range(size)]
        (root / "roster.csv").write_text("student\n" + "".join(f"{s}\n" for s in students))
        say(f"releasing {GRADING_EXERCISE} to a roster of {size} students ...")
        start = time.perf_counter()
        copies = release_roster(
            ROOT / "exercises",
            root / "roster.csv",
            root / "class",
            root / "secret",
            [GRADING_EXERCISE],
            echo=lambda line: None,
        )
        release_seconds = time.perf_counter() - start
        for path in copies:
            solved = solved_copy(ROOT / "exercises", GRADING_EXERCISE, path)
            (root / "submissions" / path.parent.name).mkdir(parents=True)
            nbformat.write(solved, root / "submissions" / path.parent.name / path.name)
        say(f"grading the class's {size} submissions of {GRADING_EXERCISE} ...")
        start = time.perf_counter()
        try:
            rows = grade([root / "submissions"], root / "grades.csv", jobs=WORKERS,
                         roster=root / "roster.csv", secret=root / "secret",
                         echo=lambda line: None)  # fmt: skip
        except GradingError as error:
            section.notes.append(f"n/a ({error})")
            return section
        seconds = time.perf_counter() - start
    cores = min(WORKERS, os.cpu_count() or 1)
    per_core = seconds * cores / size
    full_marks = all(row.status == "passed" for row in rows)
    section.rows += [
        ("class", f"{size} students on a roster, each with a variant of {GRADING_EXERCISE}"),
        ("release of a copy per student", f"{release_seconds:.0f} s"),
        (f"grading the class (sandboxed, {WORKERS} jobs)", f"{seconds:.0f} s"),
        ("seconds per submission per core", f"{per_core:.2f} s"),
        ("every submission scored full marks", "yes" if full_marks else "**no**"),
    ]
    section.goals.append((GOALS["grading"], per_core < GRADING_SECONDS))
    section.notes.append(
        "The release runs the solution once per student's variant (many variants in one trusted "
        "kernel) and writes each copy. The grading: the reference run of the solution for every "
        "variant, then every submission under pytest and nbval in its own kernel inside "
        "bubblewrap, judged in the grader against its student's variant. Per submission per "
        f"core: the time for the class x {cores} cores / {size} submissions."
    )
    return section


# --- environment ---------------------------------------------------------------------------------


def disk_usage(path: Path) -> int:
    """Bytes `path` occupies on disk, like `du` (symbolic links not followed)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_blocks * 512
    total = 0
    for folder, _, files in os.walk(path):
        total += Path(folder).lstat().st_blocks * 512
        total += sum((Path(folder) / f).lstat().st_blocks * 512 for f in files)
    return total


def environment_size(site: Path | None = None, top: int = 8) -> tuple[int, list[tuple[str, int]]]:
    """Bytes of site-packages, and its `top` largest entries (package folders) with theirs."""
    site = Path(site or sysconfig.get_paths()["purelib"])
    entries = [(p.name, disk_usage(p)) for p in site.iterdir() if not p.name.endswith(".dist-info")]
    entries.sort(key=lambda e: e[1], reverse=True)
    return disk_usage(site), entries[:top]


def learner_environment_size() -> int:
    """Bytes of site-packages in a fresh virtual environment after what `python3 scripts/course.py
    lab` installs there (its own pip arguments, read from the script)."""
    spec = importlib.util.spec_from_file_location("course_script", ROOT / "scripts" / "course.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with tempfile.TemporaryDirectory(prefix="course-learner-") as folder:
        python = Path(folder) / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", folder], check=True)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *script.pip_install_args(script.LEARNER_EXTRAS)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return disk_usage(Path(site))


def measure_environment() -> Section:
    total, largest = environment_size()
    section = Section("Installed size", ("what", "size"))
    say("size: installing a learner's environment into a temporary folder (a minute) ...")
    learner = learner_environment_size()
    section.rows.append(
        ("site-packages of a learner's environment (`lab`)", f"{learner / 2**20:,.0f} MiB")
    )
    section.rows.append(("site-packages of this environment (`test`)", f"{total / 2**20:,.0f} MiB"))
    section.rows += [(f"`{name}`", f"{size / 2**20:,.1f} MiB") for name, size in largest]
    section.notes.append(
        "A learner's environment: a fresh virtual environment after `lab`'s pip install (no "
        "bytecode compiled ahead; Python adds it for the modules a lesson imports). Its "
        "WebAssembly Graphviz is installed only where `dot` is missing. The largest packages "
        "listed are this environment's."
    )
    section.goals.append((GOALS["size"], learner < LEARNER_MIB * 2**20))
    return section


# --- report --------------------------------------------------------------------------------------


def machine_description() -> dict[str, str]:
    """CPU model, cores, OS, Python and today's date."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def report(sections: list[Section], machine: dict[str, str]) -> str:
    """The Markdown report: the machine, the goals, then every table."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `python3 scripts/course.py bench --write` (`--browser` and `--suite` add the "
        "lessons in JupyterLab and the test suite); "
        "run it on your machine to compare. Regenerated, never edited by hand.",
        "",
        "**Machine:** " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        "## Goals",
        "",
        "| goal | result |",
        "|---|---|",
    ]
    checked = {text for s in sections for text, _ in s.goals}
    for s in sections:
        lines += [f"| {text} | {mark(met)} |" for text, met in s.goals]
    lines += [f"| {text} | not measured |" for text in GOALS.values() if text not in checked]
    lines.append("")
    return "\n".join(lines) + "\n" + "\n".join(s.markdown() for s in sections)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vizlib.authoring bench")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite")
    parser.add_argument("--browser", action="store_true", help="also run the lessons in Chromium")
    parser.add_argument("--write", action="store_true", help=f"save to {OUTPUT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    lessons, lessons_total = measure_lessons()
    sections = [lessons]
    if args.browser:
        sections.append(measure_browser())
    if args.suite:
        sections.append(measure_suite(lessons_total))
    sections += [
        measure_widgets(),
        measure_simulators(),
        measure_machine(),
        measure_guest(),
        measure_grading(),
        measure_environment(),
    ]
    text = report(sections, machine_description())
    print(text)
    if args.write:
        OUTPUT.write_text(text, encoding="utf-8")
        say(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0
