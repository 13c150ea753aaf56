"""Inside the article's Figure 2: how a paravirtualized kernel talks to Xen. Lesson 04."""

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
from vizlib.sim.published import value

_BATCH = value("xenolinux.batch")  # XenoLinux's batch buffer (Barham et al., SOSP 2003)


def paravirtual_interfaces(lang: str = "en") -> graphviz.Digraph:
    """A Xen PV guest's three ways to the hypervisor (Barham et al. 2003): batched hypercalls,
    a shared page whose flags stand for the interrupt flag, and event upcalls. Lesson 04."""
    t = translator(lang)
    g = new_graph(
        "paravirtual_interfaces",
        t(
            "A modified guest kernel queues its page-table updates and hands Xen a whole batch "
            "in one hypercall, masks its virtual interrupts by writing a flag in a page it "
            "shares with Xen instead of executing CLI, and receives events from Xen as upcalls; "
            "only Xen writes the real page tables, after checking each update.",
            "修改过的客户机内核把页表更新排成队列，用一次超级调用把整批更新交给 Xen；它不执行 "
            "CLI，而是在与 Xen 共享的页面中写一个标志来屏蔽虚拟中断；Xen 以上行调用的方式向它"
            "递送事件；只有 Xen 在逐条检查更新后才写真正的页表。",
        ),
    )
    with cluster(g, "vm", t("Virtual machine (DomU)", "虚拟机 (DomU)"), kind="vm") as vm:
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
            "kernel",
            t("Modified guest kernel", "修改过的客户机内核"),
            kind="layer",
            layer="guest_kernel",
            detail=t("no CLI, no page-table stores", "不执行 CLI，不直接写页表"),
            mark=privilege(lang, "ring1", "deprivileged"),
        )
        add_node(
            vm,
            "queue",
            t("Update queue", "更新队列"),
            kind="interface",
            layer="guest_kernel",
            detail=t(
                f"XenoLinux: up to {_BATCH:g} page-table updates",
                f"XenoLinux：最多 {_BATCH:g} 个页表更新",
            ),
        )
        add_edge(vm, "app", "kernel", kind="stack")
        add_edge(vm, "kernel", "queue", kind="stack")
    add_node(
        g,
        "shared",
        t("Shared info page", "共享信息页"),
        kind="interface",
        layer=("guest_kernel", "hypervisor"),
        detail=t("event mask = virtual IF\npending events", "事件屏蔽位 = 虚拟 IF\n待处理事件"),
    )
    add_node(
        g,
        "xen",
        t("Xen", "Xen"),
        kind="layer",
        layer="hypervisor",
        detail=t("checks every update, delivers events", "检查每个更新，递送事件"),
        mark=privilege(lang, "ring0"),
    )
    add_node(
        g,
        "tables",
        t("Real page tables", "真正的页表"),
        kind="hardware",
        layer="hardware",
        detail=t("read-only to the guest", "客户机只读"),
    )
    same_rank(g, ["queue", "shared"])
    hypercall = t("one hypercall: mmu_update", "一次超级调用：mmu_update")
    add_edge(g, "queue", "xen", kind="call", text=hypercall)
    stores = t("CLI / STI become stores", "CLI / STI 变成写内存")
    add_edge(g, "kernel", "shared", kind="data", text=stores)
    add_edge(g, "shared", "xen", kind="data")
    add_edge(g, "xen", "kernel", kind="trap", text=t("event upcall", "事件上行调用"))
    add_edge(g, "xen", "tables", kind="call", text=t("validated writes", "检查后写入"))
    return g
