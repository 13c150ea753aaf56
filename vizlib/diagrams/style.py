"""The course's one visual language: layer colours, node shapes, privilege marks, edges, legend.

Lesson 01 introduces the legend; every diagram of the course is drawn with these helpers, so the
same thing looks the same in every lesson.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from html import escape
from typing import TypeVar

import graphviz

from vizlib import course, i18n
from vizlib.i18n import N_, _

LANGS = i18n.LANGUAGES

# Fill colour per layer, top of a stack first. Paul Tol's colour-blind-safe "light" qualitative
# scheme (personal.sron.nl/~pault, "light" palette), made for filled areas under black text.
LAYERS = {
    "guest_user": "#EEDD88",  # light yellow: applications inside a virtual machine
    "guest_kernel": "#44BB99",  # mint: the operating system inside a virtual machine
    "emulator": "#FFAABB",  # pink: emulator / device model (QEMU)
    "host_user": "#99DDFF",  # light cyan: ordinary host processes
    "host_kernel": "#77AADD",  # light blue: the host's kernel (Linux)
    "hypervisor": "#EE8866",  # orange: hypervisor / VMM
    "hardware": "#DDDDDD",  # pale grey: the physical machine
}

LAYER_NAMES = {
    "guest_user": N_("Guest user (applications)"),
    "guest_kernel": N_("Guest kernel"),
    "emulator": N_("Emulator / device model"),
    "host_user": N_("Host user (processes)"),
    "host_kernel": N_("Host kernel"),
    "hypervisor": N_("Hypervisor"),
    "hardware": N_("Hardware"),
}

# One shape per kind of thing, the same in every diagram.
KINDS = {
    "layer": {"shape": "box", "style": "filled"},  # a kernel, an OS, a hypervisor
    "program": {"shape": "box", "style": "filled,rounded"},  # an application or a process
    "module": {"shape": "component", "style": "filled"},  # a kernel module or a driver
    "device": {"shape": "box", "style": "filled,diagonals"},  # a device, real or emulated
    "interface": {"shape": "note", "style": "filled"},  # a device file or call interface
    "hardware": {"shape": "box3d", "style": "filled"},  # physical CPU, memory, devices
}

# How control passes between nodes; "stack" only orders a stack and is not drawn.
EDGES = {
    "call": {"style": "solid", "color": "#004488"},  # asked for: hypercall, ioctl, syscall
    "trap": {"style": "dashed", "color": "#994455"},  # forced: trap, VM exit
    "data": {"style": "dotted", "color": "#333333", "dir": "both"},  # shared memory, I/O
    "stack": {"style": "invis"},
}

# Frames drawn around groups of nodes. Every kind sets the same keys, since nested clusters
# inherit what their parent sets.
CLUSTERS = {
    # one virtual machine or domain
    "vm": {"style": "dashed,rounded", "pencolor": "#333333", "labelloc": "t", "labeljust": "l"},
    # user space, kernel space, one process
    "space": {"style": "rounded", "pencolor": "#888888", "labelloc": "t", "labeljust": "l"},
    # one side of a side-by-side comparison: no frame, title underneath
    "panel": {"style": "solid", "pencolor": "transparent", "labelloc": "b", "labeljust": "c"},
}

# Privilege marks, written the same way in every diagram.
PRIVILEGE = {
    "ring0": N_("ring 0"),
    "ring1": N_("ring 1"),
    "ring3": N_("ring 3"),
    "root": N_("root"),  # VMX root operation (AMD-V: host mode)
    "non-root": N_("non-root"),  # VMX non-root operation, KVM's "guest mode"
    "deprivileged": N_("deprivileged"),
    "emulated": N_("emulated"),
    "supervisor": N_("supervisor mode"),
    "user": N_("user mode"),
}

# Latin glyphs from DejaVu Sans, Chinese from WenQuanYi Zen Hei, then any sans-serif font.
FONTNAME = "DejaVu Sans,WenQuanYi Zen Hei,Noto Sans CJK SC,sans-serif"
FONTSIZE = "12"
SMALL_FONTSIZE = "9"
_MARK_COLOR = "#333333"
# Largest drawing in inches: about 800 px wide at 96 dpi (derived), a notebook cell's width.
_MAX_SIZE = "8.3,12"
_LEGEND_ROW = 4  # layers per legend row: four fit a notebook's width


def check_lang(lang: str | None) -> str:
    """`lang` if the course draws in it, the course's language (`i18n.language()`) for None,
    else ValueError naming the allowed values. Lesson 01."""
    return i18n.language() if lang is None else i18n.check_language(lang)


Draw = TypeVar("Draw", bound=Callable[..., graphviz.Digraph])


def in_language(draw: Draw) -> Draw:
    """Make a figure function draw in its `lang` argument: None is the course's language, and
    every `_()` of the drawing, `term` and `privilege` speak it. Lesson 01."""
    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def drawn(*args, **kwargs) -> graphviz.Digraph:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        lang = bound.arguments["lang"] = check_lang(bound.arguments["lang"])
        with i18n.use(lang):
            return draw(*bound.args, **bound.kwargs)

    return drawn


def term(name: str, lang: str | None = None) -> str:
    """The glossary's word for `name` (course/glossary.yml) in `lang` (None: the course's
    language), the same in every figure. Lesson 01."""
    entry = course.term(name)
    return entry.zh if check_lang(lang) == "zh" else entry.term


def privilege(*marks: str) -> str:
    """Privilege annotation such as "ring 0 · root" from keys of PRIVILEGE, in the course's
    language. Lesson 01."""
    unknown = [m for m in marks if m not in PRIVILEGE]
    if unknown:
        raise ValueError(f"marks must be among {sorted(PRIVILEGE)}; got {unknown}")
    return " · ".join(_(PRIVILEGE[m]) for m in marks)


def _html_label(text: str, detail: str | None, mark: str | None) -> str:
    """Main text, then smaller detail lines, then the privilege mark in grey italics."""
    size = f'POINT-SIZE="{SMALL_FONTSIZE}"'
    lines = [escape(line) for line in text.split("\n")]
    if detail:
        lines += [f"<FONT {size}>{escape(line)}</FONT>" for line in detail.split("\n")]
    if mark:
        lines.append(f'<FONT {size} COLOR="{_MARK_COLOR}"><I>{escape(mark)}</I></FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def new_graph(name: str, comment: str) -> graphviz.Digraph:
    """A top-to-bottom Digraph with the course's fonts; `comment` is its one-sentence alt text.

    Lesson 01.
    """
    return graphviz.Digraph(
        name=name,
        comment=comment,
        graph_attr={
            "rankdir": "TB",
            "newrank": "true",  # lets rows (same_rank) cross clusters
            "nodesep": "0.2",
            "ranksep": "0.3",
            "size": _MAX_SIZE,
            "fontname": FONTNAME,
            "fontsize": FONTSIZE,
        },
        node_attr={"fontname": FONTNAME, "fontsize": FONTSIZE, "margin": "0.12,0.05"},
        edge_attr={"fontname": FONTNAME, "fontsize": SMALL_FONTSIZE, "arrowsize": "0.7"},
    )


def add_node(
    g: graphviz.Digraph,
    node_id: str,
    text: str,
    *,
    kind: str,
    layer: str | tuple[str, ...],
    detail: str | None = None,
    mark: str | None = None,
    **attrs: str,
) -> None:
    """Draw a thing of `kind` (KINDS) in the colour of `layer` (LAYERS). Lesson 01.

    A tuple of layers draws vertical stripes, for a thing that belongs to several layers.
    `detail` is a smaller second line; `mark` is a privilege annotation from `privilege()`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}; got {kind!r}")
    layers = (layer,) if isinstance(layer, str) else layer
    unknown = [name for name in layers if name not in LAYERS]
    if unknown or not layers:
        raise ValueError(f"layer must be among {sorted(LAYERS)}; got {layer!r}")
    style = dict(KINDS[kind])
    if len(layers) == 1:
        fill = LAYERS[layers[0]]
    else:
        share = f"{1 / len(layers):.3f}"
        fill = ":".join(f"{LAYERS[name]};{share}" for name in layers)
        style["style"] = "striped"
    g.node(node_id, _html_label(text, detail, mark), fillcolor=fill, **style, **attrs)


