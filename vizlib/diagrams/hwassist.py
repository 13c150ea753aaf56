"""Hardware assist: VMX root and non-root mode, the VM exit path, and page walks. Lesson 05."""

from __future__ import annotations

from html import escape

import graphviz

from vizlib.diagrams.style import (
    EDGES,
    LAYERS,
    SMALL_FONTSIZE,
    add_edge,
    add_node,
    cluster,
    new_graph,
    privilege,
    same_rank,
    term,
    translator,
)
from vizlib.sim import techniques
from vizlib.sim.paging import EptViolation, GuestPageFault, HiddenPageFault, Walk

# Width in inches of the bars under both modes of `vmx_modes` (derived: the two columns above).
_SPAN_MODES = "5"
# Page-walk grid: the fill of each table's cells, in its owner's layer colour.
_TABLE_LAYERS = {
    "guest": "guest_kernel",
    "EPT": "hypervisor",
    "shadow": "hypervisor",
    "native": "host_kernel",
}
_PENDING = "#FFFFFF"  # a reference not made yet
_FAULT = EDGES["trap"]["color"]  # the border of the entry where a walk faulted


def vmx_modes(lang: str = "en") -> graphviz.Digraph:
    """VMX root and non-root operation, KVM on one side, its guest on the other. Lesson 05."""
    t = translator(lang)
    g = new_graph(
        "vmx_modes",
        t(
            "With VT-x the guest's kernel and applications run in non-root mode with their usual "
            "rings, while KVM and QEMU run in root mode, and the processor switches between them "
            "by VM exits and VM entries through the VMCS.",
            "有了 VT-x，客户机的内核和应用程序以各自原有的保护环运行在非根模式，KVM 和 QEMU "
            "运行在根模式，处理器通过 VMCS 以虚拟机退出和虚拟机进入在两者之间切换。",
        ),
    )
    nonroot = t("VMX non-root (guest mode)", "VMX 非根模式（客户模式）")
    with cluster(g, "nonroot", nonroot, kind="vm") as vm:
        add_node(
            vm,
            "app",
            t("Guest applications", "客户机应用程序"),
            kind="program",
            layer="guest_user",
            mark=privilege(lang, "non-root", "ring3"),
        )
        add_node(
            vm,
            "guest",
            t("Guest kernel (unmodified)", "客户机内核（未经修改）"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege(lang, "non-root", "ring0"),
        )
        add_edge(vm, "app", "guest", kind="stack")
    with cluster(g, "root", t("VMX root (host)", "VMX 根模式（宿主机）"), kind="space") as root:
        add_node(
            root,
            "kvm",
            t("Linux + kvm.ko", "Linux + kvm.ko"),
            kind="layer",
            layer=("host_kernel", "hypervisor"),
            mark=privilege(lang, "root", "ring0"),
        )
        add_node(
            root,
            "qemu",
            t("QEMU", "QEMU"),
            kind="program",
            layer="emulator",
            detail=t("device emulation", "设备模拟"),
            mark=privilege(lang, "root", "ring3"),
        )
        add_node(
            root,
            "vmcs",
            t("VMCS (one per vCPU)", "VMCS（每个 vCPU 一个）"),
            kind="interface",
            layer="hypervisor",
            detail=t(
                "guest state · host state\nexecution controls · exit information",
                "客户机状态 · 宿主机状态\n执行控制 · 退出信息",
            ),
        )
        same_rank(root, ["qemu", "kvm", "vmcs"])
        add_edge(root, "qemu", "kvm", kind="call", text=t("ioctl", "ioctl"))
        add_edge(root, "kvm", "vmcs", kind="data", text=t("VMREAD\nVMWRITE", "VMREAD\nVMWRITE"))
    add_node(
        g,
        "cpu",
        t("CPU with VT-x / AMD-V", "支持 VT-x / AMD-V 的 CPU"),
        kind="hardware",
        layer="hardware",
        width=_SPAN_MODES,
    )
    add_edge(g, "guest", "kvm", kind="trap", text=term("VM exit", lang))
    add_edge(g, "kvm", "guest", kind="call", text=term("VM entry", lang))
    add_edge(g, "kvm", "cpu", kind="stack")
    return g


def vm_exit_path(lang: str = "en") -> graphviz.Digraph:
    """One VM exit and entry for a guest's OUT, step by step, and the VMCS areas each step uses.

    Lesson 05. Who handles the exit follows the model (`techniques`): KVM hands port I/O to its
    user-space VMM, QEMU, whose device model emulates the OUT.
    """
    t = translator(lang)
    out = techniques.treatment("hardware-assisted-ept", "port-io")
    handed = techniques.TREATMENT_KINDS[out.kind].name(lang)
    g = new_graph(
        "vm_exit_path",
        t(
            "On a VM exit the processor saves the guest's state into the VMCS, writes the exit "
            "reason, and loads the host's state; kvm.ko reads the reason and, for an OUT to an "
            "emulated device, returns to QEMU in user space, whose device model emulates it; a "
            "VM entry then loads the guest's state back.",
            "虚拟机退出时处理器把客户机状态保存到 VMCS、写入退出原因并载入宿主机状态；kvm.ko "
            "读取退出原因，对发往模拟设备的 OUT 返回到用户空间的 QEMU，由其设备模型模拟；然后"
            "虚拟机进入把客户机状态载回。",
        ),
    )
    steps = [
        ("s1", "guest_kernel", t("1. Guest runs OUT", "1. 客户机执行 OUT"), "non-root"),
        ("s2", "hardware", t("2. CPU saves guest state", "2. CPU 保存客户机状态"), None),
        ("s3", "hardware", t("3. CPU writes exit reason", "3. CPU 写入退出原因"), None),
        ("s4", "hardware", t("4. CPU loads host state", "4. CPU 载入宿主机状态"), None),
        (
            "s5",
            "hypervisor",
            t(
                f"5. kvm.ko reads {out.exit_reason}:\n{handed}",
                f"5. kvm.ko 读取 {out.exit_reason}：\n{handed}",
            ),
            "root",
        ),
        (
            "s6",
            "emulator",
            t("6. QEMU's device model\nemulates OUT", "6. QEMU 的设备模型\n模拟 OUT"),
            "root",
        ),
        (
            "s7",
            "hardware",
            t(
                "7. KVM_RUN, VMRESUME:\nCPU loads guest state",
                "7. KVM_RUN、VMRESUME：\nCPU 载入客户机状态",
            ),
            None,
        ),
        (
            "s8",
            "guest_kernel",
            t("8. Guest continues\nafter OUT", "8. 客户机从 OUT\n之后继续"),
            "non-root",
        ),
    ]
    with cluster(g, "steps", t("One round trip", "一次往返"), kind="space") as box:
        for node_id, layer, text, mark in steps:
            kind = "hardware" if layer == "hardware" else "layer"
            add_node(
                box, node_id, text, kind=kind, layer=layer, mark=mark and privilege(lang, mark)
            )
        for (a, *_), (b, *_) in zip(steps, steps[1:], strict=False):
            add_edge(box, a, b, kind="trap" if a == "s1" else "call")
    areas = [
        ("guest", t("guest-state area", "客户机状态区"), "guest_kernel"),
        ("exit", t("exit information", "退出信息"), "hardware"),
        ("host", t("host-state area", "宿主机状态区"), "hypervisor"),
        ("controls", t("execution controls", "执行控制"), "hypervisor"),
    ]
    rows = "".join(
        f'<TR><TD PORT="{port}" BGCOLOR="{LAYERS[layer]}">{escape(text)}</TD></TR>'
        for port, text, layer in areas
    )
    title = f"<TR><TD><B>{escape(t('VMCS', 'VMCS'))}</B></TD></TR>"
    g.node(
        "vmcs",
        f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{title}{rows}</TABLE>>',
        shape="plaintext",
        fillcolor=LAYERS["hypervisor"],
    )
    same_rank(g, ["s4", "vmcs"])
    for tail, head in (
        ("s2", "vmcs:guest"),
        ("s3", "vmcs:exit"),
        ("vmcs:host", "s4"),
        ("vmcs:exit", "s5"),
        ("vmcs:guest", "s7"),
    ):
        add_edge(g, tail, head, kind="data", dir="forward", constraint="false")
    return g


def memory_virtualization(lang: str = "en") -> graphviz.Digraph:
    """Native paging, shadow paging and nested paging (EPT) side by side. Lesson 05."""
    t = translator(lang)
    g = new_graph(
        "memory_virtualization",
        t(
            "Natively the processor walks one page table from virtual to physical addresses, under "
            "shadow paging it walks a table the hypervisor composed from the guest's table and its "
            "own map, and with EPT it walks the guest's table and the EPT in two dimensions.",
            "原生时处理器遍历一张从虚拟地址到物理地址的页表；影子分页时它遍历虚拟机管理程序由"
            "客户机页表和自身映射合成的页表；使用 EPT 时它在两个维度上遍历客户机页表和 EPT。",
        ),
    )
    g.attr(nodesep="0.15")
    va = t("virtual address", "虚拟地址")
    gva, gpa, hpa = (
        t("guest virtual", "客户机虚拟地址"),
        t("guest physical", "客户机物理地址"),
        t("host physical", "宿主机物理地址"),
    )
    walked = t("walked by the CPU", "由 CPU 遍历")
    with cluster(g, "native", t("Native", "原生"), kind="panel") as p:
        add_node(p, "n_va", va, kind="interface", layer="guest_user")
        add_node(
            p, "n_pt", t("page table", "页表"), kind="layer", layer="host_kernel", detail=walked
        )
        add_node(p, "n_pa", t("physical address", "物理地址"), kind="hardware", layer="hardware")
        add_edge(p, "n_va", "n_pt", kind="call")
        add_edge(p, "n_pt", "n_pa", kind="call")
    with cluster(g, "shadow", t("Shadow paging", "影子分页"), kind="panel") as p:
        add_node(p, "s_va", gva, kind="interface", layer="guest_user")
        add_node(
            p,
            "s_gpt",
            t("guest page table", "客户机页表"),
            kind="layer",
            layer="guest_kernel",
            detail=t("write-protected:\nevery write traps", "写保护：\n每次写入都陷入"),
        )
        add_node(p, "s_gpa", gpa, kind="interface", layer="guest_kernel")
        add_node(
            p,
            "s_map",
            t("hypervisor's map", "虚拟机管理程序的映射"),
            kind="layer",
            layer="hypervisor",
        )
        add_node(p, "s_hpa", hpa, kind="hardware", layer="hardware")
        add_node(
            p,
            "s_spt",
            t("shadow page table", "影子页表"),
            kind="layer",
            layer="hypervisor",
            detail=walked,
        )
        # The translation the guest believes in, which the CPU never walks: dotted.
        add_edge(p, "s_va", "s_gpt", kind="data", dir="forward")
        add_edge(p, "s_gpt", "s_gpa", kind="data", dir="forward")
        add_edge(p, "s_gpa", "s_map", kind="data", dir="forward")
        add_edge(p, "s_va", "s_spt", kind="call")
        add_edge(p, "s_spt", "s_hpa", kind="call")
        add_edge(p, "s_gpt", "s_spt", kind="data", text=t("composed", "合成"), dir="forward")
        add_edge(p, "s_map", "s_spt", kind="data", dir="forward")
    with cluster(
        g, "ept", t("Nested paging (EPT / NPT)", "嵌套分页（EPT / NPT）"), kind="panel"
    ) as p:
        add_node(p, "e_va", gva, kind="interface", layer="guest_user")
        add_node(
            p,
            "e_gpt",
            t("guest page table", "客户机页表"),
            kind="layer",
            layer="guest_kernel",
            detail=walked,
        )
        add_node(p, "e_gpa", gpa, kind="interface", layer="guest_kernel")
        add_node(p, "e_ept", t("EPT", "EPT"), kind="layer", layer="hypervisor", detail=walked)
        add_node(p, "e_hpa", hpa, kind="hardware", layer="hardware")
        add_edge(p, "e_va", "e_gpt", kind="call")
        add_edge(p, "e_gpt", "e_gpa", kind="call")
        add_edge(p, "e_gpa", "e_ept", kind="call")
        add_edge(p, "e_ept", "e_hpa", kind="call")
    same_rank(g, ["n_va", "s_va", "e_va"])
    same_rank(g, ["n_pa", "s_hpa", "e_hpa"])
    return g


def page_walk(walk: Walk, step: int | None = None, lang: str = "en") -> graphviz.Digraph:
    """A walk's references as a grid, numbered in order, up to `step` filled in. Lesson 05.

    `walk` is a `vizlib.sim.paging.Walk`. A nested walk is drawn as Bhargava et al.'s grid: one
    row per guest level and one for the data page, one column per EPT level and one for the
    guest entry. `step` None shows the whole walk, 0 none of it; the outcome shows at the end.
    """
    t = translator(lang)
    refs = walk.references
    shown = len(refs) if step is None else step
    if isinstance(shown, bool) or not isinstance(shown, int) or not 0 <= shown <= len(refs):
        raise ValueError(f"step must be None or an integer from 0 to {len(refs)}; got {step!r}")
    mode = t(walk.mode, _MODE_ZH[walk.mode])
    last = _label(refs[shown - 1], t) if shown else t("none yet", "尚无")
    g = new_graph(
        "page_walk",
        t(
            f"A {walk.mode} walk of {walk.virtual_address:#x} makes {len(refs)} memory "
            f"references, {shown} shown so far, the last one {last}.",
            f"对 {walk.virtual_address:#x} 的{mode}遍历共访问内存 {len(refs)} 次，"
            f"目前显示 {shown} 次，最近一次为 {last}。",
        ),
    )
    nested = walk.mode == "nested"
    top = refs[0].for_guest_level if nested else refs[0].level
    rows = [*range(top, 0, -1), *([0] if nested else [])]
    columns = [*range(refs[0].level, 0, -1), "entry"] if nested else ["entry"]
    cells = {}
    for r in refs:
        if r.table == "EPT":
            cells[(r.for_guest_level, r.level)] = r
        else:
            cells[(r.level, "entry")] = r
    titles = [f"EPT L{c}" for c in columns[:-1]] + [t(f"{mode} entry", _ENTRY_ZH[walk.mode])]
    if nested:
        titles[-1] = t("guest entry", "客户机页表项")
    head = "<TD> </TD>" + "".join(f"<TD><B>{escape(text)}</B></TD>" for text in titles)
    body = ""
    for row in rows:
        if not nested:
            name = f"L{row}"
        elif row:
            name = t(f"guest L{row} table", f"客户机 L{row} 页表")
        else:
            name = t("data page", "数据页")
        tds = "".join(_cell(cells.get((row, c)), shown) for c in columns)
        body += f'<TR><TD ALIGN="LEFT">{escape(name)}</TD>{tds}</TR>'
    outcome = _outcome(walk, t) if shown == len(refs) else t("...", "……")
    span = len(columns) + 1
    body += f'<TR><TD COLSPAN="{span}" ALIGN="LEFT">{escape(outcome)}</TD></TR>'
    g.node(
        "grid",
        f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="5">'
        f"<TR>{head}</TR>{body}</TABLE>>",
        shape="plaintext",
        fillcolor=LAYERS["hardware"],
        fontsize=SMALL_FONTSIZE,
    )
    return g


_MODE_ZH = {"native": "原生", "shadow": "影子页表", "nested": "嵌套"}
_ENTRY_ZH = {"native": "原生页表项", "shadow": "影子页表项", "nested": "客户机页表项"}
_TABLE_ZH = {"native": "页表", "guest": "客户机页表", "shadow": "影子页表", "EPT": "EPT"}


def _label(ref, t) -> str:
    """A reference's short words (`Reference.label`) in the figure's language."""
    name = t(f"{ref.table} L{ref.level}", f"{_TABLE_ZH[ref.table]} L{ref.level}")
    if ref.for_guest_level is None:
        return name
    if ref.for_guest_level:
        level = ref.for_guest_level
        return t(f"{name} for guest L{level} table", f"{name}，为客户机 L{level} 页表")
    return t(f"{name} for data page", f"{name}，为数据页")


def _outcome(walk: Walk, t) -> str:
    fault = walk.fault
    if fault is None:
        return t(f"= physical address {walk.result:#x}", f"= 物理地址 {walk.result:#x}")
    level = fault.level
    if isinstance(fault, EptViolation):
        return t(
            f"EPT violation at EPT level {level}: a VM exit",
            f"EPT 违例，停在 EPT 第 {level} 级：虚拟机退出",
        )
    if isinstance(fault, HiddenPageFault):
        return t(
            f"hidden page fault at shadow level {level}: a VM exit the guest never sees",
            f"隐藏缺页，停在影子页表第 {level} 级：客户机看不到的虚拟机退出",
        )
    if isinstance(fault, GuestPageFault) and fault.exits:
        return t(
            f"guest page fault at guest level {level}: a VM exit, then reflected to the guest",
            f"客户机缺页，停在客户机第 {level} 级：先虚拟机退出，再转交客户机",
        )
    if isinstance(fault, GuestPageFault):
        return t(
            f"guest page fault at level {level}: to the guest kernel, no VM exit",
            f"客户机缺页，停在第 {level} 级：直接交给客户机内核，无虚拟机退出",
        )
    return t(f"page fault at level {level}: to the kernel", f"缺页，停在第 {level} 级：交给内核")


def _cell(ref, shown: int) -> str:
    if ref is None:
        return f'<TD BGCOLOR="{_PENDING}"> </TD>'
    fill = LAYERS[_TABLE_LAYERS[ref.table]] if ref.step <= shown else _PENDING
    label = f"<B>{ref.step}</B>" if ref.step == shown else str(ref.step)
    border = ""
    if ref.step <= shown and not ref.present:
        border = f' COLOR="{_FAULT}" BORDER="3"'
    elif ref.step == shown:
        border = ' BORDER="3"'
    return f'<TD BGCOLOR="{fill}"{border}>{label}</TD>'
