"""The marks a widget moves on a figure it keeps: the artists tagged `gid=MOVING`.

A plot that shows the setting of a control (a chosen batch, a workload's point, a loop count)
tags the artists of that mark; its `mark_*` function moves them, so that a widget can draw the
rest of the figure once and redraw only the mark (`vizlib.widgets.render.Overlay`). Lessons 04-06.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

MOVING = "moving"  # the gid of an artist that follows a control
X_MARK = MOVING + ": x"  # the gid of mark_x's lines, moving too
_MARK_STYLE = {"color": "#333333", "linestyle": ":", "linewidth": 1}  # a chosen x: a dotted line


def moving(fig: Figure) -> list[Artist]:
    """The artists of `fig` tagged MOVING (or X_MARK), in drawing order. Lessons 04-06."""
    return fig.findobj(lambda artist: str(artist.get_gid()).startswith(MOVING))


def mark_x(fig: Figure, x: float) -> None:
    """Mark `x` on every axes of `fig` with a dotted vertical line, or move the lines there.
    Lesson 06."""
    lines = fig.findobj(lambda artist: artist.get_gid() == X_MARK)
    for line in lines:
        line.set_xdata([x, x])
    if not lines:
        for ax in fig.axes:
            ax.axvline(x, **_MARK_STYLE, gid=X_MARK)


def moving_labels(ax: Axes, count: int, padding: float = 2) -> None:
    """Empty labels over the bars at x = 0 .. count - 1 of `ax`, tagged MOVING, for
    `label_bars` to write. Lessons 08-09."""
    for x in range(count):
        ax.annotate(
            "",
            (x, 0),
            (0, padding),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            gid=MOVING,
        )


def label_bars(ax: Axes, heights: Sequence[float], texts: Sequence[str]) -> None:
    """Write `texts` in the `moving_labels` of `ax`, each over its bar's height. Lessons 08-09."""
    for x, (label, height, text) in enumerate(zip(ax.texts, heights, texts, strict=True)):
        label.set_text(text)
        label.xy = (x, height)
