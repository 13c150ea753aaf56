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
    in_language,
    new_graph,
    privilege,
    same_rank,
    term,
)
from vizlib.i18n import N_, _
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


@in_language
def vmx_modes(lang: str | None = None) -> graphviz.Digraph:
    """VMX root and non-root operation, KVM on one side, its guest on the other. Lesson 05."""
    g = new_graph(
        "vmx_modes",
        _(
            "With VT-x the guest's kernel and applications run in non-root mode with their usual "
            "rings, while KVM and QEMU run in root mode, and the processor switches between them "
            "by VM exits and VM entries through the VMCS."
        ),
    )
    nonroot = _("VMX non-root (guest mode)")
    with cluster(g, "nonroot", nonroot, kind="vm") as vm:
        add_node(
            vm,
            "app",
            _("Guest applications"),
            kind="program",
            layer="guest_user",
            mark=privilege("non-root", "ring3"),
        )
        add_node(
            vm,
            "guest",
            _("Guest kernel (unmodified)"),
            kind="layer",
            layer="guest_kernel",
            mark=privilege("non-root", "ring0"),
        )
        add_edge(vm, "app", "guest", kind="stack")
    with cluster(g, "root", _("VMX root (host)"), kind="space") as root:
        add_node(
            root,
            "kvm",
            "Linux + kvm.ko",
            kind="layer",
            layer=("host_kernel", "hypervisor"),
            mark=privilege("root", "ring0"),
        )
        add_node(
            root,
            "qemu",
            "QEMU",
            kind="program",
            layer="emulator",
            detail=_("device emulation"),
            mark=privilege("root", "ring3"),
        )
        add_node(
            root,
            "vmcs",
            _("VMCS (one per vCPU)"),
            kind="interface",
            layer="hypervisor",
            detail=_("guest state · host state\nexecution controls · exit information"),
        )
        same_rank(root, ["qemu", "kvm", "vmcs"])
        add_edge(root, "qemu", "kvm", kind="call", text="ioctl")
        add_edge(root, "kvm", "vmcs", kind="data", text="VMREAD\nVMWRITE")
    add_node(
        g,
        "cpu",
        _("CPU with VT-x / AMD-V"),
        kind="hardware",
        layer="hardware",
        width=_SPAN_MODES,
    )
    add_edge(g, "guest", "kvm", kind="trap", text=term("VM exit"))
    add_edge(g, "kvm", "guest", kind="call", text=term("VM entry"))
    add_edge(g, "kvm", "cpu", kind="stack")
    return g


@in_language
def vm_exit_path(lang: str | None = None) -> graphviz.Digraph:
    """One VM exit and entry for a guest's OUT, step by step, and the VMCS areas each step uses.

    Lesson 05. Who handles the exit follows the model (`techniques`): KVM hands port I/O to its
    user-space VMM, QEMU, whose device model emulates the OUT.
    """
    out = techniques.treatment("hardware-assisted-ept", "port-io")
    handed = techniques.TREATMENT_KINDS[out.kind].name(lang)
    g = new_graph(
        "vm_exit_path",
        _(
            "On a VM exit the processor saves the guest's state into the VMCS, writes the exit "
            "reason, and loads the host's state; kvm.ko reads the reason and, for an OUT to an "
            "emulated device, returns to QEMU in user space, whose device model emulates it; a "
            "VM entry then loads the guest's state back."
        ),
    )
    steps = [
        ("s1", "guest_kernel", _("1. Guest runs OUT"), "non-root"),
        ("s2", "hardware", _("2. CPU saves guest state"), None),
        ("s3", "hardware", _("3. CPU writes exit reason"), None),
        ("s4", "hardware", _("4. CPU loads host state"), None),
        (
            "s5",
            "hypervisor",
            _("5. kvm.ko reads {reason}:\n{handed}", reason=out.exit_reason, handed=handed),
            "root",
        ),
        (
            "s6",
            "emulator",
            _("6. QEMU's device model\nemulates OUT"),
            "root",
        ),
        (
            "s7",
            "hardware",
            _("7. KVM_RUN, VMRESUME:\nCPU loads guest state"),
            None,
        ),
        (
            "s8",
            "guest_kernel",
            _("8. Guest continues\nafter OUT"),
            "non-root",
        ),
    ]
    with cluster(g, "steps", _("One round trip"), kind="space") as box:
        for node_id, layer, text, mark in steps:
            kind = "hardware" if layer == "hardware" else "layer"
            add_node(box, node_id, text, kind=kind, layer=layer, mark=mark and privilege(mark))
        for (a, *_rest), (b, *_more) in zip(steps, steps[1:], strict=False):
            add_edge(box, a, b, kind="trap" if a == "s1" else "call")
    areas = [
        ("guest", _("guest-state area"), "guest_kernel"),
        ("exit", _("exit information"), "hardware"),
        ("host", _("host-state area"), "hypervisor"),
        ("controls", _("execution controls"), "hypervisor"),
    ]
    rows = "".join(
        f'<TR><TD PORT="{port}" BGCOLOR="{LAYERS[layer]}">{escape(text)}</TD></TR>'
        for port, text, layer in areas
    )
    title = "<TR><TD><B>VMCS</B></TD></TR>"
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


