"""QEMU's architecture with its own accelerator, TCG: guest code becomes host code. Lesson 06."""

from __future__ import annotations

import graphviz

from vizlib.diagrams.style import (
    add_edge,
    add_node,
    cluster,
    in_language,
    new_graph,
    privilege,
    same_rank,
)
from vizlib.i18n import _

_SPAN = "7.5"  # inches: the host's bars under the whole figure (derived from a render)


@in_language
def qemu_architecture(lang: str | None = None) -> graphviz.Digraph:
    """QEMU with TCG (Bellard 2005): a front end decodes a guest block into TCG ops, a back end
    emits host code into the translation cache, where blocks are chained; loads and stores go
    through the soft MMU, device accesses to the device models. Lesson 06."""
    g = new_graph(
        "qemu_architecture",
        _(
            "QEMU's CPU loop looks up the guest's next block in the translation cache; on a miss "
            "the front end decodes the guest instructions into TCG ops and the back end turns "
            "them into host code, which runs on the host CPU, jumps straight to chained blocks, "
            "and reaches guest memory through the soft MMU and devices through the device models."
        ),
    )
    with cluster(g, "guest", _("Guest machine, e.g. PowerPC"), kind="vm") as vm:
        add_node(
            vm,
            "code",
            _("Guest code"),
            kind="program",
            layer=("guest_user", "guest_kernel"),
            detail=_("applications and kernel,\nread as data"),
            mark=privilege("emulated"),
        )
    with cluster(g, "qemu", _("QEMU process (-accel tcg)"), kind="space") as q:
        add_node(
            q,
            "loop",
            _("CPU loop"),
            kind="program",
            layer="emulator",
            detail=_("find the block of the guest PC\n(hash of PC and CPU state)"),
        )
        add_node(
            q,
            "frontend",
            _("Front end"),
            kind="module",
            layer="emulator",
            detail=_("decodes guest\ninstructions"),
        )
        add_node(
            q,
            "ops",
            _("TCG ops"),
            kind="interface",
            layer="emulator",
            detail=_("intermediate code"),
        )
        add_node(
            q,
            "backend",
            _("Back end"),
            kind="module",
            layer="emulator",
            detail=_("emits host\ninstructions"),
        )
        add_node(
            q,
            "cache",
            _("Translation cache"),
            kind="module",
            layer="emulator",
            detail=_("host code of translated blocks,\nchained; flushed whole when full"),
        )
        add_node(
            q,
            "softmmu",
            _("Soft MMU"),
            kind="module",
            layer="emulator",
            detail=_("guest address -> host memory,\na TLB in software"),
        )
        add_node(
            q,
            "devices",
            _("Device models"),
            kind="device",
            layer="emulator",
            detail=_("serial port, disk,\nnetwork, timer"),
        )
        same_rank(q, ["frontend", "ops", "backend"])
        same_rank(q, ["softmmu", "devices"])
    add_node(
        g,
        "os",
        _("Host OS"),
        kind="layer",
        layer="host_kernel",
        detail="Linux, macOS, Windows",
        width=_SPAN,
    )
    cpu = _("Host CPU, e.g. x86")
    add_node(g, "cpu", cpu, kind="hardware", layer="hardware", width=_SPAN)
    add_edge(g, "code", "frontend", kind="data", text=_("read one block"), dir="forward")
    add_edge(g, "loop", "frontend", kind="call", text=_("miss: translate"))
    add_edge(g, "frontend", "ops", kind="data", dir="forward")
    add_edge(g, "ops", "backend", kind="data", dir="forward")
    add_edge(g, "backend", "cache", kind="data", text=_("host code"), dir="forward")
    add_edge(g, "loop", "cache", kind="call", text=_("hit: run it"))
    add_edge(g, "cache", "cache", kind="call", text=_("chained jump"))
    add_edge(g, "cache", "softmmu", kind="call", text=_("loads, stores"))
    add_edge(g, "softmmu", "devices", kind="trap", text=_("I/O address"))
    add_edge(g, "softmmu", "os", kind="stack")
    add_edge(g, "os", "cpu", kind="stack")
    return g
