"""Student copies of the exercises: solutions replaced by placeholders, outputs cleared, and check
cells that hold a key instead of any answer.

Writing a copy runs the solution (`reference.run_references`, a trusted kernel) to compute the
answers its keys are made from; arguments that would give answers away (`also`, `before`) move
from the check cell into the key. `release` writes the public copies, `exercises/NN_slug.ipynb`
(the default variant); `release_roster` one copy per student of a roster, `out/<student>/`, each
the public copy (or its Chinese edition, `exercises/zh/`, for a student whose language is zh)
with the student's variant in its parameters cell, the keys of that variant, its lettered
options in that variant's order, and the student and variant in its metadata.
"""

from __future__ import annotations

import ast
import copy
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from vizlib.i18n import LANGUAGES, SOURCE, _

from .exercise import (
    ANSWER,
    BEGIN,
    CHECK,
    END,
    OPTIONS,
    SECRET_ARGS,
    SOLUTION_ONLY,
    Exercise,
    answer_call,
    in_language,
    load_exercises,
    placeholder,
    tagged,
    tags,
)
from .reference import Reference, run_references
from .roster import load
from .variants import DEFAULT, PARAMETERS, Variant, parameters_source, reorder_options

TEXT_PLACEHOLDER = ("YOUR ANSWER HERE",)
KEY = re.compile(r'key="[A-Za-z0-9+/=]*"')  # a check cell's key, as `keyed` writes it


def student_copy(reference: Reference) -> NotebookNode:
    """The student's version of the reference's solution notebook: no solution text, no outputs,
    keyed check cells (read-only in JupyterLab), no saved widget state."""
    student = copy.deepcopy(reference.exercise.notebook)
    student.metadata.pop("widgets", None)
    student.cells = [cell for cell in student.cells if SOLUTION_ONLY not in tags(cell)]
    for cell in student.cells:
        answers = tagged(cell, ANSWER)
        if answers:
            lines = placeholder(answers[0]) if cell.cell_type == "code" else TEXT_PLACEHOLDER
            cell.source = _replace_solutions(cell.source, lines, answers[0])
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        checks = tagged(cell, CHECK)
        if checks:
            cell.source = keyed(cell.source, reference.written_key(checks[0]))
            cell.metadata.update(editable=False, deletable=False)
    return student


def solved_copy(exercises_dir: Path, name: str, path: Path | None = None) -> NotebookNode:
    """The student copy `name` (e.g. "04_paravirtualization"), or the copy at `path` (a student's
    own), with its solution's answer cells in it: what a learner who solved every question hands
    in (unexecuted)."""
    nb = nbformat.read(path or Path(exercises_dir) / f"{name}.ipynb", as_version=4)
    solution = nbformat.read(Path(exercises_dir) / "solutions" / f"{name}.ipynb", as_version=4)
    answers = [cell.source for cell in solution.cells if tagged(cell, ANSWER)]
    cells = [cell for cell in nb.cells if tagged(cell, ANSWER)]
    if len(answers) != len(cells):
        raise ValueError(f"{name}: the student copy is stale; run the release")
    for cell, source in zip(cells, answers, strict=True):
        cell.source = source
    return nb


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
    found = _run(list(exercises.values()), {})
    return [(exercise, found[ex_id][DEFAULT]) for ex_id, exercise in exercises.items()]


def _run(exercises: list[Exercise], variants: dict[str, list[int]]) -> dict:
    with tempfile.TemporaryDirectory(prefix="vizlib-release-", ignore_cleanup_errors=True) as tmp:
        return run_references(exercises, Path(tmp), variants=variants)


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


def personal_copy(public: NotebookNode, reference: Reference, student: str) -> NotebookNode:
    """The public student copy `public` (or its translation) made `student`'s, for the variant
    of `reference`: its parameters cell, keys, lettered options and metadata."""
    nb = copy.deepcopy(public)
    number, exercise = reference.variant, reference.exercise
    for cell in nb.cells:
        if PARAMETERS in tags(cell):
            cell.source = parameters_source(number)
        for question in tagged(cell, CHECK):
            key = f'key="{reference.written_key(question)}"'
            cell.source, found = KEY.subn(key, cell.source)
            if found != 1:
                raise ValueError(f"{exercise.id}: the check cell of {question} holds no key")
        for question in tagged(cell, OPTIONS):
            order = Variant(number).order(question, exercise.options[question])
            cell.source = reorder_options(cell.source, order, f"{exercise.id}, {question}: ")
    nb.metadata["course"].update(student=student, variant=number)
    return nb


