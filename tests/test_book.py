"""The static copy of the course, a Jupyter Book in each language: every page is there with its
Binder button and language switch, every link leads somewhere real, search knows both languages."""

import html
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from vizlib.authoring import book
from vizlib.course import ROOT, binder_url, repository, syllabus
from vizlib.i18n import LANGUAGES

LINK = re.compile(r'\b(?:href|src)="([^"]*)"')
READY = [lesson for lesson in syllabus() if lesson.ready]
GITHUB = f"https://github.com/{repository()}/blob/HEAD/"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    book.build(out, progress=lambda _: None)
    return out


def _pages(built: Path, lang: str) -> list[Path]:
    """The book's pages (not the theme's templates under _static/)."""
    return sorted(p for p in (built / lang).rglob("*.html") if "_static" not in p.parts)


def _text(path: Path) -> str:
    return html.unescape(path.read_text(encoding="utf-8"))


def test_each_language_has_its_home_page_and_every_page_of_its_edition(built):
    assert (built / "index.html").is_file()
    for lang in LANGUAGES:
        expected = {f"{lang}/{book.html_page(p)}" for p in book.book_files(lang)}
        found = {str(p.relative_to(built)) for p in _pages(built, lang)}
        assert expected | {f"{lang}/index.html", f"{lang}/search.html"} <= found
    english = {book.html_page(p) for p in book.book_files("en")}
    assert english == {
        book.html_page(x) for lesson in READY for x in (lesson.file, lesson.exercise)
    }
    assert "notebooks/zh/00_welcome.html" in {book.html_page(p) for p in book.book_files("zh")}


def test_every_notebook_page_has_its_binder_button_and_every_home_page_a_binder_link(built):
    for lang in LANGUAGES:
        for path in book.book_files(lang):
            text = _text(built / lang / book.html_page(path))
            launch = f"https://mybinder.org/v2/gh/{repository()}/HEAD?urlpath=lab/tree/{path}"
            assert launch in text, path
        assert binder_url(book.edition_file(lang, book.WELCOME)) in _text(
            built / lang / "index.html"
        )


def test_every_link_of_every_page_leads_to_a_file_of_the_books_or_of_the_repository(built):
    checked = 0
    for lang in LANGUAGES:
        for page in _pages(built, lang):
            for href in LINK.findall(_text(page)):
                url = urlparse(href)
                if url.scheme in ("http", "https"):
                    if href.startswith(GITHUB):
                        assert (ROOT / unquote(href[len(GITHUB) :]).split("#")[0]).exists(), href
                    elif "mybinder.org" in href:
                        target = re.search(r"(?:urlpath=lab/tree/|labpath=)([^&#]+)", href)
                        assert (ROOT / unquote(target.group(1))).is_file(), href
                    continue
                if url.scheme or not url.path:
                    continue  # mailto:, javascript:, in-page anchors
                target = (page.parent / unquote(url.path)).resolve()
                where = f"{page.relative_to(built)}: {href}"
                assert target.exists() and built.resolve() in target.parents, where
                if url.fragment and target.suffix == ".html":
                    assert f'id="{url.fragment}"' in _text(target), where
                checked += 1
    assert checked > 100


def _switch(page: Path) -> str:
    found = re.search(r'class="btn btn-sm course-language" href="([^"]*)"', _text(page))
    assert found, f"{page}: no language switch"
    return str((page.parent / found.group(1)).resolve())


def test_the_language_switch_of_every_page_opens_the_same_page_in_the_other_language(built):
    for lang in LANGUAGES:
        for page in _pages(built, lang):
            assert Path(_switch(page)).is_file(), page
    english, chinese = built / "en", built / "zh"
    for lesson in READY:
        translated = book.edition_file("zh", lesson.file)
        page = english / book.html_page(lesson.file)
        if translated == lesson.file:  # not translated yet: the Chinese home page
            assert _switch(page) == str((chinese / "index.html").resolve())
        else:
            assert _switch(page) == str((chinese / book.html_page(translated)).resolve())
            assert _switch(chinese / book.html_page(translated)) == str(page.resolve())


def test_navigation_follows_the_syllabus_and_names_untranslated_lessons(built):
    home = _text(built / "en" / "index.html")
    sidebar = home[home.index("bd-docs-nav") :]
    linked = re.findall(r'href="(notebooks/\d\d_\w+)\.html"', sidebar)
    in_order = list(dict.fromkeys(linked))
    assert in_order == [lesson.file.removesuffix(".ipynb") for lesson in READY]
    chinese_home = _text(built / "zh" / "index.html")
    assert "欢迎：你的机器能做什么" in chinese_home
    untranslated = [x.file for x in READY if book.edition_file("zh", x.file) == x.file]
    for lesson in READY:
        if lesson.file in untranslated:
            assert f'href="../en/{book.html_page(lesson.file)}"' in chinese_home
        else:
            assert f'href="{book.html_page(book.edition_file("zh", lesson.file))}"' in chinese_home
    assert ("（英文）" in chinese_home) == bool(untranslated)


def test_search_indexes_both_languages(built):
    for lang, word in (("en", "hypervisor"), ("zh", "探测")):
        text = (built / lang / "searchindex.js").read_text(encoding="utf-8")
        index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
        assert word in index["terms"], (lang, word)


def test_widgets_point_to_binder_and_tables_render(built):
    for lang, note in (("en", "launch this page in Binder"), ("zh", "在 Binder 中打开本页")):
        text = _text(built / lang / book.html_page(book.edition_file(lang, book.WELCOME)))
        assert "application/vnd.jupyter.widget-view+json" not in text and note in text
        assert "<table" in text and "| # |" not in text
