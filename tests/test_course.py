"""The syllabus, the files and everything generated from them agree."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

from vizlib.authoring import navigation
from vizlib.authoring.execute import execution_counts_ok
from vizlib.course import ROOT, glossary, syllabus

LESSONS = syllabus()
READY = [lesson for lesson in LESSONS if lesson.ready]


def test_the_syllabus_lists_the_eleven_planned_lessons_in_order():
    assert [lesson.id for lesson in LESSONS] == [f"{i:02d}" for i in range(11)]
    assert LESSONS[0].file == "notebooks/00_welcome.ipynb"


def test_every_notebook_on_disk_is_a_ready_lesson_of_the_syllabus():
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk == {lesson.file for lesson in READY}


def test_every_ready_lesson_has_its_exercise_and_solution():
    for lesson in READY:
        assert (ROOT / lesson.exercise).exists(), lesson.exercise
        assert (ROOT / "exercises" / "solutions" / Path(lesson.exercise).name).exists()


def test_generated_navigation_and_readme_are_up_to_date():
    assert navigation.stale() == [], "run `python3 scripts/course.py sync`"


def test_navigation_links_only_to_lessons_that_exist():
    top, bottom = navigation.navigation(LESSONS, 1)
    assert "(00_welcome.ipynb)" in top and "Lesson 01 of 10" in top
    assert "coming soon" in bottom or ".ipynb)" in bottom
    assert "the end of the course" in navigation.navigation(LESSONS, len(LESSONS) - 1)[1]


def test_a_broken_syllabus_is_reported_with_the_field_at_fault(tmp_path):
    (tmp_path / "course").mkdir()
    bad = (
        (ROOT / "course" / "syllabus.yml")
        .read_text()
        .replace("    status: ready", "    status: done", 1)
    )
    (tmp_path / "course" / "syllabus.yml").write_text(bad)
    with pytest.raises(ValueError, match="status must be one of"):
        syllabus(tmp_path)


@pytest.mark.parametrize("lesson", READY, ids=lambda lesson: lesson.id)
def test_stored_outputs_come_from_one_run_top_to_bottom(lesson):
    nb = nbformat.read(ROOT / lesson.file, as_version=4)
    assert execution_counts_ok(nb), f"re-run `python3 scripts/course.py execute {lesson.id}`"
    assert "widgets" not in nb.metadata, "widget state must not be stored"


def test_the_glossary_has_chinese_terms_and_known_lessons():
    ids = {lesson.id for lesson in LESSONS}
    terms = glossary()
    assert len(terms) >= 30
    for entry in terms:
        assert entry.lesson in ids and entry.definition.endswith(".")
    assert {"全虚拟化", "半虚拟化", "虚拟机管理程序"} <= {entry.zh for entry in terms}


def _course_script():
    """scripts/course.py, the quick-start commands, loaded as a module."""
    spec = importlib.util.spec_from_file_location("course_script", ROOT / "scripts" / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("extra", "welcome", "passed_on"),
    [
        ([], "notebooks/00_welcome.ipynb", []),
        (["zh"], "notebooks/zh/00_welcome.ipynb", []),
        (["zh", "--no-browser"], "notebooks/zh/00_welcome.ipynb", ["--no-browser"]),
        (["--no-browser"], "notebooks/00_welcome.ipynb", ["--no-browser"]),
    ],
)
def test_lab_opens_the_welcome_notebook_of_the_edition_asked_for(
    monkeypatch, extra, welcome, passed_on
):
    script = _course_script()
    started = []
    monkeypatch.setattr(script.subprocess, "run", lambda *args, **kwargs: None)  # jupyter trust
    monkeypatch.setattr(script, "run", lambda args: started.append(args) or 0)
    assert script.lab(extra) == 0
    (command,) = started
    assert f"--LabApp.default_url=/lab/tree/{welcome}" in command
    jupyter_args = command[command.index("lab") + 1 :]
    assert [
        a for a in jupyter_args if not a.startswith(("--ServerApp", "--LabApp", "--allow-root"))
    ] == passed_on


def test_lab_names_the_editions_when_asked_for_one_that_does_not_exist(capsys):
    with pytest.raises(SystemExit):
        _course_script().lab(["fr"])
    assert "no edition 'fr' of the lessons here; choose one of: en, zh" in capsys.readouterr().err
