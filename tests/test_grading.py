"""The exercise format, the release, the graded copy, the gradebook files and the command line.

Most tests need no kernel; one `grade` run (module fixture) covers instructor-only checks, the
notebook time limit, `--no-sandbox`, the summary and the report, and progress as it happens.
"""

from __future__ import annotations

import csv
import html.parser
import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from grading_demo import (
    ANSWERS,
    EXERCISE,
    POINTS,
    READ_THE_SOLUTIONS,
    WRONG,
    answered,
    read_rows,
    solution_notebook,
    student,
    total,
    write_exercise,
)
from nbformat.v4 import new_code_cell, new_notebook

from vizlib import i18n
from vizlib.grading import gradebook as gb
from vizlib.grading import grader, release, runner, sandbox
from vizlib.grading.__main__ import main
from vizlib.grading.exercise import (
    UNANSWERED,
    Exercise,
    load_exercises,
    parse_exercise,
    parse_question,
)
from vizlib.grading.hidden import parse_hidden_checks
from vizlib.grading.plain import encode, missing
from vizlib.grading.reference import ItemRef, Reference
from vizlib.grading.report import pass_rates, write_report
from vizlib.grading.runner import CellResult, Job, run_jobs
from vizlib.grading.submission import BadNotebook, Role, graded_copy, read_submission

PLACEHOLDER = (
    'raise NotImplementedError("Question {}: write your answer here, '
    'then run the check cell below.")'
)


@pytest.fixture(scope="module")
def exercises(tmp_path_factory) -> Path:
    """The demo exercise, released once (the release runs the solution)."""
    return write_exercise(tmp_path_factory.mktemp("demo"))


