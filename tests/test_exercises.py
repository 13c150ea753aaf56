"""The course's exercises grade themselves: solutions score full marks, untouched copies zero."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from vizlib.course import ROOT, syllabus
from vizlib.grading import release
from vizlib.grading.exercise import read_exercise

EXERCISES = [ROOT / lesson.exercise for lesson in syllabus() if lesson.ready]
SOLUTIONS = [ROOT / "exercises" / "solutions" / path.name for path in EXERCISES]


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> list[dict]:
    """Grade every solution and every untouched student copy in one run of the grading command."""
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    cmd = [sys.executable, "-m", "vizlib.grading", "grade", *map(str, SOLUTIONS + EXERCISES)]
    done = subprocess.run([*cmd, "--csv", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def _rows(gradebook, path: Path) -> list[dict]:
    return [row for row in gradebook if Path(row["submission"]).resolve() == path.resolve()]


def test_student_copies_are_generated_from_the_current_solutions():
    assert release.stale_copies(ROOT / "exercises") == [], "run `python3 scripts/course.py release`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_scores_full_marks(gradebook, solution):
    rows = _rows(gradebook, solution)
    questions = read_exercise(solution).questions
    assert {row["question"] for row in rows} == set(questions)
    for row in rows:
        assert row["status"] == "passed", row
        assert row["points"] == row["max_points"]


@pytest.mark.parametrize("student", EXERCISES, ids=lambda p: p.stem)
def test_every_untouched_student_copy_fails_exactly_its_graded_checks(gradebook, student):
    rows = _rows(gradebook, student)
    assert {row["question"] for row in rows} == set(read_exercise(student).questions)
    for row in rows:
        assert row["status"] == "failed" and row["points"] == "0", row
        assert "NotImplementedError" in row["message"], row
