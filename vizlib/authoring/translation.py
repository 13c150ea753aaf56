"""Translation catalogues (gettext PO, read and written with polib) and the translated editions.

Two kinds of catalogue, both keyed by the English text (the msgid), so that a change of the
English marks its translation out of date (fuzzy, with the English it was made from kept as
`#| msgid`) instead of losing it:

- `vizlib/locale/<lang>/LC_MESSAGES/vizlib.po`: what vizlib prints or draws (the `_()` and `N_()`
  strings of its code), the headers of the lessons' tables (written in their code cells, which are
  the same in both editions) and the learner-facing text of `course/` (lesson titles and
  objectives, glossary definitions);
- `translations/<lang>/notebooks/NN_slug.po` and `translations/<lang>/exercises/NN_slug.po`: one
  per notebook, one entry per markdown cell, msgctxt = the cell's id (which stays when its text
  changes, so the entry is found again), msgid = its English source.

`update` (the `translate` command) brings the catalogues up to date with the English; `build` (the
`zh` command) writes `notebooks/<lang>/` and `exercises/<lang>/` from the English notebooks and
the catalogues, code cells unchanged but for a first one that sets the language, and runs the
lessons from fresh kernels; `stale` lists every cell or message whose translation is missing or
out of date.
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import polib
import yaml

from vizlib.authoring import execute
from vizlib.authoring.editions import catalogue_file, translated_file
from vizlib.authoring.navigation import NAV_BOTTOM, NAV_TOP, navigation, tagged, with_navigation
from vizlib.course import ROOT, Lesson, repository, syllabus
from vizlib.grading.exercise import in_language, parse_exercise
from vizlib.i18n import DOMAIN, check_language
from vizlib.tables import TABLE_CALLS, WORD

PO_LOCALES = {"zh": "zh_CN"}
MARKERS = ("_", "N_")  # the functions whose string argument is a message
LANGUAGE_CELL_ID = "course-language"
LANGUAGE_CELL_TAGS = ["course-language", "remove-cell"]  # remove-cell: not shown in the book
FUZZY_CUTOFF = 0.6  # how alike an old message must be to carry its translation over (difflib)
_PLACEHOLDER = re.compile(r"{(\w*)}")
UPDATE = "run `python3 scripts/course.py translate`"
SOLUTIONS = "exercises/solutions"  # the exercises' instructor source, whose code is collected
# Run after a translated lesson, in its kernel: the messages it showed untranslated, as JSON.
UNTRANSLATED_PROBE = "import json\nfrom vizlib import i18n\nprint(json.dumps(i18n.missing()))"


@dataclass(frozen=True)
class Stale:
    """One cell (or message) whose translation is missing or out of date."""

    source: str  # the English notebook, or the message catalogue
    cell: str  # the cell id, or the start of the message
    reason: str

    def __str__(self) -> str:
        return f"{self.source} {self.cell}: {self.reason}"


def message_catalogue(lang: str, root: Path = ROOT) -> Path:
    """vizlib's message catalogue of `lang`."""
    return root / "vizlib" / "locale" / check_language(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(path: Path) -> polib.POFile:
    return polib.pofile(str(path), wrapwidth=0)


def new_catalogue(lang: str, subject: str, root: Path = ROOT) -> polib.POFile:
    """An empty catalogue of `lang` for `subject` (a notebook, or vizlib), its header filled."""
    po = polib.POFile(wrapwidth=0)
    po.header = (
        f"{subject}, translated: msgid the English, msgstr the translation.\n"
        f"Update: `python3 scripts/course.py translate`; build: `python3 scripts/course.py {lang}`."
    )
    po.metadata = {
        "Project-Id-Version": subject,
        "Report-Msgid-Bugs-To": f"https://github.com/{repository(root)}/issues",
        "Language": PO_LOCALES[lang],
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=1; plural=0;",
    }
    return po


def _entries(po: polib.POFile) -> list[tuple]:
    """What a catalogue says, header aside: to write only when that changes."""
    return [
        (e.msgctxt, e.msgid, e.msgstr, sorted(e.flags), e.previous_msgid, e.obsolete, e.tcomment)
        for e in po
    ]


def _save(po: polib.POFile, path: Path) -> bool:
    """Write `po` to `path` unless it says what the file says; True when written."""
    if path.exists() and _entries(read_catalogue(path)) == _entries(po):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    po.metadata["PO-Revision-Date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M%z")
    po.save(str(path))
    return True


def _flags(message: str) -> list[str]:
    return ["python-brace-format"] if _PLACEHOLDER.search(message) else []


# ---- vizlib's messages ----------------------------------------------------------------------


def code_messages(path: Path) -> list[str]:
    """The string of every `_("...")` and `N_("...")` call in a Python file, in order."""
    return source_messages(path.read_text(encoding="utf-8"))


def source_messages(source: str) -> list[str]:
    """The string of every `_("...")` and `N_("...")` call in Python source, in order (inside
    f-strings too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            first = node.args[0] if node.args else None
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if node.func.id in MARKERS and literal and first.value not in found:
                found.append(first.value)
    return found


def exercise_messages(solution: nbformat.NotebookNode) -> list[str]:
    """What an exercise's code shows a learner, from its solution notebook: the `_()`/`N_()`
    strings of its code cells (a set-up cell's labels and options) and the words of each check
    item (what it asks for, its hint and explanation: `ItemSpec.texts`), which the checks
    translate where they show them."""
    exercise = parse_exercise(solution)
    found = []
    for cell in solution.cells:
        if cell.cell_type == "code":
            try:
                found += source_messages(cell.source)
            except SyntaxError:  # IPython syntax (%magic, !shell)
                continue
    for question in exercise.questions.values():
        found += [text for item in question.items for text in item.texts]
    return list(dict.fromkeys(found))


def table_headers(source: str) -> list[str]:
    """The words of the header of every table a notebook's code cell shows (`TABLE_CALLS`): the
    strings of a list written as their first argument, or of a list the cell assigns to a name
    used there."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (%magic, !shell): no table of ours
        return []
    lists = {
        node.targets[0].id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.List | ast.Tuple)
    }

    def strings(node: ast.expr) -> list[str]:
        if isinstance(node, ast.Starred):
            return strings(node.value)
        if isinstance(node, ast.Name) and node.id in lists:
            return strings(lists[node.id])
        if isinstance(node, ast.List | ast.Tuple):
            return [text for element in node.elts for text in strings(element)]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value] if WORD.search(node.value) else []
        return []

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name in TABLE_CALLS:
                found += [text for text in strings(node.args[0]) if text not in found]
    return found


