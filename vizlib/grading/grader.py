"""The grading command: submissions in, a long-format CSV gradebook out (and a summary, a report).

Each submission runs in a kernel of its own inside the sandbox; its answers come out as plain data
and are judged here against the reference solution's, run beforehand in a trusted kernel. With a
roster, each student's variant of each exercise is derived again from the roster and the course
secret (a notebook's metadata is not trusted), set in the submission's parameters cell, and the
reference solution runs once per variant.
"""

from __future__ import annotations

import importlib.util
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vizlib.i18n import _, language

from . import gradebook as gb
from .exercise import Exercise, installed_exercises, load_exercises
from .hidden import load_hidden_checks
from .messages import say
from .reference import Reference, run_references, trusted_kernel
from .report import write_report
from .roster import Roster, load
from .runner import Job, run_jobs
from .sandbox import Limits, Sandbox, SandboxUnavailable
from .submission import BadNotebook, Submission, graded_copy, read_submission
from .variants import DEFAULT

BATCH = 10  # most notebooks per pytest call: its ~1.5 s start-up is shared


class GradingError(Exception):
    """Grading cannot run at all (bad arguments, missing tools); the message says why."""


@dataclass(frozen=True)
class Found:
    """A file to grade: its name in the gradebook, its student, its path."""

    name: str
    student: str
    path: Path

    @property
    def notebook(self) -> bool:
        return self.path.suffix == ".ipynb"

    @property
    def link(self) -> bool:
        """A symbolic link: never graded (it could name a classmate's file, or any file)."""
        return self.path.is_symlink()


def find_submissions(paths: Sequence[str | Path]) -> list[Found]:
    """Every file to grade: files as given, folders searched (hidden files and checkpoints left
    out). The student is the first folder below a given folder, or else the file's name."""
    found: dict[Path, Found] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))
            )
            if not files:
                raise GradingError(_("no files in the folder {folder}", folder=given))
            named = []
            for file in files:
                relative = file.relative_to(path)
                student = relative.parts[0] if len(relative.parts) > 1 else file.stem
                named.append(Found(str(Path(given) / relative), student, file))
        elif path.exists():
            named = [Found(str(given), path.stem, path)]
        else:
            raise GradingError(_("no such file or folder: {path}", path=given))
        for item in named:  # a file given twice is graded once; a link is not its target
            found.setdefault(Path(os.path.abspath(item.path)), item)
    return list(found.values())


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def shard_of(found: list[Found], shard: tuple[int, int]) -> list[Found]:
    """The `shard[0]`-th of `shard[1]` shares (counted from 1), by sorted name."""
    number, count = shard
    if not 1 <= number <= count:
        raise GradingError(
            _(
                "shard must be K/N with 1 <= K <= N, got {number}/{count}",
                number=number,
                count=count,
            )
        )
    ordered = sorted(found, key=lambda item: item.name)
    return [item for index, item in enumerate(ordered) if index % count == number - 1]


