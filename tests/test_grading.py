"""The exercise release and the grading command, on a small sample exercise built here.

The grading tests share two `grade` runs (module fixtures): one over a class of crafted
submissions, one with instructor-only checks and a tight notebook time limit. Cell timeouts are 5 s.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vizlib.grading import release, runner
from vizlib.grading.__main__ import main
from vizlib.grading.exercise import load_exercises
from vizlib.grading.gradebook import CellResult
from vizlib.grading.hidden import parse_hidden_checks
from vizlib.grading.runner import Job, run_jobs
from vizlib.grading.submission import BadNotebook, graded_copy, pristine_checks, read_submission

EXERCISE = "99_demo"
PLACEHOLDER = (
    'raise NotImplementedError("Question {}: write your answer here, '
    'then run the check cell below.")'
)
ANSWERS = {
    "traps": "traps = sum(1 for op in TRACE if op in ('in', 'out', 'hlt'))",
    "kind": "kind = 'paravirtualization'",
    "double": "def double(x):\n    return 2 * x",
}
POINTS = {"traps": 2, "kind": 1, "double": 3}
CELL_TIMEOUT = "5"


def answer(question: str, body: str) -> nbformat.NotebookNode:
    return new_code_cell(body, metadata={"tags": [f"answer:{question}"]})


def check(question: str, source: str, points: int) -> nbformat.NotebookNode:
    return new_code_cell(
        source, metadata={"tags": [f"check:{question}"], "course": {"points": points}}
    )


def solution_notebook() -> nbformat.NotebookNode:
    """Three questions; `double` has two check cells; one instructor-only cell."""
    options = "['full virtualization', 'paravirtualization', 'hardware-assisted']"
    cells = [
        new_markdown_cell("# Demo exercise"),
        new_code_cell("from vizlib import grading as check\nTRACE = ['in', 'out', 'mov', 'hlt']"),
        new_markdown_cell("How many instructions of `TRACE` trap?"),
        answer(
            "traps",
            "### BEGIN SOLUTION\ntraps = sum(1 for op in TRACE if op in ('in', 'out', 'hlt'))\n"
            "### END SOLUTION",
        ),
        check(
            "traps",
            'check.equal(traps, 3, what="the number of traps", '
            'hint="did you count the OUT instruction?")',
            2,
        ),
        new_markdown_cell("Which technique changes the guest kernel?"),
        answer("kind", "### BEGIN SOLUTION\nkind = 'paravirtualization'\n### END SOLUTION"),
        check("kind", f"check.choice(kind, 'paravirtualization', options={options})", 1),
        answer(
            "double",
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
        ),
        check("double", 'check.equal(double(2), 4, what="double(2)")', 1),
        check("double", 'check.equal(double(-3), -6, what="double(-3)")', 2),
        new_code_cell(
            "assert traps == 3  # instructor's own test", metadata={"tags": ["solution-only"]}
        ),
    ]
    return new_notebook(cells=cells, metadata={"course": {"exercise": EXERCISE}})


def write_exercise(root: Path) -> Path:
    """An exercises/ folder holding the sample's solution and its released student copy."""
    exercises = root / "exercises"
    (exercises / "solutions").mkdir(parents=True)
    nbformat.write(solution_notebook(), exercises / "solutions" / f"{EXERCISE}.ipynb")
    release.release(exercises)
    return exercises


def student(exercises: Path) -> nbformat.NotebookNode:
    return nbformat.read(exercises / f"{EXERCISE}.ipynb", as_version=4)


def answered(exercises: Path, **answers: str) -> nbformat.NotebookNode:
    """The student copy with answers written in (default: a correct answer of each question)."""
    nb = student(exercises)
    for cell in nb.cells:
        for question in POINTS:
            if f"answer:{question}" in cell.metadata.get("tags", []):
                cell.source = answers.get(question, ANSWERS[question])
    return nb


def without_checks(nb: nbformat.NotebookNode, *questions: str) -> list[nbformat.NotebookNode]:
    """The cells of `nb` minus the check cells of `questions`; returns the removed cells."""
    removed = [
        c for c in nb.cells if any(f"check:{q}" in c.metadata.get("tags", []) for q in questions)
    ]
    nb.cells = [c for c in nb.cells if c not in removed]
    return removed


