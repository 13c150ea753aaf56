"""The cloud around the hypervisors, nested virtualization, and a map of the course. Lesson 10.

A cloud API request down to kvm.ko, a Firecracker microVM beside a QEMU VM, nested KVM beside
PVM, containers beside virtual machines, and one page recapping lessons 01-10.
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
from vizlib.i18n import N_, _

# Widths in inches of the bars under several columns (derived: measured on the rendered figures).
_SPAN_COMPUTE = "4.6"  # cloud_request: the compute node's columns
_SPAN_MICROVM = "5.2"  # microvm: both panels
_SPAN_NESTED = "2.9"  # nested_virtualization: one panel
_SPAN_ISOLATION = "2.3"  # containers_and_vms: one panel


@in_language
def cloud_request(lang: str | None = None) -> graphviz.Digraph:
    """An OpenStack request to start a server, from the API down to the QEMU process and kvm.ko.

    Lesson 10.
    """
    g = new_graph(
        "cloud_request",
        _(
            "A request to create a server reaches nova-api, the scheduler picks a compute host, "
            "nova-compute there asks libvirt to define and start a domain, libvirtd starts one "
            "QEMU process for the virtual machine, and QEMU runs the guest through /dev/kvm and "
            "kvm.ko on a processor with VT-x or AMD-V."
        ),
    )
    add_node(
        g,
        "client",
        _("API client"),
        kind="program",
        layer="host_user",
        detail="openstack server create",
    )
    with cluster(g, "controller", _("Controller node"), kind="space") as ctl:
        add_node(
            ctl,
            "api",
            "nova-api",
            kind="program",
            layer="host_user",
            detail=_("OpenStack Compute's REST API"),
        )
        add_node(
            ctl,
            "scheduler",
            "nova-conductor, nova-scheduler",
            kind="program",
            layer="host_user",
            detail=_("pick a compute host"),
        )
    with cluster(g, "compute", _("Compute node: a Linux host"), kind="space") as node:
        add_node(
            node,
            "nova_compute",
            "nova-compute",
            kind="program",
            layer="host_user",
            detail=_("libvirt driver: writes the domain XML"),
            mark=privilege("ring3"),
        )
        add_node(
            node,
            "libvirtd",
            "libvirtd",
            kind="program",
            layer="host_user",
            detail=_("libvirt's daemon: one API for\nKVM, Xen, QEMU and others"),
            mark=privilege("ring3"),
        )
        title = _("Virtual machine = one QEMU process")
        with cluster(node, "vm", title, kind="vm") as vm:
            add_node(
                vm,
                "guest",
                _("Guest OS"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege("non-root", "ring0"),
            )
            add_node(
                vm,
                "qemu",
                "qemu-system-x86_64 -accel kvm",
                kind="program",
                layer="emulator",
                detail=_("devices (virtio); vCPUs = threads"),
                mark=privilege("root", "ring3"),
            )
            add_edge(vm, "guest", "qemu", kind="stack")
        add_node(
            node,
            "dev",
            "/dev/kvm",
            kind="interface",
            layer="host_kernel",
        )
        add_node(
            node,
            "kvm",
            "kvm.ko",
            kind="module",
            layer="host_kernel",
            detail="+ kvm-intel.ko / kvm-amd.ko",
            mark=privilege("root", "ring0"),
            width=_SPAN_COMPUTE,
        )
    add_node(
        g,
        "hw",
        _("CPU with VT-x / AMD-V"),
        kind="hardware",
        layer="hardware",
        width=_SPAN_COMPUTE,
    )
    add_edge(g, "client", "api", kind="call", text="REST (HTTPS)")
    add_edge(g, "api", "scheduler", kind="call", text=_("RPC, message queue"))
    add_edge(g, "scheduler", "nova_compute", kind="call", text=_("RPC: build and run"))
    add_edge(g, "nova_compute", "libvirtd", kind="call", text=_("define + start domain"))
    add_edge(g, "libvirtd", "qemu", kind="call", text=_("starts"))
    add_edge(g, "qemu", "dev", kind="call", text="ioctl: KVM_RUN")
    add_edge(g, "dev", "kvm", kind="stack")
    add_edge(g, "kvm", "hw", kind="call", text=term("VM entry"))
    add_edge(g, "guest", "kvm", kind="trap", text=term("VM exit"), weight="0")
    return g


def _microvm_panel(g, key, title, vmm, detail, os_text):
    with cluster(g, key, title, kind="vm") as vm:
        add_node(
            vm,
            f"{key}_app",
            _("Guest applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("non-root", "ring3"),
        )
        add_node(
            vm,
            f"{key}_os",
            os_text,
            kind="layer",
            layer="guest_kernel",
            mark=privilege("non-root", "ring0"),
        )
        add_node(
            vm,
            f"{key}_vmm",
            vmm,
            kind="program",
            layer="emulator",
            detail=detail,
            mark=privilege("root", "ring3"),
        )
        add_edge(vm, f"{key}_app", f"{key}_os", kind="stack")
        add_edge(vm, f"{key}_os", f"{key}_vmm", kind="stack")


@in_language
def microvm(lang: str | None = None) -> graphviz.Digraph:
    """A QEMU virtual machine beside a Firecracker microVM, both on KVM. Lesson 10."""
    g = new_graph(
        "microvm",
        _(
            "A QEMU process emulates a whole PC with many devices and firmware, while a "
            "Firecracker process, one per microVM, offers a minimal machine with a few virtio "
            "devices and a serial console; both run their guest on the same KVM."
        ),
    )
    _microvm_panel(
        g,
        "qemu",
        _("Virtual machine: a QEMU process"),
        "QEMU",
        _("firmware (BIOS / UEFI), PC chipset,\ndisks, network cards, USB, display"),
        _("Any guest OS"),
    )
    _microvm_panel(
        g,
        "fc",
        _("microVM: a Firecracker process"),
        "Firecracker",
        _("virtio network and block, serial console;\nREST API on a Unix socket; in a jailer"),
        _("Linux guest kernel, booted directly"),
    )
    add_node(
        g,
        "kvm",
        _("Linux kernel + kvm.ko"),
        kind="layer",
        layer="host_kernel",
        detail=_("/dev/kvm: the same interface for both"),
        mark=privilege("root", "ring0"),
        width=_SPAN_MICROVM,
    )
    add_node(g, "hw", _("Hardware"), kind="hardware", layer="hardware", width=_SPAN_MICROVM)
    same_rank(g, ["qemu_vmm", "fc_vmm"])
    add_edge(g, "qemu_vmm", "kvm", kind="call", text="ioctl")
    add_edge(g, "fc_vmm", "kvm", kind="call", text="ioctl")
    add_edge(g, "kvm", "hw", kind="stack")
    return g


@in_language
def nested_virtualization(lang: str | None = None) -> graphviz.Digraph:
    """One exit of a nested guest under nested KVM (through L0) and under PVM (not). Lesson 10."""
    g = new_graph(
        "nested_virtualization",
        _(
            "Under nested KVM an exit of the L2 guest goes to L0, which reflects it into L1's "
            "KVM, whose VMX instructions exit to L0 again before L0 resumes L2; under PVM the L2 "
            "guest runs in ring 3 of L1's VM and its exits go straight to PVM in L1's kernel, "
            "which L0 never sees."
        ),
    )
    panels = (
        ("k", _("Nested KVM"), _("L1's KVM"), "kvm-intel.ko",
         _("takes every exit of L2 first")),
        ("p", "PVM", _("PVM in L1's kernel"), "kvm-pvm.ko",
         _("sees none of L2's exits")),
    )  # fmt: skip
    l1_mark = privilege("non-root", "ring0")
    for key, title, hypervisor, module, l0_sees in panels:
        with cluster(g, f"{key}_panel", title, kind="panel") as panel:
            l1_title = _("L1: a cloud VM")
            with cluster(panel, f"{key}_l1", l1_title, kind="vm") as l1:
                l2_title = _("L2: nested guest")
                with cluster(l1, f"{key}_l2", l2_title, kind="vm") as l2:
                    pvm = key == "p"
                    add_node(
                        l2,
                        f"{key}_guest",
                        _("Guest kernel"),
                        kind="layer",
                        layer="guest_kernel",
                        detail=_("PVM-aware") if pvm else None,
                        mark=privilege("non-root", "ring3" if pvm else "ring0"),
                    )
                add_node(
                    l1,
                    f"{key}_hyp",
                    hypervisor,
                    kind="module",
                    layer=("guest_kernel", "hypervisor"),
                    detail=module,
                    mark=l1_mark,
                )
                add_edge(l1, f"{key}_guest", f"{key}_hyp", kind="stack")
            add_node(
                panel,
                f"{key}_l0",
                _("L0: the cloud's hypervisor"),
                kind="layer",
                layer="hypervisor",
                detail=l0_sees,
                mark=privilege("root", "ring0"),
                width=_SPAN_NESTED,
            )
            add_node(
                panel,
                f"{key}_hw",
                _("CPU with VT-x"),
                kind="hardware",
                layer="hardware",
                width=_SPAN_NESTED,
            )
            add_edge(panel, f"{key}_l0", f"{key}_hw", kind="stack")
    add_edge(g, "k_guest", "k_l0", kind="trap", text=f"1 {term('VM exit')}", weight="0")
    add_edge(g, "k_l0", "k_hyp", kind="call", text=_("2 reflect"))
    add_edge(
        g,
        "k_hyp",
        "k_l0",
        kind="trap",
        text=_("3 VMREAD... VMRESUME:\nexits"),
    )
    add_edge(g, "k_l0", "k_guest", kind="call", text=_("4 resume L2"), weight="0")
    add_edge(g, "p_guest", "p_hyp", kind="trap", text=_("1 trap"))
    add_edge(g, "p_hyp", "p_guest", kind="call", text=_("2 return"))
    add_edge(g, "p_hyp", "p_l0", kind="stack")
    same_rank(g, ["k_l0", "p_l0"])
    return g


def _isolation_vm(g, key, title, kernel, mark):
    with cluster(g, key, title, kind="vm") as vm:
        add_node(
            vm,
            f"{key}_app",
            _("App"),
            kind="program",
            layer="guest_user",
            mark=privilege("ring3"),
        )
        add_node(vm, f"{key}_os", kernel, kind="layer", layer="guest_kernel", mark=mark)
        add_edge(vm, f"{key}_app", f"{key}_os", kind="stack")


@in_language
def containers_and_vms(lang: str | None = None) -> graphviz.Digraph:
    """Containers, virtual machines and secure containers: what separates the workloads.

    Lesson 10.
    """
    g = new_graph(
        "containers_and_vms",
        _(
            "Containers are processes that share the host's kernel, separated by its namespaces "
            "and cgroups; virtual machines each bring a kernel and are separated by the "
            "hypervisor; a secure container puts a container's kernel inside a lightweight VM, "
            "even inside a cloud VM with PVM."
        ),
    )
    with cluster(g, "c_panel", _("Containers"), kind="panel") as panel:
        for i in (2, 1):  # dot lays these clusters out right to left
            with cluster(panel, f"c{i}", _("Container {i}", i=i), kind="space") as box:
                add_node(
                    box,
                    f"c{i}_app",
                    _("App"),
                    kind="program",
                    layer="host_user",
                    mark=privilege("ring3"),
                )
        add_node(
            panel,
            "c_kernel",
            _("One shared host kernel"),
            kind="layer",
            layer="host_kernel",
            detail=_("namespaces, cgroups"),
            mark=privilege("ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "c_hw",
            _("Hardware"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "c1_app", "c_kernel", kind="call", text=_("system calls"))
        add_edge(panel, "c2_app", "c_kernel", kind="call")
        add_edge(panel, "c_kernel", "c_hw", kind="stack")
    with cluster(g, "v_panel", _("Virtual machines"), kind="panel") as panel:
        for i in (2, 1):  # dot lays these clusters out right to left
            _isolation_vm(
                panel, f"v{i}", _("VM {i}", i=i), _("Kernel"),
                privilege("non-root", "ring0"),
            )  # fmt: skip
        add_node(
            panel,
            "v_hyp",
            _("Hypervisor (KVM, Xen)"),
            kind="layer",
            layer="hypervisor",
            mark=privilege("root", "ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "v_hw",
            _("Hardware"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "v1_os", "v_hyp", kind="trap", text=term("VM exit"))
        add_edge(panel, "v2_os", "v_hyp", kind="trap")
        add_edge(panel, "v_hyp", "v_hw", kind="stack")
    title = _("Secure container in a cloud VM")
    with cluster(g, "s_panel", title, kind="panel") as panel:
        with cluster(panel, "s_l1", _("Cloud VM (L1)"), kind="vm") as l1:
            _isolation_vm(
                l1, "s_l2", _("Lightweight VM (L2)"),
                _("Small kernel"), privilege("ring3"),
            )  # fmt: skip
            add_node(
                l1,
                "s_pvm",
                _("PVM in L1's kernel"),
                kind="module",
                layer=("guest_kernel", "hypervisor"),
                mark=privilege("non-root", "ring0"),
            )
        add_node(
            panel,
            "s_l0",
            _("Cloud hypervisor (L0)"),
            kind="layer",
            layer="hypervisor",
            mark=privilege("root", "ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "s_hw",
            _("Hardware"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "s_l2_os", "s_pvm", kind="trap", text=term("trap"))
        add_edge(panel, "s_pvm", "s_l0", kind="stack")
        add_edge(panel, "s_l0", "s_hw", kind="stack")
    same_rank(g, ["c1_app", "c2_app", "v1_app", "v2_app", "s_l2_app"])
    same_rank(g, ["v1_os", "v2_os", "s_l2_os"])
    same_rank(g, ["c_kernel", "v_hyp", "s_l0"])
    same_rank(g, ["c_hw", "v_hw", "s_hw"])
    return g


# The course in one page: node id, lesson, layer, kind, title and detail.
_RECAP_NODES = (
    ("pg", "01-02", "hypervisor", "interface", N_("Popek & Goldberg, trap-and-emulate"),
     N_("sensitive instructions must trap;\nx86 has 17 that do not (Robin & Irvine)")),
    ("emu", "06", "emulator", "program", N_("Hardware emulation"),
     N_("every instruction interpreted\nor translated: any CPU on any CPU")),
    ("bt", "03", "hypervisor", "layer", N_("Binary translation"),
     N_("kernel code rewritten:\ninline code, callouts")),
    ("pv", "04", "guest_kernel", "layer", N_("Paravirtualization"),
     N_("modified kernel: hypercalls,\nbatching; virtio")),
    ("hw", "05", "hardware", "hardware", N_("Hardware-assisted virtualization"),
     N_("VT-x / AMD-V: VM exits;\nEPT: 2D page walks")),
    ("qemu", "06", "emulator", "program", N_("QEMU"),
     N_("TCG translator,\ndevice models")),
    ("kvm", "07", "host_kernel", "module", N_("KVM"),
     N_("kvm.ko: /dev/kvm,\nguest mode")),
    ("kq", "08", "emulator", "program", N_("KVM + QEMU"),
     N_("KVM runs the CPU,\nQEMU the devices")),
    ("xen", "09", "hypervisor", "layer", N_("Xen"),
     N_("type 1, Dom0, split drivers;\nPV, HVM, PVH")),
    ("cloud", "10", "host_user", "program", N_("The cloud"),
     N_("libvirt, nested (PVM),\nmicroVMs, containers")),
)  # fmt: skip
# How the ideas lead to the systems: tail, head, label (drawn dotted).
_RECAP_EDGES = (
    ("pg", "bt", N_("x86's answer in software")),
    ("pg", "pv", N_("change the guest")),
    ("pg", "hw", N_("change the CPU")),
    ("emu", "qemu", None),
    ("hw", "kvm", None),
    ("hw", "xen", None),
    ("pv", "xen", None),
    ("qemu", "kq", None),
    ("kvm", "kq", None),
    ("kq", "cloud", None),
    ("xen", "cloud", None),
)


@in_language
def course_recap(lang: str | None = None) -> graphviz.Digraph:
    """The whole course on one page: the ideas, the four techniques, the three systems, the
    cloud, each with its lesson. Lesson 10."""
    g = new_graph(
        "course_recap",
        _(
            "Popek and Goldberg's condition, which x86 failed, led to three answers beside plain "
            "emulation, binary translation, paravirtualization and hardware assist; QEMU, KVM "
            "and Xen build on them, KVM and QEMU work together, and clouds run them all through "
            "libvirt, nested and in microVMs."
        ),
    )
    rows = {
        "ideas": _("Ideas"),
        "techniques": _("Techniques"),
        "systems": _("Systems"),
        "cloud": _("Together, in the cloud"),
    }
    # Left to right in each row, in the order that keeps the arrows from crossing.
    members = {
        "ideas": ("pg",),
        "techniques": ("emu", "bt", "hw", "pv"),
        "systems": ("qemu", "kvm", "xen"),
        "cloud": ("kq", "cloud"),
    }
    nodes = {n[0]: n for n in _RECAP_NODES}
    for row, ids in members.items():
        with cluster(g, row, rows[row], kind="space") as box:
            for node_id in ids:
                _node, lesson, layer, kind, title, detail = nodes[node_id]
                add_node(
                    box,
                    node_id,
                    _(title),
                    kind=kind,
                    layer=layer,
                    detail=_(detail),
                    mark=_("lesson {lesson}", lesson=lesson),
                )
        same_rank(g, ids)
        for left, right in zip(ids, ids[1:], strict=False):
            add_edge(g, left, right, kind="stack")  # keeps the row in order
    for tail, head, label in _RECAP_EDGES:
        add_edge(g, tail, head, kind="data", text=label and _(label), dir="forward")
    return g
