"""The path of one guest event through the layers, drawn from the model's steps. Lesson 01."""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from vizlib.diagrams.style import add_edge, add_node, in_language, new_graph
from vizlib.i18n import N_, _

# The actors of `vizlib.sim.techniques` (its PathStep.actor values), each in its layer's colour.
ACTOR_LAYERS = {
    N_("guest user"): "guest_user",
    N_("guest kernel"): "guest_kernel",
    N_("hardware"): "hardware",
    N_("hypervisor"): "hypervisor",
    N_("emulator"): "emulator",
}


@in_language
def event_path(steps: Sequence, event: str, lang: str | None = None) -> graphviz.Digraph:
    """Steps (`techniques.path`'s PathSteps) as a left-to-right chain of coloured boxes.

    `event` names the event in the caption; the steps' actions are shown as they are given.
    """
    if not steps:
        raise ValueError("steps must hold at least one step")
    unknown = sorted({s.actor for s in steps} - set(ACTOR_LAYERS))
    if unknown:
        raise ValueError(f"step actors must be among {sorted(ACTOR_LAYERS)}; got {unknown}")
    actors = " -> ".join(_(s.actor) for s in steps)
    caption = _(
        "{event}: control passes {actors}.", event=event[0].upper() + event[1:], actors=actors
    )
    g = new_graph("event_path", caption)
    g.attr(rankdir="LR")
    for i, step in enumerate(steps):
        layer = ACTOR_LAYERS[step.actor]
        kind = "hardware" if layer == "hardware" else "layer"
        add_node(g, f"s{i}", _(step.actor), kind=kind, layer=layer, detail=_wrap(step.action))
        if i:
            add_edge(g, f"s{i - 1}", f"s{i}", kind="call")
    return g


def _wrap(text: str, width: int = 26) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
