"""The static copy of the course: every ready lesson and exercise has its page, and every local
link of every page leads to a file of the site."""

import html
import re
from pathlib import Path

import pytest

from vizlib.authoring import site
from vizlib.course import binder_url, repository, syllabus

READY = [lesson for lesson in syllabus() if lesson.ready]
LINK = re.compile(r'\b(?:href|src)="([^"]*)"')


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    site.build(out, progress=lambda _: None)
    return out


def _html(path: Path) -> str:
    return path.with_suffix(".html").as_posix()


def test_every_ready_lesson_and_exercise_has_a_page_with_its_binder_link(built):
    assert (built / "index.html").is_file()
    for lesson in READY:
        for page in (lesson.file, lesson.exercise):
            text = (built / _html(Path(page))).read_text(encoding="utf-8")
            assert f'href="{binder_url(page)}"' in text, page


def test_every_local_link_of_every_page_resolves_to_a_file_of_the_site(built):
    checked = 0
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for href in LINK.findall(text):
            if not href or href.startswith("#") or re.match(r"^[a-z][a-z0-9+.-]*:", href):
                continue
            path, _, anchor = href.partition("#")
            target = (page.parent / path).resolve()
            assert target.is_file() and built.resolve() in target.parents, f"{page.name}: {href}"
            if anchor:
                assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), f"{href}"
            checked += 1
    assert checked >= 4 * len(READY)  # navigation bar and cells: contents, exercise, neighbours


def test_the_index_lists_the_whole_syllabus_and_links_the_ready_lessons(built):
    text = (built / "index.html").read_text(encoding="utf-8")
    assert 'id="contents"' in text
    for lesson in syllabus():
        assert html.escape(lesson.title) in text
        assert (f'href="{_html(Path(lesson.file))}"' in text) == lesson.ready


def test_widget_outputs_point_to_binder_instead_of_staying_blank(built):
    first = READY[0]
    text = (built / _html(Path(first.file))).read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert text.count('class="course-widget"') >= 1


PAGES = {
    "README.md": "index.html",
    "notebooks/00_welcome.ipynb": "notebooks/00_welcome.html",
    "notebooks/01_virtualization_types.ipynb": "notebooks/01_virtualization_types.html",
    "exercises/00_welcome.ipynb": "exercises/00_welcome.html",
}


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("01_virtualization_types.ipynb", "01_virtualization_types.html"),
        ("../README.md#contents", "../index.html#contents"),
        ("../exercises/00_welcome.ipynb", "../exercises/00_welcome.html"),
        ("../CONTRIBUTING.md", f"https://github.com/{repository()}/blob/HEAD/CONTRIBUTING.md"),
        ("https://example.org/a.ipynb", "https://example.org/a.ipynb"),
        ("#vocabulary", "#vocabulary"),
        ("../no/such/file.md", "../no/such/file.md"),
    ],
)
def test_links_are_rewritten_from_the_repository_to_the_site(href, expected):
    assert site.site_link(href, "notebooks/00_welcome.ipynb", PAGES, repository()) == expected


def test_the_build_refuses_to_empty_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="out: .* not empty"):
        site.build(tmp_path, progress=lambda _: None)
    assert (tmp_path / "notes.txt").exists()


def test_a_rebuild_empties_the_folder_it_built_before(tmp_path):
    site.prepare_folder(tmp_path)
    (tmp_path / "stale.html").write_text("a page of a lesson no longer ready")
    site.prepare_folder(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [site.MARKER]
