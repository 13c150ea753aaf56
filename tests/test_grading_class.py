"""A class of crafted submissions graded as an instructor would: cheats, faults, honest variants.

One `grade` run (module fixture, sandboxed, 5 s per cell) over: honest submissions written in
every way the questions allow, submissions that break (loops, crashes, floods, memory, forks,
broken files), and the cheats that beat the grader when checks ran inside the judged kernel, each
with its real code. Every cheat must score 0; every honest variant full marks; afterwards every
file of the class is unchanged, no process a submission started is alive, and nothing outside the
grader's own output changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import nbformat
import pytest
from grading_demo import (
    POINTS,
    READ_THE_SOLUTIONS,
    WRONG,
    answered,
    needs_bubblewrap,
    read_rows,
    run_grade,
    set_cell,
    student,
    total,
    write_exercise,
)
from nbclient import NotebookClient

import vizlib

pytestmark = needs_bubblewrap
FULL = sum(POINTS.values())
MARKER = "vizlib-cheat-daemon"  # in the command line of the detached process a cheat starts
# Patches that made the in-kernel checks pass whatever the answers.
PATCH_CHECKS = """\
import builtins
from types import SimpleNamespace

import vizlib.grading
import vizlib.grading.checks
import vizlib.grading.judge

nothing = lambda *a, **k: None
fake = SimpleNamespace(**{name: nothing for name in vizlib.grading.__all__})
vizlib.grading.checks._fail = nothing
vizlib.grading.answer = vizlib.grading.checks.answer = nothing
vizlib.grading.judge.judge = lambda *a, **k: vizlib.grading.judge.Verdict(1, 1, "")
"""
# The cheats above that still fool checks run in the kernel they judge (the self-checks).
FOOLS_SELF_CHECKS = (
    "rebind_check_in_answer",
    "rebind_check_in_setup",
    "patch_the_checks_module",
    "blank_later_cells",
    "cheat_only_when_graded",
)
CHEATS = {
    "rebind_check_in_answer": {
        "traps": "from types import SimpleNamespace\n\nnothing = lambda *a, **k: None\n"
        "check = SimpleNamespace(answer=nothing, exact=nothing, equal=nothing, choice=nothing,\n"
        "                        calls=nothing, mapping=nothing, own_machine=nothing)\ntraps = 4",
    },
    "patch_the_checks_module": {"traps": PATCH_CHECKS + "traps = 4"},
    "patch_builtins_bool": {
        "traps": "import builtins\n\nbuiltins.bool = lambda *a: True\ntraps = 4",
    },
    "blank_later_cells": {
        "traps": "ip = get_ipython()\n\n\ndef blank(lines):\n"
        "    text = ''.join(lines)\n"
        "    return [] if ('check.' in text or 'vizlib' in text) else lines\n\n\n"
        "ip.input_transformers_post.append(blank)\ntraps = 4",
    },
    "answers_that_equal_anything": {
        "traps": "class Anything(int):\n    def __eq__(self, other):\n        return True\n\n"
        "    __hash__ = int.__hash__\n\n\ntraps = Anything(4)",
        "kind": "class Same(str):\n    def __eq__(self, other):\n        return True\n\n"
        "    __hash__ = str.__hash__\n\n\nkind = Same('no idea')",
        "classify": "class Agreeable(dict):\n    def __eq__(self, other):\n        return True\n\n"
        "    def get(self, key, default=None):\n        return key\n\n\nclasses = Agreeable()",
    },
    "cheat_only_when_graded": {
        "traps": "import os\n\ngraded = any(name.startswith(('PYTEST', 'NBVAL', 'JPY', 'VIZLIB'))\n"
        "             for name in os.environ) or os.environ.get('USER') != 'learner'\n"
        "if graded:\n"
        + "".join(f"    {line}\n" for line in PATCH_CHECKS.splitlines())
        + "traps = 4",
    },
    "read_the_solutions": {"traps": READ_THE_SOLUTIONS},
    "conftest_then_kill": {
        "traps": "import os\nfrom pathlib import Path\n\nhook = ('import pytest\\n'\n"
        "        '@pytest.hookimpl(wrapper=True)\\n'\n"
        "        'def pytest_runtest_call(item):\\n'\n"
        "        '    return None\\n')\n"
        "for folder in [Path.cwd(), *Path.cwd().parents, Path('/tmp')]:\n"
        "    try:\n"
        "        (folder / 'conftest.py').write_text(hook)\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(1)",
    },
    "detached_process": {
        "traps": "import os\n\nscript = ('sleep 4; '\n"
        '    \'for f in $(find / -name "grades*.csv" -o -name "honest*.ipynb" 2>/dev/null); \'\n'
        "    'do echo cheated > \"$f\"; done')\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sh', ['{MARKER}', '-c', script])\n"
        "    os._exit(0)\n"
        "traps = 4",
    },
}
# A kernel that keeps printing and never says it is idle: nbval would wait for it forever.
NEVER_IDLE = """\
import threading, time

