"""Navigation cells and the READMEs' tables of contents, generated from the syllabus, in every
edition: English (`README.md`, `notebooks/`) and each translation (`README.zh.md`,
`notebooks/zh/`), whose links lead to the English notebooks not translated yet."""

from __future__ import annotations

from pathlib import Path

import nbformat

from vizlib.authoring.editions import (
    TRANSLATED,
    edition_file,
    is_translated,
    link,
    readme,
    translated_file,
)
from vizlib.course import ROOT, Lesson, binder_url, syllabus
from vizlib.i18n import SOURCE, _, use

NAV_TOP, NAV_BOTTOM = "nav-top", "nav-bottom"
CONTENTS = ("<!-- contents:start -->", "<!-- contents:end -->")
BADGE = ("<!-- binder:start -->", "<!-- binder:end -->")
WELCOME = "notebooks/00_welcome.ipynb"


def _title(lesson: Lesson, lang: str, page: str, root: Path, numbered: bool = True) -> str:
    """The lesson's title (after its id when `numbered`), linked from `page` to the lesson in
    `lang`, or in English until it is translated."""
    label = f"{lesson.id} {_(lesson.title)}" if numbered else _(lesson.title)
    if not lesson.ready:
        return _("{label} (coming soon)", label=label)
    target = edition_file(lang, lesson.file, root)
    if lang != SOURCE and target == lesson.file:
        label = _("{label} (in English)", label=label)
    return f"[{label}]({link(target, page)})"


def page_of(lesson: Lesson, lang: str) -> str:
    """The repository path of `lesson`'s notebook in `lang`."""
    return lesson.file if lang == SOURCE else translated_file(lang, lesson.file)


def navigation(
    lessons: tuple[Lesson, ...], index: int, lang: str = SOURCE, root: Path = ROOT
) -> tuple[str, str]:
    """The Markdown of the top and bottom navigation cells of lesson `index` in `lang`."""
    with use(lang):
        lesson, last = lessons[index], lessons[-1]
        page = page_of(lesson, lang)
        prev = f"← {_title(lessons[index - 1], lang, page, root)}" if index > 0 else ""
        if index + 1 < len(lessons):
            nxt = f"{_title(lessons[index + 1], lang, page, root)} →"
        else:
            nxt = _("the end of the course")
        where = _(
            "**Lesson {id} of {last}** · about {minutes} minutes",
            id=lesson.id,
            last=last.id,
            minutes=lesson.minutes,
        )
        heading = _("Contents")  # the README's heading, whose anchor is its lower case
        contents = f"[{heading}]({link(readme(lang), page)}#{heading.lower()})"
        top = " · ".join(part for part in (prev, where, contents) if part)
        exercise = edition_file(lang, lesson.exercise, root)
        exercise_link = f"[{exercise}]({link(exercise, page)})"
        bottom = _(
            "**Your exercise:** {exercise}. **Next:** {next}", exercise=exercise_link, next=nxt
        )
    return top, bottom


def _nav_cell(source: str, tag: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [tag]
    cell["id"] = tag
    return cell


def tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def with_navigation(nb: nbformat.NotebookNode, top: str, bottom: str) -> nbformat.NotebookNode:
    """The notebook with its first and last cells being the given navigation cells."""
    cells = [c for c in nb.cells if not (tagged(c, NAV_TOP) or tagged(c, NAV_BOTTOM))]
    nb.cells = [_nav_cell(top, NAV_TOP), *cells, _nav_cell(bottom, NAV_BOTTOM)]
    return nb


def contents_table(lessons: tuple[Lesson, ...], lang: str = SOURCE, root: Path = ROOT) -> str:
    """The table of contents of `lang`'s README (Markdown)."""
    with use(lang):
        head = (_("Lesson"), _("Exercise"), _("Minutes"))
        rows = ["| # | {} | {} | {} |".format(*head), "|---|---|---|---|"]
        for lesson in lessons:
            title = _title(lesson, lang, readme(lang), root, numbered=False)
            if lesson.ready:
                exercise = edition_file(lang, lesson.exercise, root)
                exercise = f"[{Path(exercise).name}]({exercise})"
            else:
                exercise = "–"
            rows.append(f"| {lesson.id} | {title} | {exercise} | {lesson.minutes} |")
    return "\n".join(rows)


def badge(lang: str = SOURCE, root: Path = ROOT) -> str:
    """The README's Binder badge, opening JupyterLab at the welcome notebook of `lang`."""
    url = binder_url(edition_file(lang, WELCOME, root), root)
    return f"[![Launch in Binder](https://mybinder.org/badge_logo.svg)]({url})"


def _replace_block(text: str, markers: tuple[str, str], body: str, name: str) -> str:
    start, end = markers
    head, found, rest = text.partition(start)
    _middle, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"{name} must contain the markers {start} and {end}")
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_generated(text: str, lang: str = SOURCE, root: Path = ROOT) -> str:
    """A README's text with its generated blocks (Binder badge, contents) regenerated."""
    text = _replace_block(text, BADGE, badge(lang, root), readme(lang))
    return _replace_block(text, CONTENTS, contents_table(syllabus(root), lang, root), readme(lang))


def stale(root: Path = ROOT) -> list[str]:
    """Files whose generated parts differ from what the syllabus gives (empty when in sync)."""
    return sync(root, write=False)


def _update(path: Path, new_text: str, write: bool) -> bool:
    if new_text == path.read_text(encoding="utf-8"):
        return False
    if write:
        path.write_text(new_text, encoding="utf-8")
    return True


def sync(root: Path = ROOT, write: bool = True) -> list[str]:
    """Regenerate navigation cells and the READMEs' contents of every edition; return the files
    that changed. A translated notebook's navigation is refreshed once it has been built."""
    lessons = syllabus(root)
    changed = []
    for lang in (SOURCE, *TRANSLATED):
        path = root / readme(lang)
        if path.exists():
            text = readme_generated(path.read_text(encoding="utf-8"), lang, root)
            if _update(path, text, write):
                changed.append(readme(lang))
        for index, lesson in enumerate(lessons):
            path = root / page_of(lesson, lang)
            if not (lesson.ready and is_translated(lang, lesson.file, root) and path.exists()):
                continue
            nb = nbformat.read(path, as_version=4)
            nb = with_navigation(nb, *navigation(lessons, index, lang, root))
            if _update(path, nbformat.writes(nb) + "\n", write):
                changed.append(page_of(lesson, lang))
    return changed
