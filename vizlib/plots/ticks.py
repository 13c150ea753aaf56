"""Log-scale axes labelled with plain numbers: 0.1, 1, 10, 1,000 rather than 10⁻¹ ... 10³.

Matplotlib writes log ticks as powers of ten through its mathtext engine, which is slow to draw
(a widget's figure is drawn at every change) and harder to read than the numbers themselves.
Lessons 06-08.
"""

from __future__ import annotations

from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, NullFormatter


def plain_log(axis: Axis) -> None:
    """Label `axis` (log scale) at its powers of ten as plain numbers; minor ticks unlabelled."""
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def _plain(value: float, _position: int | None = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"