kernel = get_ipython().kernel
send = kernel.session.send


def quiet(stream, kind, content=None, *args, **kwargs):
    if kind == "status" and (content or {}).get("execution_state") == "idle":
        return None
    return send(stream, kind, content, *args, **kwargs)


def chatter():
    while True:
        print(".", end="", flush=True)
        time.sleep(0.2)


kernel.session.send = quiet
threading.Thread(target=chatter, daemon=True).start()
kind = "paravirtualization"
"""
FAULTS = {
    "endless_loop": {"kind": "while True:\n    pass"},
    "kernel_exit": {"kind": "import os\n\nos._exit(1)"},
    "output_flood": {"kind": "print('x' * (50 << 20))"},
    "memory_hog": {"kind": "hog = bytearray(4 << 30)"},
    "fork_bomb": {"kind": "import os\n\nwhile True:\n    os.fork()"},
    "exception": {"kind": "raise ValueError('no idea')"},
    "never_idle": {"kind": NEVER_IDLE},
    "silenced_traceback": {
        "kind": "import sys\n\nget_ipython().showtraceback = lambda *a, **k: None\n"
        "sys.excepthook = lambda *a: None\nraise ValueError('hidden')",
    },
}


def class_of_submissions(exercises: Path, folder: Path) -> None:
    folder.mkdir()
    write = {"honest": answered(exercises)}
    write["honest_alternative"] = answered(
        exercises,
        traps="traps = len([op for op in TRACE if op != 'mov'])",
        kind="kind = '  Paravirtualization '",
        double="double = lambda x: x + x",
        classify="classes = {s: t.upper().replace('-', ' ') for s, t in "
        "zip(SCENARIOS, ['Emulation', 'full virtualization', 'PARAVIRTUALIZATION', "
        "'hardware-assisted', 'emulation', 'Hardware Assisted'])}",
    )
    later = answered(exercises, traps="pass  # computed below")
    at = next(i for i, c in enumerate(later.cells) if "answer:traps" in c.metadata.get("tags", []))
    later.cells.insert(at + 1, nbformat.v4.new_code_cell("traps = 3"))
    write["honest_answer_in_a_later_cell"] = later
    twice = answered(exercises)
    for cell in twice.cells:
        if "answer:kind" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = ["answer:kind", "answer:kind"]
    write["honest_duplicated_tag"] = twice
    write["honest_other_machine"] = answered(exercises, record=(16, 16))
    for name, answers in CHEATS.items():
        write[name] = answered(exercises, record=None, **{**WRONG, **answers})
    write["rebind_check_in_setup"] = set_cell(
        answered(exercises, record=None, **WRONG),
        "setup",
        "import os\nfrom types import SimpleNamespace\n\nTRACE = ['in', 'out', 'mov', 'hlt']\n"
        "SCENARIOS = ()\nnothing = lambda *a, **k: None\ncheck = SimpleNamespace(answer=nothing, "
        "exact=nothing, choice=nothing, calls=nothing, mapping=nothing, own_machine=nothing)",
    )
    for name, answers in FAULTS.items():
        write[name] = answered(exercises, **answers)
    for name, nb in write.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    v3 = nbformat.convert(answered(exercises), 3)
    (folder / "honest_nbformat3.ipynb").write_text(nbformat.writes(v3, version=3))
    (folder / "honest_saved_as.json").write_text(nbformat.writes(answered(exercises)))
    text = (folder / "honest.ipynb").read_text()
    (folder / "truncated.ipynb").write_text(text[: len(text) // 2])
    broken = json.loads(nbformat.writes(answered(exercises)))
    broken["cells"][1]["outputs"] = "not a list"  # invalid, but its exercise id is readable
    (folder / "invalid_structure.ipynb").write_text(json.dumps(broken))
    (folder / "unknown_exercise.ipynb").write_text(
        nbformat.writes(set_exercise(student(exercises), "42_nothing"))
    )


def set_exercise(nb: nbformat.NotebookNode, exercise: str) -> nbformat.NotebookNode:
    nb.metadata["course"]["exercise"] = exercise
    return nb


def snapshot(*folders: Path) -> dict[str, tuple[str, int]]:
    """Every file under the folders: its content's hash and its modification time."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[str(path)] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return found


