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
    new_graph,
    privilege,
    same_rank,
    term,
    translator,
)

# Widths in inches of the bars under several columns (derived: measured on the rendered figures).
_SPAN_COMPUTE = "4.6"  # cloud_request: the compute node's columns
_SPAN_MICROVM = "5.2"  # microvm: both panels
_SPAN_NESTED = "2.9"  # nested_virtualization: one panel
_SPAN_ISOLATION = "2.3"  # containers_and_vms: one panel


def cloud_request(lang: str = "en") -> graphviz.Digraph:
    """An OpenStack request to start a server, from the API down to the QEMU process and kvm.ko.

    Lesson 10.
    """
    t = translator(lang)
    g = new_graph(
        "cloud_request",
        t(
            "A request to create a server reaches nova-api, the scheduler picks a compute host, "
            "nova-compute there asks libvirt to define and start a domain, libvirtd starts one "
            "QEMU process for the virtual machine, and QEMU runs the guest through /dev/kvm and "
            "kvm.ko on a processor with VT-x or AMD-V.",
            "创建云主机的请求到达 nova-api，调度器选出一台计算节点，该节点上的 nova-compute 请求 "
            "libvirt 定义并启动一个域，libvirtd 为这台虚拟机启动一个 QEMU 进程，QEMU 再通过 "
            "/dev/kvm 和 kvm.ko 在支持 VT-x 或 AMD-V 的处理器上运行客户机。",
        ),
    )
    add_node(
        g,
        "client",
        t("API client", "API 客户端"),
        kind="program",
        layer="host_user",
        detail="openstack server create",
    )
    with cluster(g, "controller", t("Controller node", "控制节点"), kind="space") as ctl:
        add_node(
            ctl,
            "api",
            "nova-api",
            kind="program",
            layer="host_user",
            detail=t("OpenStack Compute's REST API", "OpenStack 计算服务的 REST API"),
        )
        add_node(
            ctl,
            "scheduler",
            "nova-conductor, nova-scheduler",
            kind="program",
            layer="host_user",
            detail=t("pick a compute host", "选出一台计算节点"),
        )
    with cluster(
        g, "compute", t("Compute node: a Linux host", "计算节点：一台 Linux 主机"), kind="space"
    ) as node:
        add_node(
            node,
            "nova_compute",
            "nova-compute",
            kind="program",
            layer="host_user",
            detail=t("libvirt driver: writes the domain XML", "libvirt 驱动：生成域的 XML"),
            mark=privilege(lang, "ring3"),
        )
        add_node(
            node,
            "libvirtd",
            "libvirtd",
            kind="program",
            layer="host_user",
            detail=t(
                "libvirt's daemon: one API for\nKVM, Xen, QEMU and others",
                "libvirt 守护进程：\n为 KVM、Xen、QEMU 等提供统一 API",
            ),
            mark=privilege(lang, "ring3"),
        )
        title = t("Virtual machine = one QEMU process", "虚拟机 = 一个 QEMU 进程")
        with cluster(node, "vm", title, kind="vm") as vm:
            add_node(
                vm,
                "guest",
                t("Guest OS", "客户操作系统"),
                kind="layer",
                layer="guest_kernel",
                mark=privilege(lang, "non-root", "ring0"),
            )
            add_node(
                vm,
                "qemu",
                "qemu-system-x86_64 -accel kvm",
                kind="program",
                layer="emulator",
                detail=t("devices (virtio); vCPUs = threads", "设备 (virtio)；vCPU = 线程"),
                mark=privilege(lang, "root", "ring3"),
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
            mark=privilege(lang, "root", "ring0"),
            width=_SPAN_COMPUTE,
        )
    add_node(
        g,
        "hw",
        t("CPU with VT-x / AMD-V", "支持 VT-x / AMD-V 的 CPU"),
        kind="hardware",
        layer="hardware",
        width=_SPAN_COMPUTE,
    )
    add_edge(g, "client", "api", kind="call", text=t("REST (HTTPS)", "REST (HTTPS)"))
    add_edge(g, "api", "scheduler", kind="call", text=t("RPC, message queue", "RPC，消息队列"))
    add_edge(
        g, "scheduler", "nova_compute", kind="call", text=t("RPC: build and run", "RPC：创建并运行")
    )
    add_edge(
        g, "nova_compute", "libvirtd", kind="call", text=t("define + start domain", "定义并启动域")
    )
    add_edge(g, "libvirtd", "qemu", kind="call", text=t("starts", "启动"))
    add_edge(g, "qemu", "dev", kind="call", text="ioctl: KVM_RUN")
    add_edge(g, "dev", "kvm", kind="stack")
    add_edge(g, "kvm", "hw", kind="call", text=term("VM entry", lang))
    add_edge(g, "guest", "kvm", kind="trap", text=term("VM exit", lang), weight="0")
    return g


