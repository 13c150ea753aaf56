"""Tables for lessons, as Markdown: stable text that nbval can compare. Lesson 00."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "unknown"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; booleans read as yes/no, None as unknown."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Display a Markdown table in the notebook (returns None, so nothing else is shown)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(header, rows)))
