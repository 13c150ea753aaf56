"""The path of one guest event through the layers, drawn from the model's steps. Lesson 01."""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from vizlib.diagrams.style import add_edge, add_node, new_graph

# The actors of `vizlib.sim.techniques` (its PathStep.actor values), each in its layer's colour.
ACTOR_LAYERS = {
    "guest user": "guest_user",
    "guest kernel": "guest_kernel",
    "hardware": "hardware",
    "hypervisor": "hypervisor",
    "emulator": "emulator",
}


def event_path(steps: Sequence, event: str) -> graphviz.Digraph:
    """Steps (`techniques.path`'s PathSteps) as a left-to-right chain of coloured boxes.

    `event` names the event in the caption.
    """
    if not steps:
        raise ValueError("steps must hold at least one step")
    unknown = sorted({s.actor for s in steps} - set(ACTOR_LAYERS))
    if unknown:
        raise ValueError(f"step actors must be among {sorted(ACTOR_LAYERS)}; got {unknown}")
    actors = " -> ".join(s.actor for s in steps)
    g = new_graph("event_path", f"{event[0].upper()}{event[1:]}: control passes {actors}.")
    g.attr(rankdir="LR")
    for i, step in enumerate(steps):
        layer = ACTOR_LAYERS[step.actor]
        kind = "hardware" if layer == "hardware" else "layer"
        add_node(g, f"s{i}", step.actor, kind=kind, layer=layer, detail=_wrap(step.action))
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