def processes_with(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def conftests_under(folder: Path) -> list[Path]:
    return [p for p in folder.glob("**/conftest.py") if "site-packages" not in p.parts]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("class")
    exercises = write_exercise(root)
    class_of_submissions(exercises, root / "submissions")
    course = Path(vizlib.__file__).resolve().parent.parent
    watched = (root, course / "vizlib", course / "exercises")
    before = snapshot(*watched)
    tmp_conftests = set(conftests_under(Path("/tmp")))
    result = run_grade(
        root,
        "submissions",
        "--csv",
        "grades.csv",
        "--exercises",
        "exercises",
        "--cell-timeout",
        "5",
    )
    outputs = {str(root / "grades.csv")}
    alive = processes_with(MARKER)
    time.sleep(5)  # the detached process would strike now
    after = {k: v for k, v in snapshot(*watched).items() if k not in outputs}
    return {
        "result": result,
        "rows": read_rows(root / "grades.csv"),
        "before": before,
        "after": after,
        "alive": alive,
        "conftests": set(conftests_under(Path("/tmp"))) - tmp_conftests,
        "grades": (root / "grades.csv").read_bytes(),
        "root": root,
    }


def test_the_run_finishes_with_a_start_line_and_a_line_per_submission(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    count = len(list((graded["root"] / "submissions").iterdir()))
    assert lines[0] == f"grading {count} submissions of 1 exercises, sandboxed, 2 jobs"
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == count
    assert f"[{count}/{count}] " in result.stdout


@pytest.mark.parametrize("cheat", [*CHEATS, "rebind_check_in_setup"])
def test_every_cheat_scores_zero(graded, cheat):
    rows = graded["rows"]
    assert total(rows, cheat) == 0, {q: r for (n, q), r in rows.items() if n == cheat}


@pytest.mark.parametrize(
    "honest",
    [
        "honest",
        "honest_alternative",
        "honest_answer_in_a_later_cell",
        "honest_duplicated_tag",
        "honest_other_machine",
        "honest_nbformat3",
    ],
)
def test_every_honest_variant_scores_full_marks(graded, honest):
    rows = graded["rows"]
    assert total(rows, honest) == FULL, {q: r for (n, q), r in rows.items() if n == honest}


def test_repairs_and_conversions_are_noted(graded):
    rows = graded["rows"]
    assert (
        "warning: duplicated tags ignored (answer:kind)"
        in rows["honest_duplicated_tag", "kind"]["message"]
    )
    assert "converted from nbformat 3" in rows["honest_nbformat3", "traps"]["message"]


def test_files_of_the_class_are_unchanged_and_nothing_outside_the_gradebook(graded):
    assert graded["after"] == graded["before"]
    assert graded["conftests"] == set()
    assert b"cheated" not in graded["grades"]


def test_no_process_started_by_a_submission_outlives_grading(graded):
    assert graded["alive"] == []
    assert processes_with(MARKER) == []


@pytest.mark.parametrize("cheat", FOOLS_SELF_CHECKS)
def test_these_cheats_fool_checks_that_run_in_the_judged_kernel(graded, cheat):
    nb = nbformat.read(graded["root"] / "submissions" / f"{cheat}.ipynb", as_version=4)
    NotebookClient(nb, timeout=60, allow_errors=True).execute()
    checks = [
        c for c in nb.cells if any(t.startswith("check:") for t in c.metadata.get("tags", []))
    ]
    assert checks and not [o for c in checks for o in c.outputs if o.output_type == "error"]


def test_reading_the_solutions_finds_nothing_in_the_sandbox(graded):
    message = graded["rows"]["read_the_solutions", "traps"]["message"]
    assert message.startswith("the number of traps: 4 is not right"), message


def test_an_endless_loop_costs_only_its_question(graded):
    rows = graded["rows"]
    assert (rows["endless_loop", "kind"]["status"], rows["endless_loop", "kind"]["points"]) == (
        "timeout",
        "0",
    )
    assert "ran longer than 5 s" in rows["endless_loop", "kind"]["message"]
    assert total(rows, "endless_loop") == FULL - POINTS["kind"]


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("kernel_exit", "error", "the kernel died in the answer cell"),
        ("never_idle", "timeout", "the answer cell ran longer than 5 s"),
        ("output_flood", "error", "printed more than 16 MB"),
        ("memory_hog", "failed", "answer cell: MemoryError"),
        ("exception", "failed", "answer cell: ValueError: no idea"),
        ("silenced_traceback", "failed", "answer cell: ValueError: hidden"),
    ],
)
def test_a_fault_costs_only_its_question_and_says_why(graded, name, status, words):
    row = graded["rows"][name, "kind"]
    assert (row["status"], row["points"]) == (status, "0")
    assert words in row["message"]
    assert total(graded["rows"], name) == FULL - POINTS["kind"]


