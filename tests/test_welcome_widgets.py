"""Lessons 00 and 01's widgets: every choice gives an output, and changing a control changes it."""

from vizlib.sim import techniques
from vizlib.widgets import glossary_explorer, technique_explorer
from vizlib.widgets.techniques import CHOICES, explain


def _controls(widget):
    return widget.children[0].children, widget.children[1]


def test_technique_explorer_draws_every_technique_and_event():
    widget = technique_explorer()
    (technique, event), out = _controls(widget)
    seen = set()
    assert [value for _, value in technique.options] == list(CHOICES)
    for t in CHOICES:
        technique.value = t
        for e in techniques.EVENTS:
            event.value = e
            name = techniques.TECHNIQUES[t].name.en
            assert "<svg" in out.value and name in out.value
            seen.add(out.value)
    assert len(seen) == len(CHOICES) * len(techniques.EVENTS)


def test_the_explorer_names_the_treatment_in_both_languages():
    page = explain("binary-translation", "interrupt-flag")
    assert "translated inline</b> (内联翻译)" in page and "stays inside the guest" in page
    page = explain("paravirtualization", "system-call")
    assert "<b>direct</b>" in page and "Barham et al." in page


def test_glossary_explorer_filters_and_says_when_nothing_matches():
    widget = glossary_explorer()
    (search, lesson), out = _controls(widget)
    everything = out.value
    search.value = "虚拟化"
    assert "全虚拟化" in out.value and out.value != everything
    search.value = "no such term at all"
    assert "No term matches" in out.value
    search.value = ""
    lesson.value = "09"
    assert "Dom0" in out.value and "hypercall" not in out.value