def notebook_headers(root: Path = ROOT) -> dict[str, list[str]]:
    """Header word -> the English notebooks whose code shows it in a table, in syllabus order."""
    found: dict[str, list[str]] = {}
    for english, _lesson in notebooks(root):
        path = root / english
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for text in table_headers(cell.source):
                    if english not in found.setdefault(text, []):
                        found[text].append(english)
    return found


def course_texts(root: Path = ROOT) -> list[str]:
    """The learner-facing text of `course/`: lesson titles and objectives, glossary definitions."""
    found = []
    for lesson in syllabus(root):
        found += [lesson.title, *lesson.objectives]
    terms = yaml.safe_load((root / "course" / "glossary.yml").read_text(encoding="utf-8"))
    return found + [entry["definition"] for entry in terms["terms"]]


def message_template(root: Path = ROOT) -> dict[str, list[str]]:
    """msgid -> where it comes from: vizlib's code (files in path order), the lessons' table
    headers, the exercises' code (`exercise_messages`), then `course/`."""
    found: dict[str, list[str]] = {}
    for path in sorted((root / "vizlib").rglob("*.py")):
        for message in code_messages(path):
            found.setdefault(message, []).append(path.relative_to(root).as_posix())
    for message, places in notebook_headers(root).items():
        found.setdefault(message, []).extend(places)
    for path in sorted((root / SOLUTIONS).glob("*.ipynb")):
        for message in exercise_messages(nbformat.read(path, as_version=4)):
            found.setdefault(message, []).append(path.relative_to(root).as_posix())
    for message, where in [(t, "course/") for t in course_texts(root)]:
        found.setdefault(message, []).append(where)
    return found


