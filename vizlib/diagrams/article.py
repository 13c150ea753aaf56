"""The seed article's five figures (图1-图5), redrawn in the course's visual language.

Contents follow the article; where time changed a fact, only a label says so.
"""

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
    term,
)
from vizlib.i18n import _

# Widths in inches of the layers drawn as bars under several columns (derived: the width dot
# gives the columns above them, measured on the rendered figures).
_SPAN_TWO_VMS = "4.2"  # figures 1 and 2: two guests of about 1.9 inches and the gap between them
_SPAN_KVM = "6"  # figure 3: the kernel's three components
_SPAN_XEN = "7.8"  # figure 4: the three domains, about 2.5 inches each


@in_language
def full_virtualization(lang: str | None = None) -> graphviz.Digraph:
    """Figure 1 of the article: unmodified guests over a VMM that traps them. Lesson 01."""
    g = new_graph(
        "full_virtualization",
        _(
            "Two virtual machines, each an unmodified guest OS with its applications, run on a "
            "hypervisor (VMM) that traps their protected instructions and runs on the hardware."
        ),
    )
    for i in (1, 2):
        with cluster(g, f"vm{i}", _("Virtual machine {i}", i=i), kind="vm") as vm:
            add_node(
                vm,
                f"app{i}",
                _("Applications"),
                kind="program",
                layer="guest_user",
                mark=privilege("ring3"),
            )
            add_node(
                vm,
                f"os{i}",
                _("Unmodified guest OS"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege("deprivileged"),
            )
            add_edge(vm, f"app{i}", f"os{i}", kind="stack")
    add_node(
        g,
        "vmm",
        _("VMM / Hypervisor"),
        kind="layer",
        layer="hypervisor",
        detail=_(
            "traps and handles protected instructions\n"
            "(binary translation before VT-x / AMD-V; hardware assist today)"
        ),
        mark=privilege("ring0"),
        width=_SPAN_TWO_VMS,
    )
    add_node(g, "hw", _("Hardware"), kind="hardware", layer="hardware", width=_SPAN_TWO_VMS)
    add_edge(g, "os1", "vmm", kind="trap", text=term("trap"))
    add_edge(g, "os2", "vmm", kind="trap", text=term("trap"))
    add_edge(g, "vmm", "hw", kind="stack")
    return g


@in_language
def paravirtualization(lang: str | None = None) -> graphviz.Digraph:
    """Figure 2 of the article: modified guests that call the hypervisor. Lesson 01."""
    g = new_graph(
        "paravirtualization",
        _(
            "Two virtual machines, each a modified guest OS whose virtualization-aware code makes "
            "hypercalls to the hypervisor, share the hardware through that hypervisor."
        ),
    )
    for i in (1, 2):
        with cluster(g, f"vm{i}", _("Virtual machine {i}", i=i), kind="vm") as vm:
            add_node(
                vm,
                f"app{i}",
                _("Applications"),
                kind="program",
                layer="guest_user",
                mark=privilege("ring3"),
            )
            add_node(
                vm,
                f"os{i}",
                _("Modified guest OS"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege("deprivileged"),
            )
            add_node(
                vm,
                f"pv{i}",
                _("Virtualization-aware code"),
                kind="module",
                layer="guest_kernel",
                detail=_("today mostly PV drivers (virtio)"),
            )
            add_edge(vm, f"app{i}", f"os{i}", kind="stack")
            add_edge(vm, f"os{i}", f"pv{i}", kind="stack")
    add_node(
        g,
        "hyp",
        _("Hypervisor"),
        kind="layer",
        layer="hypervisor",
        detail=_("shares the hardware among guests"),
        mark=privilege("ring0"),
        width=_SPAN_TWO_VMS,
    )
    add_node(g, "hw", _("Hardware"), kind="hardware", layer="hardware", width=_SPAN_TWO_VMS)
    add_edge(g, "pv1", "hyp", kind="call", text=term("hypercall"))
    add_edge(g, "pv2", "hyp", kind="call", text=term("hypercall"))
    add_edge(g, "hyp", "hw", kind="stack")
    return g


@in_language
def kvm_architecture(lang: str | None = None) -> graphviz.Digraph:
    """Figure 3 of the article: Linux with kvm.ko, each VM a QEMU process. Lesson 07.

    The guests run in the processor's guest mode, not in host user space: what belongs to the
    QEMU process is the guest's memory and its vCPU threads (dotted lines).
    """
    g = new_graph(
        "kvm_architecture",
        _(
            "Each virtual machine is a QEMU process in user space beside ordinary processes: its "
            "memory is the process's memory and each vCPU one of its threads, while the guest's "
            "own code runs in the processor's guest mode; the Linux kernel with its kvm.ko module "
            "runs the guests on x86 hardware with Intel VT-x or AMD-V."
        ),
    )
    guest_mode = _("Guest mode (VMX non-root)")
    with cluster(g, "guests", guest_mode, kind="space") as guests:
        for i in (1, 2):
            with cluster(guests, f"vm{i}", _("VM {i}", i=i), kind="vm") as vm:
                add_node(
                    vm,
                    f"app{i}",
                    _("Guest applications"),
                    kind="program",
                    layer="guest_user",
                    mark=privilege("non-root", "ring3"),
                )
                add_node(
                    vm,
                    f"os{i}",
                    _("Guest OS"),
                    kind="layer",
                    layer="guest_kernel",
                    mark=privilege("non-root", "ring0"),
                )
                add_edge(vm, f"app{i}", f"os{i}", kind="stack")
    with cluster(g, "user", _("User space"), kind="space") as user:
        for i in (1, 2):
            add_node(
                user,
                f"qemu{i}",
                _("QEMU process {i}", i=i),
                kind="program",
                layer="emulator",
                detail=_("VM memory, vCPU threads,\ndevice emulation"),
                mark=privilege("root", "ring3"),
            )
        add_node(
            user,
            "procs",
            _("Ordinary\nprocesses"),
            kind="program",
            layer="host_user",
            mark=privilege("root", "ring3"),
        )
    with cluster(g, "kernel", _("Linux kernel"), kind="space") as kernel:
        add_node(
            kernel,
            "drivers",
            _("Device drivers"),
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
            mark=privilege("root", "ring0"),
        )
        add_node(
            kernel,
            "sched",
            _("Scheduler,\nmemory management"),
            kind="layer",
            layer="host_kernel",
            mark=privilege("root", "ring0"),
        )
    add_node(
        g,
        "hw",
        _("x86 hardware with Intel VT-x / AMD-V"),
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
            text=_("memory, vCPUs") if i == 1 else None,
        )
        add_edge(g, f"qemu{i}", "kvm", kind="call", text="ioctl" if i == 1 else None)
    add_edge(g, "procs", "sched", kind="call", text=_("system calls"))
    for column_bottom in ("drivers", "kvm", "sched"):
        add_edge(g, column_bottom, "hw", kind="stack")
    return g


@in_language
def xen_architecture(lang: str | None = None) -> graphviz.Digraph:
    """Figure 4 of the article: Xen on the hardware, Dom0 and the DomU guests. Lesson 09."""
    g = new_graph(
        "xen_architecture",
        _(
            "The Xen hypervisor runs on the hardware under every domain: Dom0 holds the device "
            "drivers, the backends and the toolstack, a paravirtualized DomU reaches its devices "
            "through frontends and makes hypercalls, and an HVM DomU such as Windows runs "
            "unmodified with devices emulated by QEMU in Dom0."
        ),
    )
    pv_title = _("DomU: PV (or PVH) guest")
    with cluster(g, "pv", pv_title, kind="vm") as pv:
        add_node(
            pv,
            "pvapp",
            _("Applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("ring3"),
        )
        add_node(
            pv,
            "pvos",
            _("Modified guest OS"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege("deprivileged"),
        )
        add_node(
            pv,
            "front",
            _("Frontend drivers"),
            kind="module",
            layer="guest_kernel",
            detail=_("shared ring to the backend"),
        )
        add_edge(pv, "pvapp", "pvos", kind="stack")
        add_edge(pv, "pvos", "front", kind="stack")
    with cluster(g, "dom0", _("Dom0 (privileged domain)"), kind="vm") as dom0:
        add_node(
            dom0,
            "tools",
            _("Toolstack (xl)"),
            kind="program",
            layer="guest_user",
            mark=privilege("ring3"),
        )
        add_node(
            dom0,
            "qemu",
            "QEMU",
            kind="program",
            layer="emulator",
            detail=_("device model\nfor HVM guests"),
            mark=privilege("ring3"),
        )
        add_node(
            dom0,
            "dom0k",
            _("Dom0 kernel (Linux)"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege("deprivileged"),
        )
        add_node(dom0, "back", _("Backend drivers"), kind="module", layer="guest_kernel")
        add_node(dom0, "native", _("Device drivers"), kind="module", layer="guest_kernel")
        for upper, lower in (
            ("tools", "dom0k"),
            ("qemu", "dom0k"),
            ("dom0k", "back"),
            ("dom0k", "native"),
        ):
            add_edge(dom0, upper, lower, kind="stack")
    with cluster(g, "hvm", _("DomU: HVM guest"), kind="vm") as hvm:
        add_node(
            hvm,
            "hvmapp",
            _("Applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("non-root", "ring3"),
        )
        add_node(
            hvm,
            "hvmos",
            _("Unmodified OS"),
            kind="layer",
            layer="guest_kernel",
            detail=_("e.g. Windows"),
            mark=privilege("non-root", "ring0"),
        )
        add_node(
            hvm,
            "hvmdrv",
            _("Stock device drivers"),
            kind="module",
            layer="guest_kernel",
            detail=_("for devices QEMU emulates"),
        )
        add_edge(hvm, "hvmapp", "hvmos", kind="stack")
        add_edge(hvm, "hvmos", "hvmdrv", kind="stack")
    add_node(
        g,
        "xen",
        _("Xen hypervisor"),
        kind="layer",
        layer="hypervisor",
        detail=_("CPU scheduling, memory, event channels, grant tables"),
        mark=privilege("root", "ring0"),
        width=_SPAN_XEN,
    )
    add_node(
        g,
        "hw",
        _("Hardware"),
        kind="hardware",
        layer="hardware",
        detail=_("HVM guests need VT-x / AMD-V"),
        width=_SPAN_XEN,
    )
    same_rank(g, ["pvapp", "tools", "qemu", "hvmapp"])
    same_rank(g, ["pvos", "dom0k", "hvmos"])
    same_rank(g, ["front", "back", "native", "hvmdrv"])
    add_edge(g, "front", "back", kind="data")
    for column_bottom in ("front", "back", "native", "hvmdrv"):
        add_edge(g, column_bottom, "xen", kind="stack")
    add_edge(g, "front", "xen", kind="call", text=term("hypercall"), weight="0")
    add_edge(g, "hvmdrv", "xen", kind="trap", text=term("VM exit"), weight="0")
    add_edge(g, "xen", "hw", kind="stack")
    return g


@in_language
def kvm_qemu_relationship(lang: str | None = None) -> graphviz.Digraph:
    """Figure 5 of the article: QEMU in user space drives KVM in the kernel. Lesson 08."""
    g = new_graph(
        "kvm_qemu_relationship",
        _(
            "QEMU in user space emulates the devices and creates and runs the virtual machine "
            "through ioctl calls on /dev/kvm, while the kvm.ko module in the Linux kernel runs "
            "the guest's code in guest mode on the CPU."
        ),
    )
    qemu_title = _("QEMU process (-accel kvm; once the qemu-kvm fork)")
    with cluster(g, "qemu", qemu_title, kind="space") as qemu:
        with cluster(qemu, "guest", _("Guest"), kind="vm") as guest:
            add_node(
                guest,
                "app",
                _("Guest applications"),
                kind="program",
                layer="guest_user",
                mark=privilege("non-root", "ring3"),
            )
            add_node(
                guest,
                "os",
                _("Guest OS"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege("non-root", "ring0"),
            )
            add_edge(guest, "app", "os", kind="stack")
        add_node(
            qemu,
            "devices",
            _("Device emulation"),
            kind="device",
            layer="emulator",
            detail=_("disk, network, display"),
            mark=privilege("root", "ring3"),
        )
        add_node(
            qemu,
            "vcpu",
            _("vCPU threads"),
            kind="program",
            layer="emulator",
            detail=_("loop: KVM_RUN, handle the exit"),
            mark=privilege("root", "ring3"),
        )
        add_node(
            qemu,
            "tcg",
            "TCG",
            kind="module",
            layer="emulator",
            detail=_("QEMU's own CPU emulator,\nunused with KVM"),
        )
        add_edge(qemu, "os", "vcpu", kind="stack")
        same_rank(qemu, ["tcg", "vcpu", "devices"])
        add_edge(qemu, "vcpu", "devices", kind="call", text="I/O")
    with cluster(g, "kernel", _("Linux kernel"), kind="space") as kernel:
        add_node(kernel, "devkvm", "/dev/kvm", kind="interface", layer="host_kernel")
        add_node(
            kernel,
            "kvm",
            "kvm.ko",
            kind="module",
            layer="host_kernel",
            detail=_("runs guest code in guest mode"),
            mark=privilege("root", "ring0"),
        )
        add_edge(kernel, "devkvm", "kvm", kind="stack")
    add_node(
        g,
        "cpu",
        _("CPU with VT-x / AMD-V"),
        kind="hardware",
        layer="hardware",
    )
    add_edge(g, "vcpu", "devkvm", kind="call", text="ioctl")
    add_edge(g, "kvm", "cpu", kind="call", text=term("VM entry"))
    add_edge(g, "os", "kvm", kind="trap", text=term("VM exit"), constraint="false")
    return g
