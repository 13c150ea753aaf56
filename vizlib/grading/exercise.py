"""The exercise notebook format: question ids, answer and check cells, points, solution blocks.

A check cell holds exactly one call, `check.answer("<question id>", check.<kind>(<value>, ...),
...)`, read here without running it: the grader learns which values to take out of the kernel
(the first argument of each item) and the release where to put the key. See the package docstring.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from vizlib.i18n import LANGUAGES, N_, SOURCE, _, use

from .judge import KINDS
from .variants import LETTERS, PARAMETERS, parameters_source, reorder_options

ANSWER = "answer:"  # tag prefix of a question's answer cells
CHECK = "check:"  # tag prefix of a question's check cell (its points in metadata.course.points)
SOLUTION_ONLY = "solution-only"  # tag of instructor cells left out of the student copy
OPTIONS = "options:"  # tag prefix of a markdown cell listing a question's lettered options
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
QUESTION_ID = re.compile(r"[a-z0-9_-]+")
SECRET_ARGS = ("also", "before")  # item arguments that give the answer away: kept out of copies
DEVICES = ("/dev/kvm",)  # devices an exercise may ask the sandbox for (metadata course.devices)
UNANSWERED = N_("Question {question}: write your answer here, then run the check cell below.")


@dataclass(frozen=True)
class ItemSpec:
    """One item of a check cell: its kind, its call's source, the value's source, and the words
    it shows a learner (what it asks for, its hint, explanation and ordering hints)."""

    kind: str
    source: str  # check.hex(gpa, "the guest-physical address")
    value: str  # gpa
    texts: tuple[str, ...] = ()  # ("the guest-physical address",)


@dataclass(frozen=True)
class Question:
    """A question's check cell, read without running it."""

    id: str
    points: int
    items: tuple[ItemSpec, ...]
    hidden: bool = False  # instructor-only checks (`grade --extra-checks`)


@dataclass(frozen=True)
class Exercise:
    """An instructor's solution notebook, checked against the format."""

    id: str
    path: Path | None
    notebook: NotebookNode
    questions: dict[str, Question]  # in the notebook's order
    devices: tuple[str, ...] = ()
    variable: bool = False  # it has a parameters cell: its answers depend on VARIANT
    options: dict[str, int] = field(default_factory=dict)  # question -> its lettered options


def tags(cell: NotebookNode) -> list[str]:
    """The cell's tags (an empty list when the metadata holds none or nonsense)."""
    found = cell.get("metadata", {}).get("tags", [])
    return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []


def tagged(cell: NotebookNode, prefix: str) -> list[str]:
    """Question ids the cell is tagged with under `prefix` (ANSWER or CHECK)."""
    return [tag[len(prefix) :] for tag in tags(cell) if tag.startswith(prefix)]


def placeholder(question: str, lang: str = SOURCE) -> tuple[str, str]:
    """The lines that stand for a question's solution in its student copy of `lang`: a comment
    the introduction names, and a `raise` that says, in `lang`, what to do."""
    message = _in(lang, UNANSWERED, question=question)
    return (
        "# YOUR CODE HERE",
        f"raise NotImplementedError({json.dumps(message, ensure_ascii=False)})",
    )


def in_language(cell: NotebookNode, lang: str) -> NotebookNode:
    """An answer cell with its placeholder in `lang` (other cells as they are)."""
    for question in tagged(cell, ANSWER):
        english, shown = placeholder(question)[1], placeholder(question, lang)[1]
        cell.source = cell.source.replace(english, shown)
    return cell


def unanswered(question: str, message: str) -> bool:
    """Whether `message`, an answer cell's NotImplementedError, is the placeholder's, in any
    language: the cell was left as handed out."""
    return any(message == _in(lang, UNANSWERED, question=question) for lang in LANGUAGES)


def _in(lang: str, message: str, **fields: object) -> str:
    with use(lang):
        return _(message, **fields)


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


def answer_call(source: str) -> ast.Call:
    """The `check.answer(...)` call a check cell consists of; ValueError says what is wrong."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"a check cell must be valid Python: {error}") from None
    body = tree.body
    call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Expr) else None
    if not (isinstance(call, ast.Call) and _is_check(call.func, "answer")):
        raise ValueError('a check cell holds one call: check.answer("<question id>", items...)')
    return call


def parse_question(source: str, question: str, points: int, hidden: bool = False) -> Question:
    """Read a check cell's `check.answer` call; ValueError says what to fix."""
    call = answer_call(source)
    first = call.args[0] if call.args else None
    if not (isinstance(first, ast.Constant) and first.value == question):
        raise ValueError(
            f'check.answer must name its question first: check.answer("{question}", ...)'
        )
    if any(keyword.arg != "key" for keyword in call.keywords):
        raise ValueError("check.answer takes the question id, its items and key=")
    found = []
    for node in call.args[1:]:
        kind = node.func.attr if isinstance(node, ast.Call) and _is_check(node.func) else None
        if kind not in KINDS or not node.args:
            raise ValueError(
                f"each item is check.<kind>(value, what, ...) with kind one of {KINDS}"
            )
        value = ast.get_source_segment(source, node.args[0])
        texts = own_texts(node, kind)
        found.append(ItemSpec(kind, ast.get_source_segment(source, node), value, texts))
    if not found:
        raise ValueError(f"check.answer({question!r}) needs at least one item")
    return Question(question, points, tuple(found), hidden)