def sample_job(tmp_path: Path, key: str = "s0") -> Job:
    exercises = tmp_path / "exercises"
    if not exercises.exists():
        write_exercise(tmp_path)
    exercise = load_exercises(exercises)[EXERCISE]
    return Job(
        key, graded_copy(student(exercises), exercise, pristine_checks(exercise), {}, 60), 60
    )


def class_of_submissions(exercises: Path, folder: Path) -> None:
    folder.mkdir()
    solution = nbformat.read(exercises / "solutions" / f"{EXERCISE}.ipynb", as_version=4)
    write = {
        "solution": solution,
        "untouched": student(exercises),
        "alternative": answered(
            exercises,
            traps="traps = len([op for op in TRACE if op != 'mov'])",
            kind="kind = '  Paravirtualization '",
            double="double = lambda x: x + x",
        ),
        "wrong": answered(exercises, traps="traps = 4"),
        "silenced": answered(
            exercises,
            traps="import sys\nget_ipython().showtraceback = lambda *a, **k: None\n"
            "sys.excepthook = lambda *a: None\ntraps = 4",
        ),
        "exception": answered(exercises, kind="raise ValueError('no idea')"),
        "loop": answered(exercises, kind="while True:\n    pass"),
        "killer": answered(exercises, traps="import os\nos._exit(1)"),
    }
    edited = answered(exercises, traps="traps = 5")
    for cell in edited.cells:
        if any(tag.startswith("check:") for tag in cell.metadata.get("tags", [])):
            cell.source = "print('all good')"
    edited.cells.append(check("traps", "pass", 100))  # a forged extra check
    write["edited"] = edited
    deleted = answered(exercises, traps="traps = 5")
    without_checks(deleted, "traps", "double")
    write["deleted"] = deleted
    reordered = answered(exercises)
    reordered.cells = without_checks(reordered, "traps", "kind", "double")[::-1] + reordered.cells
    write["reordered"] = reordered
    for name, nb in write.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    nbformat.write(answered(exercises), folder / "renamed copy.ipynb")
    text = (folder / "solution.ipynb").read_text()
    (folder / "truncated.ipynb").write_text(text[: len(text) // 2])
    (folder / "not_a_notebook.ipynb").write_text("These are my notes, not a notebook.\n")
    orphan = student(exercises)
    orphan.metadata["course"]["exercise"] = "42_nothing"
    nbformat.write(orphan, folder / "unknown_exercise.ipynb")


def run_grade(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vizlib.grading", "grade", *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
    )


def read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    return {(Path(row["submission"]).stem, row["question"]): row for row in rows}


def total(rows: dict, submission: str) -> int:
    return sum(int(row["points"]) for (name, _), row in rows.items() if name == submission)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """One `grade` run over the whole class; returns rows, output and the files' bytes."""
    root = tmp_path_factory.mktemp("class")
    exercises = write_exercise(root)
    class_of_submissions(exercises, root / "submissions")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / "submissions").iterdir()}
    result = run_grade(root, "submissions", "--csv", "grades.csv", "--cell-timeout", CELL_TIMEOUT)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / "submissions").iterdir()}
    return {
        "result": result,
        "rows": read_rows(root / "grades.csv"),
        "before": before,
        "after": after,
    }


