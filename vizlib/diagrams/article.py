"""The seed article's five figures (图1-图5), redrawn in the course's visual language.

Contents follow the article; where time changed a fact, only a label says so.
"""

from __future__ import annotations

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

# Widths in inches of the layers drawn as bars under several columns (derived: the width dot
# gives the columns above them, measured on the rendered figures).
_SPAN_TWO_VMS = "4.2"  # figures 1 and 2: two guests of about 1.9 inches and the gap between them
_SPAN_KVM = "6"  # figure 3: the kernel's three components
_SPAN_XEN = "7.8"  # figure 4: the three domains, about 2.5 inches each


def full_virtualization(lang: str = "en") -> graphviz.Digraph:
    """Figure 1 of the article: unmodified guests over a VMM that traps them. Lesson 01."""
    t = translator(lang)
    g = new_graph(
        "full_virtualization",
        t(
            "Two virtual machines, each an unmodified guest OS with its applications, run on a "
            "hypervisor (VMM) that traps their protected instructions and runs on the hardware.",
            "两台虚拟机各运行一个未经修改的客户操作系统及其应用程序，其受保护指令陷入到下方的"
            "虚拟机管理程序（VMM）并由它处理，虚拟机管理程序运行在硬件之上。",
        ),
    )
    for i in (1, 2):
        with cluster(g, f"vm{i}", t(f"Virtual machine {i}", f"虚拟机 {i}"), kind="vm") as vm:
            add_node(
                vm,
                f"app{i}",
                t("Applications", "应用程序"),
                kind="program",
                layer="guest_user",
                mark=privilege(lang, "ring3"),
            )
            add_node(
                vm,
                f"os{i}",
                t("Unmodified guest OS", "未经修改的客户操作系统"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege(lang, "deprivileged"),
            )
            add_edge(vm, f"app{i}", f"os{i}", kind="stack")
    add_node(
        g,
        "vmm",
        t("VMM / Hypervisor", "VMM / 虚拟机管理程序 (Hypervisor)"),
        kind="layer",
        layer="hypervisor",
        detail=t(
            "traps and handles protected instructions\n"
            "(binary translation before VT-x / AMD-V; hardware assist today)",
            "处理陷入的受保护指令\n（早期靠二进制翻译，如今靠 VT-x / AMD-V 硬件辅助）",
        ),
        mark=privilege(lang, "ring0"),
        width=_SPAN_TWO_VMS,
    )
    add_node(g, "hw", t("Hardware", "硬件"), kind="hardware", layer="hardware", width=_SPAN_TWO_VMS)
    add_edge(g, "os1", "vmm", kind="trap", text=term("trap", lang))
    add_edge(g, "os2", "vmm", kind="trap", text=term("trap", lang))
    add_edge(g, "vmm", "hw", kind="stack")
    return g


def paravirtualization(lang: str = "en") -> graphviz.Digraph:
    """Figure 2 of the article: modified guests that call the hypervisor. Lesson 01."""
    t = translator(lang)
    g = new_graph(
        "paravirtualization",
        t(
            "Two virtual machines, each a modified guest OS whose virtualization-aware code makes "
            "hypercalls to the hypervisor, share the hardware through that hypervisor.",
            "两台虚拟机各运行一个修改过的客户操作系统，其中集成的虚拟化代码通过超级调用请求"
            "虚拟机管理程序，并经由它共享硬件。",
        ),
    )
    for i in (1, 2):
        with cluster(g, f"vm{i}", t(f"Virtual machine {i}", f"虚拟机 {i}"), kind="vm") as vm:
            add_node(
                vm,
                f"app{i}",
                t("Applications", "应用程序"),
                kind="program",
                layer="guest_user",
                mark=privilege(lang, "ring3"),
            )
            add_node(
                vm,
                f"os{i}",
                t("Modified guest OS", "修改过的客户操作系统"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege(lang, "deprivileged"),
            )
            add_node(
                vm,
                f"pv{i}",
                t("Virtualization-aware code", "虚拟化代码"),
                kind="module",
                layer="guest_kernel",
                detail=t("today mostly PV drivers (virtio)", "如今主要是半虚拟化驱动 (virtio)"),
            )
            add_edge(vm, f"app{i}", f"os{i}", kind="stack")
            add_edge(vm, f"os{i}", f"pv{i}", kind="stack")
    add_node(
        g,
        "hyp",
        t("Hypervisor", "虚拟机管理程序 (Hypervisor)"),
        kind="layer",
        layer="hypervisor",
        detail=t("shares the hardware among guests", "让客户机共享硬件"),
        mark=privilege(lang, "ring0"),
        width=_SPAN_TWO_VMS,
    )
    add_node(g, "hw", t("Hardware", "硬件"), kind="hardware", layer="hardware", width=_SPAN_TWO_VMS)
    add_edge(g, "pv1", "hyp", kind="call", text=term("hypercall", lang))
    add_edge(g, "pv2", "hyp", kind="call", text=term("hypercall", lang))
    add_edge(g, "hyp", "hw", kind="stack")
    return g


def kvm_architecture(lang: str = "en") -> graphviz.Digraph:
    """Figure 3 of the article: Linux with kvm.ko, each VM a QEMU process. Lesson 07.

    The guests run in the processor's guest mode, not in host user space: what belongs to the
    QEMU process is the guest's memory and its vCPU threads (dotted lines).
    """
    t = translator(lang)
    g = new_graph(
        "kvm_architecture",
        t(
            "Each virtual machine is a QEMU process in user space beside ordinary processes: its "
            "memory is the process's memory and each vCPU one of its threads, while the guest's "
            "own code runs in the processor's guest mode; the Linux kernel with its kvm.ko module "
            "runs the guests on x86 hardware with Intel VT-x or AMD-V.",
            "每台虚拟机都是用户空间中的一个 QEMU 进程，与普通进程并列：虚拟机的内存就是该进程的"
            "内存，每个 vCPU 是它的一个线程，而客户机自己的代码运行在处理器的客户模式中；Linux "
            "内核及其 kvm.ko 模块在支持 Intel VT-x 或 AMD-V 的 x86 硬件上运行这些客户机。",
        ),
    )
    guest_mode = t("Guest mode (VMX non-root)", "客户模式（VMX 非根模式）")
    with cluster(g, "guests", guest_mode, kind="space") as guests:
        for i in (1, 2):
            with cluster(guests, f"vm{i}", t(f"VM {i}", f"虚拟机 {i}"), kind="vm") as vm:
                add_node(
                    vm,
                    f"app{i}",
                    t("Guest applications", "客户机应用程序"),
                    kind="program",
                    layer="guest_user",
                    mark=privilege(lang, "non-root", "ring3"),
                )
                add_node(
                    vm,
                    f"os{i}",
                    t("Guest OS", "客户操作系统"),
                    kind="layer",
                    layer="guest_kernel",
                    mark=privilege(lang, "non-root", "ring0"),
                )
                add_edge(vm, f"app{i}", f"os{i}", kind="stack")
    with cluster(g, "user", t("User space", "用户空间"), kind="space") as user:
        for i in (1, 2):
            add_node(
                user,
                f"qemu{i}",
                t(f"QEMU process {i}", f"QEMU 进程 {i}"),
                kind="program",
                layer="emulator",
                detail=t(
                    "VM memory, vCPU threads,\ndevice emulation",
                    "虚拟机内存、vCPU 线程、\n设备模拟",
                ),
                mark=privilege(lang, "root", "ring3"),
            )
        add_node(
            user,
            "procs",
            t("Ordinary\nprocesses", "普通进程"),
            kind="program",
            layer="host_user",
            mark=privilege(lang, "root", "ring3"),
        )
    with cluster(g, "kernel", t("Linux kernel", "Linux 内核"), kind="space") as kernel:
        add_node(
            kernel,
            "drivers",
            t("Device drivers", "设备驱动"),
            kind="module",
            layer="host_kernel",
        )
        add_node(
            kernel,
            "kvm",
            "kvm.ko",
            kind="module",
            layer="host_kernel",
            detail="+ kvm-intel.ko / kvm-amd.ko",
            mark=privilege(lang, "root", "ring0"),
        )
        add_node(
            kernel,
            "sched",
            t("Scheduler,\nmemory management", "任务调度、\n内存管理"),
            kind="layer",
            layer="host_kernel",
            mark=privilege(lang, "root", "ring0"),
        )
    add_node(
        g,
        "hw",
        t("x86 hardware with Intel VT-x / AMD-V", "支持 Intel VT-x / AMD-V 的 x86 硬件"),
        kind="hardware",
        layer="hardware",
        width=_SPAN_KVM,
    )
    same_rank(g, ["qemu1", "qemu2", "procs"])
    same_rank(g, ["drivers", "kvm", "sched"])
    for i in (1, 2):
        add_edge(
            g,
            f"os{i}",
            f"qemu{i}",
            kind="data",
            text=t("memory, vCPUs", "内存、vCPU") if i == 1 else None,
        )
        add_edge(g, f"qemu{i}", "kvm", kind="call", text="ioctl" if i == 1 else None)
    add_edge(g, "procs", "sched", kind="call", text=t("system calls", "系统调用"))
    for column_bottom in ("drivers", "kvm", "sched"):
        add_edge(g, column_bottom, "hw", kind="stack")
    return g


def xen_architecture(lang: str = "en") -> graphviz.Digraph:
    """Figure 4 of the article: Xen on the hardware, Dom0 and the DomU guests. Lesson 09."""
    t = translator(lang)
    g = new_graph(
        "xen_architecture",
        t(
            "The Xen hypervisor runs on the hardware under every domain: Dom0 holds the device "
            "drivers, the backends and the toolstack, a paravirtualized DomU reaches its devices "
            "through frontends and makes hypercalls, and an HVM DomU such as Windows runs "
            "unmodified with devices emulated by QEMU in Dom0.",
            "Xen 虚拟机管理程序直接运行在硬件上、位于所有域之下：Dom0 持有设备驱动、后端驱动和"
            "管理工具，半虚拟化 DomU 通过前端驱动访问设备并发出超级调用，而 Windows 等 HVM "
            "DomU 无需修改即可运行，其设备由 Dom0 中的 QEMU 模拟。",
        ),
    )
    pv_title = t("DomU: PV (or PVH) guest", "DomU：PV（或 PVH）客户机")
    with cluster(g, "pv", pv_title, kind="vm") as pv:
        add_node(
            pv,
            "pvapp",
            t("Applications", "应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "ring3"),
        )
        add_node(
            pv,
            "pvos",
            t("Modified guest OS", "修改过的客户操作系统"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege(lang, "deprivileged"),
        )
        add_node(
            pv,
            "front",
            t("Frontend drivers", "前端驱动"),
            kind="module",
            layer="guest_kernel",
            detail=t("shared ring to the backend", "与后端共享环形缓冲区"),
        )
        add_edge(pv, "pvapp", "pvos", kind="stack")
        add_edge(pv, "pvos", "front", kind="stack")
    with cluster(g, "dom0", t("Dom0 (privileged domain)", "Dom0（特权域）"), kind="vm") as dom0:
        add_node(
            dom0,
            "tools",
            t("Toolstack (xl)", "管理工具 (xl)"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "ring3"),
        )
        add_node(
            dom0,
            "qemu",
            "QEMU",
            kind="program",
            layer="emulator",
            detail=t("device model\nfor HVM guests", "HVM 客户机的\n设备模型"),
            mark=privilege(lang, "ring3"),
        )
        add_node(
            dom0,
            "dom0k",
            t("Dom0 kernel (Linux)", "Dom0 内核 (Linux)"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege(lang, "deprivileged"),
        )
        add_node(
            dom0, "back", t("Backend drivers", "后端驱动"), kind="module", layer="guest_kernel"
        )
        add_node(
            dom0, "native", t("Device drivers", "设备驱动"), kind="module", layer="guest_kernel"
        )
        for upper, lower in (
            ("tools", "dom0k"),
            ("qemu", "dom0k"),
            ("dom0k", "back"),
            ("dom0k", "native"),
        ):
            add_edge(dom0, upper, lower, kind="stack")
    with cluster(g, "hvm", t("DomU: HVM guest", "DomU：HVM 客户机"), kind="vm") as hvm:
        add_node(
            hvm,
            "hvmapp",
            t("Applications", "应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "non-root", "ring3"),
        )
        add_node(
            hvm,
            "hvmos",
            t("Unmodified OS", "未经修改的操作系统"),
            kind="layer",
            layer="guest_kernel",
            detail=t("e.g. Windows", "如 Windows"),
            mark=privilege(lang, "non-root", "ring0"),
        )
        add_node(
            hvm,
            "hvmdrv",
            t("Stock device drivers", "原有设备驱动"),
            kind="module",
            layer="guest_kernel",
            detail=t("for devices QEMU emulates", "驱动 QEMU 模拟的设备"),
        )
        add_edge(hvm, "hvmapp", "hvmos", kind="stack")
        add_edge(hvm, "hvmos", "hvmdrv", kind="stack")
    add_node(
        g,
        "xen",
        t("Xen hypervisor", "Xen 虚拟机管理程序"),
        kind="layer",
        layer="hypervisor",
        detail=t(
            "CPU scheduling, memory, event channels, grant tables",
            "CPU 调度、内存、事件通道、授权表",
        ),
        mark=privilege(lang, "root", "ring0"),
        width=_SPAN_XEN,
    )
    add_node(
        g,
        "hw",
        t("Hardware", "硬件"),
        kind="hardware",
        layer="hardware",
        detail=t("HVM guests need VT-x / AMD-V", "HVM 客户机需要 VT-x / AMD-V"),
        width=_SPAN_XEN,
    )
    same_rank(g, ["pvapp", "tools", "qemu", "hvmapp"])
    same_rank(g, ["pvos", "dom0k", "hvmos"])
    same_rank(g, ["front", "back", "native", "hvmdrv"])
    add_edge(g, "front", "back", kind="data")
    for column_bottom in ("front", "back", "native", "hvmdrv"):
        add_edge(g, column_bottom, "xen", kind="stack")
    add_edge(g, "front", "xen", kind="call", text=term("hypercall", lang), weight="0")
    add_edge(g, "hvmdrv", "xen", kind="trap", text=term("VM exit", lang), weight="0")
    add_edge(g, "xen", "hw", kind="stack")
    return g


def kvm_qemu_relationship(lang: str = "en") -> graphviz.Digraph:
    """Figure 5 of the article: QEMU in user space drives KVM in the kernel. Lesson 08."""
    t = translator(lang)
    g = new_graph(
        "kvm_qemu_relationship",
        t(
            "QEMU in user space emulates the devices and creates and runs the virtual machine "
            "through ioctl calls on /dev/kvm, while the kvm.ko module in the Linux kernel runs "
            "the guest's code in guest mode on the CPU.",
            "用户空间的 QEMU 负责设备模拟，并通过对 /dev/kvm 的 ioctl 调用创建和运行虚拟机，"
            "而 Linux 内核中的 kvm.ko 模块让客户机代码在 CPU 的客户模式下运行。",
        ),
    )
    qemu_title = t(
        "QEMU process (-accel kvm; once the qemu-kvm fork)",
        "QEMU 进程（-accel kvm；早期为 qemu-kvm 分支）",
    )
    with cluster(g, "qemu", qemu_title, kind="space") as qemu:
        with cluster(qemu, "guest", t("Guest", "客户机"), kind="vm") as guest:
            add_node(
                guest,
                "app",
                t("Guest applications", "客户机应用程序"),
                kind="program",
                layer="guest_user",
                mark=privilege(lang, "non-root", "ring3"),
            )
            add_node(
                guest,
                "os",
                t("Guest OS", "客户操作系统"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege(lang, "non-root", "ring0"),
            )
            add_edge(guest, "app", "os", kind="stack")
        add_node(
            qemu,
            "devices",
            t("Device emulation", "设备模拟"),
            kind="device",
            layer="emulator",
            detail=t("disk, network, display", "磁盘、网络、显示"),
            mark=privilege(lang, "root", "ring3"),
        )
        add_node(
            qemu,
            "vcpu",
            t("vCPU threads", "vCPU 线程"),
            kind="program",
            layer="emulator",
            detail=t("loop: KVM_RUN, handle the exit", "循环：KVM_RUN，处理退出"),
            mark=privilege(lang, "root", "ring3"),
        )
        add_node(
            qemu,
            "tcg",
            "TCG",
            kind="module",
            layer="emulator",
            detail=t(
                "QEMU's own CPU emulator,\nunused with KVM",
                "QEMU 自带的 CPU 模拟器，\n使用 KVM 时不用",
            ),
        )
        add_edge(qemu, "os", "vcpu", kind="stack")
        same_rank(qemu, ["tcg", "vcpu", "devices"])
        add_edge(qemu, "vcpu", "devices", kind="call", text=t("I/O", "I/O"))
    with cluster(g, "kernel", t("Linux kernel", "Linux 内核"), kind="space") as kernel:
        add_node(kernel, "devkvm", "/dev/kvm", kind="interface", layer="host_kernel")
        add_node(
            kernel,
            "kvm",
            "kvm.ko",
            kind="module",
            layer="host_kernel",
            detail=t("runs guest code in guest mode", "让客户机代码在客户模式下运行"),
            mark=privilege(lang, "root", "ring0"),
        )
        add_edge(kernel, "devkvm", "kvm", kind="stack")
    add_node(
        g,
        "cpu",
        t("CPU with VT-x / AMD-V", "支持 VT-x / AMD-V 的 CPU"),
        kind="hardware",
        layer="hardware",
    )
    add_edge(g, "vcpu", "devkvm", kind="call", text="ioctl")
    add_edge(g, "kvm", "cpu", kind="call", text=term("VM entry", lang))
    add_edge(g, "os", "kvm", kind="trap", text=term("VM exit", lang), constraint="false")
    return g
