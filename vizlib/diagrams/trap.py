"""Lesson 02's figures: who runs in which x86 ring, and the path of a trap through the VMM."""

from __future__ import annotations

import graphviz

from vizlib.diagrams.style import (
    add_edge,
    add_node,
    cluster,
    new_graph,
    privilege,
    same_rank,
    translator,
)

# Width in inches of the bars under one panel of `rings` (derived: the widest node of a panel,
# about 1.8 inches, so the three panels fit a notebook's width).
_PANEL_SPAN = "1.9"


def _stack(g: graphviz.Digraph, ids: list[str]) -> None:
    for upper, lower in zip(ids, ids[1:], strict=False):
        add_edge(g, upper, lower, kind="stack")


def rings(lang: str = "en") -> graphviz.Digraph:
    """Who runs in which ring: natively, under a VMM before VT-x, and with VT-x. Lesson 02."""
    t = translator(lang)
    g = new_graph(
        "rings",
        t(
            "Natively the kernel runs in ring 0; a VMM on x86 before VT-x takes ring 0 and "
            "deprivileges the guest kernel to ring 1, where its privileged instructions trap; "
            "with VT-x or AMD-V the guest kernel gets a ring 0 of its own in non-root mode.",
            "原生运行时内核位于 ring 0；在 VT-x 之前的 x86 上，VMM 占据 ring 0，把客户机内核"
            "降到 ring 1，其特权指令在那里陷入；有了 VT-x 或 AMD-V，客户机内核在非根模式下拥有"
            "自己的 ring 0。",
        ),
    )
    apps, kernel, hardware = (
        t("Applications", "应用程序"),
        t("Kernel", "内核"),
        t("Hardware", "硬件"),
    )
    guest_kernel = t("Guest kernel", "客户机内核")
    with cluster(g, "native", t("Native", "原生"), kind="panel") as panel:
        add_node(
            panel, "n_app", apps, kind="program", layer="guest_user", mark=privilege(lang, "ring3")
        )
        add_node(
            panel,
            "n_os",
            kernel,
            kind="layer",
            layer="guest_kernel",
            detail=t("owns the real CPU;\nrings 1 and 2 unused", "掌控真实 CPU；\nring 1、2 不用"),
            mark=privilege(lang, "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "n_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["n_app", "n_os", "n_hw"])
    title = t("VMM before VT-x (1999-2005)", "VT-x 之前的 VMM（1999-2005）")
    with cluster(g, "deprivileged", title, kind="panel") as panel:
        add_node(
            panel, "d_app", apps, kind="program", layer="guest_user", mark=privilege(lang, "ring3")
        )
        add_node(
            panel,
            "d_os",
            guest_kernel,
            kind="layer",
            layer="guest_kernel",
            detail=t("privileged instructions\ntrap (#GP)", "特权指令\n陷入（#GP）"),
            mark=privilege(lang, "ring1", "deprivileged"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "d_vmm",
            "VMM",
            kind="layer",
            layer="hypervisor",
            detail=t("owns the real CPU", "掌控真实 CPU"),
            mark=privilege(lang, "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "d_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["d_app", "d_os", "d_vmm", "d_hw"])
    title = t("VT-x / AMD-V (2005-06)", "VT-x / AMD-V（2005-06）")
    with cluster(g, "assisted", title, kind="panel") as panel:
        with cluster(panel, "vm", t("Virtual machine", "虚拟机"), kind="vm") as vm:
            add_node(
                vm,
                "h_app",
                apps,
                kind="program",
                layer="guest_user",
                mark=privilege(lang, "non-root", "ring3"),
            )
            add_node(
                vm,
                "h_os",
                guest_kernel,
                kind="layer",
                layer="guest_kernel",
                detail=t(
                    "its own CPU state;\nchosen events exit", "自己的 CPU 状态；\n选定事件才退出"
                ),
                mark=privilege(lang, "non-root", "ring0"),
            )
            add_edge(vm, "h_app", "h_os", kind="stack")
        add_node(
            panel,
            "h_vmm",
            "VMM",
            kind="layer",
            layer="hypervisor",
            detail=t("owns the real CPU", "掌控真实 CPU"),
            mark=privilege(lang, "root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(panel, "h_hw", hardware, kind="hardware", layer="hardware", width=_PANEL_SPAN)
        _stack(panel, ["h_os", "h_vmm", "h_hw"])
    same_rank(g, ["n_app", "d_app", "h_app"])
    same_rank(g, ["n_os", "d_os", "h_os"])
    same_rank(g, ["d_vmm", "h_vmm"])
    same_rank(g, ["n_hw", "d_hw", "h_hw"])
    return g


def trap_path(lang: str = "en") -> graphviz.Digraph:
    """The guest kernel's CLI trapping to the VMM, emulated, and resumed; POPF not trapping.

    Lesson 02.
    """
    t = translator(lang)
    g = new_graph(
        "trap_path",
        t(
            "The deprivileged guest kernel in ring 1 executes CLI, the CPU traps to the VMM in "
            "ring 0, the VMM emulates the instruction on the guest's virtual CPU and resumes the "
            "guest at the next instruction, while an x86 POPF or SGDT runs on the real CPU "
            "without trapping.",
            "降到 ring 1 的客户机内核执行 CLI，CPU 陷入到 ring 0 的 VMM，VMM 在客户机的虚拟 "
            "CPU 上模拟这条指令并从下一条指令恢复客户机，而 x86 的 POPF 或 SGDT 不陷入，直接在"
            "真实 CPU 上运行。",
        ),
    )
    g.attr(nodesep="0.7", ranksep="0.6")
    with cluster(g, "vm", t("Virtual machine", "虚拟机"), kind="vm") as vm:
        add_node(
            vm,
            "app",
            t("Applications", "应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "ring3"),
        )
        add_node(
            vm,
            "guest",
            t("Guest kernel", "客户机内核"),
            kind="layer",
            layer="guest_kernel",
            detail=t("... ADD, CLI, ADD, POPF ...", "... ADD, CLI, ADD, POPF ..."),
            mark=privilege(lang, "ring1", "deprivileged"),
        )
        add_edge(vm, "app", "guest", kind="stack")
    with cluster(g, "vmm", "VMM", kind="space") as vmm:
        add_node(
            vmm,
            "handler",
            t("Trap handler", "陷入处理程序"),
            kind="layer",
            layer="hypervisor",
            detail=t("decodes the instruction\nthat trapped", "解码引起陷入的指令"),
            mark=privilege(lang, "ring0"),
        )
        add_node(
            vmm,
            "vcpu",
            t("Guest's virtual CPU", "客户机的虚拟 CPU"),
            kind="interface",
            layer="hypervisor",
            detail=t("virtual IF, CR3, GDTR, ...", "虚拟 IF、CR3、GDTR……"),
        )
        same_rank(vmm, ["handler", "vcpu"])
    add_node(
        g,
        "cpu",
        t("Real CPU", "真实 CPU"),
        kind="hardware",
        layer="hardware",
        detail=t("its IF, CR3, GDTR belong to the VMM", "其 IF、CR3、GDTR 属于 VMM"),
        width="4.5",
    )
    add_edge(g, "guest", "cpu", kind="call", text=t("1. CLI", "1. CLI"))
    add_edge(
        g, "cpu", "handler", kind="trap", text=t("2. #GP: trap to ring 0", "2. #GP：陷入 ring 0")
    )
    add_edge(
        g,
        "handler",
        "vcpu",
        kind="data",
        text=t("3. emulate:\nvirtual IF := 0", "3. 模拟：\n虚拟 IF := 0"),
        dir="forward",
    )
    add_edge(
        g,
        "handler",
        "guest",
        kind="call",
        text=t("4. resume at the\nnext instruction", "4. 从下一条\n指令恢复"),
        constraint="false",
    )
    add_edge(
        g,
        "guest",
        "cpu",
        kind="data",
        text=t("ADD: runs directly\nPOPF, SGDT: no trap!", "ADD：直接运行\nPOPF、SGDT：不陷入！"),
        dir="forward",
    )
    add_edge(g, "vcpu", "cpu", kind="stack")
    return g
