"""The Chinese edition never drifts from the English in silence: every translated cell and message
is up to date (an edited English cell is listed, by notebook and cell), uses the glossary's words,
and the built notebooks come from their catalogues; a Chinese exercise speaks Chinese to its learner
and grades like the English."""

import ast
import copy
import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from grading_demo import needs_bubblewrap
from nbclient import NotebookClient

from vizlib.authoring import terms, translation
from vizlib.authoring.editions import catalogue_file, translated_file
from vizlib.authoring.execute import execution_counts_ok
from vizlib.course import ROOT
from vizlib.grading import release
from vizlib.grading.exercise import (
    ANSWER,
    CHECK,
    in_language,
    placeholder,
    read_exercise,
    tagged,
    unanswered,
)

LANG = "zh"
NOTEBOOKS = translation.translated_notebooks(LANG)
LESSON, EXERCISE = "notebooks/00_welcome.ipynb", "exercises/00_welcome.ipynb"


def _listing(items) -> str:
    return "\n".join(f"  {item}" for item in items)


def test_the_pilot_lesson_and_exercise_are_translated():
    assert {LESSON, EXERCISE} <= {english for english, _ in NOTEBOOKS}


def test_no_translation_is_missing_or_out_of_date():
    stale = translation.stale(LANG)
    assert not stale, "update these translations (`python3 scripts/course.py translate`):\n" + (
        _listing(stale)
    )


def test_every_translation_uses_the_glossary_terms_and_quotes_the_article_as_written():
    found = []
    catalogues = [translation.message_catalogue(LANG)]
    catalogues += [ROOT / catalogue_file(LANG, english) for english, _ in NOTEBOOKS]
    for path in catalogues:
        for entry in translation.read_catalogue(path).translated_entries():
            where = entry.msgctxt or repr(entry.msgid[:40])
            found += [
                f"{path.name} {where}: {p}" for p in terms.problems(entry.msgid, entry.msgstr)
            ]
    assert not found, _listing(found)


@pytest.mark.parametrize(
    ("english", "chinese", "problem"),
    [
        ("Each guest has a shadow page table.", "每个客户机都有一张页表。", "without 影子页表"),
        ("Two VMs share it.", "两台机器共用它。", "without 虚拟机"),
        ("Paravirtualization is fast.", "准虚拟化很快，半虚拟化也是。", "uses 准虚拟化"),
        ("The article says *全虚拟化的运行速度*.", "文章说“全虚拟化运行速度”。", "word for word"),
    ],
)
def test_the_terms_check_finds_a_synonym_a_missing_term_and_a_misquote(english, chinese, problem):
    assert any(problem in found for found in terms.problems(english, chinese))


def test_an_abbreviation_may_stay_but_the_full_name_needs_its_chinese_term():
    assert terms.problems("The EPT maps it.", "EPT 映射了它。") == []
    assert any(
        "without 扩展页表" in found
        for found in terms.problems("Extended page tables (EPT) map it.", "EPT 映射了它。")
    )
    assert terms.problems("One thread per virtual CPU.", "每个虚拟CPU 一个线程。") == []


def test_the_terms_check_leaves_code_and_correct_text_alone():
    english = (
        "Each guest has a shadow page table; see `shadow page table` and [the lesson](a.ipynb)."
    )
    chinese = "每个客户机都有一张影子页表；见 `shadow page table` 和[这一课](a.ipynb)。"
    assert terms.problems(english, chinese) == []


def _copy(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, root / path)


def test_an_edited_english_cell_is_listed_then_marked_fuzzy_until_translated(tmp_path):
    _copy(tmp_path, "course/syllabus.yml", LESSON, catalogue_file(LANG, LESSON))
    assert translation.stale_notebook(LANG, LESSON, tmp_path) == []
    nb = nbformat.read(tmp_path / LESSON, as_version=4)
    cell = next(c for c in nb.cells if c.id == "cell-12")
    before = cell.source
    cell.source += " It may change when you update your kernel."
    nbformat.write(nb, tmp_path / LESSON)

    stale = translation.stale_notebook(LANG, LESSON, tmp_path)
    assert [(s.source, s.cell) for s in stale] == [(LESSON, "cell-12")]
    assert "catalogue was updated" in stale[0].reason
    assert f"{LESSON} cell-12: " in str(stale[0])

    assert translation.update_notebook(LANG, LESSON, tmp_path)
    po = translation.read_catalogue(tmp_path / catalogue_file(LANG, LESSON))
    entry = next(e for e in po if e.msgctxt == "cell-12")
    assert entry.fuzzy and entry.previous_msgid == before and entry.msgstr.startswith("这个结论")
    assert "fuzzy" in translation.stale_notebook(LANG, LESSON, tmp_path)[0].reason
    with pytest.raises(ValueError, match="cell-12"):
        translation.translated(LANG, LESSON, tmp_path)

    entry.msgstr += "更新内核后，它可能会改变。"
    entry.flags.remove("fuzzy")
    po.save(str(tmp_path / catalogue_file(LANG, LESSON)))
    assert translation.stale_notebook(LANG, LESSON, tmp_path) == []


