"""A student's submission, and the copy of it that runs: answers kept, check cells replaced by
cells that collect the answers as data.

Reading is forgiving where a learner's tools are: nbformat 3 is converted, duplicated tags and
duplicated or missing cell ids are repaired (each with a note). Anything else that is not a valid
notebook is a BadNotebook, which still names the exercise when the file says which one it is.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from vizlib.i18n import SOURCE

from .checks import RECORD
from .exercise import ANSWER, CHECK, Exercise, Question, tagged, tags
from .messages import say
from .plain import decode
from .variants import DEFAULT, PARAMETERS, parameters_source

COLLECT = (
    "__import__('vizlib.grading.collect', fromlist=['collect']).{function}({{\n{body}}}{extra})"
)
RESET = "%reset -f"  # between two variants of a reference run: a clean namespace, modules kept
LARGEST = 64 << 20  # bytes of a submission read (a lesson with its outputs is about 1 MB)


class BadNotebook(ValueError):
    """The submission cannot be graded; the message says why, for the gradebook."""

    def __init__(self, reason: str, exercise: str | None = None) -> None:
        super().__init__(reason)
        self.exercise = exercise


@dataclass
class Submission:
    """A readable submission: its notebook, exercise, repairs made, own-machine records."""

    notebook: NotebookNode
    exercise: Exercise
    notes: list[str] = field(default_factory=list)
    records: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    """What a code cell is for: "answer" (of `questions[0]`), "collect" or "other"."""

    kind: str
    questions: tuple[str, ...] = ()
    final: bool = False  # the collecting cell at the very end, for every question
    variant: int = DEFAULT  # the variant a cell of a reference run belongs to


@dataclass
class GradedCopy:
    """The notebook that runs, and the role of each of its code cells (nbval's `Cell N`)."""

    exercise: Exercise
    notebook: NotebookNode
    roles: list[Role]


def read_submission(path: Path, exercises: dict[str, Exercise]) -> Submission:
    """The submission at `path`, ready to grade; BadNotebook when it cannot be graded."""
    try:
        if Path(path).stat().st_size > LARGEST:  # every file is read before any is graded
            raise BadNotebook(say("too-large", megabytes=LARGEST / 2**20))
        text = Path(path).read_bytes().decode("utf-8")
        data = json.loads(text)
    except OSError as error:  # gone since the class folder was listed, or not readable
        raise BadNotebook(say("unreadable", error=error.strerror or error)) from None
    except UnicodeDecodeError:
        raise BadNotebook(say("not-utf8")) from None
    except (json.JSONDecodeError, RecursionError) as error:  # or nested too deep to read
        if not text.lstrip().startswith("{"):
            raise BadNotebook(say("not-json")) from None
        raise BadNotebook(say("bad-json", error=error)) from None
    if not isinstance(data, dict) or data.get("nbformat") not in (3, 4):
        raise BadNotebook(say("no-header"))
    course = (
        data.get("metadata", {}).get("course") if isinstance(data.get("metadata"), dict) else None
    )
    ex_id = course.get("exercise") if isinstance(course, dict) else None
    ex_id = ex_id if isinstance(ex_id, str) and ex_id else None
    notes = _repair(data)
    if data["nbformat"] == 3:
        notes.append(say("converted", version=3))
    captured: dict[str, Exception] = {}
    try:
        with warnings.catch_warnings():  # missing cell ids: nbformat adds them
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(data), as_version=4, capture_validation_error=captured)
    except Exception as error:  # nbformat trips in many ways over a malformed structure
        captured["ValidationError"] = error
    if captured:
        reason = (str(captured["ValidationError"]).strip() or "malformed").splitlines()[0]
        raise BadNotebook(say("invalid", reason=reason), ex_id)
    if ex_id is None:
        raise BadNotebook(say("no-exercise-id"))
    if ex_id not in exercises:
        known = ", ".join(sorted(exercises))
        raise BadNotebook(say("unknown-exercise", exercise=ex_id, known=known), ex_id)
    return Submission(nb, exercises[ex_id], notes, own_machine_records(nb))


