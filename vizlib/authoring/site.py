"""`python3 scripts/course.py site [--out DIR]`: a static HTML copy of the course in build/site/.

Every ready lesson with its stored outputs, and every exercise statement (the student copy),
through nbconvert's HTML exporter, laid out as in the repository: `index.html` (the syllabus, in
place of the README), `notebooks/NN_slug.html`, `exercises/NN_slug.html`. Each page gets a bar
with the contents, the previous and next lessons and a "Launch in Binder" link. Links between
notebooks are rewritten to the pages; links to other files of the repository point to GitHub.
Widgets need a live kernel: their outputs become a pointer to Binder.
"""

from __future__ import annotations

import argparse
import html
import posixpath
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from vizlib.course import ROOT, Lesson, binder_url, repository, syllabus

SITE = ROOT / "build" / "site"
INDEX = "index.html"
MARKER = ".course-site"  # marks a folder this command built, so a rebuild may empty it
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_LINK = re.compile(r'\b(href|src)="([^"]*)"')
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_BODY = re.compile(r"<body[^>]*>")
STYLE = """
.course-bar { font: 14px/1.6 system-ui, sans-serif; padding: 6px 16px; background: #f3f3f3;
  border-bottom: 1px solid #ccc; }
.course-bar a { margin-right: 1em; color: #0550ae; }
.course-widget { padding: 6px 10px; border-left: 4px solid #77aadd; background: #f4f8fc; }
"""


def pages(lessons: tuple[Lesson, ...]) -> dict[str, str]:
    """Repository path -> site path: the README, each ready lesson and its exercise."""
    found = {"README.md": INDEX}
    for lesson in lessons:
        if lesson.ready:
            for path in (lesson.file, lesson.exercise):
                found[path] = str(Path(path).with_suffix(".html").as_posix())
    return found


def site_link(href: str, page: str, site: dict[str, str], repo: str, root: Path = ROOT) -> str:
    """`href`, written in the repository file `page`, as the site page of `page` needs it.

    Links with a scheme and in-page anchors stay; a link to a file the site has becomes a link
    to its page; a link to another file of the repository goes to that file on GitHub.
    """
    if not href or href.startswith("#") or _SCHEME.match(href) or href.startswith("//"):
        return href
    path, hash_, fragment = href.partition("#")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if target in site:
        here = posixpath.dirname(site[page])
        return posixpath.relpath(site[target], here or ".") + hash_ + fragment
    if not target.startswith("..") and (root / target).exists():
        return f"https://github.com/{repo}/blob/HEAD/{target}{hash_}{fragment}"
    return href


def rewrite_links(text: str, page: str, site: dict[str, str], repo: str, root: Path = ROOT) -> str:
    """Every href and src attribute of the HTML `text` passed through `site_link`."""
    return _LINK.sub(
        lambda m: f'{m.group(1)}="{site_link(m.group(2), page, site, repo, root)}"', text
    )


def without_widgets(nb: nbformat.NotebookNode, binder: str) -> nbformat.NotebookNode:
    """`nb` with each widget output replaced by a note that the widget runs in Binder."""
    note = (
        '<p class="course-widget">An interactive widget is here in the live notebook: '
        f'<a href="{html.escape(binder)}">launch this lesson in Binder</a> and run the cell.</p>'
    )
    for cell in nb.cells:
        for i, out in enumerate(cell.get("outputs", [])):
            if WIDGET_VIEW in out.get("data", {}):
                cell.outputs[i] = nbformat.v4.new_output("display_data", {"text/html": note})
    return nb


