"""Inside the article's Figure 4: Xen's split drivers, guest types, and Xen beside KVM. Lesson 09.

The Figure itself is `article.xen_architecture`; these figures zoom into parts of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from vizlib.diagrams.style import (
    add_edge,
    add_node,
    cluster,
    in_language,
    new_graph,
    privilege,
    same_rank,
    term,
)
from vizlib.i18n import _

# Outline of the nodes and edges a step of a request acts on: Paul Tol's "vibrant" magenta
# (personal.sron.nl/~pault), distinct from every layer colour and edge colour of the style.
FOCUS_COLOR = "#EE3377"
FOCUS_WIDTH = "3"
SPLIT_DRIVER_NODES = ("app", "frontend", "grant", "ring", "backend", "driver", "xen", "disk")
# Widths in inches of the bars under several columns (derived: measured on the rendered figures).
_SPAN_SPLIT = "5.4"  # split_driver: the DomU, the shared page and Dom0 side by side
_SPAN_TYPES = "7.6"  # guest_types: four guest columns
_SPAN_PANEL = "3.6"  # xen_and_kvm: one panel


def _split_edges() -> tuple[tuple[str, str, str, str], ...]:
    """The split driver's edges: tail, head, kind and label, in the course's language."""
    notify, upcall = _("notify"), term("upcall")
    return (
        ("frontend", "ring", "data", _("requests")),
        ("ring", "backend", "data", _("responses")),
        ("frontend", "grant", "call", _("grant")),
        ("backend", "grant", "call", _("map")),
        ("frontend", "xen", "call", notify),
        ("xen", "backend", "trap", upcall),
        ("backend", "xen", "call", notify),
        ("xen", "frontend", "trap", upcall),
        ("backend", "driver", "call", _("read")),
        ("driver", "disk", "call", "DMA"),
    )


@in_language
def split_driver(
    lang: str | None = None, focus: Sequence[str] = (), edges: Sequence[tuple[str, str]] = ()
) -> graphviz.Digraph:
    """A block device's split driver: blkfront in a DomU, blkback in Dom0, the shared ring page,
    the grant table and Xen's event channels. Lesson 09.

    `focus` names nodes (SPLIT_DRIVER_NODES) to outline, `edges` (tail, head) pairs of nodes whose
    edge to outline; an edge drawn one way only is found from either end.
    """
    named = [*focus, *(n for pair in edges for n in pair)]
    unknown = [n for n in named if n not in SPLIT_DRIVER_NODES]
    if unknown:
        raise ValueError(
            _(
                "focus and edges must name nodes among {allowed}; got {names}",
                allowed=SPLIT_DRIVER_NODES,
                names=unknown,
            )
        )
    edges_drawn = _split_edges()
    drawn = {(tail, head) for tail, head, *_rest in edges_drawn}
    hops = {tuple(pair) for pair in edges}
    hops |= {(head, tail) for tail, head in hops if (tail, head) not in drawn}
    outline = {"penwidth": FOCUS_WIDTH, "color": FOCUS_COLOR}
    g = new_graph(
        "split_driver",
        _(
            "The frontend in the DomU writes requests into a ring page it shares with the backend "
            "in Dom0, grants Dom0 access to its data pages through the grant table, and both ends "
            "wake each other through Xen's event channels; only the backend drives the disk."
        ),
    )

    def node(sub, node_id, text, **kw):
        add_node(sub, node_id, text, **kw, **(outline if node_id in focus else {}))

    with cluster(g, "domu", _("DomU (guest)"), kind="vm") as domu:
        node(
            domu,
            "app",
            _("Application"),
            kind="program",
            layer="guest_user",
            detail="read(fd, buf, 4096)",
        )
        node(
            domu,
            "frontend",
            "blkfront",
            kind="module",
            layer="guest_kernel",
            detail=_("frontend driver"),
        )
        add_edge(domu, "app", "frontend", kind="stack")
    node(
        g,
        "ring",
        _("Shared ring page"),
        kind="interface",
        layer="guest_kernel",
        detail=_(
            "req_prod  req_event\nrsp_prod  rsp_event\npvt union, 44 bytes padding\n"
            "slots: requests, responses"
        ),
    )
    node(
        g,
        "grant",
        _("Grant table"),
        kind="interface",
        layer="hypervisor",
        detail=_("grant ref -> guest page,\nwho may map it"),
    )
    with cluster(g, "dom0", _("Dom0 (privileged domain)"), kind="vm") as dom0:
        node(
            dom0,
            "backend",
            "blkback",
            kind="module",
            layer="guest_kernel",
            detail=_("backend driver"),
        )
        node(
            dom0,
            "driver",
            _("Disk driver"),
            kind="module",
            layer="guest_kernel",
            detail=_("the real one"),
        )
    node(
        g,
        "xen",
        "Xen",
        kind="layer",
        layer="hypervisor",
        detail=_("event channels: virtual interrupts"),
        mark=privilege("ring0"),
        width=_SPAN_SPLIT,
    )
    node(g, "disk", _("Disk"), kind="hardware", layer="hardware")
    same_rank(g, ["frontend", "backend"])
    same_rank(g, ["ring", "grant", "driver"])
    for tail, head, kind, label in edges_drawn:
        extra = outline if (tail, head) in hops else {}
        add_edge(g, tail, head, kind=kind, text=label, **extra)
    add_edge(g, "grant", "xen", kind="stack")
    return g


@in_language
def guest_types(lang: str | None = None) -> graphviz.Digraph:
    """PV, PVH, PVHVM and HVM guests side by side: what runs in each, where its disk and network
    requests go, and what each needs from the CPU. Lesson 09."""
    g = new_graph(
        "guest_types",
        _(
            "A PV guest's modified kernel calls Xen and reaches Dom0's backends through PV "
            "frontends without VT-x, a PVH guest does the same inside VT-x or AMD-V, a PVHVM "
            "guest is an HVM guest with PV drivers, and an HVM guest runs any unmodified OS on "
            "devices QEMU emulates."
        ),
    )
    columns = (
        (
            "pv",
            "PV",
            _("Xen-aware kernel"),
            privilege("ring3", "deprivileged"),
            _("PV frontends"),
        ),
        (
            "pvh",
            "PVH",
            _("PVH-aware kernel"),
            privilege("non-root", "ring0"),
            _("PV frontends"),
        ),
        (
            "pvhvm",
            "PVHVM",
            _("Unmodified kernel\n+ PV drivers"),
            privilege("non-root", "ring0"),
            _("PV frontends\n(emulated disk at boot)"),
        ),
        (
            "hvm",
            "HVM",
            _("Unmodified OS\n(e.g. Windows)"),
            privilege("non-root", "ring0"),
            _("Stock drivers for\nemulated devices"),
        ),
    )
    for key, title, kernel, mark, devices in columns:
        xl = f'type = "{"hvm" if key == "pvhvm" else key}"'
        with cluster(g, key, f"{title}   ({xl})", kind="vm") as vm:
            add_node(vm, f"{key}_os", kernel, kind="layer", layer="guest_kernel", mark=mark)
            add_node(vm, f"{key}_dev", devices, kind="module", layer="guest_kernel")
            add_edge(vm, f"{key}_os", f"{key}_dev", kind="stack")
    with cluster(g, "dom0", "Dom0", kind="vm") as dom0:
        add_node(
            dom0,
            "backends",
            _("Backends (blkback, netback)"),
            kind="module",
            layer="guest_kernel",
        )
        add_node(
            dom0,
            "qemu",
            "QEMU",
            kind="program",
            layer="emulator",
            detail=_("device model\n(or in a stub domain)"),
        )
    add_node(
        g,
        "xen",
        "Xen",
        kind="layer",
        layer="hypervisor",
        detail=_("event channels, grant tables"),
        mark=privilege("ring0"),
        width=_SPAN_TYPES,
    )
    add_node(
        g,
        "hw",
        "x86 CPU",
        kind="hardware",
        layer="hardware",
        detail=_("PV runs without VT-x / AMD-V; PVH, PVHVM and HVM need it"),
        width=_SPAN_TYPES,
    )
    same_rank(g, [f"{key}_dev" for key, *_rest in columns])
    same_rank(g, ["backends", "qemu"])
    for key in ("pv", "pvh", "pvhvm"):
        add_edge(
            g,
            f"{key}_dev",
            "backends",
            kind="data",
            text=_("ring") if key == "pv" else None,
        )
    add_edge(g, "pvhvm_dev", "qemu", kind="trap", text=_("boot only"))
    add_edge(g, "hvm_dev", "qemu", kind="trap", text=term("VM exit"))
    add_edge(g, "pv_os", "xen", kind="call", text=term("hypercall"), weight="0")
    add_edge(g, "backends", "xen", kind="stack")
    add_edge(g, "qemu", "xen", kind="stack")
    add_edge(g, "xen", "hw", kind="stack")
    return g


@in_language
def xen_and_kvm(lang: str | None = None) -> graphviz.Digraph:
    """Xen and KVM side by side: who schedules the vCPUs, where the drivers live, and what Dom0
    is compared with KVM's Linux host. Lesson 09."""
    g = new_graph(
        "xen_and_kvm",
        _(
            "Under Xen a small hypervisor schedules every domain and Dom0, itself a virtual "
            "machine, holds the drivers; under KVM the Linux host kernel is the hypervisor, "
            "schedules each vCPU as a thread and holds the drivers itself."
        ),
    )
    with cluster(g, "xen_side", "Xen", kind="panel") as xen:
        with cluster(xen, "x_dom0", _("Dom0: a privileged VM"), kind="vm") as d0:
            add_node(d0, "x_tools", "xl", kind="program", layer="guest_user")
            add_node(d0, "x_qemu", "QEMU", kind="program", layer="emulator")
            add_edge(d0, "x_qemu", "x_dom0k", kind="stack")
            add_node(
                d0,
                "x_dom0k",
                _("Linux kernel"),
                kind="layer",
                layer="guest_kernel",
                detail=_("device drivers, backends"),
            )
            add_edge(d0, "x_tools", "x_dom0k", kind="stack")
        with cluster(xen, "x_domu", "DomU", kind="vm") as du:
            add_node(du, "x_guest", _("Guest OS"), kind="layer", layer="guest_kernel")
        add_node(
            xen,
            "x_hyp",
            _("Xen hypervisor"),
            kind="layer",
            layer="hypervisor",
            detail=_("schedules vCPUs, owns memory"),
            mark=privilege("ring0"),
            width=_SPAN_PANEL,
        )
        add_node(xen, "x_hw", _("Hardware"), kind="hardware", layer="hardware", width=_SPAN_PANEL)
        add_edge(xen, "x_dom0k", "x_hyp", kind="stack")
        add_edge(xen, "x_guest", "x_hyp", kind="stack")
        add_edge(xen, "x_hyp", "x_hw", kind="stack")
    with cluster(g, "kvm_side", "KVM", kind="panel") as kvm:
        with cluster(kvm, "k_proc", _("VM = a QEMU process"), kind="vm") as proc:
            add_node(
                proc,
                "k_guest",
                _("Guest OS"),
                kind="layer",
                layer="guest_kernel",
            )
            add_node(
                proc,
                "k_qemu",
                "QEMU",
                kind="program",
                layer="emulator",
                detail=_("devices; vCPUs = threads"),
            )
            add_edge(proc, "k_guest", "k_qemu", kind="stack")
        add_node(
            kvm,
            "k_linux",
            _("Linux kernel + kvm.ko"),
            kind="layer",
            layer="host_kernel",
            detail=_("schedules vCPU threads, owns memory,\ndevice drivers"),
            mark=privilege("ring0"),
            width=_SPAN_PANEL,
        )
        add_node(kvm, "k_hw", _("Hardware"), kind="hardware", layer="hardware", width=_SPAN_PANEL)
        add_edge(kvm, "k_qemu", "k_linux", kind="stack")
        add_edge(kvm, "k_linux", "k_hw", kind="stack")
    same_rank(g, ["x_tools", "x_guest", "k_guest"])
    same_rank(g, ["x_hyp", "k_linux"])
    return g
