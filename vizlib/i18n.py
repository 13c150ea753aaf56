"""The course's language, and the one function learner-facing text passes through: `_()`.

English unless a notebook calls `set_language("zh")` in its first code cell, as every notebook of
the Chinese edition does (`notebooks/zh/`, `exercises/zh/`). Text is looked up in the gettext
catalogue `vizlib/locale/<lang>/LC_MESSAGES/vizlib.po`, read with polib: the English text is the
msgid, so English needs no catalogue, and a message the catalogue lacks shows in English (a test
keeps the catalogue complete). Placeholders are named, `_("a {arch} machine", arch=...)`, so a
translation may put them in its own order. Lesson 00.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import polib

LANGUAGES = ("en", "zh")
SOURCE = "en"  # the language of the msgids
DOMAIN = "vizlib"
LOCALE = Path(__file__).resolve().parent / "locale"
GENERIC_FONTS = ("sans-serif", "serif", "monospace")
WEIGHT_NOTE = "findfont: Failed to find font weight"  # matplotlib's log message


def N_(message: str) -> str:
    """Mark `message` for the catalogue where it is defined; `_()` translates it where shown."""
    return message


FONT_HINT = N_(
    "No Chinese font was found, so plots show boxes instead of Chinese characters. Install one, "
    "such as `sudo apt-get install fonts-wqy-zenhei` on Debian or Ubuntu, or Noto Sans CJK SC "
    "elsewhere, then restart the kernel."
)
_FULL_WIDTH_END = re.compile(r"(?<=[。！？；：，、）」』])\s+")

_language = SOURCE
_missing: set[tuple[str, str]] = set()  # (language, message) looked up but not translated


def check_language(lang: str) -> str:
    """`lang` if the course speaks it, else ValueError naming the allowed values."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGUAGES))}; got {lang!r}")
    return lang


def language() -> str:
    """The course's language now: "en" or "zh"."""
    return _language


def other_language() -> str:
    """The course's other language: "zh" in the English edition, "en" in the Chinese one. Lesson
    01 draws the article's figures in it, to set both editions side by side."""
    return next(lang for lang in LANGUAGES if lang != _language)


def set_language(lang: str) -> None:
    """Speak `lang` from now on in this kernel: messages, tables, widgets, plots. Lesson 00.

    For Chinese, matplotlib also gets a Chinese font to fall back on for the characters its
    first font lacks; without one a hint says how to install it.
    """
    global _language
    _language = check_language(lang)
    if lang != SOURCE and not use_cjk_fonts():
        print(_(FONT_HINT))


@contextmanager
def use(lang: str) -> Iterator[None]:
    """Speak `lang` inside the `with` block only (tests and the authoring commands)."""
    global _language
    before, _language = _language, check_language(lang)
    try:
        yield
    finally:
        _language = before


def catalogue(lang: str) -> Path:
    """The path of `lang`'s message catalogue (ValueError for the source language)."""
    if check_language(lang) == SOURCE:
        raise ValueError(f"lang: {SOURCE!r} is the source language and has no catalogue")
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def translations(lang: str) -> dict[str, str]:
    """msgid -> translation of every finished entry of `lang`'s catalogue (no fuzzy, no empty)."""
    path = catalogue(lang)
    return _read(path, path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=4)
def _read(path: Path, mtime_ns: int) -> dict[str, str]:
    if not mtime_ns:
        return {}
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(path)).translated_entries()}


class Verbatim(str):
    """Text that is no message: a key, a command line, or a name already in the reader's language
    (`Name` of the model). `_()` shows it as it is, in every language."""

    __slots__ = ()


def _(message: str, **fields: object) -> str:
    """`message` in the course's language, its `{placeholders}` filled from `fields`."""
    text = message
    if _language != SOURCE and not isinstance(message, Verbatim):
        text = translations(_language).get(message)
        if text is None:
            _missing.add((_language, message))
            text = message
    return text.format(**fields) if fields else text


def missing() -> list[tuple[str, str]]:
    """(language, message) of every message shown untranslated so far in this process."""
    return sorted(_missing)


def sentences(*parts: str) -> str:
    """Sentences joined into a paragraph: a space between them, none after a full stop "。"."""
    return _FULL_WIDTH_END.sub("", " ".join(part for part in parts if part))


def use_cjk_fonts() -> bool:
    """Give matplotlib the diagrams' fonts (`diagrams.style.FONTNAME`) that are installed, so a
    character the first lacks comes from the next; False when none of them has Chinese."""
    from matplotlib import font_manager, rcParams
    from matplotlib.ft2font import FT2Font

    from vizlib.diagrams.style import FONTNAME

    files = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
    wanted = [name.strip() for name in FONTNAME.split(",")]
    found = [name for name in wanted if name in files or name in GENERIC_FONTS]
    rcParams["font.family"] = found
    logging.getLogger("matplotlib.font_manager").addFilter(_one_weight_only)
    chinese = ord("中")
    return any(name in files and chinese in FT2Font(files[name]).get_charmap() for name in found)


def _one_weight_only(record: logging.LogRecord) -> bool:
    """Drop matplotlib's note that a font of the diagrams comes in one weight only (WenQuanYi Zen
    Hei is 500, not 400): true, harmless, and printed under every cell that draws."""
    from vizlib.diagrams.style import FONTNAME

    text = record.getMessage()
    fonts = [name for name in FONTNAME.split(",") if name not in GENERIC_FONTS]
    return not (text.startswith(WEIGHT_NOTE) and any(name in text for name in fonts))