def test_a_fork_bomb_is_stopped_by_the_process_limit(graded):
    row = graded["rows"]["fork_bomb", "kind"]
    assert row["points"] == "0" and row["status"] in ("failed", "error", "timeout")
    assert total(graded["rows"], "fork_bomb") == FULL - POINTS["kind"]


def test_files_that_are_not_gradable_get_rows_that_say_why(graded):
    rows = graded["rows"]
    row = rows["honest_saved_as", ""]
    assert (row["status"], row["exercise"]) == ("not-a-notebook", "")
    assert "only .ipynb notebooks are graded" in row["message"]
    for name, reason in (
        ("truncated", "invalid JSON"),
        ("unknown_exercise", "unknown exercise id '42_nothing'"),
    ):
        assert rows[name, ""]["status"] == "bad-notebook" and reason in rows[name, ""]["message"]
    invalid = [row for (name, _), row in rows.items() if name == "invalid_structure"]
    assert {(r["exercise"], r["question"], r["max_points"]) for r in invalid} == {
        ("99_demo", q, str(p)) for q, p in POINTS.items()
    }
    assert {r["status"] for r in invalid} == {"bad-notebook"}


def test_no_message_shows_an_expected_value(graded):
    wrong = graded["rows"]["rebind_check_in_answer", "classify"]
    assert "emulation" not in wrong["message"] and "paravirtualization" not in wrong["message"]
    traps = graded["rows"]["patch_builtins_bool", "traps"]["message"]
    assert "3" not in traps.replace("traps", "")
