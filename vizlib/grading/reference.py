"""The reference answers: the solution notebook run in a trusted kernel of its own, never in a
submission's sandbox, and the keys built from them.

The reference run executes the instructor's solution with a collecting cell at the end of each
question's section; it displays each item (kind, arguments, value), for code questions the results
on the public examples and on the inputs the grader drew. From it come the keys the student copies
hold and the grader judges with, and what each submission's collecting cells must evaluate. An
exercise with variants runs once per variant wanted, many variants in one kernel (its namespace
reset in between), a few kernels at a time.
"""

from __future__ import annotations

import ast
import math
import random
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import plain, probes
from .checks import item_salt, write_key
from .exercise import Exercise, Question
from .judge import make_key
from .runner import Job, environment, run_jobs
from .submission import reference_copy
from .variants import DEFAULT

CHUNK = 40  # most variants of one exercise run in one kernel


@dataclass(frozen=True)
class ItemRef:
    """One item as the reference run showed it."""

    kind: str
    args: dict[str, Any]
    value: Any  # for code questions {"inputs": [...], "outputs": [...]}


@dataclass(frozen=True)
class Reference:
    """An exercise's reference answers, by question id (hidden questions too)."""

    exercise: Exercise
    questions: dict[str, Question]
    items: dict[str, list[ItemRef]]
    variant: int = DEFAULT

    def salt(self, question: str) -> str:
        """The salt of a question's keys; a student's variant has its own, so two students' keys
        never show that their answers are the same."""
        salt = f"{self.exercise.id}/{question}"
        return salt if self.variant == DEFAULT else f"{salt}/{self.variant}"

    def keys(self, question: str) -> list[dict[str, Any]]:
        """The keys of the question's items."""
        salt = self.salt(question)
        return [
            make_key(item.kind, item.value, item.args, item_salt(salt, number))
            for number, item in enumerate(self.items[question])
        ]

    def written_key(self, question: str) -> str:
        """The key as a student copy's check cell holds it."""
        return write_key(self.salt(question), self.keys(question))

    def collect(self) -> dict[str, list[tuple]]:
        """What a submission's collecting cells evaluate for each item: (value source,), and for
        code questions (subject source, probe, the inputs the reference was run on)."""
        plan = {}
        for question, spec in self.questions.items():
            entries = []
            for item, ref in zip(spec.items, self.items[question], strict=True):
                if item.kind == "calls":
                    entries.append((item.value, ref.args["probe"], ref.value["inputs"]))
                else:
                    entries.append((item.value,))
            plan[question] = entries
        return plan


def draw_inputs(questions: dict[str, Question], rng: random.Random) -> dict[str, dict[str, list]]:
    """Inputs for every code question's items, drawn now: {question: {item number: inputs}}."""
    drawn: dict[str, dict[str, list]] = {}
    for question in questions.values():
        for number, item in enumerate(question.items):
            if item.kind == "calls":
                probe = _probe_name(item.source)
                drawn.setdefault(question.id, {})[str(number)] = probes.draw(probe, rng)
    return drawn


def _probe_name(source: str) -> str:
    call = ast.parse(source, mode="eval").body
    named = {k.arg: k.value for k in call.keywords}
    node = named.get("probe", call.args[2] if len(call.args) > 2 else None)
    if not isinstance(node, ast.Constant) or node.value not in probes.PROBES:
        raise ValueError(f"check.calls needs probe= one of {sorted(probes.PROBES)}: {source}")
    return node.value


