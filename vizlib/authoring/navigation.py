"""Navigation cells and the README's table of contents, generated from the syllabus."""

from __future__ import annotations

from pathlib import Path

import nbformat

from vizlib.course import ROOT, Lesson, binder_url, syllabus

NAV_TOP, NAV_BOTTOM = "nav-top", "nav-bottom"
CONTENTS = ("<!-- contents:start -->", "<!-- contents:end -->")
BADGE = ("<!-- binder:start -->", "<!-- binder:end -->")
WELCOME = "notebooks/00_welcome.ipynb"


def _link(lesson: Lesson) -> str:
    label = f"{lesson.id} {lesson.title}"
    return f"[{label}]({lesson.name})" if lesson.ready else f"{label} (coming soon)"


def navigation(lessons: tuple[Lesson, ...], index: int) -> tuple[str, str]:
    """The Markdown of the top and bottom navigation cells of lesson `index`."""
    lesson = lessons[index]
    prev = f"← {_link(lessons[index - 1])}" if index > 0 else ""
    nxt = f"{_link(lessons[index + 1])} →" if index + 1 < len(lessons) else "the end of the course"
    where = f"**Lesson {lesson.id} of {lessons[-1].id}** · about {lesson.minutes} minutes"
    top = " · ".join(part for part in (prev, where, "[Contents](../README.md#contents)") if part)
    exercise = f"[{lesson.exercise}](../{lesson.exercise})"
    bottom = f"**Your exercise:** {exercise}. **Next:** {nxt}"
    return top, bottom


def _nav_cell(source: str, tag: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [tag]
    cell["id"] = tag
    return cell


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def with_navigation(nb: nbformat.NotebookNode, top: str, bottom: str) -> nbformat.NotebookNode:
    """The notebook with its first and last cells being the given navigation cells."""
    cells = [c for c in nb.cells if not (_tagged(c, NAV_TOP) or _tagged(c, NAV_BOTTOM))]
    nb.cells = [_nav_cell(top, NAV_TOP), *cells, _nav_cell(bottom, NAV_BOTTOM)]
    return nb


def contents_table(lessons: tuple[Lesson, ...]) -> str:
    """The README's table of contents (Markdown)."""
    rows = ["| # | Lesson | Exercise | Minutes |", "|---|---|---|---|"]
    for lesson in lessons:
        if lesson.ready:
            title = f"[{lesson.title}]({lesson.file})"
            exercise = f"[{Path(lesson.exercise).name}]({lesson.exercise})"
        else:
            title, exercise = f"{lesson.title} *(coming soon)*", "–"
        rows.append(f"| {lesson.id} | {title} | {exercise} | {lesson.minutes} |")
    return "\n".join(rows)


def badge(root: Path = ROOT) -> str:
    """The README's Binder badge, opening JupyterLab at the welcome notebook."""
    return (
        f"[![Launch in Binder](https://mybinder.org/badge_logo.svg)]({binder_url(WELCOME, root)})"
    )


def _replace_block(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"README.md must contain the markers {start} and {end}")
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_generated(readme: str, root: Path = ROOT) -> str:
    """The README text with its generated blocks (Binder badge, contents) regenerated."""
    readme = _replace_block(readme, BADGE, badge(root))
    return _replace_block(readme, CONTENTS, contents_table(syllabus(root)))


def stale(root: Path = ROOT) -> list[str]:
    """Files whose generated parts differ from what the syllabus gives (empty when in sync)."""
    return sync(root, write=False)


def sync(root: Path = ROOT, write: bool = True) -> list[str]:
    """Regenerate navigation cells and the README's contents; return the files that changed."""
    lessons = syllabus(root)
    changed = []
    readme_path = root / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    new_readme = readme_generated(readme, root)
    if new_readme != readme:
        changed.append("README.md")
        if write:
            readme_path.write_text(new_readme, encoding="utf-8")
    for index, lesson in enumerate(lessons):
        path = root / lesson.file
        if not lesson.ready or not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        nb = with_navigation(nbformat.reads(text, as_version=4), *navigation(lessons, index))
        new_text = nbformat.writes(nb) + "\n"
        if new_text != text:
            changed.append(lesson.file)
            if write:
                path.write_text(new_text, encoding="utf-8")
    return changed
