"""`python3 scripts/course.py book [--out DIR]`: the static copy of the course, a Jupyter Book.

Jupyter Book 1 (Sphinx), not 2 (MyST): version 2 fetches its theme from the network at build
time, so it could not build in CI or on an offline laptop; version 1 builds these notebooks offline
from their stored outputs (`execute_notebooks: off`) with Binder launch buttons.

One book per language, `DIR/en/` and `DIR/zh/` (default `build/book/`), `DIR/index.html` leading
to English. Each book holds the ready lessons and exercises of its edition at their repository
paths (so each page's Binder button opens its notebook), a home page with the syllabus, the
navigation of `course/syllabus.yml`, search in its own language (jieba splits Chinese words), and
on every page a link to the same page in the other language (its home page until it is translated).
Links to an English notebook that a translation has not reached yet lead to the English book;
links to other files of the repository lead to GitHub. Widgets need a live kernel: their outputs
become a pointer to Binder.
"""

from __future__ import annotations

import argparse
import html
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from vizlib.authoring.editions import (
    TRANSLATED,
    edition_file,
    english_file,
    readme,
    translated_file,
)
from vizlib.authoring.navigation import WELCOME
from vizlib.course import ROOT, Lesson, binder_url, repository, syllabus
from vizlib.i18n import LANGUAGES, N_, SOURCE, _, use

BOOK = ROOT / "build" / "book"
MARKER = ".course-book"  # marks a folder this command built, so a rebuild may empty it
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SPHINX_LANGUAGES = {"en": "en", "zh": "zh_CN"}
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
HOME = "index"
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
WIDGET_NOTE = N_(
    "An interactive widget is here in the live notebook: [launch this page in Binder]({url}) "
    "and run the cell."
)
# The language switch, in the row of the theme's buttons at the top of every page.
TEMPLATE = """{%- set target = language_switch.get(pagename, language_switch["index"]) -%}
<div class="course-buttons" style="display: flex; align-items: center">
<a class="btn btn-sm course-language" href="{{ pathto(target, 1) }}"
   lang="{{ language_switch_lang }}" title="{{ language_switch_title }}"
   >{{ language_switch_label }}</a>
{% include "article-header-buttons.html" %}
</div>
"""


def pages(lang: str, root: Path = ROOT) -> list[tuple[Lesson, str, str]]:
    """(lesson, its notebook, its exercise) in `lang`'s book: every ready lesson in English, the
    translated ones in a translation."""
    found = []
    for lesson in syllabus(root):
        if lesson.ready:
            notebook = edition_file(lang, lesson.file, root)
            exercise = edition_file(lang, lesson.exercise, root)
            if lang == SOURCE or notebook != lesson.file:
                found.append((lesson, notebook, exercise))
    return found


def book_files(lang: str, root: Path = ROOT) -> set[str]:
    """The repository files that `lang`'s book holds as pages."""
    return {path for _lesson, *files in pages(lang, root) for path in files}


def html_page(path: str) -> str:
    return posixpath.splitext(path)[0] + ".html"


def link(href: str, page: str, lang: str, root: Path = ROOT) -> tuple[str, bool]:
    """`href`, written in the repository file `page`, as `lang`'s book needs it, and whether it
    leaves the book (then as a URL relative to the page's HTML, else as a source path)."""
    if not href or href.startswith("#") or _SCHEME.match(href) or href.startswith("//"):
        return href, False
    path, hash_, fragment = href.partition("#")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    here = posixpath.dirname(page) or "."
    if target in (readme(lang), *(readme(other) for other in LANGUAGES)):
        return posixpath.relpath(f"{HOME}.md", here) + hash_ + fragment, False
    if target in book_files(lang, root):
        return href, False
    if target.endswith(".ipynb") and target in book_files(SOURCE, root):
        other = posixpath.join("..", SOURCE, html_page(target))
        return posixpath.relpath(other, here) + hash_ + fragment, True
    if not target.startswith("..") and (root / target).exists():
        return f"https://github.com/{repository(root)}/blob/HEAD/{target}{hash_}{fragment}", True
    return href, False