# --- the format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("check.exact(traps, 'n')", "holds one call: check.answer"),
        ("check.answer('traps', check.exact(traps, 'n'))\nx = 1", "holds one call"),
        (
            "check.answer('kind', check.exact(traps, 'n'))",
            'name its question first: check.answer("traps"',
        ),
        ("check.answer('traps', check.guess(traps, 'n'))", "each item is check.<kind>"),
        ("check.answer('traps')", "needs at least one item"),
        ("check.answer('traps', check.exact(traps, 'n'), points=3)", "takes the question id"),
        ("check.answer('traps', check.exact(traps, 'n')", "must be valid Python"),
        ("check.answer('traps', check.exact(traps, WHAT))", "check.exact: what must be a string"),
        ("check.answer('traps', check.exact(traps))", "check.exact: what must be a string"),
        ("check.answer('traps', check.exact(traps, 'n', hint=h))", "hint= must be a string"),
        ("check.answer('traps', check.order(traps, 'n', before=RULES))", "before= is a list of"),
        (
            "check.answer('traps', check.order(traps, 'n', before=[(['a'], ['b'], f'{h}')]))",
            "the hint of each before= rule must be a string",
        ),
    ],
)
def test_a_check_cell_is_one_declarative_call(source, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_question(source, "traps", 2)


def test_check_cells_are_read_without_running_them():
    question = parse_question(
        'check.answer("t", check.hex(walk.gpa, "the gpa"), check.calls(f, "f", "call", [[1]]))',
        "t",
        3,
    )
    assert [(item.kind, item.value) for item in question.items] == [
        ("hex", "walk.gpa"),
        ("calls", "f"),
    ]
    assert question.items[0].source == 'check.hex(walk.gpa, "the gpa")'
    assert [item.texts for item in question.items] == [("the gpa",), ("f",)]


def test_the_format_refuses_a_broken_exercise():
    nb = solution_notebook()
    nb.cells[4].metadata["course"]["points"] = 0
    with pytest.raises(ValueError, match="positive integer"):
        parse_exercise(nb)
    nb = solution_notebook()
    nb.cells.insert(5, nbformat.from_dict(json.loads(json.dumps(nb.cells[4]))))
    with pytest.raises(ValueError, match="a second check cell"):
        parse_exercise(nb)
    nb = solution_notebook()
    nb.cells[1].source += "\n### BEGIN SOLUTION\nsecret = 1\n### END SOLUTION"
    with pytest.raises(ValueError, match="cell 1: a solution block belongs in a cell tagged"):
        parse_exercise(nb)
    nb = solution_notebook()
    nb.metadata["course"]["devices"] = ["/dev/sda"]
    with pytest.raises(ValueError, match="course.devices must be a list of"):
        parse_exercise(nb)


# --- the release --------------------------------------------------------------------------------


def test_student_copy_has_placeholders_keys_and_no_solution(exercises):
    copy = student(exercises)
    text = json.dumps(copy)
    for solution in (
        "sum(1 for op",
        "return 2 * x",
        "BEGIN SOLUTION",
        "instructor's own test",
        "zip(SCENARIOS",
    ):
        assert solution not in text
    sources = [cell.source for cell in copy.cells]
    assert f"# YOUR CODE HERE\n{PLACEHOLDER.format('traps')}" in sources
    assert f"def double(x):\n    # YOUR CODE HERE\n    {PLACEHOLDER.format('double')}" in sources
    checks = [
        c for c in copy.cells if any(t.startswith("check:") for t in c.metadata.get("tags", []))
    ]
    assert len(checks) == len(POINTS)
    assert all('key="' in c.source for c in checks)
    assert all(c.metadata["editable"] is False and c.metadata["deletable"] is False for c in checks)
    assert all(c.outputs == [] for c in copy.cells if c.cell_type == "code")


def test_keyed_moves_the_secret_arguments_into_the_key():
    source = (
        'check.answer(\n    "deploy",\n    check.mapping(\n        hypervisor,\n        "yours",\n'
        '        also={"a": ["Xen"]},\n        hint="which one?",\n    ),\n)'
    )
    assert release.keyed(source, "KEY") == (
        'check.answer(\n    "deploy",\n    check.mapping(\n        hypervisor,\n        "yours",\n'
        '        hint="which one?",\n    ),\n    key="KEY",\n)'
    )
    one_line = 'check.answer("t", check.text(t, "the type", also=["type I"]))'
    assert release.keyed(one_line, "K") == 'check.answer("t", check.text(t, "the type"), key="K")'


def test_release_is_byte_stable_and_detects_stale_copies(exercises, capsys):
    copy_path = exercises / f"{EXERCISE}.ipynb"
    first = copy_path.read_bytes()
    assert first.endswith(b"}\n") and not first.endswith(b"\n\n")
    assert release.release(exercises) == []
    copy_path.write_bytes(first.replace(b"TRACE", b"TRACK"))
    assert main(["release", "--check", "--exercises", str(exercises)]) == 1
    assert f"stale: {copy_path}" in capsys.readouterr().out
    assert main(["release", "--exercises", str(exercises)]) == 0
    assert copy_path.read_bytes() == first


def test_release_says_which_solution_fails(tmp_path):
    nb = solution_notebook()
    nb.cells[1].source += "\nraise RuntimeError('broken set-up')"
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "99_demo.ipynb")
    with pytest.raises(
        ValueError,
        match="reference solution of 99_demo failed in the section of traps: RuntimeError: broken",
    ):
        release.release(tmp_path)


# --- the graded copy ----------------------------------------------------------------------------


def layout(exercises: Path, nb: nbformat.NotebookNode) -> list[str]:
    """The graded copy's code cells: 'answer:q', 'collect:q,...', 'final' or 'other'."""
    exercise = load_exercises(exercises)[EXERCISE]
    collect = {q: [("x",)] for q in POINTS}
    copy = graded_copy(nb, exercise, collect, 60)
    assert copy.notebook.metadata["grading"] == {"budget": 60}
    names = {"answer": "answer:{}", "collect": "collect:{}"}
    return [
        "final" if role.final else names.get(role.kind, "other").format(",".join(role.questions))
        for role in copy.roles
    ]


RELEASED = [
    "other",
    "answer:traps",
    "collect:traps",
    "answer:kind",
    "collect:kind",
    "answer:double",
    "collect:double",
    "answer:classify",
    "collect:classify",
    "answer:cores",
    "collect:cores",
    "final",
]


def test_values_are_collected_at_the_end_of_each_section_and_at_the_end(exercises):
    assert layout(exercises, student(exercises)) == RELEASED


def test_a_cell_added_below_an_answer_belongs_to_its_section(exercises):
    nb = answered(exercises)
    at = next(i for i, c in enumerate(nb.cells) if "answer:traps" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, new_code_cell("traps = 3"))
    assert layout(exercises, nb)[:4] == ["other", "answer:traps", "other", "collect:traps"]


