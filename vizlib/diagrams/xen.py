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
    new_graph,
    privilege,
    same_rank,
    term,
    translator,
)

# Outline of the nodes and edges a step of a request acts on: Paul Tol's "vibrant" magenta
# (personal.sron.nl/~pault), distinct from every layer colour and edge colour of the style.
FOCUS_COLOR = "#EE3377"
FOCUS_WIDTH = "3"
SPLIT_DRIVER_NODES = ("app", "frontend", "grant", "ring", "backend", "driver", "xen", "disk")
# Widths in inches of the bars under several columns (derived: measured on the rendered figures).
_SPAN_SPLIT = "5.4"  # split_driver: the DomU, the shared page and Dom0 side by side
_SPAN_TYPES = "7.6"  # guest_types: four guest columns
_SPAN_PANEL = "3.6"  # xen_and_kvm: one panel


# The split driver's edges: tail, head, kind, English and Chinese labels.
_SPLIT_EDGES = (
    ("frontend", "ring", "data", "requests", "请求"),
    ("ring", "backend", "data", "responses", "响应"),
    ("frontend", "grant", "call", "grant", "授权"),
    ("backend", "grant", "call", "map", "映射"),
    ("frontend", "xen", "call", "notify", "通知"),
    ("xen", "backend", "trap", "upcall", "上行调用"),
    ("backend", "xen", "call", "notify", "通知"),
    ("xen", "frontend", "trap", "upcall", "上行调用"),
    ("backend", "driver", "call", "read", "读"),
    ("driver", "disk", "call", "DMA", "DMA"),
)


def split_driver(
    lang: str = "en", focus: Sequence[str] = (), edges: Sequence[tuple[str, str]] = ()
) -> graphviz.Digraph:
    """A block device's split driver: blkfront in a DomU, blkback in Dom0, the shared ring page,
    the grant table and Xen's event channels. Lesson 09.

    `focus` names nodes (SPLIT_DRIVER_NODES) to outline, `edges` (tail, head) pairs of nodes whose
    edge to outline; an edge drawn one way only is found from either end.
    """
    t = translator(lang)
    named = [*focus, *(n for pair in edges for n in pair)]
    unknown = [n for n in named if n not in SPLIT_DRIVER_NODES]
    if unknown:
        raise ValueError(
            f"focus and edges must name nodes among {SPLIT_DRIVER_NODES}; got {unknown}"
        )
    drawn = {(tail, head) for tail, head, *_ in _SPLIT_EDGES}
    hops = {tuple(pair) for pair in edges}
    hops |= {(head, tail) for tail, head in hops if (tail, head) not in drawn}
    outline = {"penwidth": FOCUS_WIDTH, "color": FOCUS_COLOR}
    g = new_graph(
        "split_driver",
        t(
            "The frontend in the DomU writes requests into a ring page it shares with the backend "
            "in Dom0, grants Dom0 access to its data pages through the grant table, and both ends "
            "wake each other through Xen's event channels; only the backend drives the disk.",
            "DomU 中的前端驱动把请求写入与 Dom0 中后端驱动共享的环形页，通过授权表允许 Dom0 "
            "访问其数据页，两端通过 Xen 的事件通道互相唤醒；只有后端驱动直接操作磁盘。",
        ),
    )

    def node(sub, node_id, text, **kw):
        add_node(sub, node_id, text, **kw, **(outline if node_id in focus else {}))

    with cluster(g, "domu", t("DomU (guest)", "DomU（客户机）"), kind="vm") as domu:
        node(
            domu,
            "app",
            t("Application", "应用程序"),
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
            detail=t("frontend driver", "前端驱动"),
        )
        add_edge(domu, "app", "frontend", kind="stack")
    node(
        g,
        "ring",
        t("Shared ring page", "共享环形页"),
        kind="interface",
        layer="guest_kernel",
        detail=t(
            "req_prod  req_event\nrsp_prod  rsp_event\npvt union, 44 bytes padding\n"
            "slots: requests, responses",
            "req_prod  req_event\nrsp_prod  rsp_event\npvt 联合体、44 字节填充\n槽位：请求、响应",
        ),
    )
    node(
        g,
        "grant",
        t("Grant table", "授权表"),
        kind="interface",
        layer="hypervisor",
        detail=t(
            "grant ref -> guest page,\nwho may map it", "授权引用 -> 客户机页面，\n谁可以映射"
        ),
    )
    with cluster(g, "dom0", t("Dom0 (privileged domain)", "Dom0（特权域）"), kind="vm") as dom0:
        node(
            dom0,
            "backend",
            "blkback",
            kind="module",
            layer="guest_kernel",
            detail=t("backend driver", "后端驱动"),
        )
        node(
            dom0,
            "driver",
            t("Disk driver", "磁盘驱动"),
            kind="module",
            layer="guest_kernel",
            detail=t("the real one", "真实设备的驱动"),
        )
    node(
        g,
        "xen",
        "Xen",
        kind="layer",
        layer="hypervisor",
        detail=t("event channels: virtual interrupts", "事件通道：虚拟中断"),
        mark=privilege(lang, "ring0"),
        width=_SPAN_SPLIT,
    )
    node(g, "disk", t("Disk", "磁盘"), kind="hardware", layer="hardware")
    same_rank(g, ["frontend", "backend"])
    same_rank(g, ["ring", "grant", "driver"])
    for tail, head, kind, en, zh in _SPLIT_EDGES:
        extra = outline if (tail, head) in hops else {}
        add_edge(g, tail, head, kind=kind, text=t(en, zh), **extra)
    add_edge(g, "grant", "xen", kind="stack")
    return g