def rewrite_links(text: str, page: str, lang: str, root: Path = ROOT) -> str:
    """Markdown `text` of `page` with its links made right for `lang`'s book (leaving ones as
    HTML links, which Sphinx passes through)."""

    def one(match: re.Match) -> str:
        bang, label, href = match.groups()
        new, leaves = link(href, page, lang, root)
        if leaves and not bang:
            return f'<a href="{html.escape(new)}">{label}</a>'
        return f"{bang}[{label}]({new})"

    return _LINK.sub(one, text)


def book_notebook(path: str, lang: str, root: Path = ROOT) -> nbformat.NotebookNode:
    """The notebook at `path` as the book shows it: links rewritten, widgets pointing to Binder."""
    nb = nbformat.read(root / path, as_version=4)
    with use(lang):
        note = _(WIDGET_NOTE, url=binder_url(path, root))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, path, lang, root)
        for i, out in enumerate(cell.get("outputs", [])):
            if WIDGET_VIEW in out.get("data", {}):
                cell.outputs[i] = nbformat.v4.new_output("display_data", {"text/markdown": note})
    return nb


def home_page(lang: str, title: str, root: Path = ROOT) -> str:
    """The book's home page (MyST Markdown): the syllabus, linked to the pages of this book."""
    in_book = {lesson.id: (notebook, exercise) for lesson, notebook, exercise in pages(lang, root)}
    with use(lang):
        intro = _(
            "A static copy of the course: the lessons with their stored outputs and the exercise "
            "statements. Widgets and exercises need a live notebook: [launch the course in "
            "Binder]({url}), or run it on your machine (see the repository's README).",
            url=binder_url(edition_file(lang, WELCOME, root), root),
        )
        rows = [
            f"| # | {_('Lesson')} | {_('Exercise')} | {_('Minutes')} |",
            "|---|---|---|---|",
        ]
        for lesson in syllabus(root):
            title_text = _(lesson.title)
            if lesson.id in in_book:
                notebook, exercise = in_book[lesson.id]
                name = f"[{title_text}]({notebook})"
                work = f"[{Path(exercise).name}]({exercise})"
            elif lesson.ready:
                href = f"../{SOURCE}/{html_page(lesson.file)}"
                label = html.escape(_("{label} (in English)", label=title_text))
                name, work = f'<a href="{href}">{label}</a>', "–"
            else:
                name, work = _("{label} (coming soon)", label=title_text), "–"
            goals = "<br>".join(f"· {html.escape(_(goal))}" for goal in lesson.objectives)
            rows.append(f"| {lesson.id} | {name}<br>{goals} | {work} | {lesson.minutes} |")
        contents = _("Contents")
    return "\n".join([f"# {title}", "", intro, "", f"## {contents}", "", *rows, ""])


def table_of_contents(lang: str, root: Path = ROOT) -> dict:
    """`_toc.yml`: the home page, then each lesson with its exercise as a section."""
    chapters = [
        {"file": posixpath.splitext(notebook)[0], "sections": [{"file": exercise[:-6]}]}
        for _lesson, notebook, exercise in pages(lang, root)
    ]
    return {"format": "jb-book", "root": HOME, "chapters": chapters}


def switch_targets(lang: str, root: Path = ROOT) -> dict[str, str]:
    """Page name -> the same page in the other language's book, relative to this book's root
    (the other book's home page when the page has no counterpart)."""
    other = TRANSLATED[0] if lang == SOURCE else SOURCE
    theirs = book_files(other, root)
    targets = {HOME: f"../{other}/{HOME}.html"}
    for path in book_files(lang, root):
        english = english_file(path)
        counterpart = english if other == SOURCE else translated_file(other, english)
        page = counterpart if counterpart in theirs else f"{HOME}.md"
        targets[posixpath.splitext(path)[0]] = f"../{other}/{html_page(page)}"
    return targets