def test_a_question_moved_down_is_collected_after_its_answer_and_keeps_the_others_in_place(
    exercises,
):
    nb = answered(exercises)
    moved = [c for c in nb.cells if "answer:kind" in c.metadata.get("tags", [])]
    nb.cells = [c for c in nb.cells if c not in moved] + moved
    assert layout(exercises, nb) == [
        "other",
        "answer:traps",
        "collect:traps",
        "answer:double",
        "collect:double",
        "answer:classify",
        "collect:classify",
        "answer:cores",
        "collect:cores",
        "answer:kind",
        "collect:kind",
        "final",
    ]


def test_a_question_without_answer_cells_is_collected_before_the_next_question(exercises):
    nb = answered(exercises)
    nb.cells = [c for c in nb.cells if "answer:kind" not in c.metadata.get("tags", [])]
    expected = [c for c in RELEASED if c not in ("answer:kind", "collect:kind")]
    assert layout(exercises, nb) == [
        c.replace("collect:traps", "collect:traps,kind") for c in expected
    ]


def test_forged_check_and_collecting_cells_are_dropped_or_disarmed(exercises):
    nb = answered(exercises)
    forged = new_code_cell("pass", metadata={"tags": ["check:kind"], "course": {"points": 50}})
    collecting = new_code_cell("print(1)", metadata={"grading": {"collect": True, "final": True}})
    nb.cells[1:1] = [forged, collecting]
    assert layout(exercises, nb) == [RELEASED[0], "other", *RELEASED[1:]]


# --- reading submissions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe binary", "not UTF-8 text"),
        (b'{"cells": []}', "no nbformat 3 or 4 header"),
        (b"notes", "does not hold JSON"),
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


def test_a_file_gone_or_unreadable_when_its_turn_comes_is_a_bad_notebook(tmp_path):
    with pytest.raises(BadNotebook, match=r"cannot be read \(No such file or directory\)"):
        read_submission(tmp_path / "gone.ipynb", {})
    (tmp_path / "folder.ipynb").mkdir()
    with pytest.raises(BadNotebook, match=r"cannot be read \(Is a directory\)"):
        read_submission(tmp_path / "folder.ipynb", {})


def test_an_invalid_notebook_still_names_its_exercise(tmp_path, exercises):
    data = json.loads(nbformat.writes(answered(exercises)))
    data["cells"][1]["outputs"] = "nonsense"
    (tmp_path / "s.ipynb").write_text(json.dumps(data))
    with pytest.raises(BadNotebook) as bad:
        read_submission(tmp_path / "s.ipynb", load_exercises(exercises))
    assert bad.value.exercise == EXERCISE
    rows = gb.bad_notebook_rows("s", "s", str(bad.value), load_exercises(exercises)[EXERCISE])
    assert [(r.exercise, r.question, r.max_points) for r in rows] == [
        (EXERCISE, q, p) for q, p in POINTS.items()
    ]


def test_read_submission_repairs_tags_and_ids_and_converts_nbformat_3(tmp_path, exercises):
    known = load_exercises(exercises)
    data = json.loads(nbformat.writes(answered(exercises)))
    data["cells"][3]["metadata"]["tags"] *= 2
    data["cells"][4]["id"] = data["cells"][3]["id"]
    (tmp_path / "s.ipynb").write_text(json.dumps(data))
    repaired = read_submission(tmp_path / "s.ipynb", known)
    assert repaired.notes == [
        "warning: duplicated tags ignored (answer:traps)",
        "warning: duplicated or missing cell ids renumbered",
    ]
    assert repaired.records == {("cores", 0): (8, 8)}
    (tmp_path / "v3.ipynb").write_text(nbformat.writes(nbformat.convert(answered(exercises), 3), 3))
    converted = read_submission(tmp_path / "v3.ipynb", known)
    assert converted.notes == ["warning: converted from nbformat 3 to 4"]
    assert converted.records == {("cores", 0): (8, 8)}


def test_read_submission_needs_a_known_exercise_id(tmp_path, exercises):
    nb = student(exercises)
    del nb.metadata["course"]
    nbformat.write(nb, tmp_path / "s.ipynb")
    with pytest.raises(BadNotebook, match=r"no exercise id .*course\.exercise"):
        read_submission(tmp_path / "s.ipynb", load_exercises(exercises))