def release_roster(
    exercises_dir: Path,
    roster: Path,
    out: Path,
    secret: Path | None = None,
    names: list[str] = (),
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Write each student's copy of each exercise (those `names` gives, by id or number, or
    all) to `out/<student>/`; returns the paths written. ValueError when the roster, the
    secret or a public copy cannot be used."""
    class_roster = load(roster, secret)
    exercises = _chosen(load_exercises(Path(exercises_dir)), names)
    variants = {
        ex.id: [DEFAULT, *(class_roster.variant(ex.id, s.id) for s in class_roster.students)]
        for ex in exercises
        if ex.variable
    }
    found = _run(exercises, variants)
    written = []
    for exercise in exercises:
        references = found[exercise.id]
        editions = _editions(Path(exercises_dir), exercise, references[DEFAULT], echo)
        for language in sorted({s.language for s in class_roster.students} - set(editions)):
            echo(
                _(
                    "{exercise} has no edition in {language} yet: its students get the English "
                    "copy",
                    exercise=exercise.id,
                    language=language,
                )
            )
        for student in class_roster.students:
            number = class_roster.variant(exercise.id, student.id) if exercise.variable else DEFAULT
            public = editions.get(student.language, editions[SOURCE])
            nb = personal_copy(public, references[number], student.id)
            path = Path(out) / student.id / exercise.path.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render(nb))
            written.append(path)
    return written


def _chosen(exercises: dict[str, Exercise], names: list[str]) -> list[Exercise]:
    """The exercises named by id (`04_paravirtualization`) or number (`04`); all without names."""
    if not names:
        return list(exercises.values())
    unknown = [n for n in names if not any(e == n or e.split("_")[0] == n for e in exercises)]
    if unknown:
        known = ", ".join(exercises)
        raise ValueError(_("unknown exercise {names} (known: {known})", names=unknown, known=known))
    return [e for i, e in exercises.items() if i in names or i.split("_")[0] in names]


def _editions(
    folder: Path, exercise: Exercise, default: Reference, echo: Callable[[str], None]
) -> dict[str, NotebookNode]:
    """The public copies a student's copy is made from, by language: the English one (which must
    be up to date) and each translation whose code cells are the English copy's."""
    path = folder / exercise.path.name
    if not path.is_file() or path.read_bytes() != render(student_copy(default)):
        raise ValueError(
            _(
                "{path} is not up to date with its solution: run `python -m vizlib.grading "
                "release` first",
                path=path,
            )
        )
    english = nbformat.read(path, as_version=4)
    found = {SOURCE: english}
    for language in LANGUAGES:
        translated = folder / language / exercise.path.name
        if language == SOURCE or not translated.is_file():
            continue
        nb = nbformat.read(translated, as_version=4)
        if _code(nb) == _code(english, language):
            found[language] = nb
        else:
            echo(_("{path} is out of date: its students get the English copy", path=translated))
    return found


def _code(nb: NotebookNode, lang: str = SOURCE) -> list[str]:
    """The sources of a notebook's code cells, but a translation's language cell, with the answer
    cells' placeholders in `lang` (as its edition of `lang` writes them)."""
    from vizlib.authoring.translation import LANGUAGE_CELL_ID

    code = [c for c in nb.cells if c.cell_type == "code" and c.get("id") != LANGUAGE_CELL_ID]
    return [in_language(copy.deepcopy(c), lang).source for c in code]


def _replace_solutions(source: str, replacement: tuple[str, ...], question: str) -> str:
    """`source` with each solution block replaced by the lines `replacement`, indented as it."""
    lines, inside = [], False
    for line in source.split("\n"):
        marker = line.strip()
        if marker == BEGIN and not inside:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + text for text in replacement]
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