def config(lang: str, title: str, root: Path = ROOT) -> dict:
    """`_config.yml` of `lang`'s book."""
    other = TRANSLATED[0] if lang == SOURCE else SOURCE
    with use(other):  # the switch's tooltip speaks the language it leads to
        switch_title = _("This page in English")
    return {
        "title": title,
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "repository": {"url": f"https://github.com/{repository(root)}", "branch": "HEAD"},
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
        "html": {"use_repository_button": True},
        "sphinx": {
            "recursive_update": True,  # add to the theme's options, keep Jupyter Book's own
            "config": {
                "language": SPHINX_LANGUAGES[lang],
                "myst_heading_anchors": 3,
                "nb_render_markdown_format": "gfm",  # the lessons' tables are GitHub Markdown
                "templates_path": ["_templates"],
                "html_theme_options": {
                    "article_header_end": ["language-switch.html"],
                },
                "html_context": {
                    "language_switch": switch_targets(lang, root),
                    "language_switch_label": LANGUAGE_NAMES[other],
                    "language_switch_lang": other,
                    "language_switch_title": switch_title,
                },
            },
        },
    }


def title_of(lang: str, root: Path = ROOT) -> str:
    text = (root / readme(lang)).read_text(encoding="utf-8")
    return next((line[2:] for line in text.splitlines() if line.startswith("# ")), "Course")


def stage(lang: str, folder: Path, root: Path = ROOT) -> None:
    """Write the sources of `lang`'s book into `folder`."""
    title = title_of(lang, root)
    folder.mkdir(parents=True)
    (folder / "_templates").mkdir()
    (folder / "_templates" / "language-switch.html").write_text(TEMPLATE, encoding="utf-8")
    dump = {"allow_unicode": True, "sort_keys": False}
    (folder / "_config.yml").write_text(yaml.safe_dump(config(lang, title, root), **dump), "utf-8")
    toc = yaml.safe_dump(table_of_contents(lang, root), **dump)
    (folder / "_toc.yml").write_text(toc, encoding="utf-8")
    (folder / f"{HOME}.md").write_text(home_page(lang, title, root), encoding="utf-8")
    for path in sorted(book_files(lang, root)):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(book_notebook(path, lang, root), folder / path)


def prepare_folder(out: Path) -> None:
    """Create `out`, or empty it if this command built it; refuse any other non-empty folder."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ValueError(f"out: {out} is not empty and was not built by this command")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by python3 scripts/course.py book\n", encoding="utf-8")


def build(out: Path = BOOK, root: Path = ROOT, progress=print) -> list[Path]:
    """Build both books into `out` (emptied first if this command built it); return their pages.
    Sphinx's warnings are errors, so a broken link or reference fails the build."""
    prepare_folder(out)
    sources = out / "_sources"
    for lang in LANGUAGES:
        progress(f"[book] {lang}: building {len(book_files(lang, root))} notebooks")
        stage(lang, sources / lang, root)
        jupyter_book = Path(sys.executable).parent / "jupyter-book"
        command = [str(jupyter_book), "build", str(sources / lang), "--warningiserror", "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"jupyter-book failed for {lang}:\n{done.stdout}\n{done.stderr}")
        shutil.copytree(sources / lang / "_build" / "html", out / lang)
    shutil.rmtree(sources)
    (out / "index.html").write_text(
        '<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=en/">'
        '<a href="en/index.html">English</a> · <a href="zh/index.html">中文</a>\n',
        encoding="utf-8",
    )
    return sorted(out.rglob("*.html"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vizlib.authoring book")
    parser.add_argument("--out", type=Path, default=BOOK, help="folder (default: build/book)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        written = build(out)
    except (ValueError, RuntimeError) as e:
        print(f"[book] error: {e}", file=sys.stderr)
        return 2
    print(f"[book] {len(written)} pages in {args.out}; open {args.out / 'en' / 'index.html'}")
    return 0
