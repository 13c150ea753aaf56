"""The grading command: submissions in, a long-format CSV gradebook out."""

from __future__ import annotations

import importlib.util
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .exercise import load_exercises
from .gradebook import Limits, Row, bad_notebook_row, question_rows, summary, write_csv
from .hidden import load_hidden_checks
from .runner import Job, run_jobs
from .submission import BadNotebook, graded_copy, pristine_checks, read_submission

BATCH = (
    10  # most notebooks per pytest call: its ~1.5 s start-up is shared; progress comes per batch
)


class GradingError(Exception):
    """Grading cannot run at all (bad arguments, missing tools); the message says why."""


def find_submissions(paths: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """(name for the gradebook, path) of each submission: files as given, folders searched."""
    found: dict[Path, tuple[str, Path]] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            notebooks = sorted(
                p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
            )
            if not notebooks:
                raise GradingError(f"no notebooks (*.ipynb) in the folder {given}")
            named = [(str(Path(given) / p.relative_to(path)), p) for p in notebooks]
        elif path.exists():
            named = [(str(given), path)]
        else:
            raise GradingError(f"no such file or folder: {given}")
        for name, found_path in named:
            found.setdefault(found_path.resolve(), (name, found_path))
    return list(found.values())


def grade(
    paths: Sequence[str | Path],
    csv_path: str | Path,
    exercises_dir: str | Path = "exercises",
    extra_checks: str | Path | None = None,
    cell_timeout: float = 30.0,
    timeout: float = 300.0,
    jobs: int = 2,
    echo: Callable[[str], None] = print,
) -> list[Row]:
    """Grade the submissions and write the gradebook; GradingError when grading cannot run.

    `cell_timeout` and `timeout` are seconds per cell and per notebook (cell time, re-runs
    included); `jobs` pytest calls run at a time. Returns the gradebook's rows.
    """
    started = time.monotonic()
    for name, value in (("cell_timeout", cell_timeout), ("timeout", timeout), ("jobs", jobs)):
        if not value > 0:
            raise GradingError(f"{name} must be positive, got {value}")
    for module in ("pytest", "nbval"):
        if importlib.util.find_spec(module) is None:
            raise GradingError(f"{module} is not installed in this environment")
    csv_path = Path(csv_path)
    _check_writable(csv_path)
    submissions = find_submissions(paths)
    try:
        exercises = load_exercises(Path(exercises_dir))
        hidden = load_hidden_checks(Path(extra_checks), exercises) if extra_checks else {}
    except ValueError as error:
        raise GradingError(str(error)) from None
    checks = {ex_id: pristine_checks(exercise) for ex_id, exercise in exercises.items()}
    rows: dict[int, list[Row]] = {}
    pending: list[tuple[int, Job]] = []
    finished = 0

    def report(line: str) -> None:
        nonlocal finished
        finished += 1
        echo(f"[{finished}/{len(submissions)}] {line}")

    for index, (name, path) in enumerate(submissions):
        try:
            nb, exercise = read_submission(path, exercises)
        except BadNotebook as error:
            rows[index] = [bad_notebook_row(name, str(error))]
            report(f"{name}  bad notebook: {error}")
            continue
        copy = graded_copy(nb, exercise, checks[exercise.id], hidden.get(exercise.id, {}), timeout)
        pending.append((index, Job(f"s{index}", copy, timeout)))
    with (
        tempfile.TemporaryDirectory(prefix="vizlib-grading-", ignore_cleanup_errors=True) as tmp,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        futures = {
            pool.submit(
                run_jobs, [job for _, job in batch], Path(tmp) / f"b{n}", cell_timeout
            ): batch
            for n, batch in enumerate(_batches(pending, jobs))
        }
        for future in as_completed(futures):
            future.result()
            for index, job in futures[future]:
                name = submissions[index][0]
                graded, limits = job.graded, Limits(cell_timeout, timeout, job.not_run)
                rows[index] = question_rows(
                    name, graded.exercise, graded.roles, job.results, limits
                )
                line = summary(rows[index], graded.roles, job.results, bool(extra_checks))
                report(line + "".join(f"; {note}" for note in job.notes))
    gradebook = [row for index in sorted(rows) for row in rows[index]]
    write_csv(gradebook, csv_path)
    echo(f"graded {len(submissions)} submissions in {time.monotonic() - started:.1f} s: {csv_path}")
    return gradebook


def _batches(pending: list[tuple[int, Job]], workers: int) -> list[list[tuple[int, Job]]]:
    """Split into a multiple of `workers` batches of at most BATCH notebooks, sizes even."""
    if not pending:
        return []
    count = workers * math.ceil(len(pending) / (workers * BATCH))
    size = math.ceil(len(pending) / count)
    return [pending[start : start + size] for start in range(0, len(pending), size)]


def _check_writable(csv_path: Path) -> None:
    folder = csv_path.parent
    if csv_path.is_dir():
        raise GradingError(f"csv: {csv_path} is a folder")
    if not folder.is_dir():
        raise GradingError(f"csv: the folder {folder} does not exist")
    target = csv_path if csv_path.exists() else folder
    if not os.access(target, os.W_OK):
        raise GradingError(f"csv: {target} is not writable")