def run_references(
    exercises: list[Exercise],
    folder: Path,
    hidden: dict[str, tuple[Question, ...]] | None = None,
    draw: bool = False,
    cell_timeout: float = 120.0,
    workers: int = 2,
    variants: dict[str, list[int]] | None = None,
) -> dict[str, dict[int, Reference]]:
    """Run each exercise's solution once per variant wanted (`variants` by exercise id; the
    default only, when not given or for an exercise without variants), `workers` kernels at a
    time; ValueError when one fails. `draw` adds inputs drawn now to code questions. Returns
    the references by exercise id, then by variant."""
    hidden = hidden or {}
    variants = variants or {}
    rng = random.Random(secrets.randbits(64))
    jobs = []
    for index, exercise in enumerate(exercises):
        extra = hidden.get(exercise.id, ())
        questions = {**exercise.questions, **{q.id: q for q in extra}}
        inputs = draw_inputs(questions, rng) if draw else {}
        wanted = sorted(set(variants.get(exercise.id, [DEFAULT]))) if exercise.variable else []
        for number, chunk in enumerate(_chunks(wanted or [DEFAULT], workers)):
            copy = reference_copy(exercise, 10 * cell_timeout, inputs, extra, chunk)
            key = f"r{index}-{number}"  # short: the kernel's socket paths have a length limit
            kernel = trusted_kernel(folder / "work" / key)
            job = Job(key, copy, 10 * cell_timeout * len(chunk), kernel)
            jobs.append((questions, job))
    jobs.sort(key=lambda pair: -len(pair[1].graded.roles))  # the longest first
    with ThreadPoolExecutor(max_workers=workers) as pool:
        batches = [[job for _, job in jobs[n::workers]] for n in range(workers)]
        runs = [
            pool.submit(run_jobs, batch, folder / f"r{n}", cell_timeout, lambda job: None)
            for n, batch in enumerate(batches)
            if batch
        ]
        for run in runs:
            run.result()
    found: dict[str, dict[int, Reference]] = {}
    for questions, job in jobs:
        for reference in _read(job, questions):
            found.setdefault(reference.exercise.id, {})[reference.variant] = reference
    return found


def _chunks(wanted: list[int], workers: int) -> list[list[int]]:
    """The variants split into kernels: at most CHUNK each, at least one per worker when there
    are that many variants."""
    count = max(math.ceil(len(wanted) / CHUNK), min(workers, len(wanted) // 4), 1)
    size = math.ceil(len(wanted) / count)
    return [wanted[start : start + size] for start in range(0, len(wanted), size)]


def _read(job: Job, questions: dict[str, Question]) -> list[Reference]:
    """The references of every variant a job ran; ValueError says where a solution failed."""
    exercise = job.graded.exercise
    items: dict[int, dict[str, list[ItemRef]]] = {}
    for role, result in zip(job.graded.roles, job.results, strict=True):
        if result is None or result.verdict != "ok":
            where = f"the section of {', '.join(role.questions)}" if role.questions else "a cell"
            problem = f"{result.ename}: {result.message}" if result else job.not_run[1]
            which = f" (variant {role.variant})" if exercise.variable else ""
            raise ValueError(
                f"the reference solution of {exercise.id}{which} failed in {where}: {problem}"
            )
        if role.kind == "collect":
            shown = plain.loads(result.collected or "null") or {}
            for question, entries in shown.get("reference", {}).items():
                found = [_item(entry) for entry in entries]
                items.setdefault(role.variant, {})[question] = found
    references = []
    for number, found in items.items():
        missing = [q for q in questions if q not in found]
        if missing:
            raise ValueError(f"the reference run of {exercise.id} showed no items for {missing}")
        references.append(Reference(exercise, questions, found, number))
    return references


def _item(entry: dict[str, Any]) -> ItemRef:
    args = plain.decode(entry["args"])
    value = entry.get("value")
    if entry["kind"] == "calls":
        outputs = [plain.decode(out) for out in value["outputs"]]
        broken = [out for out in outputs if isinstance(out, plain.Missing)]
        if broken:
            raise ValueError(f"the reference code raised {broken[0]}")
        value = {"inputs": plain.decode(value["inputs"]), "outputs": outputs}
    elif value is not None:
        value = plain.decode(value)
    return ItemRef(entry["kind"], args, value)


def trusted_kernel(work: Path):
    """How to start a kernel outside any sandbox (reference runs, `grade --no-sandbox`)."""
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **environment(),
        "IPYTHONDIR": str(work / ".ipython"),
        "MPLBACKEND": "agg",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    argv = [sys.executable, "-m", "vizlib.grading.kernel", "-f", "{connection_file}"]
    return lambda sockets: {"argv": argv, "sockets": str(sockets), "env": env, "cwd": str(work)}
