"""The course's exercises grade themselves: as a learner runs them, and as the grader judges them.

Each student copy is completed with its solution's answers and executed as a learner would (its
check cells must all pass), then graded with the untouched copies by the grading command run from
another folder without `--exercises`: the completed copies score full marks, the untouched zero.
"""

import ast
import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_demo import needs_bubblewrap
from nbclient import NotebookClient

from vizlib.course import ROOT, syllabus
from vizlib.grading import release
from vizlib.grading.exercise import ANSWER, CHECK, read_exercise, tagged
from vizlib.grading.judge import judge, make_key
from vizlib.sim import costmodel

EXERCISES = [ROOT / lesson.exercise for lesson in syllabus() if lesson.ready]
SOLUTIONS = {path.stem: ROOT / "exercises" / "solutions" / path.name for path in EXERCISES}


def completed(student: Path) -> nbformat.NotebookNode:
    """The student copy with the solution's answers, executed top to bottom as a learner would."""
    nb = release.solved_copy(ROOT / "exercises", student.stem)
    NotebookClient(
        nb, timeout=120, allow_errors=True, resources={"metadata": {"path": ROOT / "exercises"}}
    ).execute()
    return nb


@pytest.fixture(scope="module")
def learners(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """Every exercise completed and executed, as a learner saves it."""
    return {student.stem: completed(student) for student in EXERCISES}


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory, learners) -> list[dict]:
    """The completed and the untouched copies, graded from another folder."""
    folder = tmp_path_factory.mktemp("class")
    for name, nb in learners.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    out = folder / "grades.csv"
    cmd = [sys.executable, "-m", "vizlib.grading", "grade", str(folder), *map(str, EXERCISES)]
    done = subprocess.run([*cmd, "--csv", str(out)], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _rows(gradebook, path: Path) -> list[dict]:
    return [row for row in gradebook if Path(row["submission"]).resolve() == path.resolve()]


def test_student_copies_are_generated_from_the_current_solutions():
    assert release.stale_copies(ROOT / "exercises") == [], "run `python3 scripts/course.py release`"


@pytest.mark.parametrize("student", EXERCISES, ids=lambda p: p.stem)
def test_the_solutions_answers_pass_every_check_cell_of_the_student_copy(learners, student):
    nb = learners[student.stem]
    checks = [cell for cell in nb.cells if tagged(cell, CHECK)]
    errors = [out for cell in checks for out in cell.outputs if out.output_type == "error"]
    assert checks and not errors, [(e.ename, e.evalue) for e in errors]


@needs_bubblewrap
@pytest.mark.parametrize("student", EXERCISES, ids=lambda p: p.stem)
def test_the_grader_gives_the_completed_copy_full_marks(gradebook, student):
    rows = [row for row in gradebook if Path(row["submission"]).name == student.name
            and Path(row["submission"]).parent.name != "exercises"]  # fmt: skip
    assert {row["question"] for row in rows} == set(
        read_exercise(SOLUTIONS[student.stem]).questions
    )
    for row in rows:
        assert row["status"] == "passed", row
        assert row["points"] == row["max_points"]


@needs_bubblewrap
@pytest.mark.parametrize("student", EXERCISES, ids=lambda p: p.stem)
def test_every_untouched_student_copy_scores_zero_and_says_why(gradebook, student):
    rows = _rows(gradebook, student)
    assert {row["question"] for row in rows} == set(read_exercise(student).questions)
    for row in rows:
        assert row["status"] == "failed" and row["points"] == "0", row
        assert "NotImplementedError" in row["message"], row


def test_exercise_10_tells_ept_from_paravirtualization():
    """Deployment c's slowdown under paravirtualization (the answer) and under EPT differ by
    0.5 % for some workloads: the check's tolerance must tell them apart for every workload a
    variant may draw."""
    deploy = read_exercise(SOLUTIONS["10_choosing"]).questions["deploy"]
    call = ast.parse(deploy.items[2].source, mode="eval").body
    args = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    for workload in costmodel.WORKLOADS.values():
        pv = costmodel.predict(workload, "paravirtualization", "p4").slowdown
        ept = costmodel.predict(workload, "hardware-assisted-ept", "p4").slowdown
        key = make_key("mapping", {"c": pv}, args, "salt")
        assert judge("mapping", {"c": pv}, key, args, "salt").passed
        assert not judge("mapping", {"c": ept}, key, args, "salt").passed, workload


def _assigned(source: str) -> set[str]:
    """The names a cell's code binds at its top level (assignments, functions, classes)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        for target in getattr(node, "targets", [getattr(node, "target", None)]):
            names |= (
                {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} if target else set()
            )
    return names


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_every_question_names_the_variables_its_answer_cells_must_set(name):
    """A student copy's answer cells are empty and its keys hide the answers: the question's own
    text is all a learner has to learn what to set, so it names every variable the check reads."""
    exercise = read_exercise(SOLUTIONS[name])
    unnamed, text, answered = [], "", set()
    for cell in exercise.notebook.cells:
        if cell.cell_type == "markdown":
            text += cell.source
        elif tagged(cell, ANSWER):
            answered |= _assigned(cell.source)
        elif tagged(cell, CHECK):
            question = exercise.questions[tagged(cell, CHECK)[0]]
            read = {
                node.id
                for item in question.items
                for node in ast.walk(ast.parse(f"(\n{item.value}\n)", mode="eval"))
                if isinstance(node, ast.Name)
            }
            unnamed += [
                f"{question.id}: {v}" for v in sorted(read & answered) if f"`{v}" not in text
            ]
            text, answered = "", set()
    assert not unnamed, f"the question text never names: {unnamed}"
