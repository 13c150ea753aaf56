"""Where each edition of the course lives: English is the source, a translation sits beside it.

A notebook `notebooks/NN_slug.ipynb` (or `exercises/NN_slug.ipynb`) is translated into `lang` by
its catalogue `translations/<lang>/notebooks/NN_slug.po`, and built into
`notebooks/<lang>/NN_slug.ipynb`. Until it is built, the edition of `lang` links to the English one.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from vizlib.course import ROOT
from vizlib.i18n import LANGUAGES, SOURCE, check_language

TRANSLATIONS = "translations"
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != SOURCE)


def readme(lang: str) -> str:
    """The README of `lang`'s edition: `README.md`, `README.zh.md`."""
    return "README.md" if check_language(lang) == SOURCE else f"README.{lang}.md"


def catalogue_file(lang: str, english: str) -> str:
    """The translation catalogue of the English notebook `english` (a repository path)."""
    folder, name = posixpath.split(english)
    stem = posixpath.splitext(name)[0]
    return posixpath.join(TRANSLATIONS, check_language(lang), folder, stem + ".po")


def translated_file(lang: str, english: str) -> str:
    """Where the notebook `english` translated into `lang` is built: `notebooks/zh/NN_x.ipynb`."""
    folder, name = posixpath.split(english)
    return posixpath.join(folder, check_language(lang), name)


def is_translated(lang: str, english: str, root: Path = ROOT) -> bool:
    """True when the notebook `english` has been built in `lang` (always, for the source)."""
    return lang == SOURCE or (root / translated_file(lang, english)).is_file()


def edition_file(lang: str, english: str, root: Path = ROOT) -> str:
    """The file a reader of `lang` opens for the notebook `english`: its translation once it has
    been built, else the English notebook."""
    if lang == SOURCE or not is_translated(lang, english, root):
        return english
    return translated_file(lang, english)


def english_file(path: str) -> str:
    """The English notebook a notebook of any edition comes from (itself when English)."""
    folder, name = posixpath.split(path)
    parent, last = posixpath.split(folder)
    return posixpath.join(parent, name) if last in TRANSLATED else path


def link(target: str, page: str) -> str:
    """A relative link from the repository file `page` to the repository file `target`."""
    return posixpath.relpath(target, posixpath.dirname(page) or ".")
