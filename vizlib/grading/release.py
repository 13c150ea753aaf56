"""Student copies of the exercises: solutions replaced by placeholders, outputs cleared."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .exercise import (
    ANSWER,
    BEGIN,
    CHECK,
    END,
    SOLUTION_ONLY,
    parse_exercise,
    tagged,
    tags,
)

CODE_PLACEHOLDER = (
    "# YOUR CODE HERE",
    'raise NotImplementedError("Question {question}: write your answer here, '
    'then run the check cell below.")',
)
TEXT_PLACEHOLDER = ("YOUR ANSWER HERE",)


def student_copy(nb: NotebookNode) -> NotebookNode:
    """The student's version of a solution notebook: no solution text, no outputs.

    Each solution block becomes a placeholder at the block's indentation, cells tagged
    `solution-only` are dropped, check cells are marked read-only for JupyterLab, and saved widget
    state is removed. ValueError when the notebook breaks the exercise format.
    """
    parse_exercise(nb)
    student = copy.deepcopy(nb)
    student.metadata.pop("widgets", None)
    student.cells = [cell for cell in student.cells if SOLUTION_ONLY not in tags(cell)]
    for cell in student.cells:
        _strip(cell)
    return student


def _strip(cell: NotebookNode) -> None:
    answers = tagged(cell, ANSWER)
    if answers:
        placeholder = CODE_PLACEHOLDER if cell.cell_type == "code" else TEXT_PLACEHOLDER
        cell.source = _replace_solutions(cell.source, placeholder, answers[0])
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    if tagged(cell, CHECK):
        cell.metadata.update(editable=False, deletable=False)


def render(nb: NotebookNode) -> bytes:
    """The notebook file's bytes: nbformat 4 JSON, UTF-8, one trailing newline."""
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def expected_copies(exercises_dir: Path) -> dict[Path, bytes]:
    """What each student copy `exercises_dir/<name>.ipynb` should contain, by path."""
    solutions = Path(exercises_dir) / "solutions"
    if not solutions.is_dir():
        raise ValueError(f"exercises_dir: no solutions/ folder in {exercises_dir}")
    expected = {}
    for path in sorted(solutions.glob("*.ipynb")):
        try:
            expected[Path(exercises_dir) / path.name] = render(student_copy(nbformat.read(path, 4)))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return expected


def stale_copies(exercises_dir: Path) -> list[Path]:
    """Student copies that are missing or differ from what their solution would give."""
    return [
        path
        for path, content in expected_copies(exercises_dir).items()
        if not path.is_file() or path.read_bytes() != content
    ]


def release(exercises_dir: Path) -> list[Path]:
    """Regenerate the stale student copies; returns the paths written."""
    written = []
    for path, content in expected_copies(exercises_dir).items():
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
            written.append(path)
    return written


def _replace_solutions(source: str, placeholder: tuple[str, ...], question: str) -> str:
    lines, inside = [], False
    for line in source.split("\n"):
        marker = line.strip()
        if marker == BEGIN and not inside:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + text.format(question=question) for text in placeholder]
            inside = True
        elif marker in (BEGIN, END):
            if marker == BEGIN or not inside:
                raise ValueError(f"question {question}: unmatched {marker!r} in an answer cell")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"question {question}: {BEGIN!r} without {END!r} in an answer cell")
    return "\n".join(lines)