def update_messages(lang: str, root: Path = ROOT) -> bool:
    """Bring vizlib's catalogue of `lang` up to date with the code and `course/`, as msgmerge
    does: a new message takes the translation of the most alike old one (difflib), marked fuzzy
    with the old msgid; messages gone stay as obsolete entries. True when written."""
    path = message_catalogue(lang, root)
    old = read_catalogue(path) if path.exists() else new_catalogue(lang, "vizlib", root)
    known = {e.msgid: e for e in old if e.msgid}
    new = new_catalogue(lang, "vizlib", root)
    new.metadata.update({k: v for k, v in old.metadata.items() if k != "PO-Revision-Date"})
    template = message_template(root)
    for message, places in template.items():
        entry = polib.POEntry(msgid=message, occurrences=[(p, "") for p in places])
        entry.flags = _flags(message)
        was = known.get(message)
        if was is None:
            unused = [m for m, e in known.items() if m not in template and e.msgstr]
            close = difflib.get_close_matches(message, unused, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                was = known[close[0]]
                entry.flags.append("fuzzy")
                entry.previous_msgid = was.previous_msgid if was.fuzzy else was.msgid
        elif was.fuzzy:
            entry.flags.append("fuzzy")
            entry.previous_msgid = was.previous_msgid
        if was is not None:
            entry.msgstr, entry.tcomment = was.msgstr, was.tcomment
        new.append(entry)
    carried = {e.previous_msgid for e in new if e.fuzzy}
    for message, was in known.items():
        if message not in template and was.msgstr and message not in carried:
            was.obsolete = True
            new.append(was)
    return _save(new, path)


def stale_messages(lang: str, root: Path = ROOT) -> list[Stale]:
    """Messages of vizlib or `course/` without a finished translation in `lang`'s catalogue."""
    path = message_catalogue(lang, root)
    where = str(path.relative_to(root))
    found = {e.msgid: e for e in read_catalogue(path) if not e.obsolete} if path.exists() else {}
    stale = []
    for message in message_template(root):
        reason = _reason(found.get(message), message)
        if reason:
            stale.append(Stale(where, repr(message[:60]), reason))
    return stale


def _reason(entry: polib.POEntry | None, english: str) -> str | None:
    """Why `entry` does not translate `english` now, or None when it does."""
    if entry is None or entry.obsolete:
        return f"not in the catalogue ({UPDATE})"
    if entry.msgid != english:
        return f"the English changed since the catalogue was updated ({UPDATE})"
    if entry.fuzzy:
        return "the English changed since it was translated (fuzzy: compare with #| msgid)"
    if not entry.msgstr:
        return "not translated yet"
    differ = set(_PLACEHOLDER.findall(english)) ^ set(_PLACEHOLDER.findall(entry.msgstr))
    if differ:
        return f"the translation's placeholders differ from the English: {sorted(differ)}"
    return None


# ---- notebooks ------------------------------------------------------------------------------


def translatable(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell id, English source) of each markdown cell but the generated navigation."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or tagged(cell, NAV_TOP) or tagged(cell, NAV_BOTTOM):
            continue
        if not cell.get("id"):
            raise ValueError("every cell needs an id (nbformat 4.5): open and save the notebook")
        cells.append((cell.id, cell.source))
    return cells


def notebooks(root: Path = ROOT) -> list[tuple[str, Lesson]]:
    """(English notebook, its lesson) of every ready lesson and exercise, in syllabus order."""
    found = []
    for lesson in syllabus(root):
        if lesson.ready:
            found += [(lesson.file, lesson), (lesson.exercise, lesson)]
    return found


def translated_notebooks(lang: str, root: Path = ROOT) -> list[tuple[str, Lesson]]:
    """The English notebooks that have a catalogue in `lang`."""
    return [(nb, x) for nb, x in notebooks(root) if (root / catalogue_file(lang, nb)).is_file()]


def update_notebook(lang: str, english: str, root: Path = ROOT) -> bool:
    """Create or bring up to date the catalogue of the English notebook `english` in `lang`.

    An entry is found again by its cell id: unchanged English keeps its translation; changed
    English keeps it too, marked fuzzy, with the English it was translated from as previous
    msgid. A cell whose id changed finds its translation by its English. Entries of deleted
    cells stay as obsolete (#~) entries. True when the file was written.
    """
    path = root / catalogue_file(lang, english)
    old = read_catalogue(path) if path.exists() else new_catalogue(lang, english, root)
    by_cell = {e.msgctxt: e for e in old if e.msgid}
    by_text = {e.msgid: e for e in by_cell.values() if e.translated()}
    new = new_catalogue(lang, english, root)
    new.metadata.update({k: v for k, v in old.metadata.items() if k != "PO-Revision-Date"})
    for cell_id, source in translatable(nbformat.read(root / english, as_version=4)):
        entry = polib.POEntry(msgctxt=cell_id, msgid=source)
        was = by_cell.pop(cell_id, None)
        if was is not None and not was.obsolete:
            entry.msgstr, entry.tcomment = was.msgstr, was.tcomment
            if was.msgid == source:
                entry.flags, entry.previous_msgid = list(was.flags), was.previous_msgid
            elif was.msgstr:
                entry.flags = ["fuzzy"]
                entry.previous_msgid = was.previous_msgid if was.fuzzy else was.msgid
        elif source in by_text:
            entry.msgstr = by_text[source].msgstr
        new.append(entry)
    for was in by_cell.values():
        if was.msgstr:
            was.obsolete = True
            new.append(was)
    return _save(new, path)


def stale_notebook(lang: str, english: str, root: Path = ROOT) -> list[Stale]:
    """The cells of the English notebook whose translation in `lang` is missing or out of date."""
    path = root / catalogue_file(lang, english)
    entries = {e.msgctxt: e for e in read_catalogue(path) if not e.obsolete}
    cells = translatable(nbformat.read(root / english, as_version=4))
    return [
        Stale(english, cell_id, reason)
        for cell_id, source in cells
        if (reason := _reason(entries.get(cell_id), source))
    ]


def stale(lang: str, root: Path = ROOT) -> list[Stale]:
    """Everything of `lang`'s edition whose translation is missing or out of date."""
    found = stale_messages(lang, root)
    for english, _lesson in translated_notebooks(lang, root):
        found += stale_notebook(lang, english, root)
    return found


def update(lang: str, start: list[str] = (), root: Path = ROOT) -> list[str]:
    """Bring every catalogue of `lang` up to date, starting one for each English notebook in
    `start`; return the catalogues written."""
    written = [str(message_catalogue(lang, root).relative_to(root))] * update_messages(lang, root)
    present = {nb for nb, _lesson in translated_notebooks(lang, root)}
    for english, _lesson in notebooks(root):
        wanted = english in present or english in start
        if wanted and update_notebook(lang, english, root):
            written.append(catalogue_file(lang, english))
    return written


# ---- the translated edition -----------------------------------------------------------------


def language_cell(lang: str) -> nbformat.NotebookNode:
    source = f'from vizlib.i18n import set_language\n\nset_language("{lang}")'
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = LANGUAGE_CELL_ID
    cell.metadata["tags"] = list(LANGUAGE_CELL_TAGS)
    return cell


def translated(lang: str, english: str, root: Path = ROOT) -> nbformat.NotebookNode:
    """The notebook `english` in `lang`, without outputs: markdown from its catalogue, code cells
    as in English (but for the placeholder of an exercise's answer cells, which speaks `lang`),
    after a first code cell that sets the language. ValueError, listing the
    cells, when the catalogue is not finished."""
    problems = stale_notebook(lang, english, root)
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        raise ValueError(f"{catalogue_file(lang, english)} is not finished:\n{listing}")
    po = read_catalogue(root / catalogue_file(lang, english))
    strings = {e.msgctxt: e.msgstr for e in po if not e.obsolete}
    nb = nbformat.read(root / english, as_version=4)
    cells = []
    for cell in nb.cells:
        if tagged(cell, NAV_TOP) or tagged(cell, NAV_BOTTOM):
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "markdown":
            cell.source = strings[cell.id]
        elif cell.cell_type == "code":
            if not any(c.cell_type == "code" for c in cells):
                cells.append(language_cell(lang))
            cell.outputs, cell.execution_count = [], None
            cell = in_language(cell, lang)  # an answer cell's placeholder
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def _is_lesson(english: str, lesson: Lesson) -> bool:
    return english == lesson.file


def _with_nav(lang: str, english: str, lesson: Lesson, nb, root: Path):
    if not _is_lesson(english, lesson):
        return nb
    lessons = syllabus(root)
    return with_navigation(nb, *navigation(lessons, lessons.index(lesson), lang, root))


def _cells(nb: nbformat.NotebookNode) -> list[tuple]:
    return [(c.cell_type, c.get("id"), c.source, dict(c.metadata)) for c in nb.cells]


def out_of_date(lang: str, root: Path = ROOT) -> list[str]:
    """Translated notebooks that are missing or differ from what their catalogue gives now."""
    found = []
    for english, lesson in translated_notebooks(lang, root):
        path = root / translated_file(lang, english)
        try:
            expected = _with_nav(lang, english, lesson, translated(lang, english, root), root)
        except ValueError:
            continue  # its stale cells are listed by `stale`
        if not path.is_file() or _cells(nbformat.read(path, as_version=4)) != _cells(expected):
            found.append(translated_file(lang, english))
    return found


def untranslated(printed: str, lang: str) -> list[str]:
    """The messages of `lang` that `UNTRANSLATED_PROBE` printed."""
    return [message for shown_in, message in json.loads(printed) if shown_in == lang]


def build(lang: str, names: list[str] = (), root: Path = ROOT, progress=print) -> list[Path]:
    """Write the translated notebooks of `lang` (those of the lessons `names`, by id, or all) and
    run each lesson from a fresh kernel, top to bottom, storing its outputs like the English.
    ValueError, listing them, when a lesson showed a message its catalogue lacks."""
    written = []
    for english, lesson in translated_notebooks(lang, root):
        if names and lesson.id not in names:
            continue
        nb = _with_nav(lang, english, lesson, translated(lang, english, root), root)
        path = root / translated_file(lang, english)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        if _is_lesson(english, lesson):
            progress(f"executing {translated_file(lang, english)} ...")
            _seconds, printed = execute.run(path, UNTRANSLATED_PROBE)
            shown = untranslated(printed, lang)
            if shown:
                listing = "\n".join(f"  {message!r}" for message in shown)
                raise ValueError(
                    f"{translated_file(lang, english)} showed messages that "
                    f"{message_catalogue(lang, root).relative_to(root)} does not translate "
                    f"(mark them N_() where defined, translate them where shown, then {UPDATE}):"
                    f"\n{listing}"
                )
        written.append(path)
    return written