def test_an_edited_course_text_is_listed_in_the_message_catalogue(tmp_path):
    shutil.copytree(ROOT / "vizlib", tmp_path / "vizlib", ignore=shutil.ignore_patterns("__py*"))
    _copy(tmp_path, "course/syllabus.yml", "course/glossary.yml")
    glossary = tmp_path / "course" / "glossary.yml"
    old = "A page table kept by the hypervisor"
    glossary.write_text(glossary.read_text().replace(old, "A page table kept by the VMM"))
    stale = translation.stale_messages(LANG, tmp_path)
    assert len(stale) == 1 and "A page table kept by the VMM" in stale[0].cell
    translation.update_messages(LANG, tmp_path)
    po = translation.read_catalogue(translation.message_catalogue(LANG, tmp_path))
    entry = next(e for e in po if e.msgid.startswith("A page table kept by the VMM"))
    assert entry.fuzzy and entry.previous_msgid.startswith(old)
    assert entry.msgstr.startswith("由虚拟机管理程序维护的页表")  # kept, to be revised
    assert not [e for e in po.obsolete_entries() if e.msgid.startswith(old)]


def test_an_edited_exercise_hint_is_listed_in_the_message_catalogue(tmp_path):
    shutil.copytree(ROOT / "vizlib", tmp_path / "vizlib", ignore=shutil.ignore_patterns("__py*"))
    _copy(
        tmp_path,
        "course/syllabus.yml",
        "course/glossary.yml",
        "exercises/solutions/04_paravirtualization.ipynb",
    )
    solution = tmp_path / "exercises/solutions/04_paravirtualization.ipynb"
    old = "a VM exit per update costs thousands of cycles"
    new = "a VM exit per update costs several thousand cycles"
    solution.write_text(solution.read_text().replace(old, new))
    stale = translation.stale_messages(LANG, tmp_path)
    assert [s.cell for s in stale] == [repr(new)]
    translation.update_messages(LANG, tmp_path)
    po = translation.read_catalogue(translation.message_catalogue(LANG, tmp_path))
    entry = next(e for e in po if e.msgid == new)
    assert entry.fuzzy and entry.previous_msgid == old and "虚拟机退出" in entry.msgstr
    assert entry.occurrences == [("exercises/solutions/04_paravirtualization.ipynb", "")]


@pytest.mark.parametrize("english", [e for e, _ in NOTEBOOKS], ids=lambda e: e)
def test_the_built_notebook_is_its_english_with_translated_markdown(english):
    assert translation.out_of_date(LANG) == [], "run `python3 scripts/course.py zh`"
    built = nbformat.read(ROOT / translated_file(LANG, english), as_version=4)
    source = nbformat.read(ROOT / english, as_version=4)
    code = [c for c in built.cells if c.cell_type == "code"]
    assert (
        code[0].id == translation.LANGUAGE_CELL_ID and f'set_language("{LANG}")' in code[0].source
    )
    expected = [in_language(c, LANG).source for c in source.cells if c.cell_type == "code"]
    assert [c.source for c in code[1:]] == expected
    if english.startswith("notebooks/"):
        assert execution_counts_ok(built), f"run `python3 scripts/course.py zh {english[10:12]}`"


def _raised(line: str) -> str:
    """The message of a placeholder's `raise NotImplementedError("...")` line."""
    return ast.literal_eval(line.strip().removeprefix("raise NotImplementedError(")[:-1])


def test_a_chinese_copy_asks_for_each_answer_in_chinese():
    """The placeholder of every answer cell of a built Chinese exercise speaks Chinese, and the
    grader knows it for an untouched answer cell, as it knows the English one."""
    for english in BUILT:
        nb = nbformat.read(ROOT / translated_file(LANG, english), as_version=4)
        for cell in (c for c in nb.cells if tagged(c, ANSWER) and c.cell_type == "code"):
            (question,) = tagged(cell, ANSWER)
            raised = [line for line in cell.source.splitlines() if "NotImplementedError" in line]
            assert [line.strip() for line in raised] == [placeholder(question, LANG)[1]], english
            assert CJK.search(raised[0]) and unanswered(question, _raised(raised[0]))
            assert unanswered(question, _raised(placeholder(question)[1]))
            assert not unanswered(question, "write your answer here")


EXERCISES = [english for english, _ in translation.notebooks() if english.startswith("exercises/")]
BUILT = [english for english in EXERCISES if (ROOT / translated_file(LANG, english)).is_file()]
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")  # Chinese, full-width marks


