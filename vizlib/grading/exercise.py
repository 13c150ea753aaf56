"""The exercise notebook format: question ids, answer and check cells, points, solution blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

ANSWER = "answer:"  # tag prefix of a question's answer cells
CHECK = "check:"  # tag prefix of a question's check cells (their points in metadata.course.points)
SOLUTION_ONLY = "solution-only"  # tag of instructor cells left out of the student copy
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
QUESTION_ID = re.compile(r"[a-z0-9_-]+")


@dataclass(frozen=True)
class Role:
    """What a code cell is for in a graded notebook: kind is "answer", "check" or "other"."""

    kind: str
    question: str | None = None
    points: int = 0
    hidden: bool = False


@dataclass(frozen=True)
class Exercise:
    """An instructor's solution notebook, checked against the format."""

    id: str
    path: Path | None
    notebook: NotebookNode
    questions: tuple[str, ...]  # in order of first appearance
    points: dict[str, tuple[int, ...]]  # points of each check cell of a question, in order


def tags(cell: NotebookNode) -> list[str]:
    """The cell's tags (an empty list when the metadata holds none or nonsense)."""
    found = cell.get("metadata", {}).get("tags", [])
    return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []


def tagged(cell: NotebookNode, prefix: str) -> list[str]:
    """Question ids the cell is tagged with under `prefix` (ANSWER or CHECK)."""
    return [tag[len(prefix) :] for tag in tags(cell) if tag.startswith(prefix)]


def exercise_id(nb: NotebookNode) -> str | None:
    """The exercise id from the notebook metadata `course.exercise`, if any."""
    course = nb.get("metadata", {}).get("course")
    found = course.get("exercise") if isinstance(course, dict) else None
    return found if isinstance(found, str) and found else None


def check_points(cell: NotebookNode) -> int | None:
    """A check cell's points (`metadata.course.points`), or None when not a positive int."""
    course = cell.get("metadata", {}).get("course")
    points: Any = course.get("points") if isinstance(course, dict) else None
    return points if type(points) is int and points > 0 else None


def parse_exercise(nb: NotebookNode, path: Path | None = None) -> Exercise:
    """Check a solution notebook against the format; ValueError says what to fix where."""
    prefix = f"{path}: " if path else ""
    ex_id = exercise_id(nb)
    if ex_id is None:
        raise ValueError(f"{prefix}notebook metadata needs course.exercise, the exercise id")
    order: list[str] = []
    answered: set[str] = set()
    points: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        where = f"{prefix}cell {index}"
        answers, checks = tagged(cell, ANSWER), tagged(cell, CHECK)
        for question in answers + checks:
            if not QUESTION_ID.fullmatch(question):
                raise ValueError(f"{where}: question id {question!r} must match [a-z0-9_-]+")
            if question not in order:
                order.append(question)
        if len(answers) + len(checks) > 1:
            raise ValueError(f"{where}: one answer:<id> or check:<id> tag per cell: {tags(cell)}")
        has_block = any(line.strip() in (BEGIN, END) for line in cell.source.splitlines())
        if has_block and not answers:
            raise ValueError(f"{where}: a solution block belongs in a cell tagged answer:<id>")
        answered.update(answers)
        if checks:
            if cell.cell_type != "code" or check_points(cell) is None:
                raise ValueError(
                    f"{where}: a check cell is a code cell with metadata course.points, "
                    "a positive integer"
                )
            points.setdefault(checks[0], []).append(check_points(cell))
    for question in order:
        if question not in answered or question not in points:
            missing = "answer" if question not in answered else "check"
            raise ValueError(f"{prefix}question {question!r} has no {missing} cell")
    return Exercise(ex_id, path, nb, tuple(order), {q: tuple(p) for q, p in points.items()})


def read_exercise(path: Path) -> Exercise:
    """Read and check one solution notebook."""
    return parse_exercise(nbformat.read(path, as_version=4), path)


def load_exercises(exercises_dir: Path) -> dict[str, Exercise]:
    """Every solution notebook of `exercises_dir/solutions/`, by exercise id."""
    folder = Path(exercises_dir) / "solutions"
    if not folder.is_dir():
        raise ValueError(f"exercises_dir: no solutions/ folder in {exercises_dir}")
    found: dict[str, Exercise] = {}
    for path in sorted(folder.glob("*.ipynb")):
        exercise = read_exercise(path)
        if exercise.id in found:
            other = found[exercise.id].path
            raise ValueError(f"{path}: exercise id {exercise.id!r} is also used by {other}")
        found[exercise.id] = exercise
    return found