def _a(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def bar(lessons: tuple[Lesson, ...], index: int, exercise: bool, site: dict[str, str]) -> str:
    """The navigation bar of lesson `index`'s page (or of its exercise's), links from the
    repository's point of view (rewritten with the rest of the page)."""
    lesson = lessons[index]
    page = lesson.exercise if exercise else lesson.file
    here = posixpath.dirname(page)
    links = [_a(posixpath.relpath("README.md", here) + "#contents", "Contents")]
    if exercise:
        links.append(_a(posixpath.relpath(lesson.file, here), f"Lesson {lesson.id}"))
    else:
        for step, arrow in ((-1, "←"), (1, "→")):
            other = index + step
            if 0 <= other < len(lessons) and lessons[other].file in site:
                label = f"{lessons[other].id} {lessons[other].title}"
                text = f"{arrow} {label}" if step < 0 else f"{label} {arrow}"
                links.append(_a(posixpath.relpath(lessons[other].file, here), text))
        links.append(_a(posixpath.relpath(lesson.exercise, here), "Exercise"))
    links.append(_a(binder_url(page), "Launch in Binder"))
    return f'<style>{STYLE}</style><nav class="course-bar">{"".join(links)}</nav>'


def notebook_page(path: Path, title: str, binder: str, nav: str) -> str:
    """The HTML of the notebook at `path`, its widgets pointing to Binder, the bar on top."""
    nb = without_widgets(nbformat.read(path, as_version=4), binder)
    resources = {"metadata": {"name": title, "path": str(path.parent)}}
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources=resources)
    return _BODY.sub(lambda m: m.group(0) + nav, body, count=1)


def index_page(lessons: tuple[Lesson, ...], title: str) -> str:
    """The home page: the syllabus, each ready lesson linked with its exercise (repository
    paths, rewritten with the rest of the site)."""
    rows = []
    for lesson in lessons:
        if lesson.ready:
            name = _a(lesson.file, lesson.title)
            exercise = _a(lesson.exercise, Path(lesson.exercise).stem)
        else:
            name, exercise = f"{html.escape(lesson.title)} <em>(coming soon)</em>", "–"
        goals = "".join(f"<li>{html.escape(o)}</li>" for o in lesson.objectives)
        rows.append(
            f"<tr><td>{lesson.id}</td><td>{name}<ul>{goals}</ul></td><td>{exercise}</td>"
            f"<td>{lesson.minutes}</td></tr>"
        )
    welcome = next((lesson.file for lesson in lessons if lesson.ready), "README.md")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 60em; margin: 0 auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 6px;
  vertical-align: top; text-align: left; }} ul {{ margin: 0.3em 0; font-size: 90%; }}
</style></head>
<body><nav class="course-bar">{_a(binder_url(welcome), "Launch in Binder")}</nav>
<h1>{html.escape(title)}</h1>
<p>A static copy of the course: the lessons with their stored outputs and the exercise
statements. Widgets and exercises need a live notebook: launch the course in Binder, or run it
on your machine (see the repository's README).</p>
<h2 id="contents">Contents</h2>
<table><tr><th>#</th><th>Lesson</th><th>Exercise</th><th>Minutes</th></tr>
{"".join(rows)}
</table></body></html>
"""


def prepare_folder(out: Path) -> None:
    """Create `out`, or empty it if this command built it; refuse any other non-empty folder."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ValueError(f"out: {out} is not empty and was not built by this command")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by python3 scripts/course.py site\n", encoding="utf-8")


def build(out: Path = SITE, root: Path = ROOT, progress=print) -> list[Path]:
    """Write the site into `out` (emptied first if this command built it); return its pages."""
    lessons = syllabus(root)
    site, repo = pages(lessons), repository(root)
    readme = (root / "README.md").read_text(encoding="utf-8")
    title = next((line[2:] for line in readme.splitlines() if line.startswith("# ")), "Course")
    prepare_folder(out)
    written = []
    texts = {"README.md": index_page(lessons, title)}
    for index, lesson in enumerate(lessons):
        if not lesson.ready:
            continue
        for page, exercise in ((lesson.file, False), (lesson.exercise, True)):
            progress(f"[site] {page}")
            name = f"Exercise {lesson.id}" if exercise else f"{lesson.id} {lesson.title}"
            nav = bar(lessons, index, exercise, site)
            texts[page] = notebook_page(root / page, name, binder_url(page, root), nav)
    for page, text in texts.items():
        path = out / site[page]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rewrite_links(text, page, site, repo, root), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vizlib.authoring site")
    parser.add_argument("--out", type=Path, default=SITE, help="folder (default: build/site)")
    args = parser.parse_args(argv)
    try:
        written = build(args.out.resolve())
    except ValueError as e:
        print(f"[site] error: {e}", file=sys.stderr)
        return 2
    print(f"[site] {len(written)} pages in {args.out}; open {args.out / INDEX}")
    return 0
