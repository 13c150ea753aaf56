"""A student's submission and the copy of it that gets graded, with the checks put back."""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .exercise import ANSWER, CHECK, Exercise, Role, check_points, exercise_id, tagged
from .release import student_copy


class BadNotebook(ValueError):
    """The submission cannot be graded; the message says why, for the gradebook."""


@dataclass
class GradedCopy:
    """The notebook that runs, and the role of each of its code cells (nbval's `Cell N`)."""

    exercise: Exercise
    notebook: NotebookNode
    roles: list[Role]


def read_submission(path: Path, exercises: dict[str, Exercise]) -> tuple[NotebookNode, Exercise]:
    """The submitted notebook and its exercise; BadNotebook when it cannot be graded."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise BadNotebook("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        if not text.lstrip().startswith("{"):
            raise BadNotebook("not a notebook: the file does not hold JSON") from None
        raise BadNotebook(f"not a notebook: invalid JSON ({error}); truncated file?") from None
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        raise BadNotebook("not a notebook: the JSON has no nbformat 4 header")
    captured: dict[str, Exception] = {}
    try:
        with warnings.catch_warnings():  # missing cell ids: nbformat adds them, and so do we
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4, capture_validation_error=captured)
    except Exception as error:  # nbformat trips in many ways over a malformed structure
        captured["ValidationError"] = error
    if captured:
        reason = (str(captured["ValidationError"]).strip() or "malformed").splitlines()[0]
        raise BadNotebook(f"not a valid notebook: {reason}")
    ex_id = exercise_id(nb)
    if ex_id is None:
        raise BadNotebook("no exercise id in the notebook metadata (course.exercise)")
    if ex_id not in exercises:
        raise BadNotebook(f"unknown exercise id {ex_id!r} (known: {', '.join(sorted(exercises))})")
    return nb, exercises[ex_id]


def pristine_checks(exercise: Exercise) -> dict[str, list[NotebookNode]]:
    """The released check cells of each question, in order."""
    checks: dict[str, list[NotebookNode]] = {}
    for cell in student_copy(exercise.notebook).cells:
        for question in tagged(cell, CHECK):
            checks.setdefault(question, []).append(cell)
    return checks


def graded_copy(
    nb: NotebookNode,
    exercise: Exercise,
    checks: dict[str, list[NotebookNode]],
    hidden: dict[str, list[NotebookNode]],
    budget: float,
) -> GradedCopy:
    """The submission with every check cell replaced by the released ones (then hidden ones).

    Cells tagged check:<id> in the submission are dropped, whatever they say. A question's checks
    go after its last answer cell; when the student deleted the answer cells, just before the
    next question's first answer cell (or at the end), never before an earlier question's checks.
    Outputs are cleared, cell ids renumbered; `budget` (seconds) goes to metadata.grading for
    the nbval guard.
    """
    cells = [_cleared(cell) for cell in nb.cells if not tagged(cell, CHECK)]
    first_answer: dict[str, int] = {}
    after_answer: dict[str, int] = {}
    for index, cell in enumerate(cells):
        for question in tagged(cell, ANSWER):
            first_answer.setdefault(question, index)
            after_answer[question] = index + 1
    anchors: dict[int, list[str]] = {}
    floor = 0
    for number, question in enumerate(exercise.questions):
        later = [first_answer[q] for q in exercise.questions[number + 1 :] if q in first_answer]
        anchor = max(floor, after_answer.get(question, min(later, default=len(cells))))
        anchors.setdefault(anchor, []).append(question)
        floor = anchor
    graded: list[NotebookNode] = []
    for index in range(len(cells) + 1):
        for question in anchors.get(index, []):
            graded += [copy.deepcopy(cell) for cell in checks[question]]
            graded += [copy.deepcopy(cell) for cell in hidden.get(question, [])]
        if index < len(cells):
            graded.append(cells[index])
    for number, cell in enumerate(graded):
        cell.id = f"cell-{number}"  # unique, whatever the student copied and pasted
    notebook = nbformat.v4.new_notebook(
        cells=graded, metadata={"course": {"exercise": exercise.id}, "grading": {"budget": budget}}
    )
    roles = [_role(cell, exercise) for cell in graded if cell.cell_type == "code"]
    return GradedCopy(exercise, notebook, roles)


def _cleared(cell: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _role(cell: NotebookNode, exercise: Exercise) -> Role:
    checks = tagged(cell, CHECK)
    if checks:
        hidden = bool(cell.metadata.get("course", {}).get("hidden"))
        return Role("check", checks[0], check_points(cell) or 0, hidden)
    answers = [q for q in tagged(cell, ANSWER) if q in exercise.questions]
    return Role("answer", answers[0]) if answers else Role("other")
