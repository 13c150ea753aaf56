"""The roster workflow end to end, on the course's exercises and a class of five, as an instructor
runs it: make the secret, release a copy per student, collect the class's work, grade it.

- ana does every exercise honestly in her own copy: her self-checks pass, she gets full marks;
- ben does every exercise by typing ana's answers into his own copy: his self-checks fail where
  their variants differ, and the grade takes exactly those points away;
- carla works in Chinese: her copy of exercise 00 is the Chinese one and checks in Chinese;
- dan hands in ana's notebook file for exercise 09 (the row says whose copy it was) and his own
  untouched copy of 05;
- eve types the answers of the published default variant into her copy of exercise 04;
- zed is not on the roster.
Beside it, the references of many variants show which questions vary and which do not.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_demo import needs_bubblewrap
from nbclient import NotebookClient

from vizlib.course import ROOT
from vizlib.grading.checks import item_salt
from vizlib.grading.exercise import ANSWER, CHECK, load_exercises, tagged
from vizlib.grading.judge import judge
from vizlib.grading.reference import run_references
from vizlib.grading.release import solved_copy
from vizlib.grading.roster import seed

EXERCISES = ROOT / "exercises"
SECRET = "5f1c" * 16  # this test's course secret: 64 hex digits
STUDENTS = {"ana": "en", "ben": "en", "carla": "zh", "dan": "en", "eve": "en"}
OTHERS = range(1, 13)  # more variants, to see which questions vary
# Which questions' answers depend on the variant; every other question has one answer. Lettered
# questions (options shuffled per variant) vary by their letter.
VARYING = {
    "00_welcome": {"laptop", "map"},
    "01_virtualization_types": set(),
    "02_trap_and_emulate": {"classify", "toy", "meaning", "predict", "popf"},
    "03_full_virtualization": {"translation", "break-even", "cache", "choose", "claim"},
    "04_paravirtualization": {"batch-bt", "saving", "near-native", "virtio"},
    "05_hardware_assist": {"count", "translate", "outcomes", "choose", "reasons"},
    "06_qemu": {"predict", "endian", "blocks", "chaining"},
    "07_kvm": {"count", "registers", "slow"},
    "08_kvm_and_qemu": {"pv", "thousand", "status"},
    "09_xen": {"consume", "notify", "final"},
    "10_choosing": {"deploy", "exits", "share"},
}


def grading(root: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vizlib.grading", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1200)


def assigned(source: str) -> list[str]:
    """The names an answer cell assigns at its top level (not inside a function or class)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda | ast.comprehension):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return list(dict.fromkeys(found))


