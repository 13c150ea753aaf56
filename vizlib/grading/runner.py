"""Running graded copies under pytest and nbval, and reading each cell's verdict as it finishes.

One pytest call runs a batch of notebooks, each on its own fresh kernel (for a submission, in its
own sandbox). The call is trusted code: it only exchanges messages with the kernels. When a cell
times out, kills its kernel or prints too much, the notebook runs again on a fresh kernel with that
cell emptied, and only the cells after it take their results from the new run. Each notebook's
results are read as soon as the pytest plugin writes them, so a job is reported when it is done.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import vizlib

from .messages import say
from .submission import GradedCopy

STOPS = ("timeout", "kernel-died", "out-of-time", "output-limit")  # they end a run of a notebook
START_SLACK = 30.0  # seconds for pytest to start and finish, beyond the notebooks' own time
NOTEBOOK_SLACK = 10.0  # seconds per notebook for its kernel to start and its output to drain
KERNEL_START = 15.0  # seconds for a kernel to start (under 1 s here); a rare start hangs: retry
KERNEL_TRIES = 3
POLL = 0.1  # seconds between two looks for finished notebooks
OUTPUT_LIMIT = 16 << 20  # bytes of output one notebook may print
GRADER_MEMORY = 4 << 30  # bytes of address space of a pytest call, whatever its kernels send it
RESULTS = "results.json"  # the pytest plugin's verdicts, written beside each notebook when done
KERNEL = "kernel.json"  # how to start a notebook's kernel: argv, sockets folder, env, cwd
NEUTRALIZED = "# not run when graded: this cell {verdict} in an earlier run"
SAID = {
    "timeout": "timed out",
    "out-of-time": "timed out",
    "kernel-died": "stopped the kernel",
    "output-limit": "printed too much",
}


@dataclass(frozen=True)
class CellResult:
    """What happened to one code cell: verdict, error name and message, answers it collected."""

    verdict: str  # ok, error, failed, timeout, out-of-time, kernel-died, output-limit
    ename: str = ""
    message: str = ""
    collected: str | None = None  # the answers as JSON text (collecting cells only)


@dataclass
class Job:
    """One notebook being run: its graded copy, how to start its kernel, the results so far."""

    key: str  # folder name of its graded copy, unique within a grading run
    graded: GradedCopy
    budget: float  # seconds of cell time for the whole notebook, re-runs included
    kernel: Callable[[Path], dict]  # the kernel.json of a run, given the job's sockets folder
    results: list[CellResult | None] = field(default_factory=list)
    start: int = 0  # first code cell whose result the next run decides
    spent: float = 0.0
    done: bool = False
    kernel_failures: int = 0
    not_run: tuple[str, str] = ("error", say("cell-not-run"))

    def __post_init__(self) -> None:
        self.results = [None] * len(self.graded.roles)

    def merge(self, run: dict[int, CellResult], seconds: float) -> None:
        """Take one run's results from `start` on, up to the first cell that stopped the kernel."""
        first = run.get(self.start)
        if first is not None and first.verdict == "no-kernel":  # a rare hang at start: try again
            self.kernel_failures += 1
            if self.kernel_failures >= KERNEL_TRIES:
                self.give_up(f"its kernel did not start in {KERNEL_TRIES} tries")
            return
        self.spent += seconds
        for index in range(self.start, len(self.results)):
            result = self.results[index] = run.get(index)
            if result is None or result.verdict not in STOPS:
                continue
            if result.verdict == "out-of-time" or self.spent >= self.budget:
                self.not_run = ("timeout", say("budget-used", seconds=self.budget))
                break
            self._neutralize(index, result.verdict)
            self.start = index + 1
            self.done = self.start >= len(self.results)
            return
        self.done = True

    def give_up(self, reason: str) -> None:
        self.not_run = ("error", say("could-not-run", reason=reason))
        self.done = True

    def _neutralize(self, index: int, verdict: str) -> None:
        code = [cell for cell in self.graded.notebook.cells if cell.cell_type == "code"]
        code[index].source = NEUTRALIZED.format(verdict=SAID[verdict])


