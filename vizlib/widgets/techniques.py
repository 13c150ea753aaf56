"""Follow one guest event through the layers under each technique. Lesson 01."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib import diagrams
from vizlib.display import to_html
from vizlib.i18n import _
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


def _both(name: techniques.Name) -> str:
    """A name in bold in the course's language, then in the other one, as HTML."""
    return _("<b>{en}</b> ({zh})", en=html.escape(name.en), zh=html.escape(name.zh))


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def explain(technique: str, event: str) -> str:
    """The HTML the widget shows for one choice: the treatment, its path diagram, what the
    technique needs. Lesson 01."""
    chosen = techniques.treatment(technique, event)
    kind = techniques.TREATMENT_KINDS[chosen.kind]
    t = techniques.technique(technique)
    fields = {"technique": _both(t.name), "kind": _both(kind.name)}
    fields["source"] = html.escape(chosen.source)
    if kind.leaves_guest:
        verdict = _("{technique}: {kind}; the event leaves the guest. Source: {source}.", **fields)
    else:
        verdict = _(
            "{technique}: {kind}; the event stays inside the guest. Source: {source}.", **fields
        )
    needs = _(
        "Guest modified: {modified}; needs VT-x/AMD-V: {hardware}; guest kernel runs in {ring}.",
        modified=_yes_no(t.guest_modified),
        hardware=_yes_no(t.needs_hardware),
        ring=html.escape(_(t.kernel_runs_in)),
    )
    diagram = diagrams.event_path(
        techniques.path(technique, event), techniques.EVENTS[event].name()
    )
    return f"<p>{verdict}</p><p>{needs}</p>" + to_html(diagram)


def technique_explorer() -> w.VBox:
    """Two menus, technique and guest event, and the path the event takes (Lesson 01)."""
    technique = w.Dropdown(
        options=[(techniques.TECHNIQUES[t].name(), t) for t in CHOICES],
        description=_("Technique"),
    )
    event = w.Dropdown(
        options=[(e.name(), e.id) for e in techniques.EVENTS.values()],
        description=_("Event"),
        layout=w.Layout(width="30em"),
    )
    out = w.HTML()

    def update(_change=None):
        out.value = explain(technique.value, event.value)

    technique.observe(update, "value")
    event.observe(update, "value")
    update()
    return w.VBox([w.HBox([technique, event]), out])