def run_as_learner(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    NotebookClient(
        nb, timeout=120, allow_errors=True, resources={"metadata": {"path": folder}}
    ).execute()
    return nb


def answers_of(nb: nbformat.NotebookNode, folder: Path) -> tuple[nbformat.NotebookNode, dict]:
    """Run `nb` as a learner; also return the values its answer cells left, written as Python
    literals where they can be ({question: {name: literal}}): what a classmate could copy."""
    names = {tagged(c, ANSWER)[0]: assigned(c.source) for c in nb.cells if tagged(c, ANSWER)}
    dump = (
        "import ast as _ast, json as _json\n_found = {}\n"
        f"for _q, _names in {names!r}.items():\n"
        "    _found[_q] = {}\n"
        "    for _n in _names:\n"
        "        try:\n"
        "            if _ast.literal_eval(repr(globals()[_n])) == globals()[_n]:\n"
        "                _found[_q][_n] = repr(globals()[_n])\n"
        "        except Exception:\n"
        "            pass\n"
        "print(_json.dumps(_found))"
    )
    nb.cells.append(nbformat.v4.new_code_cell(dump))
    run_as_learner(nb, folder)
    last = nb.cells.pop()
    return nb, json.loads(last.outputs[0]["text"])


def typed_in(copy: nbformat.NotebookNode, literals: dict, sources: dict) -> nbformat.NotebookNode:
    """`copy` with another learner's answers typed in: their values, or their code where none
    is a plain value (a class, a function)."""
    nb = nbformat.reads(nbformat.writes(copy), as_version=4)
    for cell in nb.cells:
        for question in tagged(cell, ANSWER):
            values = literals[question]
            cell.source = "\n".join(f"{n} = {v}" for n, v in values.items()) or sources[question]
    return nb


def check_errors(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """The errors each check cell showed when the notebook ran, by question."""
    return {
        tagged(c, CHECK)[0]: [out.evalue for out in c.outputs if out.output_type == "error"]
        for c in nb.cells
        if tagged(c, CHECK)
    }


def points_of(copied, reference, question) -> float:
    """The points `question` earns with the answers of the reference `copied` judged against
    `reference` (another variant), as the grader judges them."""
    items, total, right = reference.items[question], 0, 0
    salt, keys = reference.salt(question), reference.keys(question)
    for number, (mine, theirs, key) in enumerate(
        zip(items, copied.items[question], keys, strict=True)
    ):
        if mine.kind in ("own_machine", "calls"):  # judged on the submitter's own run
            right, total = right + 1, total + 1
            continue
        verdict = judge(mine.kind, theirs.value, key, mine.args, item_salt(salt, number))
        right, total = right + verdict.right, total + verdict.total
    return round(reference.questions[question].points * right / total, 2)


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict:
    """Each exercise's references for the five students, the default variant and OTHERS."""
    exercises = load_exercises(EXERCISES)
    numbers = {e: [0, *OTHERS, *(seed(SECRET.encode(), e, s) for s in STUDENTS)] for e in exercises}
    folder = tmp_path_factory.mktemp("references")
    return run_references(list(exercises.values()), folder, variants=numbers)


def variant_of(exercise: str, student: str) -> int:
    return seed(SECRET.encode(), exercise, student)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("course")
    (root / "roster.csv").write_text(
        "student,name,language\n"
        + "".join(f"{s},{s.title()},{lang}\n" for s, lang in STUDENTS.items())
    )
    made = grading(root, "secret", "--secret", "secret")
    (root / "secret").write_text(SECRET + "\n")  # the same secret every run, for the checks below
    released = grading(
        root, "release", "--roster", "roster.csv", "--out", "class", "--secret", "secret"
    )
    assert released.returncode == 0, released.stderr
    work, class_ = root / "work", root / "class"
    work.mkdir()
    executed, literals, sources = {}, {}, {}
    for path in sorted((class_ / "ana").glob("*.ipynb")):
        nb = solved_copy(EXERCISES, path.stem, path)
        sources[path.stem] = {tagged(c, ANSWER)[0]: c.source for c in nb.cells if tagged(c, ANSWER)}
        executed["ana", path.stem], literals[path.stem] = answers_of(nb, work)
    for exercise in literals:
        copy = nbformat.read(class_ / "ben" / f"{exercise}.ipynb", as_version=4)
        nb = typed_in(copy, literals[exercise], sources[exercise])
        executed["ben", exercise] = run_as_learner(nb, work)
    carla = solved_copy(EXERCISES, "00_welcome", class_ / "carla" / "00_welcome.ipynb")
    executed["carla", "00_welcome"] = run_as_learner(carla, work)
    public = solved_copy(EXERCISES, "04_paravirtualization")
    _, published = answers_of(public, work)
    eve = nbformat.read(class_ / "eve" / "04_paravirtualization.ipynb", as_version=4)
    executed["eve", "04_paravirtualization"] = run_as_learner(
        typed_in(eve, published, sources["04_paravirtualization"]), work
    )
    submissions = root / "submissions"
    for (student, exercise), nb in executed.items():
        (submissions / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, submissions / student / f"{exercise}.ipynb")
    (submissions / "dan").mkdir()
    shutil.copy(submissions / "ana" / "09_xen.ipynb", submissions / "dan")
    shutil.copy(class_ / "dan" / "05_hardware_assist.ipynb", submissions / "dan")
    (submissions / "zed").mkdir()
    shutil.copy(submissions / "ana" / "10_choosing.ipynb", submissions / "zed")
    return {"root": root, "made": made, "released": released, "executed": executed}


@pytest.fixture(scope="module")
def gradebook(workflow) -> dict:
    root = workflow["root"]
    args = ["--roster", "roster.csv", "--secret", "secret", "--csv", "grades.csv"]
    graded = grading(root, "grade", "submissions", *args, "--summary", "summary.csv")
    assert graded.returncode == 0, graded.stderr
    with open(root / "grades.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    by = {}
    for row in rows:
        by.setdefault((row["student"], row["exercise"]), {})[row["question"]] = row
    return {"rows": rows, "by": by, "output": graded.stdout}


# --- which questions vary -----------------------------------------------------------------------


def answers(reference) -> dict:
    return {
        q: [json.dumps(item.value, default=repr) for item in items]
        for q, items in reference.items.items()
    }


@pytest.mark.parametrize("exercise", VARYING)
def test_the_questions_that_vary_are_the_ones_listed_and_the_others_never_do(references, exercise):
    seen = [answers(reference) for reference in references[exercise].values()]
    varies = {q for q in seen[0] if any(s[q] != seen[0][q] for s in seen)}
    assert varies == VARYING[exercise]


@pytest.mark.parametrize("exercise", [e for e, varying in VARYING.items() if varying])
def test_two_students_get_different_answers_to_an_exercise_whose_answers_are_computed(
    references, exercise
):
    ana = answers(references[exercise][variant_of(exercise, "ana")])
    ben = answers(references[exercise][variant_of(exercise, "ben")])
    assert [q for q in ana if ana[q] != ben[q]]


# --- release ------------------------------------------------------------------------------------


def test_the_secret_is_made_by_a_command_and_kept_out_of_the_copies(workflow):
    assert workflow["made"].returncode == 0 and "keep it" in workflow["made"].stdout
    for path in (workflow["root"] / "class").rglob("*.ipynb"):
        assert SECRET not in path.read_text()


def test_each_student_gets_a_copy_of_each_exercise_with_their_own_variant(workflow):
    class_ = workflow["root"] / "class"
    names = sorted(p.name for p in (EXERCISES / "solutions").glob("*.ipynb"))
    for student in STUDENTS:
        assert sorted(p.name for p in (class_ / student).iterdir()) == names
        for name in names:
            nb = nbformat.read(class_ / student / name, as_version=4)
            number = variant_of(name[:-6], student)
            assert nb.metadata["course"]["student"] == student
            assert nb.metadata["course"]["variant"] == number
            text = nbformat.writes(nb)
            assert f"VARIANT = {number}" in text and "BEGIN SOLUTION" not in text
            checks = [c.source for c in nb.cells if tagged(c, CHECK)]
            assert checks and all('key="' in c for c in checks)
    assert "wrote 55 copies for 5 students" in workflow["released"].stdout


def test_a_student_whose_language_is_chinese_gets_the_chinese_copies(workflow):
    class_ = workflow["root"] / "class"
    for path in sorted((class_ / "carla").glob("*.ipynb")):
        carla = nbformat.read(path, as_version=4)
        assert carla.cells[0].source.startswith("# 练习"), path.stem
        assert any(c.get("id") == "course-language" for c in carla.cells), path.stem
    assert "has no edition" not in workflow["released"].stdout


def test_an_exercise_without_a_chinese_edition_is_released_in_english_and_said_so(tmp_path):
    exercises = tmp_path / "exercises"
    shutil.copytree(EXERCISES, exercises, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (exercises / "zh" / "03_full_virtualization.ipynb").unlink()
    (tmp_path / "roster.csv").write_text("student,name,language\ncarla,Carla,zh\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    released = grading(
        tmp_path,
        "release",
        "--roster",
        "roster.csv",
        "--out",
        "class",
        "--secret",
        "secret",
        "--exercises",
        str(exercises),
        "03",
        "04",
    )
    assert released.returncode == 0, released.stderr
    assert "03_full_virtualization has no edition in zh yet" in released.stdout
    english = nbformat.read(tmp_path / "class/carla/03_full_virtualization.ipynb", as_version=4)
    chinese = nbformat.read(tmp_path / "class/carla/04_paravirtualization.ipynb", as_version=4)
    assert english.cells[0].source.startswith("# Exercise 03")
    assert chinese.cells[0].source.startswith("# 练习 04")


# --- the learners' own checks --------------------------------------------------------------------


def test_every_self_check_passes_for_the_students_own_variant(workflow):
    for (student, exercise), nb in workflow["executed"].items():
        if student in ("ana", "carla"):
            assert not any(check_errors(nb).values()), (student, exercise, check_errors(nb))


def test_a_classmates_answers_fail_the_self_checks_where_the_variants_differ(workflow, references):
    for exercise in VARYING:
        ana = references[exercise][variant_of(exercise, "ana")]
        ben = references[exercise][variant_of(exercise, "ben")]
        failing = {
            q for q, errors in check_errors(workflow["executed"]["ben", exercise]).items() if errors
        }
        losing = {q for q in ben.questions if points_of(ana, ben, q) < ben.questions[q].points}
        assert failing == losing, exercise


def test_a_chinese_copy_checks_in_chinese(workflow):
    cells = workflow["executed"]["carla", "00_welcome"].cells
    outputs = "".join(
        out.get("text", "") for c in cells if c.cell_type == "code" for out in c.outputs
    )
    assert "：正确" in outputs and ": correct" not in outputs


# --- grading --------------------------------------------------------------------------------------


@needs_bubblewrap
def test_the_grader_says_it_grades_each_students_own_variant(gradebook):
    first = gradebook["output"].splitlines()[0]
    assert first.endswith("sandboxed, each student's own variant, 2 jobs"), first


@needs_bubblewrap
def test_the_honest_students_get_full_marks(gradebook):
    for (student, exercise), rows in gradebook["by"].items():
        if student in ("ana", "carla"):
            assert all(r["status"] == "passed" for r in rows.values()), (student, exercise, rows)


@needs_bubblewrap
def test_copied_answers_lose_the_questions_whose_answers_vary_and_only_those(gradebook, references):
    lost = {}
    for exercise in VARYING:
        ana = references[exercise][variant_of(exercise, "ana")]
        ben = references[exercise][variant_of(exercise, "ben")]
        rows = gradebook["by"]["ben", exercise]
        for question, row in rows.items():
            assert float(row["points"]) == points_of(ana, ben, question), (exercise, row)
        lost[exercise] = [q for q, r in rows.items() if r["points"] != r["max_points"]]
    assert all(lost[e] for e, varying in VARYING.items() if varying), lost
    assert not lost["01_virtualization_types"]


@needs_bubblewrap
def test_the_published_default_answers_lose_on_a_students_own_variant(gradebook, references):
    exercise = "04_paravirtualization"
    default, eve = references[exercise][0], references[exercise][variant_of(exercise, "eve")]
    rows = gradebook["by"]["eve", exercise]
    assert {q: float(r["points"]) for q, r in rows.items()} == {
        q: points_of(default, eve, q) for q in eve.questions
    }
    assert any(r["points"] != r["max_points"] for r in rows.values())


@needs_bubblewrap
def test_a_classmates_notebook_is_graded_on_the_submitters_variant_and_flagged(gradebook):
    rows = gradebook["by"]["dan", "09_xen"].values()
    assert all("warning: this copy was released to 'ana'" in r["message"] for r in rows)
    untouched = gradebook["by"]["dan", "05_hardware_assist"].values()
    assert all(r["status"] == "failed" and "NotImplementedError" in r["message"] for r in untouched)


@needs_bubblewrap
def test_a_student_not_on_the_roster_is_not_graded(gradebook):
    rows = gradebook["by"]["zed", "10_choosing"].values()
    assert all(
        r["status"] == "error" and "'zed' is not in the roster" in r["message"] for r in rows
    )


def test_without_the_roster_a_students_copy_is_graded_on_the_default_variant_and_flagged(
    workflow, tmp_path
):
    copy = workflow["root"] / "submissions" / "ben" / "09_xen.ipynb"
    graded = grading(tmp_path, "grade", str(copy), "--csv", "grades.csv", "--no-sandbox")
    assert graded.returncode == 0, graded.stderr
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert all("graded without --roster" in r["message"] for r in rows)


@needs_bubblewrap
def test_the_summary_has_a_row_per_student_and_a_column_per_exercise(workflow, gradebook):
    with open(workflow["root"] / "summary.csv", newline="", encoding="utf-8-sig") as f:
        summary = {row["student"]: row for row in csv.DictReader(f)}
    assert sorted(summary) == sorted([*STUDENTS, "zed"])
    full = sum(q.points for q in load_exercises(EXERCISES)["09_xen"].questions.values())
    assert float(summary["ana"]["09_xen"]) == full and float(summary["dan"]["09_xen"]) == full
