"""Inside the article's Figure 2: how a paravirtualized kernel talks to Xen. Lesson 04."""

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
from vizlib.sim.published import value

_BATCH = value("xenolinux.batch")  # XenoLinux's batch buffer (Barham et al., SOSP 2003)


@in_language
def paravirtual_interfaces(lang: str | None = None) -> graphviz.Digraph:
    """A Xen PV guest's three ways to the hypervisor (Barham et al. 2003): batched hypercalls,
    a shared page whose flags stand for the interrupt flag, and event upcalls. Lesson 04."""
    g = new_graph(
        "paravirtual_interfaces",
        _(
            "A modified guest kernel queues its page-table updates and hands Xen a whole batch "
            "in one hypercall, masks its virtual interrupts by writing a flag in a page it "
            "shares with Xen instead of executing CLI, and receives events from Xen as upcalls; "
            "only Xen writes the real page tables, after checking each update."
        ),
    )
    with cluster(g, "vm", _("Virtual machine (DomU)"), kind="vm") as vm:
        add_node(
            vm,
            "app",
            _("Applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("ring3"),
        )
        add_node(
            vm,
            "kernel",
            _("Modified guest kernel"),
            kind="layer",
            layer="guest_kernel",
            detail=_("no CLI, no page-table stores"),
            mark=privilege("ring1", "deprivileged"),
        )
        add_node(
            vm,
            "queue",
            _("Update queue"),
            kind="interface",
            layer="guest_kernel",
            detail=_("XenoLinux: up to {updates} page-table updates", updates=f"{_BATCH:g}"),
        )
        add_edge(vm, "app", "kernel", kind="stack")
        add_edge(vm, "kernel", "queue", kind="stack")
    add_node(
        g,
        "shared",
        _("Shared info page"),
        kind="interface",
        layer=("guest_kernel", "hypervisor"),
        detail=_("event mask = virtual IF\npending events"),
    )
    add_node(
        g,
        "xen",
        "Xen",
        kind="layer",
        layer="hypervisor",
        detail=_("checks every update, delivers events"),
        mark=privilege("ring0"),
    )
    add_node(
        g,
        "tables",
        _("Real page tables"),
        kind="hardware",
        layer="hardware",
        detail=_("read-only to the guest"),
    )
    same_rank(g, ["queue", "shared"])
    hypercall = _("one hypercall: mmu_update")
    add_edge(g, "queue", "xen", kind="call", text=hypercall)
    stores = _("CLI / STI become stores")
    add_edge(g, "kernel", "shared", kind="data", text=stores)
    add_edge(g, "shared", "xen", kind="data")
    add_edge(g, "xen", "kernel", kind="trap", text=_("event upcall"))
    add_edge(g, "xen", "tables", kind="call", text=_("validated writes"))
    return g
