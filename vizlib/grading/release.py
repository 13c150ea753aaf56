"""Student copies of the exercises: solutions replaced by placeholders, outputs cleared, and check
cells that hold a key instead of any answer.

Writing a copy runs the solution (`reference.run_references`, a trusted kernel) to compute the
answers its keys are made from; arguments that would give answers away (`also`, `before`) move
from the check cell into the key.
"""

from __future__ import annotations

import ast
import copy
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .exercise import (
    ANSWER,
    BEGIN,
    CHECK,
    END,
    SECRET_ARGS,
    SOLUTION_ONLY,
    Exercise,
    answer_call,
    load_exercises,
    tagged,
    tags,
)
from .reference import Reference, run_references

CODE_PLACEHOLDER = (
    "# YOUR CODE HERE",
    'raise NotImplementedError("Question {question}: write your answer here, '
    'then run the check cell below.")',
)
TEXT_PLACEHOLDER = ("YOUR ANSWER HERE",)


def student_copy(reference: Reference) -> NotebookNode:
    """The student's version of the reference's solution notebook: no solution text, no outputs,
    keyed check cells (read-only in JupyterLab), no saved widget state."""
    student = copy.deepcopy(reference.exercise.notebook)
    student.metadata.pop("widgets", None)
    student.cells = [cell for cell in student.cells if SOLUTION_ONLY not in tags(cell)]
    for cell in student.cells:
        answers = tagged(cell, ANSWER)
        if answers:
            placeholder = CODE_PLACEHOLDER if cell.cell_type == "code" else TEXT_PLACEHOLDER
            cell.source = _replace_solutions(cell.source, placeholder, answers[0])
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        checks = tagged(cell, CHECK)
        if checks:
            cell.source = keyed(cell.source, reference.written_key(checks[0]))
            cell.metadata.update(editable=False, deletable=False)
    return student


def solved_copy(exercises_dir: Path, name: str) -> NotebookNode:
    """The student copy `name` (e.g. "04_paravirtualization") with its solution's answer cells in
    it: what a learner who solved every question hands in (unexecuted)."""
    copy = nbformat.read(Path(exercises_dir) / f"{name}.ipynb", as_version=4)
    solution = nbformat.read(Path(exercises_dir) / "solutions" / f"{name}.ipynb", as_version=4)
    answers = [cell.source for cell in solution.cells if tagged(cell, ANSWER)]
    cells = [cell for cell in copy.cells if tagged(cell, ANSWER)]
    if len(answers) != len(cells):
        raise ValueError(f"{name}: the student copy is stale; run the release")
    for cell, source in zip(cells, answers, strict=True):
        cell.source = source
    return copy


def keyed(source: str, key: str) -> str:
    """A check cell's source without its secret arguments, with `key=` added."""
    call = answer_call(source)
    lines = source.split("\n")

    def offset(line: int, column: int) -> int:  # ast columns count UTF-8 bytes
        before = sum(len(text) + 1 for text in lines[: line - 1])
        return before + len(lines[line - 1].encode()[:column].decode())

    cuts = []
    for item in call.args[1:]:
        arguments = [*item.args, *item.keywords]
        for previous, argument in zip(arguments, arguments[1:], strict=False):
            if isinstance(argument, ast.keyword) and argument.arg in SECRET_ARGS:
                start = offset(previous.end_lineno, previous.end_col_offset)
                cuts.append((start, offset(argument.end_lineno, argument.end_col_offset)))
    last = call.args[-1]
    at = offset(last.end_lineno, last.end_col_offset)
    joint = ",\n    " if call.lineno != call.end_lineno else ", "
    text = source[:at] + f'{joint}key="{key}"' + source[at:]
    for start, end in sorted(cuts, reverse=True):
        text = text[:start] + text[end:]
    return text


def render(nb: NotebookNode) -> bytes:
    """The notebook file's bytes: nbformat 4 JSON, UTF-8, one trailing newline."""
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def expected_copies(exercises_dir: Path) -> dict[Path, bytes]:
    """What each student copy `exercises_dir/<name>.ipynb` should contain, by path."""
    exercises = load_exercises(Path(exercises_dir))
    return {
        Path(exercises_dir) / exercise.path.name: render(student_copy(ref))
        for exercise, ref in _references(exercises)
    }


def _references(exercises: dict[str, Exercise]) -> list[tuple[Exercise, Reference]]:
    with tempfile.TemporaryDirectory(prefix="vizlib-release-", ignore_cleanup_errors=True) as tmp:
        found = run_references(list(exercises.values()), Path(tmp))
    return [(exercise, found[ex_id]) for ex_id, exercise in exercises.items()]


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