def grade(
    paths: Sequence[str | Path],
    csv_path: str | Path,
    exercises_dir: str | Path | None = None,
    extra_checks: str | Path | None = None,
    cell_timeout: float = 30.0,
    timeout: float = 300.0,
    jobs: int = 2,
    sandboxed: bool = True,
    shard: tuple[int, int] = (1, 1),
    summary: str | Path | None = None,
    report: str | Path | None = None,
    roster: str | Path | None = None,
    secret: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> list[gb.Row]:
    """Grade the submissions and write the gradebook; GradingError when grading cannot run.

    `cell_timeout` and `timeout` are seconds per cell and per notebook (cell time, re-runs
    included); `jobs` pytest calls run at a time. With a `roster` (and the course `secret`),
    each student is graded on their own variant. Rows and lines speak the course's language
    (`vizlib.i18n`). Returns the gradebook's rows.
    """
    started = time.monotonic()
    for name, value in (("cell_timeout", cell_timeout), ("timeout", timeout), ("jobs", jobs)):
        if not value > 0:
            raise GradingError(_("{name} must be positive, got {value}", name=name, value=value))
    for module in ("pytest", "nbval"):
        if importlib.util.find_spec(module) is None:
            raise GradingError(_("{module} is not installed in this environment", module=module))
    outputs = [Path(p) for p in (csv_path, summary, report) if p is not None]
    for output in outputs:
        _check_writable(output)
    try:
        exercises = load_exercises(Path(exercises_dir) if exercises_dir else installed_exercises())
        hidden = load_hidden_checks(Path(extra_checks), exercises) if extra_checks else {}
        class_roster = load(Path(roster), Path(secret) if secret else None) if roster else None
    except ValueError as error:
        raise GradingError(str(error)) from None
    found = shard_of(find_submissions(paths), shard)
    rows, readable, variants = _read(found, exercises, class_roster)
    used = sorted({s.exercise.id for s in readable.values()})
    wanted: dict[str, list[int]] = {}
    for index, submission in readable.items():
        wanted.setdefault(submission.exercise.id, []).append(variants[index])
    with tempfile.TemporaryDirectory(prefix="vizlib-grading-", ignore_cleanup_errors=True) as tmp:
        sandbox = Sandbox(Limits(cpu=math.ceil(timeout) + 60)) if sandboxed else None
        try:
            if sandbox is not None:
                sandbox.check(Path(tmp) / "check")
            echo(_start_line(len(found), shard, len(used), bool(sandbox), jobs, bool(class_roster)))
            lock, finished = threading.Lock(), [0]

            def report_rows(index: int) -> None:
                with lock:
                    finished[0] += 1
                    echo(f"[{finished[0]}/{len(found)}] {gb.progress(rows[index])}")

            for index in sorted(rows):
                report_rows(index)
            references = _references(exercises, used, hidden, Path(tmp) / "reference", jobs, wanted)
            mine = {
                index: references[s.exercise.id][variants[index]] for index, s in readable.items()
            }
            _run(
                readable,
                found,
                mine,
                rows,
                report_rows,
                sandbox,
                Path(tmp),
                cell_timeout,
                timeout,
                jobs,
            )
        except SandboxUnavailable as error:
            raise GradingError(str(error)) from None
        finally:
            if sandbox is not None:
                sandbox.close()
    book = [row for index in sorted(rows) for row in rows[index]]
    gb.write_csv(book, Path(csv_path))
    if summary is not None:
        gb.write_summary(book, Path(summary))
    if report is not None:
        write_report(book, Path(report))
    written = ", ".join(str(p) for p in outputs)
    seconds = f"{time.monotonic() - started:.1f}"
    echo(
        _(
            "graded {count} submissions in {seconds} s: {written}",
            count=len(found),
            seconds=seconds,
            written=written,
        )
    )
    return book


def _read(
    found: list[Found], exercises: dict[str, Exercise], roster: Roster | None
) -> tuple[dict[int, list[gb.Row]], dict[int, Submission], dict[int, int]]:
    """Read every file: the rows of those that cannot be graded, the readable submissions and
    the variant each is graded on (the student's own with a roster, else the default)."""
    rows: dict[int, list[gb.Row]] = {}
    readable: dict[int, Submission] = {}
    variants: dict[int, int] = {}
    for index, item in enumerate(found):
        if item.link or not item.notebook:
            reason = say("link") if item.link else say("not-ipynb")
            rows[index] = [gb.not_a_notebook_row(item.name, item.student, reason)]
            continue
        try:
            submission = read_submission(item.path, exercises)
        except BadNotebook as error:
            known = exercises.get(error.exercise) if error.exercise else None
            rows[index] = gb.bad_notebook_rows(
                item.name, item.student, str(error), known, error.exercise or ""
            )
            continue
        exercise = submission.exercise
        if roster is not None and item.student not in roster:
            reason = say("not-in-roster", student=item.student)
            rows[index] = gb.bad_notebook_rows(
                item.name, item.student, reason, exercise, status="error"
            )
            continue
        submission.notes += _variant_notes(submission, item.student, roster is not None)
        readable[index] = submission
        own = roster is not None and exercise.variable
        variants[index] = roster.variant(exercise.id, item.student) if own else DEFAULT
    return rows, readable, variants


def _start_line(
    count: int, shard: tuple[int, int], exercises: int, sandboxed: bool, jobs: int, roster: bool
) -> str:
    """The line grading starts with: what is graded, and how."""
    how = [_("sandboxed") if sandboxed else _("NOT sandboxed (--no-sandbox)")]
    if roster:
        how.append(_("each student's own variant"))
    how.append(_("{jobs} jobs", jobs=jobs))
    if shard != (1, 1):
        return _(
            "grading {count} submissions (shard {number} of {shards}) of {exercises} exercises, "
            "{how}",
            count=count,
            number=shard[0],
            shards=shard[1],
            exercises=exercises,
            how=_(", ").join(how),
        )
    return _(
        "grading {count} submissions of {exercises} exercises, {how}",
        count=count,
        exercises=exercises,
        how=_(", ").join(how),
    )


def _variant_notes(submission: Submission, student: str, roster: bool) -> list[str]:
    """Warnings about whose copy a submission says it is (its metadata, never trusted for the
    grade): a student's own copy graded without a roster, or a copy released to someone else."""
    course = submission.notebook.metadata.get("course", {})
    owner, number = course.get("student"), course.get("variant")
    if not roster and isinstance(number, int) and number != DEFAULT:
        return [say("variant-without-roster")]
    if roster and isinstance(owner, str) and owner != student:
        return [say("released-to", student=owner)]
    return []


def _references(
    exercises: dict[str, Exercise],
    used: list[str],
    hidden: dict,
    folder: Path,
    jobs: int,
    variants: dict[str, list[int]],
) -> dict[str, dict[int, Reference]]:
    try:
        return run_references(
            [exercises[e] for e in used], folder, hidden, draw=True, workers=jobs, variants=variants
        )
    except ValueError as error:
        raise GradingError(str(error)) from None


def _run(
    readable: dict[int, Submission],
    found: list[Found],
    references: dict[int, Reference],
    rows: dict[int, list[gb.Row]],
    report_rows: Callable[[int], None],
    sandbox: Sandbox | None,
    tmp: Path,
    cell_timeout: float,
    timeout: float,
    workers: int,
) -> None:
    """Run every readable submission against its reference (by index), turning each into rows
    as soon as it is done."""
    pending: list[tuple[int, Job]] = []
    for index, submission in readable.items():
        reference = references[index]
        hidden = tuple(q for q in reference.questions.values() if q.hidden)
        copy = graded_copy(
            submission.notebook,
            submission.exercise,
            reference.collect(),
            timeout,
            hidden,
            reference.variant,
            language(),
        )
        key = f"s{index}"
        if sandbox is not None:
            devices = submission.exercise.devices

            def kernel(sockets: Path, key=key, devices=devices) -> dict:
                argv = sandbox.command(sockets, devices, job=key)
                return {"argv": argv, "sockets": str(sockets), "env": {}, "cwd": str(sockets)}
        else:
            kernel = trusted_kernel(tmp / "work" / key)
        pending.append((index, Job(key, copy, timeout, kernel)))
    by_key = {job.key: index for index, job in pending}
    notes = [say("unsandboxed")] if sandbox is None else []

    def done(job: Job) -> None:
        index = by_key[job.key]
        item, submission = found[index], readable[index]
        limits = gb.Limits(cell_timeout, timeout, job.not_run)
        try:
            rows[index] = gb.question_rows(
                item.name,
                item.student,
                references[index],
                job.graded.roles,
                job.results,
                limits,
                submission.records,
                [*submission.notes, *notes],
            )
        except Exception as error:  # a fault of the grader must not cost the rest of the class
            failed = say("grader-failed", error=f"{type(error).__name__}: {error}")
            rows[index] = gb.bad_notebook_rows(
                item.name, item.student, failed, submission.exercise, status="error"
            )
        if sandbox is not None:
            sandbox.finish(job.key)
        report_rows(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_jobs, [job for _, job in batch], tmp / f"b{n}", cell_timeout, done)
            for n, batch in enumerate(_batches(pending, workers))
        ]
        for future in futures:
            future.result()


def _batches(pending: list[tuple[int, Job]], workers: int) -> list[list[tuple[int, Job]]]:
    """Split into a multiple of `workers` batches of at most BATCH notebooks, sizes even."""
    if not pending:
        return []
    count = workers * math.ceil(len(pending) / (workers * BATCH))
    size = math.ceil(len(pending) / count)
    return [pending[start : start + size] for start in range(0, len(pending), size)]


def _check_writable(path: Path) -> None:
    folder = path.parent
    if path.is_dir():
        raise GradingError(_("{path} is a folder", path=path))
    if not folder.is_dir():
        raise GradingError(
            _("the folder {folder} does not exist (for {name})", folder=folder, name=path.name)
        )
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise GradingError(_("{path} is not writable", path=target))
