"""Running graded copies under pytest and nbval, and reading each cell's verdict from junit XML.

One pytest call runs a batch of notebooks, each on its own fresh kernel in its own folder. When a
cell times out or kills its kernel, the notebook runs again on a fresh kernel with that cell
emptied, and only the cells after it take their results from the new run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import vizlib

from .gradebook import CellResult
from .submission import GradedCopy

STOPS = ("timeout", "kernel-died", "out-of-time")  # verdicts that end a run of the notebook
START_SLACK = 30.0  # seconds for pytest to start and finish, beyond the notebooks' own time
NOTEBOOK_SLACK = 10.0  # seconds per notebook for its kernel to start and its output to drain
KERNEL_START = 15.0  # seconds for a kernel to start (under 1 s here); a rare start hangs: retry
KERNEL_TRIES = 3
NEUTRALIZED = "# not run when graded: this cell {verdict} in an earlier run"


@dataclass
class Job:
    """One submission being graded: the graded copy, the results so far, the time used."""

    key: str  # folder name of its graded copy, unique within a grading run
    graded: GradedCopy
    budget: float  # seconds of cell time for the whole notebook, re-runs included
    results: list[CellResult | None] = field(default_factory=list)
    start: int = 0  # first code cell whose result the next run decides
    spent: float = 0.0
    done: bool = False
    notes: list[str] = field(default_factory=list)
    kernel_failures: int = 0
    not_run: tuple[str, str] = ("error", "the check cell was not run")

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
            if self.graded.roles[index].kind == "other":
                self.notes.append(f"cell {index} (not part of a question): {result.verdict}")
            if result.verdict == "out-of-time" or self.spent >= self.budget:
                self.not_run = ("timeout", f"not run: the notebook used up its {self.budget:g} s")
                break
            self._neutralize(index, result.verdict)
            self.start = index + 1
            self.done = self.start >= len(self.results)
            return
        self.done = True

    def give_up(self, reason: str) -> None:
        self.not_run = ("error", f"grading could not run this notebook: {reason}")
        self.done = True

    def _neutralize(self, index: int, verdict: str) -> None:
        code = [cell for cell in self.graded.notebook.cells if cell.cell_type == "code"]
        said = "timed out" if verdict == "timeout" else "stopped the kernel"
        code[index].source = NEUTRALIZED.format(verdict=said)


def run_jobs(jobs: list[Job], folder: Path, cell_timeout: float) -> None:
    """Run the jobs until each is done, in as few pytest calls as possible."""
    pending = list(jobs)
    while pending:
        outcome = run_pytest(pending, folder, cell_timeout)
        if isinstance(outcome, str):
            if len(pending) == 1:
                pending[0].give_up(outcome)
            else:  # one bad notebook must not cost the others: try each on its own
                for job in pending:
                    run_jobs([job], folder, cell_timeout)
            return
        for job in pending:
            results, seconds = outcome.get(job.key, ({}, 0.0))
            job.merge(results, seconds)
        pending = [job for job in pending if not job.done]


def run_pytest(
    jobs: list[Job], folder: Path, cell_timeout: float
) -> dict[str, tuple[dict[int, CellResult], float]] | str:
    """One pytest + nbval call over the jobs' graded copies: results and seconds by job key.

    Returns the reason instead when pytest gave no junit report.
    """
    files = []
    for job in jobs:
        job.graded.notebook.metadata["grading"]["budget"] = max(job.budget - job.spent, 0.1)
        (folder / job.key).mkdir(parents=True, exist_ok=True)
        nbformat.write(job.graded.notebook, folder / job.key / "graded.ipynb")
        files.append(f"{job.key}/graded.ipynb")
    (folder / "pytest.ini").write_text("[pytest]\n")
    report = folder / "junit.xml"
    report.unlink(missing_ok=True)
    command = [
        *(sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".", "-q"),
        *("-p", "no:cacheprovider", "-p", "nbval.plugin", "-p", "vizlib.grading.nbval_guard"),
        *("--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout:g}"),
        f"--nbval-kernel-startup-timeout={KERNEL_START:g}",
        *("--color=no", f"--junitxml={report.name}", *files),
    ]
    limit = START_SLACK + sum(
        KERNEL_START + NOTEBOOK_SLACK + job.budget - job.spent for job in jobs
    )
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=_environment(folder),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = process.communicate(timeout=limit)[0].decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        process.kill()  # its kernels notice their parent is gone and exit
        process.communicate()
        return f"pytest did not finish within {limit:g} s"
    if not report.is_file():
        return "pytest failed: " + " ".join(output.strip().splitlines()[-3:])
    return _read_junit(report, {job.key for job in jobs})


def _read_junit(report: Path, keys: set[str]) -> dict[str, tuple[dict[int, CellResult], float]]:
    found: dict[str, tuple[dict[int, CellResult], float]] = {key: ({}, 0.0) for key in keys}
    for case in ET.parse(report).iter("testcase"):
        key = case.get("classname", "").split(".")[0]
        cell = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if key not in found or cell is None:
            continue
        results, seconds = found[key]
        found[key] = results, seconds + float(case.get("time") or 0.0)
        properties = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        problems = [node for node in (case.find("failure"), case.find("error")) if node is not None]
        verdict = properties.get("verdict", "failed" if problems else "skipped")
        if verdict == "skipped":
            continue
        message = properties.get("message") or (problems[0].get("message", "") if problems else "")
        first_line = message.strip().splitlines()[0] if message.strip() else ""
        results[int(cell[1])] = CellResult(verdict, properties.get("ename", ""), first_line)
    return found


def _environment(folder: Path) -> dict[str, str]:
    """The grading environment's own, with vizlib importable and nothing of the caller's pytest."""
    package_root = str(Path(vizlib.__file__).resolve().parent.parent)
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    env.update(
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        IPYTHONDIR=str(folder / ".ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env
