"""Per-student variants without a kernel: the draws, the parameters and options cells, the roster,
the course secret, the copies released per student, the models' helpers the exercises draw with,
and the languages the checks and the gradebook speak."""

from __future__ import annotations

import copy
import json
import os
import random
import re

import nbformat
import pytest
from grading_demo import POINTS, solution_notebook, student, write_exercise
from nbformat.v4 import new_code_cell, new_markdown_cell

from vizlib import grading as check
from vizlib import i18n
from vizlib.course import ROOT
from vizlib.emulation import programs
from vizlib.grading import gradebook as gb
from vizlib.grading import judge, roster
from vizlib.grading.checks import item_salt, write_key
from vizlib.grading.exercise import load_exercises, parse_exercise
from vizlib.grading.reference import ItemRef, Reference
from vizlib.grading.release import personal_copy
from vizlib.grading.runner import CellResult
from vizlib.grading.submission import Role, graded_copy
from vizlib.grading.variants import Variant, reorder_options
from vizlib.machine import experiments

OPTIONS = """Why? Set `why` to one letter:

- a. the first reason;
- b. the second reason, which is long and goes on
  to a second line;
- c. the third reason.

Then run the check."""


# --- the draws ----------------------------------------------------------------------------------


def test_the_default_variant_draws_the_defaults_and_keeps_every_order():
    v = check.variant(0)
    assert v.pick("size", [32, 16, 64]) == 32
    assert v.integer("index", 0, 9, default=5) == 5
    assert v.sample("rows", "abcdef", 3) == ["a", "b", "c"]
    assert v.shuffled("options", "xyz") == ["x", "y", "z"]
    assert v.letter("why", "b", 3) == "b"


def test_a_variant_draws_the_same_values_whatever_ran_before():
    first, second = check.variant(1234), check.variant(1234)
    second.integer("something else", 0, 100, default=0)
    assert [first.integer("index", 0, 10**6, default=0) for _ in range(2)] == [
        second.integer("index", 0, 10**6, default=0) for _ in range(2)
    ]
    assert first.shuffled("options", range(10)) == second.shuffled("options", range(10))


def test_variants_draw_differently_and_within_their_bounds():
    drawn = {check.variant(n).integer("index", 0, 10**6, default=0) for n in range(1, 21)}
    assert len(drawn) == 20 and all(0 <= d <= 10**6 for d in drawn)
    for n in range(1, 21):
        v = check.variant(n)
        assert sorted(v.shuffled("options", range(6))) == list(range(6))
        assert v.pick("size", [16, 32, 64]) in (16, 32, 64)
        assert len(set(v.sample("rows", range(10), 4))) == 4


def test_a_letter_is_where_the_order_puts_its_option():
    for n in range(1, 30):
        v = check.variant(n)
        order = v.order("why", 4)
        for position, default in enumerate(order):
            assert v.letter("why", "abcd"[default]) == "abcd"[position]


@pytest.mark.parametrize("number", [-1, 1.5, "3", True])
def test_the_variant_number_is_a_whole_number(number):
    with pytest.raises(ValueError, match="VARIANT must be a whole number"):
        Variant(number)


def test_lettered_options_are_reordered_and_lettered_again():
    shown = reorder_options(OPTIONS, [2, 0, 1])
    assert shown == (
        "Why? Set `why` to one letter:\n\n- a. the third reason.\n- b. the first reason;\n"
        "- c. the second reason, which is long and goes on\n  to a second line;\n\n"
        "Then run the check."
    )
    assert reorder_options(OPTIONS, [0, 1, 2]) == OPTIONS
    with pytest.raises(ValueError, match="a list of 4 items"):
        reorder_options(OPTIONS, [0, 1, 2, 3])


# --- the exercise format ------------------------------------------------------------------------


def demo_with_variants() -> nbformat.NotebookNode:
    """The demo exercise with a parameters cell, a drawn trace and a lettered question."""
    nb = solution_notebook()
    nb.cells.insert(1, new_code_cell("VARIANT = 0", metadata={"tags": ["parameters"]}))
    nb.cells[2].source += "\nv = check.variant(VARIANT)\nTRACE += ['out'] * v.integer('n', 0, 9, 0)"
    kind = next(i for i, c in enumerate(nb.cells) if "answer:kind" in c.metadata.get("tags", []))
    nb.cells[kind - 1] = new_markdown_cell(OPTIONS, metadata={"tags": ["options:kind"]})
    return nb


