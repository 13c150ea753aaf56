"""Instructor-only checks (`grade --extra-checks DIR`), kept out of the repository's notebooks.

`DIR/<exercise_id>.py` holds check cells, each opened by a marker line

    # %% check:<question_id> points=<N>

followed by the cell's code. Blank and comment lines may come before the first marker; nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from .exercise import CHECK, Exercise

MARKER = re.compile(r"# %% check:(?P<question>[a-z0-9_-]+) points=(?P<points>[1-9][0-9]*)")


def parse_hidden_checks(text: str, exercise: Exercise, name: str) -> dict[str, list[NotebookNode]]:
    """The check cells of one extra-checks file, by question; ValueError says what to fix."""
    found: dict[str, list[NotebookNode]] = {}
    cell: NotebookNode | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name}, line {number}"
        if line.startswith("# %%"):
            marker = MARKER.fullmatch(line.rstrip())
            if marker is None:
                raise ValueError(f"{where}: a marker reads `# %% check:<question_id> points=<N>`")
            question = marker["question"]
            if question not in exercise.questions:
                known = ", ".join(exercise.questions)
                raise ValueError(f"{where}: no question {question!r} in {exercise.id} ({known})")
            course = {"points": int(marker["points"]), "hidden": True}
            cell = new_code_cell("", metadata={"tags": [CHECK + question], "course": course})
            found.setdefault(question, []).append(cell)
        elif cell is not None:
            cell.source += line + "\n"
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{where}: code before the first `# %% check:` marker")
    for cells in found.values():
        for cell in cells:
            cell.source = cell.source.strip("\n")
    return found


def load_hidden_checks(
    folder: Path, exercises: dict[str, Exercise]
) -> dict[str, dict[str, list[NotebookNode]]]:
    """Every extra-checks file of `folder`, by exercise id then question id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"extra_checks: {folder} is not a folder")
    found = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem not in exercises:
            known = ", ".join(sorted(exercises))
            raise ValueError(f"{path}: the file name matches no exercise id ({known})")
        text = path.read_text("utf-8")
        found[path.stem] = parse_hidden_checks(text, exercises[path.stem], str(path))
    return found