# --- running: re-runs after a stop --------------------------------------------------------------


def sample_job(exercises: Path, key: str = "s0") -> Job:
    exercise = load_exercises(exercises)[EXERCISE]
    copy = graded_copy(student(exercises), exercise, {q: [("x",)] for q in POINTS}, 60)
    return Job(key, copy, 60, kernel=lambda sockets: {})


def test_a_timeout_reruns_the_rest_with_the_cell_emptied(exercises):
    job = sample_job(exercises)
    ok, loop = CellResult("ok"), CellResult("timeout", message="Timeout")
    job.merge({0: ok, 1: ok, 2: ok, 3: loop}, seconds=6.0)
    assert (job.done, job.start, job.spent) == (False, 4, 6.0)
    code = [c for c in job.graded.notebook.cells if c.cell_type == "code"]
    assert code[3].source.startswith("# not run when graded: this cell timed out")
    job.merge(dict.fromkeys(range(12), CellResult("error", "NameError")), seconds=1.0)
    assert job.done
    assert job.results[:4] == [ok, ok, ok, loop]
    assert job.results[4] == CellResult("error", "NameError")


def test_a_kernel_that_does_not_start_is_tried_again_then_given_up(exercises):
    job = sample_job(exercises)
    hung = {index: CellResult("no-kernel") for index in range(12)}
    for _ in range(3):
        job.merge(hung, seconds=15.0)
    assert job.done and job.results == [None] * 12 and job.spent == 0.0
    assert job.not_run == (
        "error",
        "grading could not run this notebook: its kernel did not start in 3 tries",
    )


def test_a_failed_pytest_run_is_retried_one_notebook_at_a_time(exercises, tmp_path, monkeypatch):
    calls, finished = [], []

    def broken(jobs, folder, cell_timeout, done):
        calls.append([job.key for job in jobs])
        return "pytest failed: boom", list(jobs)

    monkeypatch.setattr(runner, "run_pytest", broken)
    jobs = [sample_job(exercises, "s0"), sample_job(exercises, "s1")]
    run_jobs(jobs, tmp_path, cell_timeout=5, done=finished.append)
    assert calls == [["s0", "s1"], ["s0"], ["s1"]]
    assert finished == jobs and all(job.not_run[1].endswith("pytest failed: boom") for job in jobs)


# --- judging a run into rows --------------------------------------------------------------------


def one_question() -> Reference:
    """A reference for one question with two exact items whose answers are 3 and 'pv'."""
    question = parse_question('check.answer("q", check.exact(a, "a"), check.exact(b, "b"))', "q", 4)
    return Reference(
        Exercise("99_demo", None, new_notebook(), {"q": question}),
        {"q": question},
        {"q": [ItemRef("exact", {"what": "a"}, 3), ItemRef("exact", {"what": "b"}, "pv")]},
    )


def rows_of(results: list[CellResult | None], notes=()) -> gb.Row:
    roles = [Role("answer", ("q",)), Role("collect", ("q",)), Role("collect", ("q",), final=True)]
    reference = one_question()
    rows = gb.question_rows("s", "s", reference, roles, results, gb.Limits(5, 60), {}, list(notes))
    return rows[0]


def shown(**answers) -> str:
    return json.dumps(
        {
            "answers": {
                "q": [
                    missing(NameError(v)) if isinstance(v, NameError) else encode(v)
                    for v in answers.values()
                ]
            }
        }
    )


def test_partial_credit_in_proportion_to_the_items_right():
    row = rows_of([CellResult("ok"), CellResult("ok", collected=shown(a=3, b="hv")), None])
    assert (row.points, row.max_points, row.status) == (2.0, 4, "partial")
    assert row.message == "b: 'hv' is not right"


def test_a_value_missing_at_the_section_end_is_taken_from_the_end_of_the_notebook():
    early = shown(a=NameError("name 'a' is not defined"), b="pv")
    row = rows_of(
        [
            CellResult("ok"),
            CellResult("ok", collected=early),
            CellResult("ok", collected=shown(a=3, b="wrong")),
        ]
    )
    assert (row.points, row.status) == (4.0, "passed")


