"""One function for learner-facing text: `_()`, its catalogue, and the text wired through it."""

import re

import pytest

from vizlib import i18n
from vizlib.i18n import _, use
from vizlib.system import VERDICTS, HostReport
from vizlib.widgets import glossary_explorer

CHINESE = re.compile(r"[\u4e00-\u9fff]")
WORDS = {"yes", "no", "unknown", "none", "none found", "none (bare metal)", "usable", "absent"}


def test_the_language_is_checked_and_restored():
    with pytest.raises(ValueError, match="lang must be one of 'en', 'zh'; got 'fr'"):
        i18n.set_language("fr")
    assert i18n.language() == "en"
    with use("zh"):
        assert i18n.language() == "zh"
        assert _("yes") == "是"
        assert _("present, cannot open: {reason}", reason="EPERM") == "存在，但无法打开：EPERM"
    assert _("yes") == "yes"


def test_a_message_missing_from_the_catalogue_shows_in_english():
    with use("zh"):
        assert _("a message no catalogue has, {n}", n=3) == "a message no catalogue has, 3"


def _untranslated(run) -> list[str]:
    """The messages `run()` shows in English under Chinese."""
    before = set(i18n.missing())
    with use("zh"):
        run()
    return [message for lang, message in set(i18n.missing()) - before if lang == "zh"]


def test_chinese_sentences_join_without_a_space_after_a_full_stop():
    assert i18n.sentences("One.", "", "Two.") == "One. Two."
    assert i18n.sentences("第一句。", "第二句。", "KVM.") == "第一句。第二句。KVM."


def test_a_message_shown_untranslated_is_recorded():
    with use("zh"):
        _("a message no catalogue has")
    assert ("zh", "a message no catalogue has") in i18n.missing()


def _reports() -> list[HostReport]:
    common = {"arch": "x86_64", "in_vm": True, "hypervisor": "Xen", "hypervisor_evidence": "x"}
    return [
        HostReport(vmx=True, kvm_device="usable", **common),
        HostReport(kvm_device="usable", kvm_modules=("kvm", "kvm_pvm"), nested_pvm=True, **common),
        HostReport(kvm_device="usable", kvm_modules=("kvm",), nested_pvm=False, **common),
        HostReport(kvm_device="usable", **{**common, "arch": "aarch64"}),
        HostReport(kvm_device="present, cannot open: Permission denied", container="docker"),
    ]


def test_the_host_probe_and_the_glossary_show_no_untranslated_message():
    def everything():
        for report in _reports():
            report.rows(), report.verdict_detail
        widget = glossary_explorer()
        for query in ("", "hyper", "no such word"):
            widget.children[0].children[0].value = query

    assert _untranslated(everything) == []


def test_the_host_probe_speaks_chinese_in_its_table_verdict_and_detail():
    reports = _reports()
    english = [(r.verdict, r.verdict_detail, r.rows()) for r in reports]
    assert [r.verdict for r in reports] == list(VERDICTS)
    with use("zh"):
        for report, (verdict, detail, rows) in zip(reports, english, strict=True):
            assert report.verdict != verdict and CHINESE.search(report.verdict)
            assert report.verdict_detail != detail and CHINESE.search(report.verdict_detail)
            for (label, value), (en_label, en_value) in zip(report.rows(), rows, strict=True):
                assert label == "/dev/kvm" or CHINESE.search(label), en_label
                if en_value in WORDS or en_value.startswith("present, cannot open"):
                    assert CHINESE.search(value), (en_label, value)


def test_the_glossary_widget_speaks_chinese_and_shows_the_other_names():
    with use("zh"):
        widget = glossary_explorer()
        search, lesson = widget.children[0].children
        table = widget.children[1]
        assert search.description == "搜索" and lesson.options[0][0] == "全部课程"
        search.value = "准虚拟化"  # another name of 半虚拟化, found through the `also` column
        assert "半虚拟化" in table.value and "又称：准虚拟化, 类虚拟化" in table.value
        search.value = "影子"  # in the Chinese definitions too
        assert "影子页表" in table.value
        assert "释义" in table.value


def test_matplotlib_draws_chinese_with_the_diagrams_font():
    import matplotlib as mpl

    before = list(mpl.rcParams["font.family"])
    try:
        assert i18n.use_cjk_fonts(), "install a Chinese font: fonts-wqy-zenhei"
        assert "WenQuanYi Zen Hei" in mpl.rcParams["font.family"]
    finally:
        mpl.rcParams["font.family"] = before


def test_verbatim_text_is_shown_as_it_is_and_is_no_missing_message():
    with use("zh"):
        assert _(i18n.Verbatim("-accel tcg")) == "-accel tcg"
        assert _(i18n.Verbatim("{n} x"), n=2) == "2 x"
    assert ("zh", "-accel tcg") not in i18n.missing()


def test_the_other_language_is_chinese_in_english_and_english_in_chinese():
    assert i18n.other_language() == "zh"
    with use("zh"):
        assert i18n.other_language() == "en"


def test_a_table_of_model_names_translates_its_header_once_in_either_language():
    from vizlib.sim import techniques
    from vizlib.tables import markdown_table

    def both():
        chinese = markdown_table(*techniques.table(("native", "emulation")))
        english = markdown_table(*techniques.table(("native", "emulation"), lang="en"))
        return chinese, english

    chinese, english = both()
    assert english == chinese  # English edition: both in English
    assert english.startswith("| Event | native (no VMM) | hardware emulation |")
    before = set(i18n.missing())
    with use("zh"):
        chinese, english = both()
    assert chinese.startswith("| 事件 | 原生（无虚拟化） | 硬件模拟 |")
    assert english.startswith("| Event | native (no VMM) | hardware emulation |")
    assert set(i18n.missing()) == before


def test_the_build_finds_what_a_lesson_showed_untranslated_in_its_kernel(tmp_path):
    import nbformat

    from vizlib.authoring import execute, translation

    path = tmp_path / "lesson.ipynb"
    code = (
        'from vizlib.i18n import _, set_language\n\nset_language("zh")\n_("yes"), _("no such one")'
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)
    _seconds, printed = execute.run(path, translation.UNTRANSLATED_PROBE)
    assert translation.untranslated(printed, "zh") == ["no such one"]
    assert len(nbformat.read(path, as_version=4).cells) == 1  # the probe is not saved
