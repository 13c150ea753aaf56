"""Figures the article implies but does not draw: hypervisor types and hardware emulation."""

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

# Width in inches of the layers under one panel of `hypervisor_types` (derived: the widest
# column of a panel, about 2.2 inches, so the three panels fit a notebook's width).
_PANEL_SPAN = "2.3"


def _guest(g: graphviz.Digraph, prefix: str, lang: str, title: str, marked: bool) -> None:
    """A virtual machine frame holding applications over a guest OS, marked non-root or not."""
    t = translator(lang)
    with cluster(g, f"{prefix}_vm", title, kind="vm") as vm:
        add_node(
            vm,
            f"{prefix}_app",
            t("Applications", "应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "non-root", "ring3") if marked else None,
        )
        add_node(
            vm,
            f"{prefix}_os",
            t("Guest OS", "客户操作系统"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege(lang, "non-root", "ring0") if marked else None,
        )
        add_edge(vm, f"{prefix}_app", f"{prefix}_os", kind="stack")


def hypervisor_types(lang: str = "en") -> graphviz.Digraph:
    """Type 1 (bare metal) beside type 2 (hosted), and KVM between them. Lesson 01."""
    t = translator(lang)
    g = new_graph(
        "hypervisor_types",
        t(
            "A type-1 hypervisor runs directly on the hardware under its virtual machines, a "
            "type-2 hypervisor runs as a process on a host operating system, and KVM, which "
            "turns the Linux kernel itself into the hypervisor, is argued to be of either type.",
            "第一类虚拟机管理程序直接运行在硬件上、位于虚拟机之下，第二类虚拟机管理程序作为进程"
            "运行在宿主操作系统上，而把 Linux 内核本身变成虚拟机管理程序的 KVM 属于哪一类"
            "尚有争议。",
        ),
    )
    vm_title = t("Virtual machine", "虚拟机")
    type1 = t("Type 1: bare metal", "第一类：裸机型")
    with cluster(g, "type1", type1, kind="panel") as panel:
        _guest(panel, "t1", lang, vm_title, marked=True)
        add_node(
            panel,
            "t1_hyp",
            t("Type-1 hypervisor", "第一类虚拟机管理程序"),
            kind="layer",
            layer="hypervisor",
            detail=t("e.g. Xen, VMware ESXi, Hyper-V", "如 Xen、VMware ESXi、Hyper-V"),
            mark=privilege(lang, "root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "t1_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_PANEL_SPAN,
        )
        add_edge(panel, "t1_os", "t1_hyp", kind="stack")
        add_edge(panel, "t1_hyp", "t1_hw", kind="stack")
    kvm_title = t("KVM: type 1 or type 2?", "KVM：第一类还是第二类？")
    with cluster(g, "kvm", kvm_title, kind="panel") as panel:
        _guest(panel, "kvm", lang, vm_title, marked=True)
        add_node(
            panel,
            "kvm_qemu",
            t("QEMU process", "QEMU 进程"),
            kind="program",
            layer="emulator",
            mark=privilege(lang, "root", "ring3"),
        )
        add_node(
            panel,
            "kvm_linux",
            t("Linux kernel + kvm.ko", "Linux 内核 + kvm.ko"),
            kind="layer",
            layer=("host_kernel", "hypervisor"),
            detail=t(
                "a host kernel that is also\nthe hypervisor (Red Hat: type 1)",
                "既是宿主机内核又是\n虚拟机管理程序（Red Hat：第一类）",
            ),
            mark=privilege(lang, "root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "kvm_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_PANEL_SPAN,
        )
        add_edge(panel, "kvm_os", "kvm_qemu", kind="stack")
        add_edge(panel, "kvm_qemu", "kvm_linux", kind="stack")
        add_edge(panel, "kvm_linux", "kvm_hw", kind="stack")
    type2 = t("Type 2: hosted", "第二类：宿主型")
    with cluster(g, "type2", type2, kind="panel") as panel:
        _guest(panel, "t2", lang, vm_title, marked=False)
        add_node(
            panel,
            "t2_hyp",
            t("Type-2 hypervisor", "第二类虚拟机管理程序"),
            kind="program",
            layer="hypervisor",
            detail=t("e.g. VirtualBox, VMware Workstation", "如 VirtualBox、VMware Workstation"),
            mark=privilege(lang, "ring3"),
        )
        add_node(
            panel,
            "t2_procs",
            t("Host\napplications", "宿主机\n应用程序"),
            kind="program",
            layer="host_user",
            mark=privilege(lang, "ring3"),
        )
        add_node(
            panel,
            "t2_host",
            t("Host OS kernel", "宿主操作系统内核"),
            kind="layer",
            layer="host_kernel",
            mark=privilege(lang, "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "t2_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_PANEL_SPAN,
        )
        add_edge(panel, "t2_os", "t2_hyp", kind="stack")
        add_edge(panel, "t2_hyp", "t2_host", kind="stack")
        add_edge(panel, "t2_procs", "t2_host", kind="stack")
        add_edge(panel, "t2_host", "t2_hw", kind="stack")
    same_rank(g, ["kvm_qemu", "t2_hyp", "t2_procs"])
    same_rank(g, ["t1_hyp", "kvm_linux", "t2_host"])
    same_rank(g, ["t1_hw", "kvm_hw", "t2_hw"])
    return g


def hardware_emulation(lang: str = "en") -> graphviz.Digraph:
    """A PowerPC guest run by an emulator process on an x86 host. Lessons 01 and 06."""
    t = translator(lang)
    g = new_graph(
        "hardware_emulation",
        t(
            "An emulator process on an x86 host interprets or translates every instruction of a "
            "PowerPC guest OS and its applications into x86 code and emulates the guest's "
            "devices, so the host needs no virtualization support.",
            "x86 宿主机上的模拟器进程把 PowerPC 客户操作系统及其应用程序的每条指令解释或翻译"
            "成 x86 代码并模拟客户机的设备，因此宿主机无需任何虚拟化支持。",
        ),
    )
    emu_title = t(
        "Emulator process: QEMU (TCG), Bochs, PearPC",
        "模拟器进程：QEMU (TCG)、Bochs、PearPC",
    )
    with cluster(g, "emulator", emu_title, kind="space") as emu:
        with cluster(emu, "guest", t("PowerPC guest", "PowerPC 客户机"), kind="vm") as guest:
            add_node(
                guest,
                "app",
                t("PowerPC applications", "PowerPC 应用程序"),
                kind="program",
                layer="guest_user",
                mark=privilege(lang, "emulated", "user"),
            )
            add_node(
                guest,
                "os",
                t("PowerPC guest OS", "PowerPC 客户操作系统"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege(lang, "emulated", "supervisor"),
            )
            add_edge(guest, "app", "os", kind="stack")
        add_node(
            emu,
            "cpu",
            t("Virtual PowerPC CPU", "虚拟 PowerPC CPU"),
            kind="module",
            layer="emulator",
            detail=t(
                "interprets or translates\nPowerPC instructions into x86 code",
                "把 PowerPC 指令\n解释或翻译成 x86 代码",
            ),
            mark=privilege(lang, "ring3"),
        )
        add_node(
            emu,
            "devices",
            t("Emulated devices", "模拟的设备"),
            kind="device",
            layer="emulator",
            detail=t("disk, network, display", "磁盘、网络、显示"),
            mark=privilege(lang, "ring3"),
        )
        same_rank(emu, ["cpu", "devices"])
    add_node(
        g,
        "host",
        t("Host OS kernel", "宿主操作系统内核"),
        kind="layer",
        layer="host_kernel",
        mark=privilege(lang, "ring0"),
        width="4",
    )
    add_node(
        g,
        "hw",
        t("x86 hardware", "x86 硬件"),
        kind="hardware",
        layer="hardware",
        detail=t("no virtualization extensions needed", "无需虚拟化扩展"),
        width="4",
    )
    add_edge(
        g, "os", "cpu", kind="data", text=t("PowerPC instructions", "PowerPC 指令"), dir="forward"
    )
    add_edge(g, "devices", "host", kind="call", text=t("system calls", "系统调用"))
    add_edge(g, "cpu", "host", kind="stack")
    add_edge(g, "host", "hw", kind="stack")
    add_edge(g, "cpu", "hw", kind="call", text=t("x86 code", "x86 代码"), weight="0")
    return g
