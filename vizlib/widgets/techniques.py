"""Follow one guest event through the layers under each technique. Lesson 01."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib import diagrams
from vizlib.display import to_html
from vizlib.sim import techniques

# The techniques lesson 01 compares: the article's three kinds and hardware assist, with and
# without EPT (trap-and-emulate is lesson 02's, native the baseline).
CHOICES = (
    "emulation",
    "binary-translation",
    "paravirtualization",
    "hardware-assisted",
    "hardware-assisted-ept",
)


def explain(technique: str, event: str) -> str:
    """The HTML the widget shows for one choice: the treatment, its path diagram, what the
    technique needs. Lesson 01."""
    chosen = techniques.treatment(technique, event)
    kind = techniques.TREATMENT_KINDS[chosen.kind]
    t = techniques.technique(technique)
    verdict = "leaves the guest" if kind.leaves_guest else "stays inside the guest"
    facts = (
        f"<p><b>{html.escape(t.name.en)}</b> ({html.escape(t.name.zh)}): "
        f"<b>{html.escape(kind.name.en)}</b> ({html.escape(kind.name.zh)}); the event {verdict}. "
        f"Source: {html.escape(chosen.source)}.</p>"
        f"<p>Guest modified: {'yes' if t.guest_modified else 'no'}; needs VT-x/AMD-V: "
        f"{'yes' if t.needs_hardware else 'no'}; guest kernel runs in "
        f"{html.escape(t.kernel_runs_in)}.</p>"
    )
    diagram = diagrams.event_path(
        techniques.path(technique, event), techniques.EVENTS[event].name.en
    )
    return facts + to_html(diagram)


def technique_explorer() -> w.VBox:
    """Two menus, technique and guest event, and the path the event takes (Lesson 01)."""
    technique = w.Dropdown(
        options=[(techniques.TECHNIQUES[t].name.en, t) for t in CHOICES], description="Technique"
    )
    event = w.Dropdown(
        options=[(e.name.en, e.id) for e in techniques.EVENTS.values()],
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
