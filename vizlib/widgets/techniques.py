"""Follow one guest event through the layers under each technique. Lesson 01."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib import diagrams
from vizlib.display import to_html
from vizlib.sim import techniques


def explain(technique: str, event: str) -> str:
    """The HTML the widget shows for one choice: the path diagram and what the technique needs."""
    steps = techniques.path(technique, event)
    props = techniques.properties(technique)
    leaves = techniques.leaves_guest(technique, event)
    verdict = "leaves the guest" if leaves else "stays inside the guest: no hypervisor involved"
    facts = (
        f"<p><b>{html.escape(technique)}</b>: the event {verdict}. "
        f"Guest modified: {'yes' if props.guest_modified else 'no'}; needs VT-x/AMD-V: "
        f"{'yes' if props.needs_hardware_support else 'no'}; guest kernel runs in "
        f"{html.escape(props.guest_kernel_runs_in)}.</p>"
    )
    diagram = diagrams.event_path(steps, techniques.EVENT_LABELS[event])
    return facts + to_html(diagram)


def technique_explorer() -> w.VBox:
    """Two menus, technique and guest event, and the path the event takes (Lesson 01)."""
    technique = w.Dropdown(options=techniques.TECHNIQUES, description="Technique")
    event = w.Dropdown(
        options=[(techniques.EVENT_LABELS[e], e) for e in techniques.EVENTS],
        description="Event",
        layout=w.Layout(width="30em"),
    )
    out = w.HTML()

    def update(_=None):
        out.value = explain(technique.value, event.value)

    technique.observe(update, "value")
    event.observe(update, "value")
    update()
    return w.VBox([w.HBox([technique, event]), out])