@in_language
def memory_virtualization(lang: str | None = None) -> graphviz.Digraph:
    """Native paging, shadow paging and nested paging (EPT) side by side. Lesson 05."""
    g = new_graph(
        "memory_virtualization",
        _(
            "Natively the processor walks one page table from virtual to physical addresses, under "
            "shadow paging it walks a table the hypervisor composed from the guest's table and its "
            "own map, and with EPT it walks the guest's table and the EPT in two dimensions."
        ),
    )
    g.attr(nodesep="0.15")
    va = _("virtual address")
    gva, gpa, hpa = (
        _("guest virtual"),
        _("guest physical"),
        _("host physical"),
    )
    walked = _("walked by the CPU")
    with cluster(g, "native", _("Native"), kind="panel") as p:
        add_node(p, "n_va", va, kind="interface", layer="guest_user")
        add_node(p, "n_pt", _("page table"), kind="layer", layer="host_kernel", detail=walked)
        add_node(p, "n_pa", _("physical address"), kind="hardware", layer="hardware")
        add_edge(p, "n_va", "n_pt", kind="call")
        add_edge(p, "n_pt", "n_pa", kind="call")
    with cluster(g, "shadow", _("Shadow paging"), kind="panel") as p:
        add_node(p, "s_va", gva, kind="interface", layer="guest_user")
        add_node(
            p,
            "s_gpt",
            _("guest page table"),
            kind="layer",
            layer="guest_kernel",
            detail=_("write-protected:\nevery write traps"),
        )
        add_node(p, "s_gpa", gpa, kind="interface", layer="guest_kernel")
        add_node(
            p,
            "s_map",
            _("hypervisor's map"),
            kind="layer",
            layer="hypervisor",
        )
        add_node(p, "s_hpa", hpa, kind="hardware", layer="hardware")
        add_node(
            p,
            "s_spt",
            _("shadow page table"),
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
        add_edge(p, "s_gpt", "s_spt", kind="data", text=_("composed"), dir="forward")
        add_edge(p, "s_map", "s_spt", kind="data", dir="forward")
    with cluster(g, "ept", _("Nested paging (EPT / NPT)"), kind="panel") as p:
        add_node(p, "e_va", gva, kind="interface", layer="guest_user")
        add_node(
            p,
            "e_gpt",
            _("guest page table"),
            kind="layer",
            layer="guest_kernel",
            detail=walked,
        )
        add_node(p, "e_gpa", gpa, kind="interface", layer="guest_kernel")
        add_node(p, "e_ept", "EPT", kind="layer", layer="hypervisor", detail=walked)
        add_node(p, "e_hpa", hpa, kind="hardware", layer="hardware")
        add_edge(p, "e_va", "e_gpt", kind="call")
        add_edge(p, "e_gpt", "e_gpa", kind="call")
        add_edge(p, "e_gpa", "e_ept", kind="call")
        add_edge(p, "e_ept", "e_hpa", kind="call")
    same_rank(g, ["n_va", "s_va", "e_va"])
    same_rank(g, ["n_pa", "s_hpa", "e_hpa"])
    return g


@in_language
def page_walk(walk: Walk, step: int | None = None, lang: str | None = None) -> graphviz.Digraph:
    """A walk's references as a grid, numbered in order, up to `step` filled in. Lesson 05.

    `walk` is a `vizlib.sim.paging.Walk`. A nested walk is drawn as Bhargava et al.'s grid: one
    row per guest level and one for the data page, one column per EPT level and one for the
    guest entry. `step` None shows the whole walk, 0 none of it; the outcome shows at the end.
    """
    refs = walk.references
    shown = len(refs) if step is None else step
    if isinstance(shown, bool) or not isinstance(shown, int) or not 0 <= shown <= len(refs):
        raise ValueError(
            _(
                "step must be None or an integer from 0 to {last}; got {step}",
                last=len(refs),
                step=repr(step),
            )
        )
    last = _label(refs[shown - 1]) if shown else _("none yet")
    g = new_graph(
        "page_walk",
        _(
            "A {walk} of {address} makes {references} memory references, {shown} shown so far, "
            "the last one {last}.",
            walk=_(_WALKS[walk.mode]),
            address=f"{walk.virtual_address:#x}",
            references=len(refs),
            shown=shown,
            last=last,
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
    titles = [f"EPT L{c}" for c in columns[:-1]] + [_(_ENTRIES[walk.mode])]
    head = "<TD> </TD>" + "".join(f"<TD><B>{escape(text)}</B></TD>" for text in titles)
    body = ""
    for row in rows:
        if not nested:
            name = f"L{row}"
        elif row:
            name = _("guest L{level} table", level=row)
        else:
            name = _("data page")
        tds = "".join(_cell(cells.get((row, c)), shown) for c in columns)
        body += f'<TR><TD ALIGN="LEFT">{escape(name)}</TD>{tds}</TR>'
    outcome = _outcome(walk) if shown == len(refs) else _("...")
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


# A walk's mode (`paging.MODES`) as the caption names it, and the title of its entries' column.
_WALKS = {"native": N_("native walk"), "shadow": N_("shadow walk"), "nested": N_("nested walk")}
_ENTRIES = {"native": N_("native entry"), "shadow": N_("shadow entry"), "nested": N_("guest entry")}
# The table a reference reads (`Reference.table`), with its level.
_TABLES = {
    "native": N_("native L{level}"),
    "guest": N_("guest L{level}"),
    "shadow": N_("shadow L{level}"),
    "EPT": N_("EPT L{level}"),
}


def _label(ref) -> str:
    """A reference's short words (`Reference.label`) in the course's language."""
    name = _(_TABLES[ref.table], level=ref.level)
    if ref.for_guest_level is None:
        return name
    if ref.for_guest_level:
        return _("{name} for guest L{level} table", name=name, level=ref.for_guest_level)
    return _("{name} for data page", name=name)


def _outcome(walk: Walk) -> str:
    fault = walk.fault
    if fault is None:
        return _("= physical address {address}", address=f"{walk.result:#x}")
    level = fault.level
    if isinstance(fault, EptViolation):
        return _("EPT violation at EPT level {level}: a VM exit", level=level)
    if isinstance(fault, HiddenPageFault):
        return _(
            "hidden page fault at shadow level {level}: a VM exit the guest never sees", level=level
        )
    if isinstance(fault, GuestPageFault) and fault.exits:
        return _(
            "guest page fault at guest level {level}: a VM exit, then reflected to the guest",
            level=level,
        )
    if isinstance(fault, GuestPageFault):
        return _("guest page fault at level {level}: to the guest kernel, no VM exit", level=level)
    return _("page fault at level {level}: to the kernel", level=level)


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
