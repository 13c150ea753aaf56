"""Widgets' figures as PNG, fast enough to follow a control.

A widget keeps its figure between changes instead of building a new one: the figure keeps one
Agg canvas, whose renderer remembers the size of every text it has laid out, and is drawn once
per change (`png`). When only a mark moves (`vizlib.plots.marks`), the rest is drawn once and
saved, and each change paints the mark over it (`Overlay`, matplotlib's blitting). Lessons 03-10.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Hashable, Iterable

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vizlib.i18n import language
from vizlib.plots.marks import moving

DPI = 80  # dots per inch of a widget's figure: the course's figures are 8-10 inches wide
_MARGINS = ("left", "right", "bottom", "top", "wspace", "hspace")


def _canvas(fig: Figure, dpi: float) -> FigureCanvasAgg:
    """The figure's own Agg canvas, at `dpi` (a closed pyplot figure has none)."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    if fig.dpi != dpi:
        fig.set_dpi(dpi)
    return fig.canvas


def _encode(canvas: FigureCanvasAgg) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png")
    return buffer.getvalue()


def per_language(function: Callable) -> Callable:
    """`function` cached by its arguments and the course's language, as `functools.cache` but
    for figures: a figure keeps the words it was drawn with, so each language gets its own."""
    cached = functools.cache(lambda lang, *args: function(*args))

    @functools.wraps(function)
    def in_language(*args):
        return cached(language(), *args)

    return in_language


def new_figure(plot: Callable[..., Figure], *args, dpi: float = DPI, **kwargs) -> Figure:
    """`plot(*args, **kwargs)` made and laid out at `dpi`, on its own canvas: a figure for a widget
    to keep and draw again. Lessons 03-10."""
    with mpl.rc_context({"figure.dpi": dpi}):
        fig = plot(*args, **kwargs)
    _canvas(fig, dpi)
    return fig


def relayout(fig: Figure) -> None:
    """Lay `fig` out again (`tight_layout`) from the default margins, as `new_figure` does: the
    same content gives the same picture, whatever the figure showed before. Lessons 03-10."""
    fig.subplots_adjust(**{k: mpl.rcParams[f"figure.subplot.{k}"] for k in _MARGINS})
    fig.tight_layout()


def png(fig: Figure, dpi: float = DPI) -> bytes:
    """`fig` drawn once as PNG bytes (its layout is not redone). Lessons 03-10."""
    canvas = _canvas(fig, dpi)
    canvas.draw()
    return _encode(canvas)


class Overlay:
    """A figure drawn once but for its `marks`, which each `png()` paints over that background.

    The marks are the figure's `moving` artists unless given. Between calls, move them (a plot's
    `mark_*` function); change the rest of the figure only through `show`, which draws the
    background again. `shown` names what the figure shows, when given. Make the figure with
    `new_figure`: it is drawn at its own dpi. Lessons 04-06.
    """

    def __init__(self, fig: Figure, marks: Iterable[Artist] | None = None, shown: Hashable = None):
        self.figure = fig
        self.marks = list(moving(fig) if marks is None else marks)
        if not self.marks:
            raise ValueError("marks must hold at least one artist of the figure")
        self._canvas = _canvas(fig, fig.dpi)
        for mark in self.marks:
            mark.set_animated(True)  # left out of the background
        self._draw_background()
        self._shown = shown

    def _draw_background(self) -> None:
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.figure.bbox)

    def show(self, key: Hashable, draw: Callable[[], object]) -> None:
        """Unless the background already shows `key`, call `draw()` to change the figure, then
        draw the background again. The layout is kept: `draw` changes data and limits, not the
        size of the labels around the axes."""
        if key != self._shown:
            draw()
            self._draw_background()
            self._shown = key

    def png(self) -> bytes:
        """The background with the marks where they are now, as PNG bytes."""
        self._canvas.restore_region(self._background)
        for mark in self.marks:
            self.figure.draw_artist(mark)
        return _encode(self._canvas)