def run_jobs(
    jobs: list[Job], folder: Path, cell_timeout: float, done: Callable[[Job], None] = print
) -> None:
    """Run the jobs until each is done, in as few pytest calls as possible; `done(job)` is
    called for each as soon as it is."""
    pending = list(jobs)
    while pending:
        missing = run_pytest(pending, folder, cell_timeout, done)
        if missing:
            reason, lost = missing
            if len(pending) == 1:
                lost[0].give_up(reason)
                done(lost[0])
            else:  # one bad notebook must not cost the others: try each on its own
                for job in lost:
                    run_jobs([job], folder, cell_timeout, done)
        pending = [job for job in pending if not job.done]


def run_pytest(
    jobs: list[Job], folder: Path, cell_timeout: float, done: Callable[[Job], None]
) -> tuple[str, list[Job]] | None:
    """One pytest + nbval call over the jobs' graded copies, merging each notebook's results as
    it finishes. Returns (reason, jobs) for the jobs that got no results, if any."""
    files, waiting = [], {}
    for job in jobs:
        job.graded.notebook.metadata["grading"]["budget"] = max(job.budget - job.spent, 0.1)
        where = folder / job.key
        where.mkdir(parents=True, exist_ok=True)
        (where / RESULTS).unlink(missing_ok=True)
        (folder / "sockets").mkdir(exist_ok=True)
        # a new folder per run, whatever the last run's kernel left in its own (folders, ...)
        sockets = Path(tempfile.mkdtemp(prefix=f"{job.key}-", dir=folder / "sockets"))
        (where / KERNEL).write_text(json.dumps(job.kernel(sockets)))
        nbformat.write(job.graded.notebook, where / "graded.ipynb")
        files.append(f"{job.key}/graded.ipynb")
        waiting[job.key] = job
    (folder / "pytest.ini").write_text("[pytest]\n")
    command = [
        *(sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".", "-q"),
        *("-p", "no:cacheprovider", "--noconftest", "-p", "nbval.plugin"),
        *("-p", "vizlib.grading.nbval_guard", "--nbval-lax", "--color=no"),
        f"--nbval-cell-timeout={cell_timeout:g}",
        f"--nbval-kernel-startup-timeout={KERNEL_START:g}",
        *files,
    ]
    limit = START_SLACK + sum(
        KERNEL_START + NOTEBOOK_SLACK + job.budget - job.spent for job in jobs
    )
    log = folder / "pytest.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_in_child,
        )
    deadline = time.monotonic() + limit
    while waiting:
        finished = process.poll() is not None
        for key in [key for key in waiting if (folder / key / RESULTS).is_file()]:
            job = waiting.pop(key)
            job.merge(*_read_results(folder / key / RESULTS))
            if job.done:
                done(job)
        if finished or time.monotonic() > deadline:
            break
        time.sleep(POLL)
    if process.poll() is None:
        process.kill()  # its kernels die with it (bwrap --die-with-parent)
    process.wait()
    shutil.rmtree(folder / "sockets", ignore_errors=True)  # and what they wrote there
    if not waiting:
        return None
    if time.monotonic() > deadline:
        return f"pytest did not finish within {limit:g} s", list(waiting.values())
    tail = log.read_text("utf-8", "replace").strip().splitlines()[-3:]
    return "pytest failed: " + " ".join(tail), list(waiting.values())


def _read_results(path: Path) -> tuple[dict[int, CellResult], float]:
    cells = json.loads(path.read_text())["cells"]
    results, seconds = {}, 0.0
    for index, found in cells.items():
        seconds += float(found.get("seconds", 0.0))
        if found["verdict"] == "skipped":
            continue
        message = found.get("message", "").strip()
        first_line = message.splitlines()[0] if message else ""
        results[int(index)] = CellResult(
            found["verdict"], found.get("ename", ""), first_line, found.get("collected")
        )
    return results, seconds


def environment() -> dict[str, str]:
    """The grader's environment, with vizlib importable and nothing of the caller's pytest."""
    package_root = str(Path(vizlib.__file__).resolve().parent.parent)
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _in_child() -> None:
    """In the pytest call: be killed when the grader dies (Linux), so its kernels die too; and
    hold at most GRADER_MEMORY (a kernel can send a message of any size through its sockets:
    many frames of one buffer; past the limit the call fails and its notebooks run one by one)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    most = GRADER_MEMORY if hard == resource.RLIM_INFINITY else min(GRADER_MEMORY, hard)
    resource.setrlimit(resource.RLIMIT_AS, (most, hard))  # kernels may lower it for themselves