def chinese_solved(english: str) -> nbformat.NotebookNode:
    """The Chinese copy of an exercise with its solution's answers: the built copy where it exists,
    else the English student copy with the cell that sets the language, which is all the code of a
    Chinese copy differs by (`test_the_built_notebook_is_its_english_with_translated_markdown`)."""
    built = ROOT / translated_file(LANG, english)
    name = Path(english).stem
    if built.is_file():
        return release.solved_copy(ROOT / "exercises", name, built)
    nb = release.solved_copy(ROOT / "exercises", name)
    first = next(n for n, cell in enumerate(nb.cells) if cell.cell_type == "code")
    nb.cells.insert(first, translation.language_cell(LANG))
    return nb


def executed(nb: nbformat.NotebookNode, probe: str = "") -> str:
    """Run `nb` top to bottom as a learner would (a failing cell fails the test), then `probe` in
    the same kernel, unsaved; return what the probe printed."""
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": ROOT / "exercises"}}).execute()
    outputs = nb.cells.pop().outputs
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


@pytest.fixture(scope="module")
def chinese_learners():
    """Each exercise solved in its Chinese copy and run (once, when first asked for): the saved
    notebook, and the messages it showed without a translation."""
    done: dict[str, tuple[nbformat.NotebookNode, list[str]]] = {}

    def learner(english: str) -> tuple[nbformat.NotebookNode, list[str]]:
        if english not in done:
            nb = chinese_solved(english)
            printed = executed(nb, translation.UNTRANSLATED_PROBE)
            done[english] = nb, translation.untranslated(printed, LANG)
        return done[english]

    return learner


@pytest.mark.parametrize("english", EXERCISES, ids=lambda e: Path(e).stem)
def test_a_solved_exercise_in_chinese_passes_its_checks_and_shows_nothing_untranslated(
    english, chinese_learners
):
    """Every check cell passes and prints its verdict (what each item asks for, explanations) in
    Chinese; the set-up cells' labels and options too: no message lacks its translation."""
    nb, shown = chinese_learners(english)
    assert not shown, f"{english} showed messages vizlib.po lacks:\n" + _listing(map(repr, shown))
    verdicts = [
        o.text for c in nb.cells if tagged(c, CHECK) for o in c.outputs if o.get("name") == "stdout"
    ]
    assert verdicts and all(CJK.search(text) for text in verdicts), verdicts


def _unreadable(nb: nbformat.NotebookNode, exercise) -> tuple[nbformat.NotebookNode, str]:
    """`nb` with the first answer that names a variable set to something that is no plain data,
    and that question's id."""
    question = next(q for q in exercise.questions.values() if q.items[0].value.isidentifier())
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if question.id in tagged(cell, ANSWER):
            cell.source = f"{question.items[0].value} = object()"
    return nb, question.id


@needs_bubblewrap
@pytest.mark.parametrize("english", BUILT, ids=lambda e: Path(e).stem)
def test_a_chinese_submission_is_graded_by_the_same_command_with_the_same_points(
    english, tmp_path, chinese_learners
):
    """The English and the Chinese copy solved and saved as a learner runs them, the Chinese copy
    untouched and one with an answer the grader cannot read, in one English gradebook: the same
    points, question by question, and every row in English, even a reason the Chinese kernel
    gave."""
    name = Path(english).stem
    exercise = read_exercise(ROOT / "exercises" / "solutions" / f"{name}.ipynb")
    solved, _shown = chinese_learners(english)
    unreadable, broken = _unreadable(solved, exercise)
    english_solved = release.solved_copy(ROOT / "exercises", name)
    executed(english_solved)
    submissions = {
        "english": english_solved,
        "solved": solved,
        "untouched": nbformat.read(ROOT / translated_file(LANG, english), as_version=4),
        "unreadable": unreadable,
    }
    for student, nb in submissions.items():
        (tmp_path / "class" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "class" / student / f"{name}.ipynb")
    out = tmp_path / "grades.csv"
    cmd = [sys.executable, "-m", "vizlib.grading", "grade", str(tmp_path / "class")]
    done = subprocess.run([*cmd, "--csv", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8-sig") as f:
        rows = {(r["student"], r["question"]): r for r in csv.DictReader(f)}
    points = {q.id: str(q.points) for q in exercise.questions.values()}
    for student in submissions:
        mine = {q: r for (s, q), r in rows.items() if s == student}
        assert {q: r["max_points"] for q, r in mine.items()} == points, student
        assert all(r["exercise"] == exercise.id for r in mine.values())
    for question, most in points.items():
        assert rows["solved", question]["points"] == rows["english", question]["points"] == most
        assert rows["untouched", question]["status"] == "failed"
    assert rows["unreadable", broken]["status"] == "failed"
    assert "object" in rows["unreadable", broken]["message"]
    chinese = [r["message"] for r in rows.values() if CJK.search(r["message"])]
    assert not chinese, chinese
