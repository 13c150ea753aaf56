"""Translation catalogues (gettext PO, read and written with Babel) and the translated editions.

Two kinds of catalogue, both keyed by the English text (the msgid), so that a change of the
English marks its translation out of date (fuzzy, with the English it was made from kept as
`#| msgid`) instead of losing it:

- `vizlib/locale/<lang>/LC_MESSAGES/vizlib.po`: what vizlib prints or draws (the `_()` and `N_()`
  strings of its code) and the learner-facing text of `course/` (lesson titles and objectives,
  glossary definitions);
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

import copy
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import yaml
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from vizlib.authoring import execute
from vizlib.authoring.editions import catalogue_file, translated_file
from vizlib.authoring.navigation import NAV_BOTTOM, NAV_TOP, navigation, tagged, with_navigation
from vizlib.course import ROOT, Lesson, repository, syllabus
from vizlib.i18n import DOMAIN, check_language

PO_LOCALES = {"zh": "zh_CN"}
KEYWORDS = {"_": None, "N_": None}  # the functions whose string argument is a message
LANGUAGE_CELL_ID = "course-language"
LANGUAGE_CELL_TAGS = ["course-language", "remove-cell"]  # remove-cell: not shown in the book
_PLACEHOLDER = re.compile(r"{(\w*)}")
UPDATE = "run `python3 scripts/course.py translate`"


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


def read_catalogue(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def render_catalogue(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, include_previous=True, include_lineno=False)
    return out.getvalue()


def _entries(catalog: Catalog) -> list[tuple]:
    """What a catalogue says, header and dates aside: to write only when that changes."""
    found = [*catalog, *catalog.obsolete.values()]
    return [(m.context, m.id, m.string, sorted(m.flags), m.previous_id) for m in found if m.id]


def _save(catalog: Catalog, path: Path) -> bool:
    """Write `catalog` to `path` unless it says what the file says; True when written."""
    if path.exists() and _entries(read_catalogue(path)) == _entries(catalog):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.revision_date = datetime.now(timezone.utc)
    path.write_bytes(render_catalogue(catalog))
    return True


def new_catalogue(lang: str, subject: str, root: Path = ROOT) -> Catalog:
    """An empty catalogue of `lang` for `subject` (a notebook, or vizlib), its header filled."""
    catalog = Catalog(
        locale=PO_LOCALES[lang],
        project=subject,
        version="",
        msgid_bugs_address=f"https://github.com/{repository(root)}/issues",
        fuzzy=False,
    )
    catalog.header_comment = (
        f"# {subject} in {catalog.locale.english_name}: msgid English, msgstr translation.\n"
        f"# Update with `python3 scripts/course.py translate`, build with `... {lang}`."
    )
    return catalog


def _flags(message: str) -> set[str]:
    return {"python-brace-format"} if _PLACEHOLDER.search(message) else set()


# ---- vizlib's messages ----------------------------------------------------------------------


def course_texts(root: Path = ROOT) -> list[tuple[str, str]]:
    """(message, where) of the learner-facing text of `course/`: titles, objectives, definitions."""
    found = []
    for lesson in syllabus(root):
        found += [(text, "course/syllabus.yml") for text in (lesson.title, *lesson.objectives)]
    terms = yaml.safe_load((root / "course" / "glossary.yml").read_text(encoding="utf-8"))
    found += [(entry["definition"], "course/glossary.yml") for entry in terms["terms"]]
    return found


def message_template(root: Path = ROOT) -> Catalog:
    """Every message vizlib's code marks with `_()` or `N_()`, then the text of `course/`."""
    template = Catalog(project="vizlib", fuzzy=False)
    code = extract_from_dir(
        root / "vizlib", method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
    )
    for filename, _lineno, message, _comments, _context in code:
        if isinstance(message, str) and message:
            template.add(message, locations=[(f"vizlib/{filename}", None)], flags=_flags(message))
    for message, where in course_texts(root):
        template.add(message, locations=[(where, None)], flags=_flags(message))
    return template


def update_messages(lang: str, root: Path = ROOT) -> bool:
    """Bring vizlib's catalogue of `lang` up to date with the code and `course/` (Babel's merge:
    a message whose English changed comes back fuzzy, with its old msgid); True when written."""
    path = message_catalogue(lang, root)
    catalog = read_catalogue(path) if path.exists() else new_catalogue(lang, "vizlib", root)
    catalog.update(message_template(root), update_header_comment=False)
    return _save(catalog, path)


def stale_messages(lang: str, root: Path = ROOT) -> list[Stale]:
    """Messages of vizlib or `course/` without a finished translation in `lang`'s catalogue."""
    path = message_catalogue(lang, root)
    where = str(path.relative_to(root))
    found = {m.id: m for m in read_catalogue(path) if m.id} if path.exists() else {}
    stale = []
    for message in message_template(root):
        if not message.id:
            continue
        entry = found.get(message.id)
        reason = _reason(entry, message.id)
        if reason:
            stale.append(Stale(where, repr(message.id[:60]), reason))
    return stale


def _reason(entry: Message | None, english: str) -> str | None:
    """Why `entry` does not translate `english` now, or None when it does."""
    if entry is None:
        return f"not in the catalogue ({UPDATE})"
    if entry.id != english:
        return f"the English changed since the catalogue was updated ({UPDATE})"
    if entry.fuzzy:
        return "the English changed since it was translated (fuzzy: compare with #| msgid)"
    if not entry.string:
        return "not translated yet"
    missing = set(_PLACEHOLDER.findall(english)) ^ set(_PLACEHOLDER.findall(entry.string))
    if missing:
        return f"the translation's placeholders differ from the English: {sorted(missing)}"
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
    by_cell = {m.context: m for m in [*old, *old.obsolete.values()] if m.id}
    by_text = {m.id: m for m in by_cell.values() if m.string and not m.fuzzy}
    new = new_catalogue(lang, english, root)
    new.creation_date = old.creation_date
    for cell_id, source in translatable(nbformat.read(root / english, as_version=4)):
        was = by_cell.pop(cell_id, None)
        flags, previous, string, comments = set(), (), "", ()
        if was is not None:
            string, comments = was.string, was.user_comments
            if was.id == source:
                flags, previous = set(was.flags), was.previous_id
            elif was.string:
                flags = {"fuzzy"}
                previous = was.previous_id if was.fuzzy and was.previous_id else was.id
        elif source in by_text:
            string = by_text[source].string
        new.add(
            source,
            string,
            context=cell_id,
            flags=flags,
            previous_id=previous,
            user_comments=comments,
        )
    for cell_id, message in by_cell.items():
        if message.string:
            new.obsolete[(message.id, cell_id)] = message
    return _save(new, path)


def stale_notebook(lang: str, english: str, root: Path = ROOT) -> list[Stale]:
    """The cells of the English notebook whose translation in `lang` is missing or out of date."""
    path = root / catalogue_file(lang, english)
    entries = {m.context: m for m in read_catalogue(path) if m.id}
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
    as in English, after a first code cell that sets the language. ValueError, listing the
    cells, when the catalogue is not finished."""
    problems = stale_notebook(lang, english, root)
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        raise ValueError(f"{catalogue_file(lang, english)} is not finished:\n{listing}")
    strings = {m.context: m.string for m in read_catalogue(root / catalogue_file(lang, english))}
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


def build(lang: str, names: list[str] = (), root: Path = ROOT, progress=print) -> list[Path]:
    """Write the translated notebooks of `lang` (those of the lessons `names`, by id, or all) and
    run each lesson from a fresh kernel, top to bottom, storing its outputs like the English."""
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
            execute.execute(path)
        written.append(path)
    return written
