"""The class roster and the course secret: which variant of each exercise each student gets.

A roster is a CSV file with a header row and one row per student: the column `student` holds the
id that names the student's folder (`class/<student>/04_paravirtualization.ipynb`), the optional
column `language` the edition of their copies (`en`, the default, or `zh`); other columns (names,
e-mail addresses) are ignored. A student's variant of an exercise is a number derived from the
student id, the exercise id and the course secret, a random file the instructor keeps outside
the repository (by default `~/.config/virtualization-course/secret`, made by
`python -m vizlib.grading secret`): without the secret nobody can tell which variant a student
has, and the grader derives it again from the roster, whatever a notebook's metadata says.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from vizlib.i18n import LANGUAGES, SOURCE, _

SECRET_BYTES = 32  # random bytes in a new secret (written as hex)
MIN_SECRET = 16  # bytes a secret must have at least
VARIANTS = 999_999_999  # a student's variant is a number from 1 to this
COLUMNS = ("student", "language")


class RosterError(ValueError):
    """The roster or the secret cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    id: str
    language: str = SOURCE


@dataclass(frozen=True)
class Roster:
    """A class: its students, and the course secret their variants come from."""

    students: tuple[Student, ...]
    secret: bytes

    def __contains__(self, student: str) -> bool:
        return any(s.id == student for s in self.students)

    def variant(self, exercise: str, student: str) -> int:
        """The variant of `exercise` that `student` gets."""
        return seed(self.secret, exercise, student)


def load(roster: Path, secret: Path | None = None) -> Roster:
    """The roster at `roster`, with the course secret; RosterError says what is wrong."""
    return Roster(tuple(read_roster(roster)), read_secret(secret))


def default_secret() -> Path:
    """Where the course secret is kept unless `--secret` says otherwise."""
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "virtualization-course" / "secret"


def _outside_the_course(path: Path) -> None:
    from vizlib.course import ROOT

    if path.resolve().is_relative_to(ROOT.resolve()):
        raise RosterError(
            _(
                "the course secret {path} lies inside the course's folder {root}, where git "
                "could commit it: keep it outside (the default is {default})",
                path=path,
                root=ROOT,
                default=default_secret(),
            )
        )


def make_secret(path: Path | None = None) -> Path:
    """Write a new random secret to `path` (readable by its owner only); RosterError when a
    secret is there already (a class's variants depend on keeping it)."""
    path = Path(path) if path else default_secret()
    _outside_the_course(path)
    if path.exists():
        raise RosterError(
            _(
                "a course secret exists already at {path}: keep it, every release and grading "
                "of this class needs the same one (delete it first to start a new class)",
                path=path,
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return path


def read_secret(path: Path | None = None) -> bytes:
    """The course secret at `path` (default: `default_secret()`); RosterError says how to make
    one when it is missing."""
    path = Path(path) if path else default_secret()
    if not path.is_file():
        raise RosterError(
            _(
                "no course secret at {path}: make one with `python -m vizlib.grading secret` "
                "(or pass --secret FILE), keep it outside the repository and use the same file "
                "to release and to grade",
                path=path,
            )
        )
    _outside_the_course(path)
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET:
        raise RosterError(
            _(
                "the course secret {path} is too short ({size} bytes; at least {least}): make "
                "a new one with `python -m vizlib.grading secret`",
                path=path,
                size=len(secret),
                least=MIN_SECRET,
            )
        )
    return secret


def seed(secret: bytes, exercise: str, student: str) -> int:
    """The variant of `exercise` that `student` gets: 1 to VARIANTS, never the default."""
    message = f"variant\0{exercise}\0{student}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % VARIANTS


def read_roster(path: Path) -> list[Student]:
    """The students of the roster at `path`; RosterError names the line that is wrong."""
    path = Path(path)
    if not path.is_file():
        raise RosterError(_("roster: no such file: {path}", path=path))
    with open(path, newline="", encoding="utf-8-sig") as source:
        rows = list(csv.reader(source))
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if "student" not in header:
        raise RosterError(
            _(
                "{path}: the first row must name the columns, one of them `student` (and "
                "optionally `language`: {languages})",
                path=path,
                languages=", ".join(LANGUAGES),
            )
        )
    column = {name: header.index(name) for name in COLUMNS if name in header}
    students: dict[str, Student] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in column.items()}
        student, language = cells["student"], cells.get("language") or SOURCE
        where = f"{path}, line {number}"
        problem = _student_problem(student)
        if problem:
            raise RosterError(f"{where}: {problem}")
        if language not in LANGUAGES:
            raise RosterError(
                _(
                    "{where}: language must be one of {languages}, got {language!r}",
                    where=where,
                    languages=", ".join(LANGUAGES),
                    language=language,
                )
            )
        if student in students:
            twice = _("{where}: student {student!r} is listed twice", where=where, student=student)
            raise RosterError(twice)
        students[student] = Student(student, language)
    if not students:
        raise RosterError(_("{path}: the roster lists no student", path=path))
    return list(students.values())


def _student_problem(student: str) -> str | None:
    """Why `student` cannot name a folder of the class, or None."""
    if not student:
        return _("the student id is empty")
    if student.startswith(".") or any(c in student for c in "/\\") or not student.isprintable():
        return _(
            "the student id {student!r} must name a folder: no / or \\, no leading dot",
            student=student,
        )
    return None