def test_an_exercise_with_variants_has_one_parameters_cell_of_variant_0():
    exercise = parse_exercise(demo_with_variants())
    assert exercise.variable and exercise.options == {"kind": 3}
    nb = demo_with_variants()
    nb.cells[1].source = "VARIANT = 7"
    with pytest.raises(ValueError, match="cell 1: the parameters cell is a code cell holding"):
        parse_exercise(nb)
    nb = demo_with_variants()
    nb.cells.insert(3, copy.deepcopy(nb.cells[1]))
    with pytest.raises(ValueError, match="one parameters cell per exercise"):
        parse_exercise(nb)


def test_options_cells_are_checked():
    nb = demo_with_variants()
    nb.cells[1].metadata["tags"] = []
    with pytest.raises(ValueError, match="lettered options are shuffled per variant"):
        parse_exercise(nb)
    nb = demo_with_variants()
    options = next(c for c in nb.cells if "options:kind" in c.metadata.get("tags", []))
    options.metadata["tags"] = ["options:nothing"]
    with pytest.raises(ValueError, match=r"options cells of unknown questions: \['nothing'\]"):
        parse_exercise(nb)
    options.metadata["tags"] = ["options:kind"]
    options.source = OPTIONS.replace("- b.", "- c.")
    with pytest.raises(ValueError, match="found the letters"):
        parse_exercise(nb)


def test_the_graded_copy_sets_the_students_variant_whatever_the_submission_says():
    exercise = parse_exercise(demo_with_variants())
    collect = {q: [("x",)] for q in POINTS}
    nb = copy.deepcopy(exercise.notebook)
    nb.cells[1].source = "VARIANT = 0  # the public variant, whose answers are published"
    sources = [c.source for c in graded_copy(nb, exercise, collect, 60, variant=77).notebook.cells]
    assert sources.count("VARIANT = 77") == 1 and not any("VARIANT = 0" in s for s in sources)
    del nb.cells[1]
    cells = graded_copy(nb, exercise, collect, 60, variant=77).notebook.cells
    assert cells[1].source == "VARIANT = 77" and cells[2].source.startswith("import os")


# --- the roster and the secret ------------------------------------------------------------------


def write_roster(path, text: str):
    path.write_text(text, encoding="utf-8-sig")  # as a spreadsheet saves it
    return path


def test_a_roster_names_students_and_their_languages(tmp_path):
    path = write_roster(
        tmp_path / "roster.csv",
        "Name,Student,e-mail,Language\nAna,ana,a@x.org,\nJosé,josé.m,j@x.org,zh\n,,,\n",
    )
    assert roster.read_roster(path) == [
        roster.Student("ana", "en"),
        roster.Student("josé.m", "zh"),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name\nana\n", "the first row must name the columns, one of them `student`"),
        ("student\nana\nana\n", "line 3: student 'ana' is listed twice"),
        ("student,language\nana,fr\n", "line 2: language must be one of en, zh, got 'fr'"),
        ("student\n../ana\n", "line 2: the student id '../ana' must name a folder"),
        ("student\n.ana\n", "must name a folder"),
        ("student,language\n,zh\n", "line 2: the student id is empty"),
        ("student\n", "the roster lists no student"),
    ],
)
def test_a_roster_that_cannot_be_used_says_which_line_is_wrong(tmp_path, text, problem):
    with pytest.raises(roster.RosterError, match=re.escape(problem)):
        roster.read_roster(write_roster(tmp_path / "roster.csv", text))


