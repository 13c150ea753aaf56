"""A searchable glossary, English and Chinese. Lesson 00."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib.course import glossary, syllabus

ALL = "all lessons"


def matching_terms(query: str, lesson: str = ALL):
    """Glossary entries whose English, Chinese or definition contains `query` (any case)."""
    query = query.strip().lower()
    return [
        t
        for t in glossary()
        if (lesson == ALL or t.lesson == lesson)
        and (query in t.term.lower() or query in t.zh.lower() or query in t.definition.lower())
    ]


def _table(terms) -> str:
    if not terms:
        return "<p><em>No term matches: try a shorter word, or another lesson.</em></p>"
    rows = "".join(
        f"<tr><td><b>{html.escape(t.term)}</b></td><td>{html.escape(t.zh)}</td>"
        f"<td>{html.escape(t.definition)}</td><td>{t.lesson}</td></tr>"
        for t in terms
    )
    head = "<tr><th>term</th><th>中文</th><th>definition</th><th>lesson</th></tr>"
    return f"<table>{head}{rows}</table>"


def glossary_explorer() -> w.VBox:
    """Search box and lesson filter over course/glossary.yml (Lesson 00)."""
    search = w.Text(placeholder="type a word, e.g. hypervisor or 虚拟", description="Search")
    lessons = w.Dropdown(options=[ALL, *(lesson.id for lesson in syllabus())], description="Lesson")
    result = w.HTML()

    def update(_=None):
        result.value = _table(matching_terms(search.value, lessons.value))

    search.observe(update, "value")
    lessons.observe(update, "value")
    update()
    return w.VBox([w.HBox([search, lessons]), result])