def own_texts(item: ast.Call, kind: str) -> tuple[str, ...]:
    """The words an item shows a learner: what it asks for, `hint=`, `explanation=`, the hint of
    each `before=` rule. Each is a string written out in the call, so that `translate` finds it
    for the other languages; ValueError when one is not."""
    named = {keyword.arg: keyword.value for keyword in item.keywords}
    found = [("what", item.args[1] if len(item.args) > 1 else named.get("what"))]
    found += [(f"{name}=", named[name]) for name in ("hint", "explanation") if name in named]
    before = named.get("before")
    if before is not None:
        rules = before.elts if isinstance(before, ast.List | ast.Tuple) else [before]
        if not all(isinstance(rule, ast.Tuple) and len(rule.elts) == 3 for rule in rules):
            raise ValueError(
                f"check.{kind}: before= is a list of (firsts, thens, hint) written out"
            )
        found += [("the hint of each before= rule", rule.elts[2]) for rule in rules]
    for name, node in found:
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            raise ValueError(
                f'check.{kind}: {name} must be a string written out ("..."), so that '
                "`translate` finds it"
            )
    return tuple(node.value for _name, node in found)


def _is_check(func: ast.expr, attr: str | None = None) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "check"
        and (attr is None or func.attr == attr)
    )


def parse_exercise(nb: NotebookNode, path: Path | None = None) -> Exercise:
    """Check a solution notebook against the format; ValueError says what to fix where."""
    prefix = f"{path}: " if path else ""
    ex_id = exercise_id(nb)
    if ex_id is None:
        raise ValueError(f"{prefix}notebook metadata needs course.exercise, the exercise id")
    devices = nb.metadata["course"].get("devices", [])
    if not (isinstance(devices, list) and set(devices) <= set(DEVICES)):
        raise ValueError(f"{prefix}course.devices must be a list of {DEVICES}, got {devices!r}")
    order: list[str] = []
    answered: set[str] = set()
    questions: dict[str, Question] = {}
    parameters, options = [], {}
    for index, cell in enumerate(nb.cells):
        where = f"{prefix}cell {index}"
        answers, checks = tagged(cell, ANSWER), tagged(cell, CHECK)
        if PARAMETERS in tags(cell):
            if cell.cell_type != "code" or cell.source.strip() != parameters_source(0):
                raise ValueError(
                    f"{where}: the parameters cell is a code cell holding {parameters_source(0)!r}"
                )
            parameters.append(index)
        for question in tagged(cell, OPTIONS):
            if cell.cell_type != "markdown" or question in options:
                raise ValueError(f"{where}: options:{question} tags one markdown cell")
            options[question] = _count_options(cell.source, f"{where}: ")
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
            if checks[0] in questions:
                raise ValueError(f"{where}: question {checks[0]!r} has a second check cell")
            try:
                questions[checks[0]] = parse_question(cell.source, checks[0], check_points(cell))
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
    for question in order:
        if question not in answered or question not in questions:
            missing = "answer" if question not in answered else "check"
            raise ValueError(f"{prefix}question {question!r} has no {missing} cell")
    if len(parameters) > 1:
        raise ValueError(f"{prefix}cells {parameters}: one parameters cell per exercise")
    unknown = sorted(set(options) - set(questions))
    if unknown:
        raise ValueError(f"{prefix}options cells of unknown questions: {unknown}")
    if options and not parameters:
        raise ValueError(
            f"{prefix}lettered options are shuffled per variant: add a parameters cell"
        )
    ordered = {q: questions[q] for q in order}
    return Exercise(ex_id, path, nb, ordered, tuple(devices), bool(parameters), options)


def _count_options(source: str, where: str) -> int:
    """How many lettered options a markdown cell lists ("- a. ...", "- b. ..."); ValueError
    when they are not lettered in order."""
    count = sum(1 for line in source.split("\n") if line[:2] == "- " and line[3:5] == ". ")
    if count < 2 or count > len(LETTERS):
        raise ValueError(f"{where}an options cell lists 2 to {len(LETTERS)} items '- a. ...'")
    reorder_options(source, list(range(count)), where)
    return count


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


def installed_exercises() -> Path:
    """The exercises folder of the installed course; ValueError saying to pass --exercises."""
    from vizlib.course import ROOT

    folder = ROOT / "exercises"
    if not (folder / "solutions").is_dir():
        raise ValueError(
            f"exercises: the installed course has no exercises/solutions/ folder (looked in "
            f"{folder}); pass --exercises DIR, the folder that holds solutions/"
        )
    return folder
