"""Instructor-only checks (`grade --extra-checks DIR`), kept out of the repository's notebooks.

`DIR/<exercise_id>.py` holds check cells in the exercises' own format, each opened by a marker:

    # %% check:<question_id> points=<N>
    check.answer("<question_id>", check.calls(double, "double", probe="call", examples=[[0], [9]]))

The grader reads them without running them: their values are taken out of each submission's
kernel with the question's own, judged against the reference solution's values on the same items,
and scored in a row of their own whose question is `<question_id>:hidden`.
"""

from __future__ import annotations

import re
from pathlib import Path

from .exercise import Exercise, Question, parse_question

MARKER = re.compile(r"# %% check:(?P<question>[a-z0-9_-]+) points=(?P<points>[1-9][0-9]*)")
HIDDEN = ":hidden"  # suffix of the question id of a hidden check's row


def parse_hidden_checks(text: str, exercise: Exercise, name: str) -> tuple[Question, ...]:
    """The hidden checks of one extra-checks file; ValueError says what to fix where."""
    cells: list[tuple[str, int, int, list[str]]] = []  # question, points, line, source lines
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
            if any(cell[0] == question for cell in cells):
                raise ValueError(f"{where}: question {question!r} has hidden checks already")
            cells.append((question, int(marker["points"]), number, []))
        elif cells:
            cells[-1][3].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{where}: code before the first `# %% check:` marker")
    found = []
    for question, points, line, source in cells:
        try:
            parsed = parse_question("\n".join(source).strip(), question, points)
        except ValueError as error:
            raise ValueError(f"{name}, line {line}: {error}") from None
        found.append(Question(question + HIDDEN, points, parsed.items, hidden=True))
    return tuple(found)


def load_hidden_checks(
    folder: Path, exercises: dict[str, Exercise]
) -> dict[str, tuple[Question, ...]]:
    """Every extra-checks file of `folder`, by exercise id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"extra_checks: {folder} is not a folder")
    found = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem not in exercises:
            known = ", ".join(sorted(exercises))
            raise ValueError(f"{path}: the file name matches no exercise id ({known})")
        found[path.stem] = parse_hidden_checks(
            path.read_text("utf-8"), exercises[path.stem], str(path)
        )
    return found