def add_edge(
    g: graphviz.Digraph, tail: str, head: str, *, kind: str, text: str | None = None, **attrs: str
) -> None:
    """Draw how control passes from `tail` to `head`; `kind` is one of EDGES. Lesson 01."""
    if kind not in EDGES:
        raise ValueError(f"kind must be one of {sorted(EDGES)}; got {kind!r}")
    label = {"label": f" {text} ", "fontcolor": EDGES[kind]["color"]} if text else {}
    g.edge(tail, head, **{**EDGES[kind], **label, **attrs})


@contextmanager
def cluster(g: graphviz.Digraph, cluster_id: str, text: str, *, kind: str):
    """Frame a group of nodes (`kind` one of CLUSTERS); yield the subgraph to draw in. Lesson 01."""
    if kind not in CLUSTERS:
        raise ValueError(f"kind must be one of {sorted(CLUSTERS)}; got {kind!r}")
    with g.subgraph(name=f"cluster_{cluster_id}") as sub:
        sub.attr(label=text, fontname=FONTNAME, fontsize=FONTSIZE, margin="8", **CLUSTERS[kind])
        yield sub


def same_rank(g: graphviz.Digraph, node_ids: Iterable[str]) -> None:
    """Keep nodes on one row. Lesson 01."""
    with g.subgraph() as row:
        row.attr(rank="same")
        for node_id in node_ids:
            row.node(node_id)


@in_language
def legend(lang: str | None = None, layers: Iterable[str] | None = None) -> graphviz.Digraph:
    """The fill colour of each layer (all, or `layers`), in rows of four. Lesson 01.

    Draw it alone, or inside another figure with `figure.subgraph(legend(lang))`.
    """
    names = list(LAYERS) if layers is None else list(layers)
    unknown = [name for name in names if name not in LAYERS]
    if unknown or not names:
        raise ValueError(
            _(
                "layers must be among {allowed}; got {layers}",
                allowed=sorted(LAYERS),
                layers=repr(layers),
            )
        )
    g = new_graph("legend", _("The fill colour of each layer."))
    rows = [names[i : i + _LEGEND_ROW] for i in range(0, len(names), _LEGEND_ROW)]
    with cluster(g, "legend", _("Layers"), kind="space") as box:
        for name in names:
            add_node(box, f"legend_{name}", _(LAYER_NAMES[name]), kind="layer", layer=name)
        for row in rows:
            ids = [f"legend_{name}" for name in row]
            same_rank(box, ids)
            for left, right in zip(ids, ids[1:], strict=False):
                add_edge(box, left, right, kind="stack")  # keeps the row in order
        for upper, lower in zip(rows, rows[1:], strict=False):
            add_edge(box, f"legend_{upper[0]}", f"legend_{lower[0]}", kind="stack")
    return g
