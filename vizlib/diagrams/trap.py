"""Lesson 02's figures: who runs in which x86 ring, and the path of a trap through the VMM."""

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

# Width in inches of the bars under one panel of `rings` (derived: the widest node of a panel,
# about 1.8 inches, so the three panels fit a notebook's width).
_PANEL_SPAN = "1.9"


def _stack(g: graphviz.Digraph, ids: list[str]) -> None:
    for upper, lower in zip(ids, ids[1:], strict=False):
        add_edge(g, upper, lower, kind="stack")


@in_language
def rings(lang: str | None = None) -> graphviz.Digraph:
    """Who runs in which ring: natively, under a VMM before VT-x, and with VT-x. Lesson 02."""
    g = new_graph(
        "rings",
        _(
            "Natively the kernel runs in ring 0; a VMM on x86 before VT-x takes ring 0 and "
            "deprivileges the guest kernel to ring 1, where its privileged instructions trap; "
            "with VT-x or AMD-V the guest kernel gets a ring 0 of its own in non-root mode."
        ),
    )
    apps, kernel, hardware = (
        _("Applications"),
        _("Kernel"),
        _("Hardware"),
    )
    guest_kernel = _("Guest kernel")
    with cluster(g, "native", _("Native"), kind="panel") as panel:
        add_node(panel, "n_app", apps, kind="program", layer="guest_user", mark=privilege("ring3"))
        add_node(
            panel,
            "n_os",
            kernel,
            kind="layer",
            layer="guest_kernel",
            detail=_("owns the real CPU;\nrings 1 and 2 unused"),
            mark=privilege("ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "n_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["n_app", "n_os", "n_hw"])
    title = _("VMM before VT-x (1999-2005)")
    with cluster(g, "deprivileged", title, kind="panel") as panel:
        add_node(panel, "d_app", apps, kind="program", layer="guest_user", mark=privilege("ring3"))
        add_node(
            panel,
            "d_os",
            guest_kernel,
            kind="layer",
            layer="guest_kernel",
            detail=_("privileged instructions\ntrap (#GP)"),
            mark=privilege("ring1", "deprivileged"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "d_vmm",
            "VMM",
            kind="layer",
            layer="hypervisor",
            detail=_("owns the real CPU"),
            mark=privilege("ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "d_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["d_app", "d_os", "d_vmm", "d_hw"])
    title = _("VT-x / AMD-V (2005-06)")
    with cluster(g, "assisted", title, kind="panel") as panel:
        with cluster(panel, "vm", _("Virtual machine"), kind="vm") as vm:
            add_node(
                vm,
                "h_app",
                apps,
                kind="program",
                layer="guest_user",
                mark=privilege("non-root", "ring3"),
            )
            add_node(
                vm,
                "h_os",
                guest_kernel,
                kind="layer",
                layer="guest_kernel",
                detail=_("its own CPU state;\nchosen events exit"),
                mark=privilege("non-root", "ring0"),
            )
            add_edge(vm, "h_app", "h_os", kind="stack")
        add_node(
            panel,
            "h_vmm",
            "VMM",
            kind="layer",
            layer="hypervisor",
            detail=_("owns the real CPU"),
            mark=privilege("root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "h_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["h_os", "h_vmm", "h_hw"])
    same_rank(g, ["n_app", "d_app", "h_app"])
    same_rank(g, ["n_os", "d_os", "h_os"])
    same_rank(g, ["d_vmm", "h_vmm"])
    same_rank(g, ["n_hw", "d_hw", "h_hw"])
    return g


@in_language
def trap_path(lang: str | None = None) -> graphviz.Digraph:
    """The guest kernel's CLI trapping to the VMM, emulated, and resumed; POPF not trapping.

    Lesson 02.
    """
    g = new_graph(
        "trap_path",
        _(
            "The deprivileged guest kernel in ring 1 executes CLI, the CPU traps to the VMM in "
            "ring 0, the VMM emulates the instruction on the guest's virtual CPU and resumes the "
            "guest at the next instruction, while an x86 POPF or SGDT runs on the real CPU "
            "without trapping."
        ),
    )
    g.attr(nodesep="0.7", ranksep="0.6")
    with cluster(g, "vm", _("Virtual machine"), kind="vm") as vm:
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
            "guest",
            _("Guest kernel"),
            kind="layer",
            layer="guest_kernel",
            detail="... ADD, CLI, ADD, POPF ...",
            mark=privilege("ring1", "deprivileged"),
        )
        add_edge(vm, "app", "guest", kind="stack")
    with cluster(g, "vmm", "VMM", kind="space") as vmm:
        add_node(
            vmm,
            "handler",
            _("Trap handler"),
            kind="layer",
            layer="hypervisor",
            detail=_("decodes the instruction\nthat trapped"),
            mark=privilege("ring0"),
        )
        add_node(
            vmm,
            "vcpu",
            _("Guest's virtual CPU"),
            kind="interface",
            layer="hypervisor",
            detail=_("virtual IF, CR3, GDTR, ..."),
        )
        same_rank(vmm, ["handler", "vcpu"])
    add_node(
        g,
        "cpu",
        _("Real CPU"),
        kind="hardware",
        layer="hardware",
        detail=_("its IF, CR3, GDTR belong to the VMM"),
        width="4.5",
    )
    add_edge(g, "guest", "cpu", kind="call", text="1. CLI")
    add_edge(g, "cpu", "handler", kind="trap", text=_("2. #GP: trap to ring 0"))
    add_edge(
        g,
        "handler",
        "vcpu",
        kind="data",
        text=_("3. emulate:\nvirtual IF := 0"),
        dir="forward",
    )
    add_edge(
        g,
        "handler",
        "guest",
        kind="call",
        text=_("4. resume at the\nnext instruction"),
        constraint="false",
    )
    add_edge(
        g,
        "guest",
        "cpu",
        kind="data",
        text=_("ADD: runs directly\nPOPF, SGDT: no trap!"),
        dir="forward",
    )
    add_edge(g, "vcpu", "cpu", kind="stack")
    return g