def test_grade_finishes_with_status_0_and_a_progress_line_per_submission(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 15
    assert any(line.startswith("[15/15] ") for line in lines)
    assert "submissions/solution.ipynb  99_demo  6/6  checks passed: 4 of 4" in result.stdout
    assert "public" not in result.stdout and "all tests passed" not in result.stdout


def test_gradebook_columns_and_one_row_per_question(graded):
    rows = graded["rows"]
    solution = [row for (name, _), row in rows.items() if name == "solution"]
    assert [row["question"] for row in solution] == ["traps", "kind", "double"]
    assert solution[0]["submission"] == os.path.join("submissions", "solution.ipynb")
    assert list(solution[0]) == ["submission", "exercise", "question", "points", "max_points",
                                 "status", "message"]  # fmt: skip
    assert {row["max_points"] for row in solution} == {"2", "1", "3"}


def test_the_solution_and_an_alternative_correct_answer_get_full_marks(graded):
    rows = graded["rows"]
    for name in ("solution", "alternative", "renamed copy"):
        assert total(rows, name) == 6, name
        assert {rows[name, q]["status"] for q in POINTS} == {"passed"}


def test_the_untouched_student_copy_gets_zero_with_every_check_failed(graded):
    rows = graded["rows"]
    assert total(rows, "untouched") == 0
    for question, where in (("traps", "answer cell: "), ("kind", "answer cell: "), ("double", "")):
        row = rows["untouched", question]  # the answer cell of `double` defines a function
        assert row["status"] == "failed"
        assert row["message"] == (
            f"{where}NotImplementedError: Question {question}: write your answer here, "
            "then run the check cell below."
        )


def test_a_wrong_answer_fails_with_the_helpers_message(graded):
    rows = graded["rows"]
    assert rows["wrong", "traps"]["status"] == "failed"
    assert rows["wrong", "traps"]["message"] == (
        "expected the number of traps to be 3, got 4: did you count the OUT instruction?"
    )
    assert total(graded["rows"], "wrong") == 4


def test_edited_deleted_or_reordered_checks_are_put_back(graded):
    rows = graded["rows"]
    for name in ("edited", "deleted"):
        assert rows[name, "traps"]["status"] == "failed", name
        assert "got 5" in rows[name, "traps"]["message"]
        assert total(rows, name) == 4, name
        assert rows[name, "traps"]["max_points"] == "2"
    assert total(rows, "reordered") == 6


def test_an_endless_loop_costs_only_its_question(graded):
    rows = graded["rows"]
    assert rows["loop", "kind"]["status"] == "timeout"
    assert rows["loop", "kind"]["points"] == "0"
    assert "ran longer than 5 s" in rows["loop", "kind"]["message"]
    assert rows["loop", "traps"]["status"] == rows["loop", "double"]["status"] == "passed"
    assert total(rows, "loop") == 5


def test_an_exception_is_an_error_with_its_type_and_message(graded):
    row = graded["rows"]["exception", "kind"]
    assert (row["status"], row["points"]) == ("error", "0")
    assert row["message"] == "answer cell: ValueError: no idea"
    assert total(graded["rows"], "exception") == 5


def test_a_dead_kernel_is_reported_and_the_rest_graded_on_a_fresh_one(graded):
    rows = graded["rows"]
    assert rows["killer", "traps"]["status"] == "error"
    assert "kernel died" in rows["killer", "traps"]["message"]
    assert rows["killer", "kind"]["status"] == rows["killer", "double"]["status"] == "passed"
    assert total(rows, "killer") == 4


def test_a_hidden_traceback_still_counts_as_failed(graded):
    row = graded["rows"]["silenced", "traps"]
    assert (row["status"], row["points"]) == ("failed", "0")
    assert row["message"].startswith("expected the number of traps to be 3, got 4")


def test_files_that_are_not_gradable_notebooks_get_a_bad_notebook_row(graded):
    rows = graded["rows"]
    for name, reason in (
        ("truncated", "invalid JSON"),
        ("not_a_notebook", "not a notebook: the file does not hold JSON"),
        ("unknown_exercise", "unknown exercise id '42_nothing'"),
    ):
        row = rows[name, ""]
        assert row["status"] == "bad-notebook", name
        assert reason in row["message"], name
        assert (row["points"], row["max_points"]) == ("0", "0")


def test_submissions_are_byte_identical_after_grading(graded):
    assert graded["before"] == graded["after"]


@pytest.fixture(scope="module")
def graded_with_hidden(tmp_path_factory) -> dict:
    """A `grade` run with instructor-only checks and a 6 s limit per notebook."""
    root = tmp_path_factory.mktemp("hidden")
    exercises = write_exercise(root)
    hidden = root / "hidden"
    hidden.mkdir()
    (hidden / f"{EXERCISE}.py").write_text(
        "# Checks the students do not see.\n"
        "# %% check:double points=2\n"
        "check.equal(double(0), 0, what='double(0)')\n"
        "check.equal(double(10), 20, what='double(10)')\n"
        "# %% check:traps points=1\n"
        "check.true(isinstance(traps, int), 'traps should be an int')\n"
    )
    folder = root / "submissions"
    folder.mkdir()
    nbformat.write(answered(exercises), folder / "honest.ipynb")
    nbformat.write(
        answered(exercises, double="double = {2: 4, -3: -6}.get"), folder / "gamed.ipynb"
    )
    slow = {q: f"import time\ntime.sleep(2.5)\n{ANSWERS[q]}" for q in POINTS}
    nbformat.write(answered(exercises, **slow), folder / "slow.ipynb")
    result = run_grade(
        root, "submissions", "--csv", "grades.csv", "--extra-checks", "hidden",
        "--cell-timeout", CELL_TIMEOUT, "--timeout", "6", "--jobs", "1",
    )  # fmt: skip
    return {"result": result, "rows": read_rows(root / "grades.csv")}


def test_hidden_checks_score_in_their_own_rows(graded_with_hidden):
    rows = graded_with_hidden["rows"]
    assert graded_with_hidden["result"].returncode == 0
    assert rows["honest", "double:hidden"]["status"] == "passed"
    assert (
        rows["honest", "double:hidden"]["points"],
        rows["honest", "traps:hidden"]["points"],
    ) == ("2", "1")
    assert total(rows, "honest") == 9
    assert rows["gamed", "double"]["status"] == "passed"
    gamed = rows["gamed", "double:hidden"]
    assert (gamed["status"], gamed["points"]) == ("failed", "0")
    assert gamed["message"] == "expected double(0) to be 0, got None"


def test_the_summary_separates_public_and_hidden_checks(graded_with_hidden):
    out = graded_with_hidden["result"].stdout
    assert (
        "gamed.ipynb  99_demo  7/9  public checks passed: 4 of 4, hidden checks passed: 1 of 2"
        in out
    )


def test_the_notebook_time_limit_stops_a_slow_submission(graded_with_hidden):
    rows = graded_with_hidden["rows"]
    assert rows["slow", "traps"]["status"] == "passed"
    stopped = [q for q in ("kind", "double") if rows["slow", q]["status"] == "timeout"]
    assert stopped, rows
    assert "used up its 6 s" in rows["slow", stopped[0]]["message"]


# The command's refusals: grading cannot run, exit status 2, the reason on stderr.


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["missing.ipynb", "--csv", "out.csv"], "no such file or folder: missing.ipynb"),
        (["subs", "--csv", "nowhere/out.csv"], "the folder nowhere does not exist"),
        (["empty", "--csv", "out.csv"], "no notebooks"),
        (["subs", "--csv", "out.csv", "--exercises", "nowhere"], "no solutions/ folder"),
    ],
)
def test_grade_refuses_to_run_with_status_2(tmp_path, monkeypatch, capsys, args, reason):
    write_exercise(tmp_path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "empty").mkdir()
    nbformat.write(student(tmp_path / "exercises"), tmp_path / "subs" / "a.ipynb")
    monkeypatch.chdir(tmp_path)
    assert main(["grade", *args]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_grade_refuses_to_run_without_nbval(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "nbval" else real(name)
    )
    nbformat.write(new_notebook(), tmp_path / "a.ipynb")
    assert main(["grade", str(tmp_path / "a.ipynb"), "--csv", str(tmp_path / "out.csv")]) == 2
    assert "nbval is not installed" in capsys.readouterr().err


def test_grade_without_paths_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["grade", "--csv", "out.csv"])
    assert stop.value.code == 2