def test_an_answer_cell_error_explains_a_failure_and_notes_are_added():
    row = rows_of(
        [
            CellResult("error", "NotImplementedError", "write your answer"),
            CellResult("ok", collected=shown(a=NameError("x"), b=NameError("y"))),
            None,
        ],
        notes=["graded WITHOUT the sandbox (--no-sandbox)"],
    )
    assert (row.points, row.status) == (0.0, "failed")
    assert row.message == (
        "answer cell: NotImplementedError: write your answer; "
        "graded WITHOUT the sandbox (--no-sandbox)"
    )


def test_an_untouched_answer_cell_of_another_language_is_explained_in_the_gradebook_language():
    with i18n.use("zh"):
        chinese = i18n._(UNANSWERED, question="q")
    row = rows_of(
        [
            CellResult("error", "NotImplementedError", chinese),
            CellResult("ok", collected=shown(a=NameError("x"), b=NameError("y"))),
            None,
        ]
    )
    assert "问题 q" in chinese and row.status == "failed"
    assert row.message == "answer cell: NotImplementedError: " + UNANSWERED.format(question="q")


def test_a_stop_in_the_collecting_cell_costs_the_question():
    row = rows_of([CellResult("ok"), CellResult("timeout"), None])
    assert (row.points, row.status) == (0.0, "timeout")
    assert row.message == "the collecting cell ran longer than 5 s (an endless loop?)"


def test_answers_that_cannot_be_read_are_an_error_not_a_crash():
    row = rows_of([CellResult("ok"), CellResult("ok", collected='{"answers": {"q": [1]}}'), None])
    assert (row.status, row.message) == (
        "error",
        "your answers could not be read: the answers do not match the question's items",
    )


# --- the files ----------------------------------------------------------------------------------

ROWS = [
    gb.Row("subs/josé/04.ipynb", "josé", "04_pv", "a", 2, 2, "passed", ""),
    gb.Row("subs/josé/04.ipynb", "josé", "04_pv", "b", 0.67, 2, "partial", "x"),
    gb.Row("subs/josé/04 again.ipynb", "josé", "04_pv", "a", 0, 2, "failed", "y"),
    gb.Row("subs/josé/04 again.ipynb", "josé", "04_pv", "b", 0, 2, "failed", "y"),
    gb.Row("subs/ann/05.ipynb", "ann", "05_hw", "c", 0, 3, "timeout", "loop"),
    gb.Row("subs/ann/notes.txt", "ann", "", "", 0, 0, "not-a-notebook", "not graded"),
]


