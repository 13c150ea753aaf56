"""A searchable glossary, English and Chinese. Lesson 00."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib.course import Term, glossary, syllabus
from vizlib.i18n import _

ALL = "all"  # the lesson filter's value for every lesson


def matching_terms(query: str, lesson: str = ALL) -> list[Term]:
    """Glossary entries whose English, Chinese (other names too) or definition, in English or
    in the course's language, contains `query` (any case)."""
    query = query.strip().lower()

    def text(t: Term) -> str:
        return " ".join((t.term, t.zh, *t.also, t.definition, _(t.definition))).lower()

    return [t for t in glossary() if lesson in (ALL, t.lesson) and query in text(t)]


def _chinese(t: Term) -> str:
    also = _("also: {names}", names=", ".join(t.also)) if t.also else ""
    return html.escape(t.zh) + (f"<br><small>{html.escape(also)}</small>" if also else "")


def _table(terms: list[Term]) -> str:
    if not terms:
        hint = _("No term matches: try a shorter word, or another lesson.")
        return f"<p><em>{html.escape(hint)}</em></p>"
    rows = "".join(
        f"<tr><td><b>{html.escape(t.term)}</b></td><td>{_chinese(t)}</td>"
        f"<td>{html.escape(_(t.definition))}</td><td>{t.lesson}</td></tr>"
        for t in terms
    )
    names = (_("term"), "中文", _("definition"), _("lesson"))
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    return f"<table><tr>{head}</tr>{rows}</table>"


def glossary_explorer() -> w.VBox:
    """Search box and lesson filter over course/glossary.yml (Lesson 00)."""
    search = w.Text(placeholder=_("type a word, e.g. hypervisor or 虚拟"), description=_("Search"))
    options = [(_("all lessons"), ALL), *((lesson.id, lesson.id) for lesson in syllabus())]
    lessons = w.Dropdown(options=options, value=ALL, description=_("Lesson"))
    result = w.HTML()

    def update(_change=None):
        result.value = _table(matching_terms(search.value, lessons.value))

    search.observe(update, "value")
    lessons.observe(update, "value")
    update()
    return w.VBox([w.HBox([search, lessons]), result])