def test_hidden_checks_for_an_unknown_question_are_refused(tmp_path, monkeypatch, capsys):
    write_exercise(tmp_path)
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / f"{EXERCISE}.py").write_text("# %% check:nope points=1\npass\n")
    nbformat.write(student(tmp_path / "exercises"), tmp_path / "a.ipynb")
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "a.ipynb", "--csv", "out.csv", "--extra-checks", "hidden"]) == 2
    assert "no question 'nope' in 99_demo" in capsys.readouterr().err


# Release: the student copy.


def test_student_copy_has_placeholders_and_no_solution_text():
    copy = release.student_copy(solution_notebook())
    text = json.dumps(copy)
    for solution in ("sum(1 for op", "'paravirtualization'\\n", "return 2 * x", "BEGIN SOLUTION",
                     "instructor's own test"):  # fmt: skip
        assert solution not in text
    sources = [cell.source for cell in copy.cells]
    assert f"# YOUR CODE HERE\n{PLACEHOLDER.format('traps')}" in sources
    assert f"def double(x):\n    # YOUR CODE HERE\n    {PLACEHOLDER.format('double')}" in sources
    assert len(copy.cells) == len(solution_notebook().cells) - 1
    assert copy.metadata["course"]["exercise"] == EXERCISE


def test_student_copy_clears_outputs_and_locks_check_cells():
    nb = solution_notebook()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", text="3\n")]
    copy = release.student_copy(nb)
    code = [cell for cell in copy.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    checks = [c for c in code if any(t.startswith("check:") for t in c.metadata.get("tags", []))]
    assert len(checks) == 4
    assert all(c.metadata["editable"] is False and c.metadata["deletable"] is False for c in checks)


def test_student_copy_refuses_a_broken_exercise():
    nb = solution_notebook()
    nb.cells[4].metadata["course"]["points"] = 0
    with pytest.raises(ValueError, match="positive integer"):
        release.student_copy(nb)
    nb = solution_notebook()
    nb.cells[3].source = "### BEGIN SOLUTION\ntraps = 3"
    with pytest.raises(ValueError, match="without"):
        release.student_copy(nb)
    nb = solution_notebook()
    nb.cells[1].source += "\n### BEGIN SOLUTION\nsecret = 1\n### END SOLUTION"
    with pytest.raises(ValueError, match="cell 1: a solution block belongs in a cell tagged"):
        release.student_copy(nb)


def test_release_is_byte_stable_and_detects_stale_copies(tmp_path, capsys):
    exercises = write_exercise(tmp_path)
    copy_path = exercises / f"{EXERCISE}.ipynb"
    first = copy_path.read_bytes()
    assert first.endswith(b"}\n") and not first.endswith(b"\n\n")
    assert release.stale_copies(exercises) == []
    assert release.release(exercises) == []
    assert copy_path.read_bytes() == first
    copy_path.write_bytes(first.replace(b"TRACE", b"TRACK"))
    assert release.stale_copies(exercises) == [copy_path]
    assert main(["release", "--check", "--exercises", str(exercises)]) == 1
    assert f"stale: {copy_path}" in capsys.readouterr().out
    assert copy_path.read_bytes() != first  # --check writes nothing
    assert main(["release", "--exercises", str(exercises)]) == 0
    assert copy_path.read_bytes() == first
    assert main(["release", "--check", "--exercises", str(exercises)]) == 0
    copy_path.unlink()
    assert release.stale_copies(exercises) == [copy_path]


# The graded copy: which cells run, in which order (no kernel needed).


def graded_layout(exercises: Path, nb: nbformat.NotebookNode, hidden=None) -> list[str]:
    """The graded copy's code cells as 'answer:q', 'check:q' or 'other'."""
    exercise = load_exercises(exercises)[EXERCISE]
    copy = graded_copy(nb, exercise, pristine_checks(exercise), hidden or {}, 60)
    assert copy.notebook.metadata["grading"] == {"budget": 60}
    return [
        (f"{role.kind}:{role.question}" + (":hidden" if role.hidden else "")).replace(":None", "")
        for role in copy.roles
    ]


RELEASED = ["other", "answer:traps", "check:traps", "answer:kind", "check:kind", "answer:double",
            "check:double", "check:double"]  # fmt: skip


def test_graded_copy_puts_checks_after_the_last_answer_cell(tmp_path):
    exercises = write_exercise(tmp_path)
    assert graded_layout(exercises, student(exercises)) == RELEASED
    nb = answered(exercises)
    without_checks(nb, "traps")
    nb.cells.insert(4, answer("traps", "traps += 0"))  # the student's second answer cell
    nb.cells.insert(5, new_code_cell("scratch = 1"))
    layout = graded_layout(exercises, nb)
    assert layout[:5] == ["other", "answer:traps", "answer:traps", "check:traps", "other"]


def test_graded_copy_places_checks_of_a_deleted_answer_before_the_next_question(tmp_path):
    exercises = write_exercise(tmp_path)
    nb = answered(exercises)
    nb.cells = [c for c in nb.cells if "answer:kind" not in c.metadata.get("tags", [])]
    without_checks(nb, "kind")
    assert graded_layout(exercises, nb) == [c for c in RELEASED if c != "answer:kind"]


def test_graded_copy_drops_forged_checks_and_adds_hidden_ones_after_public(tmp_path):
    exercises = write_exercise(tmp_path)
    nb = answered(exercises)
    nb.cells.insert(0, check("kind", "pass", 50))
    exercise = load_exercises(exercises)[EXERCISE]
    hidden = parse_hidden_checks(
        "# %% check:kind points=3\ncheck.true(kind, 'empty')\n", exercise, "h"
    )
    layout = graded_layout(exercises, nb, hidden)
    assert layout == RELEASED[:5] + ["check:kind:hidden"] + RELEASED[5:]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x = 1\n# %% check:kind points=1\npass\n", "line 1: code before the first"),
        ("# %% check:kind points=0\npass\n", "line 1: a marker reads"),
        ("# %% check:kind\npass\n", "line 1: a marker reads"),
    ],
)
def test_hidden_checks_file_errors_name_the_line(tmp_path, text, reason):
    exercise = load_exercises(write_exercise(tmp_path))[EXERCISE]
    with pytest.raises(ValueError, match=reason):
        parse_hidden_checks(text, exercise, "h.py")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe binary", "not UTF-8 text"),
        (b'{"cells": []}', "no nbformat 4 header"),
        (
            b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}',
            "not a valid notebook",
        ),
    ],
)
def test_read_submission_says_why_a_file_is_not_gradable(tmp_path, content, reason):
    path = tmp_path / "s.ipynb"
    path.write_bytes(content)
    with pytest.raises(BadNotebook, match=reason):
        read_submission(path, {})