def _repair(data: dict) -> list[str]:
    """Fix, in the raw JSON of an nbformat 4 file, what tools or copy-and-paste often break."""
    cells = data.get("cells")
    if data["nbformat"] != 4 or not isinstance(cells, list):
        return []
    notes, duplicated = [], []
    for cell in cells:
        found = cell.get("metadata", {}).get("tags") if isinstance(cell, dict) else None
        if isinstance(found, list) and len(set(map(str, found))) < len(found):
            duplicated += sorted({str(t) for t in found if found.count(t) > 1})
            cell["metadata"]["tags"] = list(dict.fromkeys(found))
    if duplicated:
        notes.append(say("duplicated-tags", tags=", ".join(duplicated)))
    ids = [cell.get("id") for cell in cells if isinstance(cell, dict)]
    if data.get("nbformat_minor", 0) >= 5 and (None in ids or len(set(ids)) < len(ids)):
        for number, cell in enumerate(c for c in cells if isinstance(c, dict)):
            cell["id"] = f"cell-{number}"
        notes.append(say("renumbered-ids"))
    return notes


def own_machine_records(nb: NotebookNode) -> dict[tuple[str, int], tuple[Any, Any]]:
    """What each own-machine check recorded on the learner's machine, from the saved outputs."""
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if tagged(cell, CHECK) else []:
            shown = output.get("data", {}).get("application/json")
            try:
                record = shown[RECORD]
                key = (str(record["question"]), int(record["item"]))
                found[key] = (decode(record["answer"]), decode(record["evidence"]))
            except (TypeError, KeyError, ValueError):
                continue
    return found


def anchors(cells: list[NotebookNode], questions: list[str]) -> dict[int, list[str]]:
    """Where each question's values are collected: at the end of its section, that is before
    the next answer cell of another question after its own last answer cell (or at the end).
    A question whose answer cells were deleted is collected before the next question's."""
    owner = {
        index: tagged(cell, ANSWER)[0] for index, cell in enumerate(cells) if tagged(cell, ANSWER)
    }
    found: dict[int, list[str]] = {}
    for number, question in enumerate(questions):
        own = [index for index, q in owner.items() if q == question]
        if own:
            anchor = next((i for i in sorted(owner) if i > own[-1] and owner[i] != question), None)
        else:
            later = set(questions[number + 1 :])
            anchor = next((i for i in sorted(owner) if owner[i] in later), None)
        found.setdefault(len(cells) if anchor is None else anchor, []).append(question)
    return found


def graded_copy(
    nb: NotebookNode,
    exercise: Exercise,
    collect: dict[str, list[tuple]],
    budget: float,
    hidden: tuple[Question, ...] = (),
    variant: int = DEFAULT,
    language: str = SOURCE,
) -> GradedCopy:
    """The submission with its check cells dropped (whatever they say) and collecting cells
    added: one at the end of each question's section, one at the very end for all of them.
    Its parameters cell sets `variant`, whatever the submission wrote there; the collecting
    cells give the reasons an answer cannot be read in `language` (the gradebook's).

    `collect` gives, per question id (hidden ones too), what each item's collecting cell
    evaluates: (value source,) or (value source, probe, inputs). Outputs are cleared, cell ids
    renumbered; `budget` (seconds) goes to metadata.grading for the nbval guard.
    """
    everything = [*exercise.questions, *(q.id for q in hidden)]

    def cell(questions: list[str], final: bool = False) -> NotebookNode:
        body = ""
        for question in questions:
            body += f"    {question!r}: [\n"
            for value, *probe in collect[question]:
                parts = [f"lambda: ({value})", *map(repr, probe)]
                body += f"        ({', '.join(parts)},),\n"
            body += "    ],\n"
        source = COLLECT.format(function="answers", body=body, extra=f", {language!r}")
        return _collecting_cell(source, questions, final)

    cells = _with_parameters(nb.cells, exercise, variant)
    graded = _with_collectors(cells, exercise, hidden, cell)
    return _copy(exercise, [*graded, cell(everything, final=True)], budget)


