"""The marks a widget moves on a figure it keeps: the artists tagged `gid=MOVING`.

A plot that shows the setting of a control (a chosen batch, a workload's point, a loop count)
tags the artists of that mark; its `mark_*` function moves them, so that a widget can draw the
rest of the figure once and redraw only the mark (`vizlib.widgets.render.Overlay`). Lessons 04-06.
"""

from __future__ import annotations

from matplotlib.artist import Artist
from matplotlib.figure import Figure

MOVING = "moving"  # the gid of an artist that follows a control
_MARK_STYLE = {"color": "#333333", "linestyle": ":", "linewidth": 1}  # a chosen x: a dotted line


def moving(fig: Figure) -> list[Artist]:
    """The artists of `fig` tagged MOVING, in drawing order. Lessons 04-06."""
    return fig.findobj(lambda artist: artist.get_gid() == MOVING)


def mark_x(fig: Figure, x: float) -> None:
    """Mark `x` on every axes of `fig` with a dotted vertical line, or move the lines there.
    Lesson 06."""
    lines = moving(fig)
    for line in lines:
        line.set_xdata([x, x])
    if not lines:
        for ax in fig.axes:
            ax.axvline(x, **_MARK_STYLE, gid=MOVING)