def guest_types(lang: str = "en") -> graphviz.Digraph:
    """PV, PVH, PVHVM and HVM guests side by side: what runs in each, where its disk and network
    requests go, and what each needs from the CPU. Lesson 09."""
    t = translator(lang)
    g = new_graph(
        "guest_types",
        t(
            "A PV guest's modified kernel calls Xen and reaches Dom0's backends through PV "
            "frontends without VT-x, a PVH guest does the same inside VT-x or AMD-V, a PVHVM "
            "guest is an HVM guest with PV drivers, and an HVM guest runs any unmodified OS on "
            "devices QEMU emulates.",
            "PV 客户机修改过的内核调用 Xen，并通过半虚拟化前端驱动访问 Dom0 的后端，无需 VT-x；"
            "PVH 客户机在 VT-x 或 AMD-V 之内做同样的事；PVHVM 客户机是带半虚拟化驱动的 HVM "
            "客户机；HVM 客户机在 QEMU 模拟的设备上运行任何未经修改的操作系统。",
        ),
    )
    columns = (
        (
            "pv",
            "PV",
            t("Xen-aware kernel", "支持 Xen 的内核"),
            privilege(lang, "ring3", "deprivileged"),
            t("PV frontends", "半虚拟化前端"),
        ),
        (
            "pvh",
            "PVH",
            t("PVH-aware kernel", "支持 PVH 的内核"),
            privilege(lang, "non-root", "ring0"),
            t("PV frontends", "半虚拟化前端"),
        ),
        (
            "pvhvm",
            "PVHVM",
            t("Unmodified kernel\n+ PV drivers", "未经修改的内核\n+ 半虚拟化驱动"),
            privilege(lang, "non-root", "ring0"),
            t("PV frontends\n(emulated disk at boot)", "半虚拟化前端\n（启动时用模拟磁盘）"),
        ),
        (
            "hvm",
            "HVM",
            t("Unmodified OS\n(e.g. Windows)", "未经修改的操作系统\n（如 Windows）"),
            privilege(lang, "non-root", "ring0"),
            t("Stock drivers for\nemulated devices", "驱动模拟设备的\n原有驱动"),
        ),
    )
    for key, title, kernel, mark, devices in columns:
        xl = f'type = "{"hvm" if key == "pvhvm" else key}"'
        with cluster(g, key, f"{title}   ({xl})", kind="vm") as vm:
            add_node(vm, f"{key}_os", kernel, kind="layer", layer="guest_kernel", mark=mark)
            add_node(vm, f"{key}_dev", devices, kind="module", layer="guest_kernel")
            add_edge(vm, f"{key}_os", f"{key}_dev", kind="stack")
    with cluster(g, "dom0", t("Dom0", "Dom0"), kind="vm") as dom0:
        add_node(
            dom0,
            "backends",
            t("Backends (blkback, netback)", "后端驱动 (blkback, netback)"),
            kind="module",
            layer="guest_kernel",
        )
        add_node(
            dom0,
            "qemu",
            "QEMU",
            kind="program",
            layer="emulator",
            detail=t("device model\n(or in a stub domain)", "设备模型\n（或在存根域中）"),
        )
    add_node(
        g,
        "xen",
        t("Xen", "Xen"),
        kind="layer",
        layer="hypervisor",
        detail=t("event channels, grant tables", "事件通道、授权表"),
        mark=privilege(lang, "ring0"),
        width=_SPAN_TYPES,
    )
    add_node(
        g,
        "hw",
        t("x86 CPU", "x86 CPU"),
        kind="hardware",
        layer="hardware",
        detail=t(
            "PV runs without VT-x / AMD-V; PVH, PVHVM and HVM need it",
            "PV 无需 VT-x / AMD-V；PVH、PVHVM 和 HVM 需要",
        ),
        width=_SPAN_TYPES,
    )
    same_rank(g, [f"{key}_dev" for key, *_ in columns])
    same_rank(g, ["backends", "qemu"])
    for key in ("pv", "pvh", "pvhvm"):
        add_edge(
            g,
            f"{key}_dev",
            "backends",
            kind="data",
            text=t("ring", "共享环") if key == "pv" else None,
        )
    add_edge(g, "pvhvm_dev", "qemu", kind="trap", text=t("boot only", "仅启动时"))
    add_edge(g, "hvm_dev", "qemu", kind="trap", text=term("VM exit", lang))
    add_edge(g, "pv_os", "xen", kind="call", text=term("hypercall", lang), weight="0")
    add_edge(g, "backends", "xen", kind="stack")
    add_edge(g, "qemu", "xen", kind="stack")
    add_edge(g, "xen", "hw", kind="stack")
    return g


