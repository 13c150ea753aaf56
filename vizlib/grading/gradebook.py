"""From a notebook's run to gradebook rows (one per submission and question), and the CSV files.

The verdict is decided here, in the grader's process: the values a submission's kernel displayed
(plain data) are judged against keys built from the reference answers (`judge`), exactly as the
student copy's self-check judges them. The files are UTF-8 with a byte-order mark, so spreadsheets
read names like "José" right, and are replaced atomically.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from vizlib.i18n import _

from . import plain
from .checks import item_salt
from .exercise import UNANSWERED, Exercise, unanswered
from .judge import judge
from .messages import say
from .reference import Reference
from .runner import OUTPUT_LIMIT, CellResult
from .submission import Role

FIELDS = (
    "submission",
    "student",
    "exercise",
    "question",
    "points",
    "max_points",
    "status",
    "message",
)
STATUSES = ("passed", "partial", "failed", "timeout", "error", "bad-notebook", "not-a-notebook")
STOPPED = {
    "timeout": "timeout",
    "out-of-time": "timeout",
    "kernel-died": "error",
    "output-limit": "error",
}
MESSAGE_LIMIT = 300  # characters of a message kept in the gradebook
ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark


@dataclass(frozen=True)
class Row:
    submission: str
    student: str
    exercise: str
    question: str
    points: float
    max_points: int
    status: str
    message: str


@dataclass(frozen=True)
class Limits:
    """The time limits a submission ran under, and the (status, message) of cells never run."""

    cell: float
    notebook: float
    not_run: tuple[str, str] = ("error", say("cell-not-run"))


def question_rows(
    submission: str,
    student: str,
    reference: Reference,
    roles: list[Role],
    results: list[CellResult | None],
    limits: Limits,
    records: dict[tuple[str, int], tuple[Any, Any]],
    notes: list[str],
) -> list[Row]:
    """The rows of one graded submission: each question, then its hidden checks if any."""
    pairs = list(zip(roles, results, strict=True))
    finals = [_payload(result) for role, result in pairs if role.final]
    final = finals[0] if finals else {}
    rows = []
    for question, spec in reference.questions.items():
        base = question.split(":")[0]
        answers = [r for role, r in pairs if role.kind == "answer" and role.questions == (base,)]
        section = next(
            (
                r
                for role, r in pairs
                if role.kind == "collect" and not role.final and question in role.questions
            ),
            None,
        )
        points, status, message = _judge_question(
            question, reference, answers, section, final, limits, records
        )
        message = _with_notes(message, notes)
        rows.append(
            Row(
                submission,
                student,
                reference.exercise.id,
                question,
                round(points, 2),
                spec.points,
                status,
                message,
            )
        )
    return rows


def _with_notes(message: str, notes: list[str]) -> str:
    """A question's message trimmed to leave room for the submission's notes, which are kept
    whole (a warning about the copy or the sandbox is on every row)."""
    tail = "; ".join(notes)
    room = max(MESSAGE_LIMIT - len(tail) - 2, MESSAGE_LIMIT // 3) if tail else MESSAGE_LIMIT
    return "; ".join(filter(None, [_trim(message, room), tail]))


def _judge_question(
    question: str,
    reference: Reference,
    answers: list[CellResult | None],
    section: CellResult | None,
    final: dict[str, Any],
    limits: Limits,
    records: dict[tuple[str, int], tuple[Any, Any]],
) -> tuple[float, str, str]:
    """(points, status, message) of one question."""
    cells = [(_("answer cell"), r) for r in answers] + [(_("collecting cell"), section)]
    for where, result in cells:
        if result is not None and result.verdict in STOPPED:
            return 0.0, STOPPED[result.verdict], _stopped(result.verdict, where, limits)
    if section is None:  # the notebook stopped before its collecting cell
        return 0.0, *limits.not_run
    values = _values(question, reference, section, final)
    if isinstance(values, str):
        return 0.0, "error", values
    verdicts = []
    salt = reference.salt(question)
    keys = reference.keys(question)
    for number, (item, key) in enumerate(zip(reference.items[question], keys, strict=True)):
        value = values[number]
        if item.kind == "own_machine":
            value = records.get((question, number), plain.Missing(_("no record")))
        verdicts.append(judge(item.kind, value, key, item.args, item_salt(salt, number)))
    right, total = sum(v.right for v in verdicts), sum(v.total for v in verdicts)
    points = reference.questions[question].points * right / total
    status = "passed" if right == total else "partial" if right else "failed"
    broken = next((r for r in answers if r is not None and r.verdict != "ok"), None)
    if broken is not None and status != "passed":
        message = broken.message
        if broken.ename == "NotImplementedError" and unanswered(question, message):
            message = _(UNANSWERED, question=question)  # in the gradebook's language
        named = (broken.ename, message) if broken.ename else (message,)
        return points, status, say("answer-cell", problem=": ".join(filter(None, named)))
    return points, status, _("; ").join(v.message for v in verdicts if v.message)


def _values(
    question: str, reference: Reference, section: CellResult, final: dict[str, Any]
) -> list[Any] | str:
    """Each item's value: from the end of its section, or else from the end of the notebook.
    A string instead says why nothing could be read."""
    count = len(reference.items[question])
    early = _payload(section).get(question)
    late = final.get(question)
    if early is None and late is None:
        reason = f"{section.ename}: {section.message}" if section.ename else section.message
        return say("not-collected", reason=reason or _("the collecting cell showed nothing"))
    try:
        early = _decoded(early, count)
        late = _decoded(late, count)
    except ValueError as error:
        return say("not-collected", reason=str(error))
    return [
        first if not isinstance(first, plain.Missing) or isinstance(last, plain.Missing) else last
        for first, last in zip(early, late, strict=True)
    ]


def _decoded(found: Any, count: int) -> list[Any]:
    if found is None:
        return [plain.Missing(_("not collected"))] * count
    if not isinstance(found, list) or len(found) != count:
        raise ValueError(_("the answers do not match the question's items"))
    return [plain.decode(value) for value in found]


def _payload(result: CellResult | None) -> dict[str, Any]:
    """The answers a collecting cell displayed, by question; {} when it displayed none."""
    if result is None or not result.collected:
        return {}
    try:
        shown = plain.loads(result.collected)
    except ValueError:
        return {}
    answers = shown.get("answers") if isinstance(shown, dict) else None
    return answers if isinstance(answers, dict) else {}


def _stopped(verdict: str, where: str, limits: Limits) -> str:
    seconds = limits.notebook if verdict == "out-of-time" else limits.cell
    return say(verdict, where=where, seconds=seconds, megabytes=OUTPUT_LIMIT / 2**20)


def bad_notebook_rows(
    submission: str,
    student: str,
    reason: str,
    exercise: Exercise | None,
    exercise_id: str = "",
    status: str = "bad-notebook",
) -> list[Row]:
    """The rows of a submission that could not be graded: every question of its exercise at
    0 points when the file names a known exercise, else one row."""
    if exercise is None:
        return [Row(submission, student, exercise_id, "", 0, 0, status, _trim(reason))]
    return [
        Row(submission, student, exercise.id, q.id, 0, q.points, status, _trim(reason))
        for q in exercise.questions.values()
    ]


def not_a_notebook_row(submission: str, student: str, reason: str) -> Row:
    return Row(submission, student, "", "", 0, 0, "not-a-notebook", reason)


def progress(rows: list[Row]) -> str:
    """One terminal line: submission, exercise, points, questions passed (public, hidden)."""
    first = rows[0]
    if first.status in ("bad-notebook", "not-a-notebook"):
        return f"{first.submission}  {first.status}: {first.message}"
    public = [row for row in rows if not row.question.endswith(":hidden")]
    hidden = [row for row in rows if row.question.endswith(":hidden")]
    points = sum(row.points for row in rows)
    maximum = sum(row.max_points for row in rows)
    text = f"{first.submission}  {first.exercise}  {points:g}/{maximum}  "
    passed = sum(row.status == "passed" for row in public)
    if not hidden:
        return text + _("questions passed: {passed} of {count}", passed=passed, count=len(public))
    hidden_passed = sum(row.status == "passed" for row in hidden)
    return text + _(
        "public questions passed: {passed} of {count}, hidden: {hidden} of {hidden_count}",
        passed=passed,
        count=len(public),
        hidden=hidden_passed,
        hidden_count=len(hidden),
    )


def write_csv(rows: Iterable[Row], path: Path) -> None:
    """The long-format gradebook, replaced atomically."""
    _write(
        path, FIELDS, ([*astuple(row)[:4], f"{row.points:g}", *astuple(row)[5:]] for row in rows)
    )


def read_csv(path: Path) -> list[Row]:
    """A gradebook written by `write_csv`; ValueError when it is not one."""
    with open(path, newline="", encoding=ENCODING) as source:
        reader = csv.reader(source)
        header = tuple(next(reader, ()))
        if header != FIELDS:
            raise ValueError(
                _(
                    "{path}: not a gradebook (its header is not {header})",
                    path=path,
                    header=",".join(FIELDS),
                )
            )
        try:
            return [Row(*r[:4], float(r[4]), int(r[5]), *r[6:]) for r in reader]
        except (TypeError, ValueError):
            raise ValueError(_("{path}: a row is not a gradebook row", path=path)) from None


def write_summary(rows: list[Row], path: Path) -> None:
    """One row per student, one column per exercise (its best submission), then the total:
    the shape spreadsheet and LMS grade imports take."""
    exercises = sorted({row.exercise for row in rows if row.exercise})
    best: dict[tuple[str, str], float] = {}
    per_submission: dict[tuple[str, str, str], float] = {}
    for row in rows:
        if row.exercise:
            key = (row.student, row.exercise, row.submission)
            per_submission[key] = per_submission.get(key, 0.0) + row.points
    for (student, exercise, _submission), points in per_submission.items():
        best[student, exercise] = max(best.get((student, exercise), 0.0), points)
    students = sorted({row.student for row in rows})
    lines = []
    for student in students:
        scores = [best.get((student, exercise), 0.0) for exercise in exercises]
        lines.append([student, *(f"{s:g}" for s in scores), f"{round(sum(scores), 2):g}"])
    _write(path, ("student", *exercises, "total"), lines)


def merge(gradebooks: list[Path]) -> list[Row]:
    """The rows of several shards' gradebooks; ValueError when two hold the same submission."""
    rows, seen = [], {}
    for path in gradebooks:
        for row in read_csv(path):
            earlier = seen.setdefault((row.submission, row.question), path)
            if earlier != path:
                raise ValueError(
                    _(
                        "{submission} is graded in both {one} and {other}",
                        submission=row.submission,
                        one=earlier,
                        other=path,
                    )
                )
            rows.append(row)
    return rows


def _write(path: Path, header: tuple[str, ...], lines: Iterable[Iterable[Any]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(lines)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(buffer.getvalue(), encoding=ENCODING, newline="")
    os.replace(partial, path)


def _trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
