"""The course's spine: the syllabus and the glossary, read from `course/`. Lesson 00 shows both.

Everything that lists lessons (the README's contents, each notebook's navigation cells, the tests)
is generated from `course/syllabus.yml`, so the lesson order lives in exactly one place. A lesson's
title and objectives are English keys; `course_map` shows them in the course's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from vizlib.i18n import N_, _

ROOT = Path(__file__).resolve().parent.parent
STATUSES = ("ready", "planned")
MAP_HEADER = ("#", N_("Lesson"), N_("Minutes"), N_("You will be able to"))  # shown by show_table
OBJECTIVES_SEPARATOR = N_("; ")  # between a lesson's objectives in the course map
_FILE = re.compile(r"^(notebooks|exercises)/(\d\d)_[a-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class Lesson:
    """One lesson of the syllabus."""

    id: str
    file: str
    title: str
    minutes: int
    exercise: str
    status: str
    objectives: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def name(self) -> str:
        """The notebook's file name without folder, e.g. `01_virtualization_types.ipynb`."""
        return Path(self.file).name


@dataclass(frozen=True)
class Term:
    """One glossary entry: the English term, the Chinese term, a one-line definition, and other
    Chinese names a reader may know (`also`), which the course's Chinese text does not use."""

    term: str
    zh: str
    definition: str
    lesson: str
    also: tuple[str, ...] = ()


def _lesson(entry: dict, position: int) -> Lesson:
    required = ("id", "file", "title", "minutes", "exercise", "status", "objectives")
    missing = [key for key in required if key not in entry]
    if missing:
        raise ValueError(f"syllabus lesson #{position}: missing {', '.join(missing)}")
    lesson = Lesson(
        id=str(entry["id"]),
        file=entry["file"],
        title=entry["title"],
        minutes=int(entry["minutes"]),
        exercise=entry["exercise"],
        status=entry["status"],
        objectives=tuple(entry["objectives"]),
    )
    if lesson.status not in STATUSES:
        raise ValueError(
            f"lesson {lesson.id}: status must be one of {STATUSES}, not {lesson.status!r}"
        )
    for field in ("file", "exercise"):
        match = _FILE.match(getattr(lesson, field))
        if not match or match.group(2) != lesson.id:
            folder = "notebooks" if field == "file" else "exercises"
            raise ValueError(
                f"lesson {lesson.id}: {field} must look like '{folder}/{lesson.id}_slug.ipynb', "
                f"not {getattr(lesson, field)!r}"
            )
    return lesson


def repository(root: Path = ROOT) -> str:
    """The course's GitHub repository, `owner/name`, as the syllabus declares it."""
    data = yaml.safe_load((root / "course" / "syllabus.yml").read_text(encoding="utf-8"))
    return data["repository"]


def binder_url(path: str, root: Path = ROOT) -> str:
    """A Binder link that opens JupyterLab at `path` (a file of the repository)."""
    return f"https://mybinder.org/v2/gh/{repository(root)}/HEAD?labpath={path.replace('/', '%2F')}"


def syllabus(root: Path = ROOT) -> tuple[Lesson, ...]:
    """The lessons in order, validated (ids 00, 01, ... consecutive, files named after them)."""
    data = yaml.safe_load((root / "course" / "syllabus.yml").read_text(encoding="utf-8"))
    lessons = tuple(_lesson(entry, i) for i, entry in enumerate(data["lessons"]))
    expected = [f"{i:02d}" for i in range(len(lessons))]
    if [lesson.id for lesson in lessons] != expected:
        raise ValueError(f"syllabus ids must run {', '.join(expected)} in order")
    return lessons


def course_map(root: Path = ROOT) -> tuple[tuple[str, ...], list[tuple[str, str, int, str]]]:
    """Header and rows for `vizlib.tables.show_table`: each lesson's number, title, minutes and
    objectives, in the course's language. Lesson 00."""
    rows = [
        (x.id, _(x.title), x.minutes, _(OBJECTIVES_SEPARATOR).join(map(_, x.objectives)))
        for x in syllabus(root)
    ]
    return MAP_HEADER, rows


def glossary(root: Path = ROOT) -> tuple[Term, ...]:
    """The glossary's terms, in the order of the file (read once per change of the file)."""
    path = root / "course" / "glossary.yml"
    return _glossary(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _glossary(path: Path, mtime_ns: int) -> tuple[Term, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Term(**{**entry, "also": tuple(entry.get("also", ()))}) for entry in data["terms"])


def term(name: str, root: Path = ROOT) -> Term:
    """Look one glossary term up by its English name (case-insensitive)."""
    for entry in glossary(root):
        if entry.term.lower() == name.lower():
            return entry
    raise ValueError(f"term {name!r} is not in course/glossary.yml")
