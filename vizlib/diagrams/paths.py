"""The path of one guest event through the layers, drawn from the model's steps. Lesson 01."""

from __future__ import annotations

import re
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
        raise ValueError(_("steps must hold at least one step"))
    unknown = sorted({s.actor for s in steps} - set(ACTOR_LAYERS))
    if unknown:
        allowed = sorted(ACTOR_LAYERS)
        raise ValueError(
            _("step actors must be among {allowed}; got {actors}", allowed=allowed, actors=unknown)
        )
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
    """`text` in lines of about `width` columns, broken between words, or between the characters
    of Chinese text (each two columns wide), which has no spaces to break at."""
    units = []  # (piece, glued to the piece before it)
    for word in text.split():
        units += [(piece, i > 0) for i, piece in enumerate(_WIDE_OR_NOT.findall(word))]
    lines, line = [], ""
    for piece, glued in units:
        joined = f"{line}{'' if glued else ' '}{piece}" if line else piece
        if line and _columns(joined) > width:
            lines.append(line)
            line = piece
        else:
            line = joined
    return "\n".join([*lines, line])


_WIDE = "\u3000-\u9fff\uff00-\uffef"  # CJK characters and punctuation, full-width forms
_WIDE_OR_NOT = re.compile(f"[{_WIDE}]|[^{_WIDE}]+")
_WIDE_CHAR = re.compile(f"[{_WIDE}]")


def _columns(text: str) -> int:
    return len(text) + len(_WIDE_CHAR.findall(text))
