"""Figures the article implies but does not draw: hypervisor types and hardware emulation."""

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

# Width in inches of the layers under one panel of `hypervisor_types` (derived: the widest
# column of a panel, about 2.2 inches, so the three panels fit a notebook's width).
_PANEL_SPAN = "2.3"


def _guest(g: graphviz.Digraph, prefix: str, title: str, marked: bool) -> None:
    """A virtual machine frame holding applications over a guest OS, marked non-root or not."""
    with cluster(g, f"{prefix}_vm", title, kind="vm") as vm:
        add_node(
            vm,
            f"{prefix}_app",
            _("Applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("non-root", "ring3") if marked else None,
        )
        add_node(
            vm,
            f"{prefix}_os",
            _("Guest OS"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege("non-root", "ring0") if marked else None,
        )
        add_edge(vm, f"{prefix}_app", f"{prefix}_os", kind="stack")


@in_language
def hypervisor_types(lang: str | None = None) -> graphviz.Digraph:
    """Type 1 (bare metal) beside type 2 (hosted), and KVM between them. Lesson 01."""
    g = new_graph(
        "hypervisor_types",
        _(
            "A type-1 hypervisor runs directly on the hardware under its virtual machines, a "
            "type-2 hypervisor runs as a process on a host operating system, and KVM, which "
            "turns the Linux kernel itself into the hypervisor, is argued to be of either type."
        ),
    )
    vm_title = _("Virtual machine")
    type1 = _("Type 1: bare metal")
    with cluster(g, "type1", type1, kind="panel") as panel:
        _guest(panel, "t1", vm_title, marked=True)
        add_node(
            panel,
            "t1_hyp",
            _("Type-1 hypervisor"),
            kind="layer",
            layer="hypervisor",
            detail=_("e.g. Xen, VMware ESXi, Hyper-V"),
            mark=privilege("root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "t1_hw",
            _("Hardware"),
            kind="hardware",
            layer="hardware",
            width=_PANEL_SPAN,
        )
        add_edge(panel, "t1_os", "t1_hyp", kind="stack")
        add_edge(panel, "t1_hyp", "t1_hw", kind="stack")
    kvm_title = _("KVM: type 1 or type 2?")
    with cluster(g, "kvm", kvm_title, kind="panel") as panel:
        _guest(panel, "kvm", vm_title, marked=True)
        add_node(
            panel,
            "kvm_qemu",
            _("QEMU process"),
            kind="program",
            layer="emulator",
            mark=privilege("root", "ring3"),
        )
        add_node(
            panel,
            "kvm_linux",
            _("Linux kernel + kvm.ko"),
            kind="layer",
            layer=("host_kernel", "hypervisor"),
            detail=_("a host kernel that is also\nthe hypervisor (Red Hat: type 1)"),
            mark=privilege("root", "ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "kvm_hw",
            _("Hardware"),
            kind="hardware",
            layer="hardware",
            width=_PANEL_SPAN,
        )
        add_edge(panel, "kvm_os", "kvm_qemu", kind="stack")
        add_edge(panel, "kvm_qemu", "kvm_linux", kind="stack")
        add_edge(panel, "kvm_linux", "kvm_hw", kind="stack")
    type2 = _("Type 2: hosted")
    with cluster(g, "type2", type2, kind="panel") as panel:
        _guest(panel, "t2", vm_title, marked=False)
        add_node(
            panel,
            "t2_hyp",
            _("Type-2 hypervisor"),
            kind="program",
            layer="hypervisor",
            detail=_("e.g. VirtualBox, VMware Workstation"),
            mark=privilege("ring3"),
        )
        add_node(
            panel,
            "t2_procs",
            _("Host\napplications"),
            kind="program",
            layer="host_user",
            mark=privilege("ring3"),
        )
        add_node(
            panel,
            "t2_host",
            _("Host OS kernel"),
            kind="layer",
            layer="host_kernel",
            mark=privilege("ring0"),
            width=_PANEL_SPAN,
        )
        add_node(
            panel,
            "t2_hw",
            _("Hardware"),
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


@in_language
def hardware_emulation(lang: str | None = None) -> graphviz.Digraph:
    """A PowerPC guest run by an emulator process on an x86 host. Lessons 01 and 06."""
    g = new_graph(
        "hardware_emulation",
        _(
            "An emulator process on an x86 host interprets or translates every instruction of a "
            "PowerPC guest OS and its applications into x86 code and emulates the guest's "
            "devices, so the host needs no virtualization support."
        ),
    )
    emu_title = _("Emulator process: QEMU (TCG), Bochs, PearPC")
    with cluster(g, "emulator", emu_title, kind="space") as emu:
        with cluster(emu, "guest", _("PowerPC guest"), kind="vm") as guest:
            add_node(
                guest,
                "app",
                _("PowerPC applications"),
                kind="program",
                layer="guest_user",
                mark=privilege("emulated", "user"),
            )
            add_node(
                guest,
                "os",
                _("PowerPC guest OS"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege("emulated", "supervisor"),
            )
            add_edge(guest, "app", "os", kind="stack")
        add_node(
            emu,
            "cpu",
            _("Virtual PowerPC CPU"),
            kind="module",
            layer="emulator",
            detail=_("interprets or translates\nPowerPC instructions into x86 code"),
            mark=privilege("ring3"),
        )
        add_node(
            emu,
            "devices",
            _("Emulated devices"),
            kind="device",
            layer="emulator",
            detail=_("disk, network, display"),
            mark=privilege("ring3"),
        )
        same_rank(emu, ["cpu", "devices"])
    add_node(
        g,
        "host",
        _("Host OS kernel"),
        kind="layer",
        layer="host_kernel",
        mark=privilege("ring0"),
        width="4",
    )
    add_node(
        g,
        "hw",
        _("x86 hardware"),
        kind="hardware",
        layer="hardware",
        detail=_("no virtualization extensions needed"),
        width="4",
    )
    add_edge(g, "os", "cpu", kind="data", text=_("PowerPC instructions"), dir="forward")
    add_edge(g, "devices", "host", kind="call", text=_("system calls"))
    add_edge(g, "cpu", "host", kind="stack")
    add_edge(g, "host", "hw", kind="stack")
    add_edge(g, "cpu", "hw", kind="call", text=_("x86 code"), weight="0")
    return g