def test_read_submission_needs_an_exercise_id(tmp_path):
    exercises = write_exercise(tmp_path)
    nb = student(exercises)
    del nb.metadata["course"]
    nbformat.write(nb, tmp_path / "s.ipynb")
    with pytest.raises(BadNotebook, match=r"no exercise id .*course\.exercise"):
        read_submission(tmp_path / "s.ipynb", load_exercises(exercises))


def test_untouched_copy_cells_other_cells_pass_and_graded_ones_fail(tmp_path):
    job = sample_job(tmp_path)
    copy = job.graded
    run_jobs([job], tmp_path / "run", cell_timeout=5)
    verdicts = {
        (role.kind, result.verdict) for role, result in zip(copy.roles, job.results, strict=True)
    }
    assert verdicts == {("other", "ok"), ("answer", "error"), ("check", "error"), ("answer", "ok")}
    checks = [r for role, r in zip(copy.roles, job.results, strict=True) if role.kind == "check"]
    assert [r.ename for r in checks] == ["NameError", "NameError", "NotImplementedError",
                                         "NotImplementedError"]  # fmt: skip


def test_a_timeout_reruns_the_rest_with_the_cell_emptied(tmp_path):
    job = sample_job(tmp_path)
    ok, loop = CellResult("ok"), CellResult("timeout", message="Timeout")
    job.merge({0: ok, 1: ok, 2: ok, 3: loop}, seconds=6.0)
    assert (job.done, job.start, job.spent) == (False, 4, 6.0)
    code = [c for c in job.graded.notebook.cells if c.cell_type == "code"]
    assert code[3].source.startswith("# not run when graded: this cell timed out")
    job.merge(dict.fromkeys(range(8), CellResult("error", "NameError")), seconds=1.0)
    assert job.done
    assert job.results[:4] == [ok, ok, ok, loop]
    assert job.results[4] == CellResult("error", "NameError")


def test_a_kernel_that_does_not_start_is_tried_again_then_given_up(tmp_path):
    job = sample_job(tmp_path)
    hung = {index: CellResult("no-kernel") for index in range(8)}
    job.merge(hung, seconds=15.0)
    assert (job.done, job.spent, job.start) == (False, 0.0, 0)
    job.merge(hung, seconds=15.0)
    job.merge(hung, seconds=15.0)
    assert job.done and job.results == [None] * 8
    assert job.not_run == (
        "error",
        "grading could not run this notebook: its kernel did not start in 3 tries",
    )


def test_a_failed_pytest_run_is_retried_one_notebook_at_a_time(tmp_path, monkeypatch):
    calls = []

    def broken(jobs, folder, cell_timeout):
        calls.append([job.key for job in jobs])
        return "pytest failed: boom"

    monkeypatch.setattr(runner, "run_pytest", broken)
    jobs = [sample_job(tmp_path, "s0"), sample_job(tmp_path, "s1")]
    run_jobs(jobs, tmp_path / "run", cell_timeout=5)
    assert calls == [["s0", "s1"], ["s0"], ["s1"]]
    assert all(job.done and job.not_run[1].endswith("pytest failed: boom") for job in jobs)
