"""From cell results to gradebook rows: one per (submission, question), written as CSV."""

from __future__ import annotations

import csv
import re
from dataclasses import astuple, dataclass
from pathlib import Path

from .exercise import Exercise, Role

FIELDS = ("submission", "exercise", "question", "points", "max_points", "status", "message")
CHECK_SAID_NO = ("CheckFailed", "AssertionError", "NotImplementedError")  # failed, not error
STOPPED = {  # verdicts that cost the question all its points: (status, message)
    "timeout": ("timeout", "the {where} ran longer than {cell:g} s (an endless loop?)"),
    "out-of-time": ("timeout", "the notebook used up its {notebook:g} s in the {where}"),
    "kernel-died": ("error", "the kernel died in the {where} (a crash or os._exit?)"),
}
MESSAGE_LIMIT = 300  # characters of a message kept in the gradebook
HIDDEN_SUFFIX = ":hidden"  # question column of the instructor-only checks' row


@dataclass(frozen=True)
class CellResult:
    """What happened to one code cell: the nbval guard's verdict, error name and message."""

    verdict: str  # ok, error, failed, timeout, out-of-time, kernel-died
    ename: str = ""
    message: str = ""


@dataclass(frozen=True)
class Limits:
    """The time limits a submission ran under, and the (status, message) of cells never run."""

    cell: float
    notebook: float
    not_run: tuple[str, str] = ("error", "the check cell was not run")


@dataclass(frozen=True)
class Row:
    submission: str
    exercise: str
    question: str
    points: int
    max_points: int
    status: str
    message: str


def question_rows(
    submission: str,
    exercise: Exercise,
    roles: list[Role],
    results: list[CellResult | None],
    limits: Limits,
) -> list[Row]:
    """The rows of one graded submission: each question, then its hidden checks if any."""
    rows = []
    pairs = list(zip(roles, results, strict=True))
    for question in exercise.questions:
        answers = [result for role, result in pairs if role == Role("answer", question)]
        for hidden in (False, True):
            checks = [
                (role, result)
                for role, result in pairs
                if role.kind == "check" and role.question == question and role.hidden == hidden
            ]
            if checks:
                name = question + (HIDDEN_SUFFIX if hidden else "")
                points, status, message = _judge(answers, checks, limits)
                maximum = sum(role.points for role, _ in checks)
                rows.append(Row(submission, exercise.id, name, points, maximum, status, message))
    return rows


def bad_notebook_row(submission: str, reason: str) -> Row:
    """The single row of a submission that could not be graded (no exercise, no points)."""
    return Row(submission, "", "", 0, 0, "bad-notebook", _trim(reason))


def summary(
    rows: list[Row], roles: list[Role], results: list[CellResult | None], hidden_used: bool
) -> str:
    """One terminal line: submission, exercise, points, and how many check cells passed."""
    counts = {False: [0, 0], True: [0, 0]}
    for role, result in zip(roles, results, strict=True):
        if role.kind == "check":
            counts[role.hidden][0] += bool(result and result.verdict == "ok")
            counts[role.hidden][1] += 1
    points = sum(row.points for row in rows)
    maximum = sum(row.max_points for row in rows)
    text = f"{rows[0].submission}  {rows[0].exercise}  {points}/{maximum}  "
    if not hidden_used:
        return text + "checks passed: {} of {}".format(*counts[False])
    return text + "public checks passed: {} of {}, hidden checks passed: {} of {}".format(
        *counts[False], *counts[True]
    )


def write_csv(rows: list[Row], path: Path) -> None:
    """The long-format gradebook."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        writer.writerows(astuple(row) for row in rows)


def _judge(
    answers: list[CellResult | None],
    checks: list[tuple[Role, CellResult | None]],
    limits: Limits,
) -> tuple[int, str, str]:
    """(points, status, message) of one question's checks; answers explain failures first."""
    cells = [("answer cell", result) for result in answers]
    cells += [("check cell", result) for _, result in checks]
    for where, result in cells:
        if result is not None and result.verdict in STOPPED:
            status, text = STOPPED[result.verdict]
            return 0, status, text.format(where=where, cell=limits.cell, notebook=limits.notebook)
    points = sum(role.points for role, result in checks if result and result.verdict == "ok")
    if all(result and result.verdict == "ok" for _, result in checks):
        return points, "passed", ""
    where, result = next(
        (w, r) for w, r in cells if (r.verdict != "ok" if r else w == "check cell")
    )
    if result is None:
        return points, *limits.not_run
    status = "failed" if result.ename in CHECK_SAID_NO else "error"
    named = (result.ename, result.message) if result.ename != "CheckFailed" else (result.message,)
    message = ("answer cell: " if where == "answer cell" else "") + ": ".join(filter(None, named))
    return points, status, _trim(message)


def _trim(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
