"""Tables for lessons, as Markdown: stable text that nbval can compare. Lesson 00.

The header and the yes/no/unknown of booleans and None speak the course's language (`_()`); the
lessons' headers are code, the same in both editions, so the catalogue translates them. Other
cells are shown as they are given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from vizlib.i18n import _

TABLE_CALLS = ("show_table", "markdown_table")  # their first argument is a table's header
WORD = re.compile(r"[^\W\d_]")  # a header cell with a letter is a word to translate


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return _("unknown")
    return str(value).replace("|", "\\|").replace("\n", " ")


def _heading(text: str) -> str:
    return _(text) if WORD.search(text) else text


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; booleans read as yes/no, None as unknown."""
    lines = ["| " + " | ".join(map(_heading, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Display a Markdown table in the notebook (returns None, so nothing else is shown)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(header, rows)))
