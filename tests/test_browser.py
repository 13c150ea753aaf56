"""Every ready lesson, in English and in each translation, works for a learner: JupyterLab in
headless Chromium runs all its cells, and no cell shows an error, every widget renders, every
diagram is visible, and a slider (where the lesson has one) redraws its output. One server and one
browser serve all the lessons in turn. Screenshots of failures go to build/browser-failures/.
"""

import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from vizlib.authoring import browser, translation
from vizlib.authoring.editions import TRANSLATED, translated_file
from vizlib.course import ROOT, syllabus

LESSONS = [lesson.file for lesson in syllabus() if lesson.ready] + [
    translated_file(lang, english)
    for lang in TRANSLATED
    for english, lesson in translation.translated_notebooks(lang)
    if english == lesson.file
]
FAILURES = ROOT / "build" / "browser-failures"
UNAVAILABLE = browser.unavailable()
needs_browser = pytest.mark.skipif(
    UNAVAILABLE is not None, reason=f"no real browser here: {UNAVAILABLE}"
)

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{0}"><circle r="{0}"/></svg>'
# A lesson that works: a slider redrawing an HTML output, and a diagram.
GOOD = [
    "import ipywidgets as w\nfrom IPython.display import SVG",
    "slider, out = w.IntSlider(min=0, max=10, value=3), w.HTML()\n"
    "slider.observe(lambda change: setattr(out, 'value', f'<b>{change.new}</b>'), 'value')\n"
    "w.VBox([slider, out])",
    f"SVG({SVG.format(40)!r})",
]
# A lesson with one of each failure: inert slider, missing widget, empty picture, exception.
BAD = [
    "import ipywidgets as w\nfrom IPython.display import SVG, display\nw.IntSlider()",
    "view = {'model_id': 'missing', 'version_major': 2, 'version_minor': 0}\n"
    "display({'application/vnd.jupyter.widget-view+json': view}, raw=True)",
    f"SVG({SVG.format(0)!r})",
    "1 / 0",
    "print('after the error')",
]


def _write(folder: Path, name: str, sources: list[str]) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / name)
    return str((folder / name).relative_to(ROOT))


@pytest.fixture(scope="module")
def chromium():
    """One JupyterLab over the repository and one headless Chromium, stopped whatever happens."""
    with browser.JupyterLab(ROOT) as lab, browser.Browser(lab) as page:
        yield page


@pytest.fixture(scope="module")
def samples():
    """A working and a broken notebook in a fresh folder of build/ (served by the same server)."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="browser-samples-", dir=ROOT / "build"))
    try:
        yield {"good": _write(folder, "good.ipynb", GOOD), "bad": _write(folder, "bad.ipynb", BAD)}
    finally:
        shutil.rmtree(folder)


def test_chromium_is_found_on_the_path_under_any_of_its_names(monkeypatch):
    on_path = {"chromium-browser": "/snap/bin/chromium-browser"}
    monkeypatch.setattr(browser.shutil, "which", on_path.get)
    assert browser.chromium() == Path("/snap/bin/chromium-browser")
    on_path.update({"google-chrome": "/opt/google/chrome", "chromium": "/usr/bin/chromium"})
    assert browser.chromium() == Path("/usr/bin/chromium")  # the first name wins
    on_path.clear()
    assert browser.chromium() is None
    assert "chromium, chromium-browser, google-chrome" in browser.unavailable()


@needs_browser
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda file: file.removeprefix("notebooks/"))
def test_the_lesson_runs_in_jupyterlab_as_a_learner_sees_it(chromium, lesson):
    path = ROOT / lesson
    stored = path.stat().st_mtime_ns
    check = chromium.check(lesson)
    assert path.stat().st_mtime_ns == stored, f"JupyterLab wrote to {lesson}"
    if check.problems:
        shots = chromium.screenshots(check, FAILURES)
        listing = "\n".join(f"  - {p}" for p in check.problems)
        pytest.fail(
            f"{lesson} in JupyterLab ({check.seconds:.1f} s):\n{listing}\n"
            f"screenshots: {', '.join(str(s) for s in shots)}"
        )


@needs_browser
def test_the_check_passes_a_working_notebook(chromium, samples):
    check = chromium.check(samples["good"])
    assert check.problems == []
    assert (check.widgets, check.pictures, check.slider) == (1, 1, "changed")


@needs_browser
def test_the_check_reports_each_kind_of_failure_at_its_cell(chromium, samples):
    check = chromium.check(samples["bad"], slider_timeout=1)  # its slider never redraws
    problems = {(p.cell, p.what.split(":")[0].split(" (")[0]) for p in check.problems}
    assert problems == {
        (0, "slider"),
        (1, "Error displaying widget"),
        (2, "<img> not visible"),
        (3, "ZeroDivisionError"),
        (4, "was not run"),
    }
    assert check.slider == "unchanged"