def reference_copy(
    exercise: Exercise,
    budget: float,
    inputs: dict[str, dict[str, list]],
    hidden: tuple[Question, ...] = (),
    variants: list[int] = (DEFAULT,),
) -> GradedCopy:
    """The solution notebook as the reference run executes it, once per variant in one kernel
    (its namespace reset in between): its code cells but the check cells, and at the end of each
    question's section a cell displaying its items (kind, arguments, value). `inputs` adds
    drawn inputs to code questions: {question: {item number: inputs}}."""
    questions = {**exercise.questions, **{q.id: q for q in hidden}}
    code = [cell for cell in exercise.notebook.cells if cell.cell_type == "code"]
    cells: list[NotebookNode] = []
    for number in variants:

        def cell(ids: list[str]) -> NotebookNode:
            body = "".join(
                f"    {q!r}: [\n"
                + "".join(f"        lambda: ({item.source}),\n" for item in questions[q].items)
                + "    ],\n"
                for q in ids
            )
            source = COLLECT.format(function="reference", body=body, extra=f", {inputs!r}")
            return _collecting_cell(source, ids, final=False)

        own = _with_collectors(_with_parameters(code, exercise, number), exercise, hidden, cell)
        own = _sections(([nbformat.v4.new_code_cell(RESET)] if cells else []) + own)
        for one in own:
            one.metadata.setdefault("grading", {})["variant"] = number
        cells += own
    return _copy(exercise, cells, budget * len(variants))


def _sections(cells: list[NotebookNode]) -> list[NotebookNode]:
    """Trusted code cells joined into one cell per question's section, ending with its collecting
    cell: the same program in fewer round trips to the kernel."""
    joined, pending = [], []
    for cell in cells:
        pending.append(cell.source)
        if cell.metadata.get("grading", {}).get("collect"):
            joined.append(nbformat.v4.new_code_cell("\n".join(pending), metadata=cell.metadata))
            pending = []
    if pending:
        joined.append(nbformat.v4.new_code_cell("\n".join(pending)))
    return joined


def _with_parameters(
    cells: list[NotebookNode], exercise: Exercise, variant: int
) -> list[NotebookNode]:
    """`cells` with the exercise's parameters cell setting `variant` (added before the first
    code cell when a submission deleted it)."""
    if not exercise.variable:
        return list(cells)
    parameters = nbformat.v4.new_code_cell(
        parameters_source(variant), metadata={"tags": [PARAMETERS]}
    )
    found = next((n for n, c in enumerate(cells) if PARAMETERS in tags(c)), None)
    if found is None:
        found = next((n for n, c in enumerate(cells) if c.cell_type == "code"), len(cells))
        return [*cells[:found], parameters, *cells[found:]]
    return [*cells[:found], parameters, *cells[found + 1 :]]


def _with_collectors(
    cells: list[NotebookNode], exercise: Exercise, hidden: tuple[Question, ...], make
) -> list[NotebookNode]:
    """`cells` without check cells, with `make(question ids)` at each section's end."""
    kept = [_cleared(cell) for cell in cells if not tagged(cell, CHECK)]
    places = anchors(kept, list(exercise.questions))
    for question in hidden:  # instructor-only checks are collected with their question
        where = next(i for i, ids in places.items() if question.id.split(":")[0] in ids)
        places[where].append(question.id)
    graded: list[NotebookNode] = []
    for index in range(len(kept) + 1):
        if index in places:
            graded.append(make(places[index]))
        if index < len(kept):
            graded.append(kept[index])
    return graded


def _copy(exercise: Exercise, cells: list[NotebookNode], budget: float) -> GradedCopy:
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"  # unique, whatever the student copied and pasted
    metadata = {"course": {"exercise": exercise.id}, "grading": {"budget": budget}}
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    roles = [_role(cell, exercise) for cell in cells if cell.cell_type == "code"]
    return GradedCopy(exercise, notebook, roles)


def _collecting_cell(source: str, questions: list[str], final: bool) -> NotebookNode:
    grading = {"collect": True, "questions": list(questions), "final": final}
    return nbformat.v4.new_code_cell(source, metadata={"grading": grading})


def _cleared(cell: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(cell)
    cell.metadata.pop("grading", None)  # only the grader's own cells say they collect
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _role(cell: NotebookNode, exercise: Exercise) -> Role:
    grading = cell.metadata.get("grading", {})
    variant = int(grading.get("variant", DEFAULT))  # set by reference_copy only
    if grading.get("collect"):
        return Role("collect", tuple(grading["questions"]), bool(grading["final"]), variant)
    answers = [q for q in tagged(cell, ANSWER) if q in exercise.questions]
    return (
        Role("answer", (answers[0],), variant=variant)
        if answers
        else Role("other", variant=variant)
    )
