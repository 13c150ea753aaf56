"""`grade --report report.html`: what an instructor wants to see of a gradebook at a glance.

A self-contained HTML page: the distribution of submission scores, the pass rate of every question
(the ones the class found hardest first), and a table of the submissions that errored, timed out
or could not be graded. Figures are matplotlib SVG, inline.
"""

from __future__ import annotations

import html
import io
import os
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vizlib.i18n import _, language

from .gradebook import Row

PROBLEMS = ("timeout", "error", "bad-notebook", "not-a-notebook")
PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
<h2 id="scores">{scores_title}</h2>
{scores}
<h2 id="questions">{questions_title}</h2>
{questions}
<h2 id="problems">{problems_title}</h2>
{problems}
</body></html>
"""


def submission_scores(rows: list[Row]) -> dict[str, float]:
    """Each graded submission's score, as a percentage of its maximum."""
    points: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        if row.max_points:
            points[row.submission][0] += row.points
            points[row.submission][1] += row.max_points
    return {name: 100 * got / most for name, (got, most) in points.items()}


def pass_rates(rows: list[Row]) -> list[tuple[str, float, int]]:
    """(exercise/question, share of submissions that passed it, submissions), lowest first."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row.question:
            counts[f"{row.exercise}/{row.question}"][0] += row.status == "passed"
            counts[f"{row.exercise}/{row.question}"][1] += 1
    rates = [(name, passed / total, total) for name, (passed, total) in counts.items()]
    return sorted(rates, key=lambda rate: (rate[1], rate[0]))


def write_report(rows: list[Row], path: Path) -> None:
    """The report page, written atomically."""
    scores = submission_scores(rows)
    rates = pass_rates(rows)
    problems = [row for row in rows if row.status in PROBLEMS]
    students = len({row.student for row in rows})
    summary = _(
        "{submissions} submissions from {students} students; {graded} graded, {problems} with "
        "problems.",
        submissions=len({row.submission for row in rows}),
        students=students,
        graded=len(scores),
        problems=len({r.submission for r in problems}),
    )
    page = PAGE.format(
        lang=language(),
        title=html.escape(_("Grading report")),
        summary=html.escape(summary),
        scores_title=html.escape(_("Score distribution")),
        scores=_histogram(list(scores.values()))
        if scores
        else _paragraph(_("No graded submission.")),
        questions_title=html.escape(_("Pass rate per question, hardest first")),
        questions=_bars(rates) if rates else _paragraph(_("No question graded.")),
        problems_title=html.escape(_("Submissions that errored or timed out")),
        problems=_table(problems) if problems else _paragraph(_("None.")),
    )
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)


def _paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _histogram(scores: list[float]) -> str:
    figure = Figure(figsize=(7, 3))
    axes = figure.subplots()
    axes.hist(scores, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
    axes.set(xlabel=_("score (% of the maximum)"), ylabel=_("submissions"), xlim=(0, 100))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(figure)


def _bars(rates: list[tuple[str, float, int]]) -> str:
    figure = Figure(figsize=(7, 0.3 * len(rates) + 1))
    axes = figure.subplots()
    names = [name for name, _, _ in rates][::-1]
    axes.barh(names, [100 * rate for _, rate, _ in rates][::-1], color="#55a868")
    axes.set(xlabel=_("submissions that passed the question (%)"), xlim=(0, 100))
    return _svg(figure)


def _table(rows: list[Row]) -> str:
    names = (_("submission"), _("exercise"), _("question"), _("status"), _("message"))
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(value))}</td>"
            for value in (row.submission, row.exercise, row.question, row.status, row.message)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