def test_the_secret_is_made_once_kept_private_and_never_in_the_course(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(roster.RosterError, match="python -m vizlib.grading secret"):
        roster.read_secret()
    path = roster.make_secret()
    assert path == tmp_path / "config" / "virtualization-course" / "secret"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert len(roster.read_secret()) == 2 * roster.SECRET_BYTES
    with pytest.raises(roster.RosterError, match="exists already"):
        roster.make_secret()
    with pytest.raises(roster.RosterError, match="inside the course's folder"):
        roster.make_secret(ROOT / "build" / "secret")
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(roster.RosterError, match=r"too short \(3 bytes; at least 16\)"):
        roster.read_secret(tmp_path / "short")


def test_a_students_variant_comes_from_the_secret_the_exercise_and_the_student():
    secret, other = b"s" * 32, b"t" * 32
    seeds = {roster.seed(secret, e, s) for e in ("04_pv", "05_hw") for s in ("ana", "ben")}
    assert len(seeds) == 4 and all(1 <= n <= roster.VARIANTS for n in seeds)
    assert roster.seed(secret, "04_pv", "ana") == roster.seed(secret, "04_pv", "ana")
    assert roster.seed(other, "04_pv", "ana") != roster.seed(secret, "04_pv", "ana")


# --- a student's copy ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The demo exercise with variants, released (its default copy)."""
    folder = tmp_path_factory.mktemp("variants")
    exercises = write_exercise(folder)
    nbformat.write(demo_with_variants(), exercises / "solutions" / "99_demo.ipynb")
    from vizlib.grading.release import release

    release(exercises)
    return exercises


def demo_reference(exercises, variant: int, traps: int) -> Reference:
    exercise = load_exercises(exercises)["99_demo"]
    items = {
        "traps": [ItemRef("exact", {"what": "traps"}, traps)],
        "kind": [ItemRef("choice", {"what": "kind"}, "a")],
        "double": [ItemRef("calls", {"what": "double"}, {"inputs": [[2]], "outputs": [4]})],
        "classify": [ItemRef("mapping", {"what": "classes"}, {"Bochs": "emulation"})],
        "cores": [ItemRef("own_machine", {"what": "cores"}, None)],
    }
    return Reference(exercise, dict(exercise.questions), items, variant)


def test_a_students_copy_is_the_public_copy_with_their_variant_keys_and_options(released):
    public = student(released)
    reference = demo_reference(released, 4321, traps=5)
    mine = personal_copy(public, reference, "ana")
    assert mine.metadata["course"] == {"exercise": "99_demo", "student": "ana", "variant": 4321}
    changed = [
        (a.metadata.get("tags"), b.source)
        for a, b in zip(public.cells, mine.cells, strict=True)
        if a.source != b.source
    ]
    assert [tags[0] for tags, _ in changed] == [
        "parameters",
        "check:traps",
        "options:kind",
        "check:kind",
        "check:double",
        "check:classify",
        "check:cores",
    ]  # every key, salted with the variant: equal answers of two students give other keys
    assert changed[0][1] == "VARIANT = 4321"
    assert f'key="{reference.written_key("traps")}"' in changed[1][1]
    assert changed[2][1] == reorder_options(OPTIONS, Variant(4321).order("kind", 3))
    assert "BEGIN SOLUTION" not in json.dumps(mine)


# --- the helpers the exercises draw with ----------------------------------------------------------


def test_the_drawn_guest_programs_are_the_stored_ones_by_default():
    assert programs.rotate_program(0x1234, 0x5678, 8) == programs.PPC_ROTATE
    assert programs.endian_program("ppc32", 0x11223344) == programs.PPC_ENDIAN
    assert programs.endian_program("arm", 0x11223344) == programs.ARM_ENDIAN
    default = experiments.count_me(3, 3)
    assert (default.code, default.exit_counts) == (
        experiments.COUNT_ME.code,
        experiments.COUNT_ME.exit_counts,
    )
    with pytest.raises(ValueError, match="arch must be 'ppc32' or 'arm'"):
        programs.endian_program("x86", 1)


def test_the_drawn_guest_programs_are_what_keystone_assembles_and_unicorn_runs():
    pytest.importorskip("keystone")
    pytest.importorskip("unicorn")
    from vizlib.emulation import cpus

    rng = random.Random(6)
    for _ in range(5):
        word, shift = rng.getrandbits(32), rng.randint(1, 31)
        rotate = programs.rotate_program(word >> 16, word & 0xFFFF, shift)
        assert cpus.assemble("ppc32", rotate.source).code == rotate.code
        assert cpus.run(rotate).result == (word << shift | word >> (32 - shift)) & 0xFFFF_FFFF
        for arch, first in (("ppc32", word >> 24), ("arm", word & 0xFF)):
            guest = programs.endian_program(arch, word)
            assert cpus.assemble(arch, guest.source).code == guest.code
            assert cpus.run(guest).result == first


# --- languages ------------------------------------------------------------------------------------


def test_a_chinese_kernels_self_checks_speak_chinese_without_the_answer():
    item = check.exact(4, "the number of traps", hint="count OUT")
    key = write_key("q", [judge.make_key("exact", 3, item.args, item_salt("q", 0))])
    with i18n.use("zh"), pytest.raises(check.CheckFailed) as failure:
        check.answer("q", item, key=key)
    assert str(failure.value) == "the number of traps：4 不对：count OUT"


def test_the_gradebook_speaks_the_graders_language():
    question = check.exact(3, "a")
    exercise = parse_exercise(solution_notebook())
    reference = Reference(
        exercise, {"traps": exercise.questions["traps"]}, {"traps": [ItemRef("exact", {}, 3)]}
    )
    roles = [Role("collect", ("traps",)), Role("collect", ("traps",), final=True)]
    shown = json.dumps({"answers": {"traps": [question.value + 1]}})
    results = [CellResult("ok", collected=shown), None]
    for lang, words in (("en", "4 is not right"), ("zh", "4 不对")):
        with i18n.use(lang):
            rows = gb.question_rows("s", "s", reference, roles, results, gb.Limits(5, 60), {}, [])
        assert words in rows[0].message


def test_an_items_own_words_are_shown_in_the_language_of_the_check_or_the_gradebook():
    """The check cell writes what an item asks for and its hint in English (the msgids that
    `translate` collects from the solutions); they are translated where shown."""
    what = "the number of references"
    hint = (
        "every guest-physical address the walk reads, each table's as well as the data's, is "
        "first translated through the EPT"
    )
    item = check.exact(4, what, hint=hint)
    key = write_key("q", [judge.make_key("exact", 3, item.args, item_salt("q", 0))])
    with i18n.use("zh"), pytest.raises(check.CheckFailed) as failure:
        check.answer("q", item, key=key)
    assert str(failure.value) == (
        "访存次数：4 不对：遍历读取的每个客户机物理地址，无论是各级页表的还是数据的，"
        "都要先经过 EPT 翻译"
    )
    exercise = parse_exercise(solution_notebook())
    refs = {"traps": [ItemRef("exact", {"what": what, "hint": hint}, 3)]}
    reference = Reference(exercise, {"traps": exercise.questions["traps"]}, refs)
    roles = [Role("collect", ("traps",)), Role("collect", ("traps",), final=True)]
    results = [CellResult("ok", collected=json.dumps({"answers": {"traps": [4]}})), None]
    for lang, words in (("en", f"{what}: 4 is not right: {hint}"), ("zh", str(failure.value))):
        with i18n.use(lang):
            rows = gb.question_rows("s", "s", reference, roles, results, gb.Limits(5, 60), {}, [])
        assert rows[0].message == words


def test_every_sentence_of_the_grading_package_is_translated():
    from vizlib.authoring import translation

    assert not [s for s in translation.stale_messages("zh") if "vizlib/grading" in str(s)]


# --- the command line ---------------------------------------------------------------------------


def test_the_roster_commands_refuse_to_run_without_what_they_need(released, tmp_path, capsys):
    from vizlib.grading.__main__ import main

    roster_file = write_roster(tmp_path / "roster.csv", "student\nana\n")
    nbformat.write(student(released), tmp_path / "ana.ipynb")
    common = ["--exercises", str(released), "--secret", str(tmp_path / "nowhere")]
    grade = ["grade", str(tmp_path / "ana.ipynb"), "--csv", str(tmp_path / "g.csv")]
    for args, problem in (
        ([*grade, "--roster", str(roster_file), *common], "no course secret at"),
        (["release", "--roster", str(roster_file), *common], "release --roster needs --out DIR"),
        (["release", "04", "--exercises", str(released)], "exercise names and --out go with"),
    ):
        assert main(args) == 2
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()
