"""The KVM API seen from user space: three levels of ioctl, and a run exit by exit. Lesson 07."""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from vizlib.diagrams.style import (
    EDGES,
    FONTNAME,
    SMALL_FONTSIZE,
    add_edge,
    add_node,
    in_language,
    new_graph,
    same_rank,
    term,
)
from vizlib.i18n import _
from vizlib.machine.results import Exit

ACCELS = ("kvm", "tcg")
MAX_LIMIT = 50  # exits drawn at most: four rows each, a longer diagram is no longer readable
_LIFELINE = "#888888"


@in_language
def kvm_ioctl_levels(lang: str | None = None) -> graphviz.Digraph:
    """/dev/kvm, a VM fd and a vCPU fd, and the ioctls each one takes. Lesson 07."""
    g = new_graph(
        "kvm_ioctl_levels",
        _(
            "A VMM opens /dev/kvm for system ioctls, KVM_CREATE_VM gives it a VM file descriptor "
            "for VM ioctls, and KVM_CREATE_VCPU a vCPU file descriptor for vCPU ioctls such as "
            "KVM_RUN."
        ),
    )
    g.attr(nodesep="0.35")
    add_node(
        g,
        "vmm",
        _("VMM process"),
        kind="program",
        layer="emulator",
        detail=_("QEMU, or this notebook"),
    )
    levels = [
        (
            "system",
            _("/dev/kvm\nsystem ioctls"),
            "KVM_GET_API_VERSION\nKVM_CHECK_EXTENSION\nKVM_CREATE_VM\nKVM_GET_VCPU_MMAP_SIZE",
        ),
        (
            "vm",
            _("VM fd\nVM ioctls"),
            _("(from KVM_CREATE_VM)") + "\nKVM_SET_USER_MEMORY_REGION\nKVM_CREATE_VCPU",
        ),
        (
            "vcpu",
            _("vCPU fd\nvCPU ioctls"),
            _("(from KVM_CREATE_VCPU)")
            + "\nKVM_GET_REGS, KVM_SET_REGS\nKVM_GET_SREGS, KVM_SET_SREGS\nKVM_RUN\n"
            + _("mmap: struct kvm_run"),
        ),
    ]
    for node_id, title, calls in levels:
        add_node(g, node_id, title, kind="interface", layer="host_kernel", detail=calls)
        add_edge(g, "vmm", node_id, kind="call", text="ioctl")
    same_rank(g, [node_id for node_id, *_rest in levels])
    add_edge(g, "system", "vm", kind="data", dir="forward", style="dashed")
    add_edge(g, "vm", "vcpu", kind="data", dir="forward", style="dashed")
    return g


def _dot_text(text: str) -> str:
    """`text` with its backslashes kept (DOT reads "\\n" in a label as a line break)."""
    return text.replace("\\", "\\\\")


def _what_the_guest_did(exit_: Exit) -> str:
    if exit_.reason == "io":
        verb = "OUT" if exit_.direction == "out" else "IN"
        shown = f" {exit_.data!r}" if exit_.direction == "out" else ""
        return f"{verb} 0x{exit_.port:x}{shown}"
    if exit_.reason == "mmio":
        what = _("store to") if exit_.direction == "write" else _("load from")
        return f"{what} 0x{exit_.address:x}"
    return {
        "hlt": "HLT",
        "shutdown": _("triple fault"),
        "internal_error": _("cannot go on"),
    }.get(exit_.reason, exit_.reason)


def _what_came_back(exit_: Exit, accel: str) -> str:
    detail = ""
    if exit_.reason == "io":  # an IN's data is the VMM's answer, not part of what came back
        shown = f" {exit_.data!r}" if exit_.direction == "out" else ""
        detail = f" {exit_.direction} 0x{exit_.port:x}{shown}"
    elif exit_.reason == "mmio":
        detail = f" 0x{exit_.address:x}"
    if accel == "kvm":
        return f"KVM_EXIT_{exit_.reason.upper()}{detail}"
    return _("{reason} hook{detail}", reason=exit_.reason, detail=detail)