def _microvm_panel(g, lang, key, title, vmm, detail, os_text):
    t = translator(lang)
    with cluster(g, key, title, kind="vm") as vm:
        add_node(
            vm,
            f"{key}_app",
            t("Guest applications", "客户机应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "non-root", "ring3"),
        )
        add_node(
            vm,
            f"{key}_os",
            os_text,
            kind="layer",
            layer="guest_kernel",
            mark=privilege(lang, "non-root", "ring0"),
        )
        add_node(
            vm,
            f"{key}_vmm",
            vmm,
            kind="program",
            layer="emulator",
            detail=detail,
            mark=privilege(lang, "root", "ring3"),
        )
        add_edge(vm, f"{key}_app", f"{key}_os", kind="stack")
        add_edge(vm, f"{key}_os", f"{key}_vmm", kind="stack")


def microvm(lang: str = "en") -> graphviz.Digraph:
    """A QEMU virtual machine beside a Firecracker microVM, both on KVM. Lesson 10."""
    t = translator(lang)
    g = new_graph(
        "microvm",
        t(
            "A QEMU process emulates a whole PC with many devices and firmware, while a "
            "Firecracker process, one per microVM, offers a minimal machine with a few virtio "
            "devices and a serial console; both run their guest on the same KVM.",
            "QEMU 进程模拟一整台带有众多设备和固件的 PC，而 Firecracker 进程（每个微虚拟机一个）"
            "只提供一台带有少量 virtio 设备和串口控制台的最小机器；两者都在同一个 KVM 上运行"
            "客户机。",
        ),
    )
    _microvm_panel(
        g,
        lang,
        "qemu",
        t("Virtual machine: a QEMU process", "虚拟机：一个 QEMU 进程"),
        "QEMU",
        t(
            "firmware (BIOS / UEFI), PC chipset,\ndisks, network cards, USB, display",
            "固件 (BIOS / UEFI)、PC 芯片组、\n磁盘、网卡、USB、显示",
        ),
        t("Any guest OS", "任何客户操作系统"),
    )
    _microvm_panel(
        g,
        lang,
        "fc",
        t("microVM: a Firecracker process", "微虚拟机：一个 Firecracker 进程"),
        "Firecracker",
        t(
            "virtio network and block, serial console;\nREST API on a Unix socket; in a jailer",
            "virtio 网络和块设备、串口控制台；\nUnix 套接字上的 REST API；运行在 jailer 中",
        ),
        t("Linux guest kernel, booted directly", "直接引导的 Linux 客户机内核"),
    )
    add_node(
        g,
        "kvm",
        t("Linux kernel + kvm.ko", "Linux 内核 + kvm.ko"),
        kind="layer",
        layer="host_kernel",
        detail=t("/dev/kvm: the same interface for both", "/dev/kvm：两者使用同一接口"),
        mark=privilege(lang, "root", "ring0"),
        width=_SPAN_MICROVM,
    )
    add_node(g, "hw", t("Hardware", "硬件"), kind="hardware", layer="hardware", width=_SPAN_MICROVM)
    same_rank(g, ["qemu_vmm", "fc_vmm"])
    add_edge(g, "qemu_vmm", "kvm", kind="call", text="ioctl")
    add_edge(g, "fc_vmm", "kvm", kind="call", text="ioctl")
    add_edge(g, "kvm", "hw", kind="stack")
    return g


def nested_virtualization(lang: str = "en") -> graphviz.Digraph:
    """One exit of a nested guest under nested KVM (through L0) and under PVM (not). Lesson 10."""
    t = translator(lang)
    g = new_graph(
        "nested_virtualization",
        t(
            "Under nested KVM an exit of the L2 guest goes to L0, which reflects it into L1's "
            "KVM, whose VMX instructions exit to L0 again before L0 resumes L2; under PVM the L2 "
            "guest runs in ring 3 of L1's VM and its exits go straight to PVM in L1's kernel, "
            "which L0 never sees.",
            "在嵌套 KVM 中，L2 客户机的退出先到达 L0，L0 再把它转交给 L1 中的 KVM，L1 执行的 VMX "
            "指令又会退出到 L0，之后 L0 才恢复 L2；在 PVM 中，L2 客户机运行在 L1 虚拟机的 ring 3，"
            "它的退出直接进入 L1 内核中的 PVM，L0 完全看不到。",
        ),
    )
    panels = (
        ("k", t("Nested KVM", "嵌套 KVM"), t("L1's KVM", "L1 中的 KVM"), "kvm-intel.ko",
         t("takes every exit of L2 first", "先接收 L2 的每一次退出")),
        ("p", t("PVM", "PVM"), t("PVM in L1's kernel", "L1 内核中的 PVM"), "kvm-pvm.ko",
         t("sees none of L2's exits", "看不到 L2 的任何退出")),
    )  # fmt: skip
    l1_mark = privilege(lang, "non-root", "ring0")
    for key, title, hypervisor, module, l0_sees in panels:
        with cluster(g, f"{key}_panel", title, kind="panel") as panel:
            l1_title = t("L1: a cloud VM", "L1：一台云虚拟机")
            with cluster(panel, f"{key}_l1", l1_title, kind="vm") as l1:
                l2_title = t("L2: nested guest", "L2：嵌套客户机")
                with cluster(l1, f"{key}_l2", l2_title, kind="vm") as l2:
                    pvm = key == "p"
                    add_node(
                        l2,
                        f"{key}_guest",
                        t("Guest kernel", "客户机内核"),
                        kind="layer",
                        layer="guest_kernel",
                        detail=t("PVM-aware", "支持 PVM") if pvm else None,
                        mark=privilege(lang, "non-root", "ring3" if pvm else "ring0"),
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
                t("L0: the cloud's hypervisor", "L0：云平台的虚拟机管理程序"),
                kind="layer",
                layer="hypervisor",
                detail=l0_sees,
                mark=privilege(lang, "root", "ring0"),
                width=_SPAN_NESTED,
            )
            add_node(
                panel,
                f"{key}_hw",
                t("CPU with VT-x", "支持 VT-x 的 CPU"),
                kind="hardware",
                layer="hardware",
                width=_SPAN_NESTED,
            )
            add_edge(panel, f"{key}_l0", f"{key}_hw", kind="stack")
    add_edge(g, "k_guest", "k_l0", kind="trap", text=f"1 {term('VM exit', lang)}", weight="0")
    add_edge(g, "k_l0", "k_hyp", kind="call", text=t("2 reflect", "2 转交"))
    add_edge(
        g,
        "k_hyp",
        "k_l0",
        kind="trap",
        text=t("3 VMREAD... VMRESUME:\nexits", "3 VMREAD… VMRESUME：\n退出"),
    )
    add_edge(g, "k_l0", "k_guest", kind="call", text=t("4 resume L2", "4 恢复 L2"), weight="0")
    add_edge(g, "p_guest", "p_hyp", kind="trap", text=t("1 trap", "1 陷入"))
    add_edge(g, "p_hyp", "p_guest", kind="call", text=t("2 return", "2 返回"))
    add_edge(g, "p_hyp", "p_l0", kind="stack")
    same_rank(g, ["k_l0", "p_l0"])
    return g


def _isolation_vm(g, lang, key, title, kernel, mark):
    t = translator(lang)
    with cluster(g, key, title, kind="vm") as vm:
        add_node(
            vm,
            f"{key}_app",
            t("App", "应用"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "ring3"),
        )
        add_node(vm, f"{key}_os", kernel, kind="layer", layer="guest_kernel", mark=mark)
        add_edge(vm, f"{key}_app", f"{key}_os", kind="stack")


def containers_and_vms(lang: str = "en") -> graphviz.Digraph:
    """Containers, virtual machines and secure containers: what separates the workloads.

    Lesson 10.
    """
    t = translator(lang)
    g = new_graph(
        "containers_and_vms",
        t(
            "Containers are processes that share the host's kernel, separated by its namespaces "
            "and cgroups; virtual machines each bring a kernel and are separated by the "
            "hypervisor; a secure container puts a container's kernel inside a lightweight VM, "
            "even inside a cloud VM with PVM.",
            "容器是共享宿主机内核的进程，靠内核的命名空间和 cgroups 隔离；每台虚拟机自带内核，靠"
            "虚拟机管理程序隔离；安全容器把容器的内核放进一台轻量级虚拟机，甚至可以借助 PVM "
            "放在云虚拟机之内。",
        ),
    )
    with cluster(g, "c_panel", t("Containers", "容器"), kind="panel") as panel:
        for i in (2, 1):  # dot lays these clusters out right to left
            with cluster(panel, f"c{i}", t(f"Container {i}", f"容器 {i}"), kind="space") as box:
                add_node(
                    box,
                    f"c{i}_app",
                    t("App", "应用"),
                    kind="program",
                    layer="host_user",
                    mark=privilege(lang, "ring3"),
                )
        add_node(
            panel,
            "c_kernel",
            t("One shared host kernel", "共享的宿主机内核"),
            kind="layer",
            layer="host_kernel",
            detail=t("namespaces, cgroups", "命名空间、cgroups"),
            mark=privilege(lang, "ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "c_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "c1_app", "c_kernel", kind="call", text=t("system calls", "系统调用"))
        add_edge(panel, "c2_app", "c_kernel", kind="call")
        add_edge(panel, "c_kernel", "c_hw", kind="stack")
    with cluster(g, "v_panel", t("Virtual machines", "虚拟机"), kind="panel") as panel:
        for i in (2, 1):  # dot lays these clusters out right to left
            _isolation_vm(
                panel, lang, f"v{i}", t(f"VM {i}", f"虚拟机 {i}"), t("Kernel", "内核"),
                privilege(lang, "non-root", "ring0"),
            )  # fmt: skip
        add_node(
            panel,
            "v_hyp",
            t("Hypervisor (KVM, Xen)", "虚拟机管理程序 (KVM、Xen)"),
            kind="layer",
            layer="hypervisor",
            mark=privilege(lang, "root", "ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "v_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "v1_os", "v_hyp", kind="trap", text=term("VM exit", lang))
        add_edge(panel, "v2_os", "v_hyp", kind="trap")
        add_edge(panel, "v_hyp", "v_hw", kind="stack")
    title = t("Secure container in a cloud VM", "云虚拟机中的安全容器")
    with cluster(g, "s_panel", title, kind="panel") as panel:
        with cluster(panel, "s_l1", t("Cloud VM (L1)", "云虚拟机 (L1)"), kind="vm") as l1:
            _isolation_vm(
                l1, lang, "s_l2", t("Lightweight VM (L2)", "轻量级虚拟机 (L2)"),
                t("Small kernel", "精简内核"), privilege(lang, "ring3"),
            )  # fmt: skip
            add_node(
                l1,
                "s_pvm",
                t("PVM in L1's kernel", "L1 内核中的 PVM"),
                kind="module",
                layer=("guest_kernel", "hypervisor"),
                mark=privilege(lang, "non-root", "ring0"),
            )
        add_node(
            panel,
            "s_l0",
            t("Cloud hypervisor (L0)", "云平台虚拟机管理程序 (L0)"),
            kind="layer",
            layer="hypervisor",
            mark=privilege(lang, "root", "ring0"),
            width=_SPAN_ISOLATION,
        )
        add_node(
            panel,
            "s_hw",
            t("Hardware", "硬件"),
            kind="hardware",
            layer="hardware",
            width=_SPAN_ISOLATION,
        )
        add_edge(panel, "s_l2_os", "s_pvm", kind="trap", text=term("trap", lang))
        add_edge(panel, "s_pvm", "s_l0", kind="stack")
        add_edge(panel, "s_l0", "s_hw", kind="stack")
    same_rank(g, ["c1_app", "c2_app", "v1_app", "v2_app", "s_l2_app"])
    same_rank(g, ["v1_os", "v2_os", "s_l2_os"])
    same_rank(g, ["c_kernel", "v_hyp", "s_l0"])
    same_rank(g, ["c_hw", "v_hw", "s_hw"])
    return g


# The course in one page: node id, lesson, layer, kind, English and Chinese title and detail.
_RECAP_NODES = (
    ("pg", "01-02", "hypervisor", "interface", "Popek & Goldberg, trap-and-emulate",
     "Popek 与 Goldberg，陷入再模拟",
     "sensitive instructions must trap;\nx86 has 17 that do not (Robin & Irvine)",
     "敏感指令必须陷入；\nx86 有 17 条不陷入 (Robin & Irvine)"),
    ("emu", "06", "emulator", "program", "Hardware emulation", "硬件模拟",
     "every instruction interpreted\nor translated: any CPU on any CPU",
     "每条指令都解释或翻译：\n任何 CPU 上跑任何 CPU"),
    ("bt", "03", "hypervisor", "layer", "Binary translation", "二进制翻译",
     "kernel code rewritten:\ninline code, callouts", "改写内核代码：\n内联翻译、调出"),
    ("pv", "04", "guest_kernel", "layer", "Paravirtualization", "半虚拟化",
     "modified kernel: hypercalls,\nbatching; virtio", "修改内核：超级调用、\n批处理；virtio"),
    ("hw", "05", "hardware", "hardware", "Hardware-assisted virtualization", "硬件辅助虚拟化",
     "VT-x / AMD-V: VM exits;\nEPT: 2D page walks",
     "VT-x / AMD-V：虚拟机退出；\nEPT：二维页表遍历"),
    ("qemu", "06", "emulator", "program", "QEMU", "QEMU",
     "TCG translator,\ndevice models", "TCG 翻译器，\n设备模型"),
    ("kvm", "07", "host_kernel", "module", "KVM", "KVM",
     "kvm.ko: /dev/kvm,\nguest mode", "kvm.ko：/dev/kvm，\n客户模式"),
    ("kq", "08", "emulator", "program", "KVM + QEMU", "KVM + QEMU",
     "KVM runs the CPU,\nQEMU the devices", "KVM 运行 CPU，\nQEMU 负责设备"),
    ("xen", "09", "hypervisor", "layer", "Xen", "Xen",
     "type 1, Dom0, split drivers;\nPV, HVM, PVH", "第一类、Dom0、分离驱动；\nPV、HVM、PVH"),
    ("cloud", "10", "host_user", "program", "The cloud", "云",
     "libvirt, nested (PVM),\nmicroVMs, containers", "libvirt、嵌套 (PVM)、\n微虚拟机、容器"),
)  # fmt: skip
# How the ideas lead to the systems: tail, head, English and Chinese label (drawn dotted).
_RECAP_EDGES = (
    ("pg", "bt", "x86's answer in software", "x86 的软件答案"),
    ("pg", "pv", "change the guest", "修改客户机"),
    ("pg", "hw", "change the CPU", "修改 CPU"),
    ("emu", "qemu", None, None),
    ("hw", "kvm", None, None),
    ("hw", "xen", None, None),
    ("pv", "xen", None, None),
    ("qemu", "kq", None, None),
    ("kvm", "kq", None, None),
    ("kq", "cloud", None, None),
    ("xen", "cloud", None, None),
)


def course_recap(lang: str = "en") -> graphviz.Digraph:
    """The whole course on one page: the ideas, the four techniques, the three systems, the
    cloud, each with its lesson. Lesson 10."""
    t = translator(lang)
    g = new_graph(
        "course_recap",
        t(
            "Popek and Goldberg's condition, which x86 failed, led to three answers beside plain "
            "emulation, binary translation, paravirtualization and hardware assist; QEMU, KVM "
            "and Xen build on them, KVM and QEMU work together, and clouds run them all through "
            "libvirt, nested and in microVMs.",
            "x86 不满足 Popek 与 Goldberg 的条件，于是在纯模拟之外出现了三种答案：二进制翻译、"
            "半虚拟化和硬件辅助；QEMU、KVM 和 Xen 建立在这些技术之上，KVM 与 QEMU 协同工作，"
            "云平台通过 libvirt、嵌套虚拟化和微虚拟机运行它们。",
        ),
    )
    rows = {
        "ideas": t("Ideas", "思想"),
        "techniques": t("Techniques", "技术"),
        "systems": t("Systems", "系统"),
        "cloud": t("Together, in the cloud", "协同，在云中"),
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
                _, lesson, layer, kind, en, zh, detail_en, detail_zh = nodes[node_id]
                add_node(
                    box,
                    node_id,
                    t(en, zh),
                    kind=kind,
                    layer=layer,
                    detail=t(detail_en, detail_zh),
                    mark=t(f"lesson {lesson}", f"第 {lesson} 课"),
                )
        same_rank(g, ids)
        for left, right in zip(ids, ids[1:], strict=False):
            add_edge(g, left, right, kind="stack")  # keeps the row in order
    for tail, head, en, zh in _RECAP_EDGES:
        add_edge(g, tail, head, kind="data", text=t(en, zh) if en else None, dir="forward")
    return g
