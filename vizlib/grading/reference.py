"""The reference answers: the solution notebook run in a trusted kernel of its own, never in a
submission's sandbox, and the keys built from them.

The reference run executes the instructor's solution with a collecting cell at the end of each
question's section; it displays each item (kind, arguments, value), for code questions the results
on the public examples and on the inputs the grader drew. From it come the keys the student copies
hold and the grader judges with, and what each submission's collecting cells must evaluate.
"""

from __future__ import annotations

import ast
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

    def salt(self, question: str) -> str:
        return f"{self.exercise.id}/{question}"

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
) -> dict[str, Reference]:
    """Run each exercise's solution, `workers` at a time; ValueError when one fails. `draw` adds
    inputs drawn now to code questions."""
    hidden = hidden or {}
    rng = random.Random(secrets.randbits(64))
    jobs = []
    for exercise in exercises:
        extra = hidden.get(exercise.id, ())
        questions = {**exercise.questions, **{q.id: q for q in extra}}
        inputs = draw_inputs(questions, rng) if draw else {}
        copy = reference_copy(exercise, 10 * cell_timeout, inputs, extra)
        jobs.append(
            (
                questions,
                Job(
                    f"reference-{exercise.id}",
                    copy,
                    10 * cell_timeout,
                    trusted_kernel(folder / "work" / exercise.id),
                ),
            )
        )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        batches = [[job for _, job in jobs[n::workers]] for n in range(workers)]
        runs = [
            pool.submit(run_jobs, batch, folder / f"r{n}", cell_timeout, lambda job: None)
            for n, batch in enumerate(batches)
            if batch
        ]
        for run in runs:
            run.result()
    return {job.graded.exercise.id: _read(job, questions) for questions, job in jobs}


def _read(job: Job, questions: dict[str, Question]) -> Reference:
    exercise = job.graded.exercise
    items: dict[str, list[ItemRef]] = {}
    for role, result in zip(job.graded.roles, job.results, strict=True):
        if result is None or result.verdict != "ok":
            where = (
                f"a collecting cell ({', '.join(role.questions)})" if role.questions else "a cell"
            )
            problem = f"{result.ename}: {result.message}" if result else job.not_run[1]
            raise ValueError(
                f"the reference solution of {exercise.id} failed in {where}: {problem}"
            )
        if role.kind == "collect":
            shown = plain.loads(result.collected or "null") or {}
            for question, entries in shown.get("reference", {}).items():
                items[question] = [_item(entry) for entry in entries]
    missing = [q for q in questions if q not in items]
    if missing:
        raise ValueError(f"the reference run of {exercise.id} showed no items for {missing}")
    return Reference(exercise, questions, items)


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