@in_language
def exit_sequence(
    exits: Sequence[Exit], accel: str = "kvm", limit: int = 4, lang: str | None = None
) -> graphviz.Digraph:
    """A sequence diagram of a recorded run: VMM -> accelerator -> guest and back. Lesson 07.

    Four arrows per exit, the first `limit` exits (1-50): the VMM asks to run, the accelerator
    enters the guest, the guest's instruction leaves it (the exit), and the reason comes back to
    the VMM. accel "kvm" draws kvm.ko in the middle, "tcg" QEMU's CPU emulator (unicorn).
    """
    if accel not in ACCELS:
        raise ValueError(
            _("accel must be one of {allowed}, got {accel}", allowed=ACCELS, accel=repr(accel))
        )
    if not (isinstance(limit, int) and 1 <= limit <= MAX_LIMIT):
        raise ValueError(
            _(
                "limit must be an int from 1 to {most}, got {limit}",
                most=MAX_LIMIT,
                limit=repr(limit),
            )
        )
    exits = list(exits)
    if not all(isinstance(e, Exit) for e in exits):
        raise ValueError(_("exits must be a sequence of vizlib.machine.Exit"))
    shown, hidden = exits[:limit], max(0, len(exits) - limit)
    kvm = accel == "kvm"
    g = new_graph(
        "exit_sequence",
        _(
            "The recorded run as a sequence: {exits} exits, each a round trip from the VMM "
            "through {through} into the guest and back.",
            exits=len(exits),
            through="kvm.ko" if kvm else _("the CPU emulator"),
        ),
    )
    g.attr(nodesep="1.7", ranksep="0.22")
    middle = (
        ("kvm.ko", _("Linux kernel, host"), "host_kernel")
        if kvm
        else ("TCG (unicorn)", _("QEMU's CPU emulator"), "emulator")
    )
    lanes = [
        (
            "vmm",
            _("This notebook: the VMM"),
            _("user space"),
            "emulator",
        ),
        ("acc", middle[0], middle[1], middle[2]),
        ("guest", _("Guest code"), _("guest mode"), "guest_kernel"),
    ]
    for lane, text, detail, layer in lanes:
        add_node(g, f"{lane}_0", text, kind="program", layer=layer, detail=detail)
    same_rank(g, [f"{lane}_0" for lane, *_rest in lanes])
    run, enter = ("KVM_RUN", term("VM entry")) if kvm else ("emu_start", _("run"))
    leave = term("VM exit") if kvm else _("hook")
    messages = []
    for e in shown:
        messages += [
            ("vmm", "acc", "call", run),
            ("acc", "guest", "call", enter),
            ("guest", "acc", "trap", f"{leave}: {_what_the_guest_did(e)}"),
            ("acc", "vmm", "call", _what_came_back(e, accel)),
        ]
    if hidden:
        more = _("... {hidden} more exits", hidden=hidden)
        messages.append(("vmm", "vmm", "note", more))
    for row, (tail, head, kind, text) in enumerate(messages, start=1):
        for lane, *_rest in lanes:
            g.node(f"{lane}_{row}", "", shape="point", width="0.06", color=_LIFELINE)
            g.edge(
                f"{lane}_{row - 1}", f"{lane}_{row}", style="dotted", color=_LIFELINE, dir="none"
            )
        same_rank(g, [f"{lane}_{row}" for lane, *_rest in lanes])
        for left, right in (("vmm", "acc"), ("acc", "guest")):  # keeps the lanes in order
            add_edge(g, f"{left}_{row}", f"{right}_{row}", kind="stack")
        if kind == "note":
            g.node(
                f"vmm_{row}", text, shape="plaintext", fontname=FONTNAME, fontsize=SMALL_FONTSIZE
            )
            continue
        order = [lane for lane, *_rest in lanes]
        forward = order.index(tail) < order.index(head)
        left, right = (tail, head) if forward else (head, tail)
        g.edge(  # drawn left to right, pointing back if need be: dot keeps the lanes straight
            f"{left}_{row}",
            f"{right}_{row}",
            label=f" {_dot_text(text)} ",
            dir="forward" if forward else "back",
            fontcolor=EDGES[kind]["color"],
            style=EDGES[kind]["style"],
            color=EDGES[kind]["color"],
        )
    return g