def xen_and_kvm(lang: str = "en") -> graphviz.Digraph:
    """Xen and KVM side by side: who schedules the vCPUs, where the drivers live, and what Dom0
    is compared with KVM's Linux host. Lesson 09."""
    t = translator(lang)
    g = new_graph(
        "xen_and_kvm",
        t(
            "Under Xen a small hypervisor schedules every domain and Dom0, itself a virtual "
            "machine, holds the drivers; under KVM the Linux host kernel is the hypervisor, "
            "schedules each vCPU as a thread and holds the drivers itself.",
            "在 Xen 中，一个小巧的虚拟机管理程序调度所有域，而 Dom0 本身也是一台虚拟机，持有"
            "设备驱动；在 KVM 中，Linux 宿主机内核就是虚拟机管理程序，把每个 vCPU 当作线程调度，"
            "并自己持有设备驱动。",
        ),
    )
    with cluster(g, "xen_side", t("Xen", "Xen"), kind="panel") as xen:
        with cluster(
            xen, "x_dom0", t("Dom0: a privileged VM", "Dom0：特权虚拟机"), kind="vm"
        ) as d0:
            add_node(d0, "x_tools", "xl", kind="program", layer="guest_user")
            add_node(d0, "x_qemu", "QEMU", kind="program", layer="emulator")
            add_edge(d0, "x_qemu", "x_dom0k", kind="stack")
            add_node(
                d0,
                "x_dom0k",
                t("Linux kernel", "Linux 内核"),
                kind="layer",
                layer="guest_kernel",
                detail=t("device drivers, backends", "设备驱动、后端驱动"),
            )
            add_edge(d0, "x_tools", "x_dom0k", kind="stack")
        with cluster(xen, "x_domu", t("DomU", "DomU"), kind="vm") as du:
            add_node(
                du, "x_guest", t("Guest OS", "客户操作系统"), kind="layer", layer="guest_kernel"
            )
        add_node(
            xen,
            "x_hyp",
            t("Xen hypervisor", "Xen 虚拟机管理程序"),
            kind="layer",
            layer="hypervisor",
            detail=t("schedules vCPUs, owns memory", "调度 vCPU，管理内存"),
            mark=privilege(lang, "ring0"),
            width=_SPAN_PANEL,
        )
        add_node(
            xen, "x_hw", t("Hardware", "硬件"), kind="hardware", layer="hardware", width=_SPAN_PANEL
        )
        add_edge(xen, "x_dom0k", "x_hyp", kind="stack")
        add_edge(xen, "x_guest", "x_hyp", kind="stack")
        add_edge(xen, "x_hyp", "x_hw", kind="stack")
    with cluster(g, "kvm_side", t("KVM", "KVM"), kind="panel") as kvm:
        with cluster(
            kvm, "k_proc", t("VM = a QEMU process", "虚拟机 = 一个 QEMU 进程"), kind="vm"
        ) as proc:
            add_node(
                proc,
                "k_guest",
                t("Guest OS", "客户操作系统"),
                kind="layer",
                layer="guest_kernel",
            )
            add_node(
                proc,
                "k_qemu",
                "QEMU",
                kind="program",
                layer="emulator",
                detail=t("devices; vCPUs = threads", "设备；vCPU = 线程"),
            )
            add_edge(proc, "k_guest", "k_qemu", kind="stack")
        add_node(
            kvm,
            "k_linux",
            t("Linux kernel + kvm.ko", "Linux 内核 + kvm.ko"),
            kind="layer",
            layer="host_kernel",
            detail=t(
                "schedules vCPU threads, owns memory,\ndevice drivers",
                "调度 vCPU 线程，管理内存，\n设备驱动",
            ),
            mark=privilege(lang, "ring0"),
            width=_SPAN_PANEL,
        )
        add_node(
            kvm, "k_hw", t("Hardware", "硬件"), kind="hardware", layer="hardware", width=_SPAN_PANEL
        )
        add_edge(kvm, "k_qemu", "k_linux", kind="stack")
        add_edge(kvm, "k_linux", "k_hw", kind="stack")
    same_rank(g, ["x_tools", "x_guest", "k_guest"])
    same_rank(g, ["x_hyp", "k_linux"])
    return g