def test_the_gradebook_is_utf8_with_a_bom_and_written_atomically(tmp_path):
    path = tmp_path / "grades.csv"
    gb.write_csv(ROWS, path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfsubmission,student,exercise,")
    assert "josé" in path.read_text("utf-8-sig")
    assert gb.read_csv(path) == ROWS
    assert list(tmp_path.iterdir()) == [path]


def test_the_summary_has_one_row_per_student_and_the_best_submission_per_exercise(tmp_path):
    gb.write_summary(ROWS, tmp_path / "summary.csv")
    with open(tmp_path / "summary.csv", newline="", encoding="utf-8-sig") as f:
        assert list(csv.reader(f)) == [
            ["student", "04_pv", "05_hw", "total"],
            ["ann", "0", "0", "0"],
            ["josé", "2.67", "0", "2.67"],
        ]


def test_merge_joins_shards_and_refuses_overlaps(tmp_path, capsys):
    gb.write_csv(ROWS[:2], tmp_path / "a.csv")
    gb.write_csv(ROWS[2:], tmp_path / "b.csv")
    args = [
        "merge",
        str(tmp_path / "a.csv"),
        str(tmp_path / "b.csv"),
        "--csv",
        str(tmp_path / "all.csv"),
    ]
    assert main([*args, "--summary", str(tmp_path / "s.csv")]) == 0
    assert gb.read_csv(tmp_path / "all.csv") == ROWS
    gb.write_csv(ROWS[1:3], tmp_path / "b.csv")
    assert main(args) == 2
    assert "subs/josé/04.ipynb is graded in both" in capsys.readouterr().err


def test_shards_split_the_class_without_overlap():
    found = [grader.Found(f"s{n:02}.ipynb", f"s{n:02}", Path(f"s{n:02}.ipynb")) for n in range(7)]
    shards = [grader.shard_of(found, (k, 3)) for k in (1, 2, 3)]
    assert sorted(item.name for shard in shards for item in shard) == sorted(f.name for f in found)
    assert [len(shard) for shard in shards] == [3, 2, 2]
    with pytest.raises(grader.GradingError, match="1 <= K <= N"):
        grader.shard_of(found, (4, 3))


class Page(html.parser.HTMLParser):
    """What the report holds: its figures, its headings, its table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs, self.headings, self.cells, self._in = 0, [], [], None

    def handle_starttag(self, tag, attrs):
        self.svgs += tag == "svg"
        self._in = tag if tag in ("h2", "td") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.headings.append(data)
        elif self._in == "td":
            self.cells.append(data)


def test_the_report_draws_scores_and_pass_rates_and_lists_the_problems(tmp_path):
    write_report(ROWS, tmp_path / "report.html")
    page = Page()
    page.feed((tmp_path / "report.html").read_text("utf-8"))
    assert page.svgs == 2
    assert page.headings == [
        "Score distribution",
        "Pass rate per question, hardest first",
        "Submissions that errored or timed out",
    ]
    assert page.cells[:3] == ["subs/ann/05.ipynb", "05_hw", "c"] and "not-a-notebook" in page.cells
    assert [name for name, _, _ in pass_rates(ROWS)] == ["04_pv/b", "05_hw/c", "04_pv/a"]


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["missing.ipynb", "--csv", "out.csv"], "no such file or folder: missing.ipynb"),
        (["subs", "--csv", "nowhere/out.csv"], "the folder nowhere does not exist"),
        (["empty", "--csv", "out.csv"], "no files in the folder empty"),
        (["subs", "--csv", "out.csv", "--exercises", "nowhere"], "no solutions/ folder"),
        (["subs", "--csv", "out.csv", "--shard", "3/2"], "must be K/N with 1 <= K <= N"),
    ],
)
def test_grade_refuses_to_run_with_status_2(tmp_path, monkeypatch, capsys, exercises, args, reason):
    (tmp_path / "subs").mkdir()
    (tmp_path / "empty").mkdir()
    nbformat.write(student(exercises), tmp_path / "subs" / "a.ipynb")
    monkeypatch.chdir(tmp_path)
    where = [] if "--exercises" in args else ["--exercises", str(exercises)]
    try:
        status = main(["grade", *args, *where])
    except SystemExit as usage:  # argparse's own refusals
        status = usage.code
    assert status == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def refused_grade(tmp_path, capsys, exercises) -> str:
    """Grade one answered copy where the sandbox cannot run: exit status 2; what it said."""
    nbformat.write(answered(exercises), tmp_path / "a.ipynb")
    csv = tmp_path / "g.csv"
    args = [str(tmp_path / "a.ipynb"), "--csv", str(csv), "--exercises", str(exercises)]
    assert main(["grade", *args]) == 2
    return capsys.readouterr().err


def test_grade_explains_how_to_install_bubblewrap(tmp_path, monkeypatch, capsys, exercises):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    error = refused_grade(tmp_path, capsys, exercises)
    assert "sudo apt-get install bubblewrap" in error and "--no-sandbox" in error
    assert not (tmp_path / "g.csv").exists()


def test_grade_explains_a_refused_sandbox(tmp_path, monkeypatch, capsys, exercises):
    refusing = tmp_path / "bwrap"
    refusing.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    refusing.chmod(0o755)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: str(refusing))
    error = refused_grade(tmp_path, capsys, exercises)
    assert "No permissions to create new namespace" in error
    assert "--security-opt seccomp=unconfined" in error


def test_without_an_installed_course_the_error_says_to_pass_exercises(
    tmp_path, monkeypatch, capsys
):
    import vizlib.course

    monkeypatch.setattr(vizlib.course, "ROOT", tmp_path)
    nbformat.write(new_notebook(), tmp_path / "a.ipynb")
    assert main(["grade", str(tmp_path / "a.ipynb"), "--csv", str(tmp_path / "g.csv")]) == 2
    assert "pass --exercises DIR" in capsys.readouterr().err


def test_hidden_checks_for_an_unknown_question_are_refused(exercises):
    exercise = load_exercises(exercises)[EXERCISE]
    with pytest.raises(ValueError, match="line 1: no question 'nope' in 99_demo"):
        parse_hidden_checks(
            "# %% check:nope points=1\ncheck.answer('nope', check.exact(x, 'x'))\n",
            exercise,
            "h.py",
        )
    with pytest.raises(ValueError, match="line 1: code before the first"):
        parse_hidden_checks("x = 1\n# %% check:kind points=1\n", exercise, "h.py")


# --- one grading run: hidden checks, the notebook time limit, --no-sandbox, summary, report -----

HIDDEN = (
    "# Checks the students do not see.\n# %% check:double points=2\n"
    'check.answer("double", check.calls(double, "double", probe="call", '
    "examples=[[0], [10]]))\n"
)


@pytest.fixture(scope="module")
def second_run(tmp_path_factory, exercises) -> dict:
    root = tmp_path_factory.mktemp("second")
    shutil.copytree(exercises, root / "exercises")
    (root / "hidden").mkdir()
    (root / "hidden" / f"{EXERCISE}.py").write_text(HIDDEN)
    folder = root / "submissions"
    folder.mkdir()
    nbformat.write(answered(exercises), folder / "honest.ipynb")
    nbformat.write(
        answered(exercises, double="double = {2: 4, -3: -6}.get"), folder / "gamed.ipynb"
    )
    slow = {q: f"import time\ntime.sleep(2.5)\n{ANSWERS[q]}" for q in ("traps", "kind", "double")}
    nbformat.write(answered(exercises, **slow), folder / "slow.ipynb")
    reader = answered(exercises, record=None, **{**WRONG, "traps": READ_THE_SOLUTIONS})
    nbformat.write(reader, folder / "reads_the_solutions.ipynb")
    lines = []
    monkey = pytest.MonkeyPatch()
    monkey.chdir(root)
    try:
        grader.grade(
            ["submissions"],
            "grades.csv",
            exercises_dir="exercises",
            extra_checks="hidden",
            cell_timeout=5,
            timeout=6,
            jobs=1,
            sandboxed=False,
            summary="summary.csv",
            report="report.html",
            echo=lambda line: lines.append((time.monotonic(), line)),
        )
    finally:
        monkey.undo()
    return {"rows": read_rows(root / "grades.csv"), "lines": lines, "root": root}


def test_hidden_checks_score_in_their_own_rows(second_run):
    rows = second_run["rows"]
    assert rows["honest", "double:hidden"]["status"] == "passed"
    assert rows["honest", "double:hidden"]["points"] == "2"
    assert rows["gamed", "double"]["status"] == "failed"  # the grader's own inputs catch it
    gamed = rows["gamed", "double:hidden"]
    assert (gamed["status"], gamed["points"]) == ("failed", "0")
    assert gamed["message"].startswith("double: wrong for 7 of 7 inputs: for [0] it gave None")


def test_without_the_sandbox_every_row_says_so_and_a_cheat_reads_the_solutions(second_run):
    rows = second_run["rows"]
    assert all(
        "graded WITHOUT the sandbox (--no-sandbox)" in row["message"] for row in rows.values()
    )
    assert second_run["lines"][0][1].endswith("NOT sandboxed (--no-sandbox), 1 jobs")
    assert rows["reads_the_solutions", "traps"]["points"] == str(POINTS["traps"]), rows[
        "reads_the_solutions", "traps"
    ]


def test_the_notebook_time_limit_stops_a_slow_submission(second_run):
    rows = second_run["rows"]
    assert rows["slow", "traps"]["status"] == "passed"
    stopped = [q for q in ("kind", "double") if rows["slow", q]["status"] == "timeout"]
    assert stopped and "used up its 6 s" in rows["slow", stopped[0]]["message"]


def test_progress_comes_per_submission_as_each_finishes(second_run):
    times = {line.split()[1]: at for at, line in second_run["lines"] if line.startswith("[")}
    assert len(times) == 4
    assert times["submissions/slow.ipynb"] - times["submissions/honest.ipynb"] > 2


def test_the_summary_and_report_are_written(second_run):
    root = second_run["root"]
    summary = (root / "summary.csv").read_text("utf-8-sig").splitlines()
    assert summary[0] == f"student,{EXERCISE},total"
    assert summary[2].startswith("honest,12,12")
    assert (root / "report.html").read_text().count("<svg") == 2
    assert total(second_run["rows"], "honest") == 12
