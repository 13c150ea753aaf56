"""Inside the article's Figure 1 before VT-x: a VMM that translates the guest kernel. Lesson 03."""

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
from vizlib.sim.published import value

_SPAN = "4.6"  # inches: the CPU bar under the translator and the cache (derived from a render)

_TRANSLATE = value("bt.translate")  # Adams & Agesen: cycles to translate one instruction


@in_language
def binary_translation(lang: str | None = None) -> graphviz.Digraph:
    """A binary-translating VMM (VMware, Adams & Agesen 2006): user code runs directly, kernel
    code is translated into a cache and calls the VMM where it must. Lesson 03."""
    g = new_graph(
        "binary_translation",
        _(
            "Guest applications run directly on the CPU, while the unmodified guest kernel is "
            "only read: the VMM's translator turns it, one translation unit at a time, into "
            "code kept in a translation cache, which runs deprivileged and calls out to the "
            "VMM's virtual CPU for what the guest may not do itself."
        ),
    )
    with cluster(g, "vm", _("Virtual machine"), kind="vm") as vm:
        add_node(
            vm,
            "app",
            _("Guest applications"),
            kind="program",
            layer="guest_user",
            detail=_("run directly on the CPU"),
            mark=privilege("ring3"),
        )
        add_node(
            vm,
            "kernel",
            _("Unmodified guest kernel"),
            kind="layer",
            layer="guest_kernel",
            detail=_("read as data, never run as it is"),
        )
        add_edge(vm, "app", "kernel", kind="stack")
    with cluster(g, "vmm", "VMM", kind="space") as vmm:
        add_node(
            vmm,
            "translator",
            _("Translator"),
            kind="module",
            layer="hypervisor",
            detail=_("~{cycles} cycles per instruction", cycles=f"{_TRANSLATE:g}"),
            mark=privilege("ring0"),
        )
        add_node(
            vmm,
            "cache",
            _("Translation cache"),
            kind="module",
            layer="hypervisor",
            detail=_("translated code, looked up\nby guest address"),
            mark=privilege("ring1"),
        )
        add_node(
            vmm,
            "vcpu",
            _("Virtual CPU and callout handlers"),
            kind="module",
            layer="hypervisor",
            detail=_("vcpu.IF, CR3, shadow page tables"),
            mark=privilege("ring0"),
        )
    add_node(g, "cpu", "CPU", kind="hardware", layer="hardware", width=_SPAN)
    same_rank(g, ["translator", "cache"])
    read = _("read, one TU at a time")
    add_edge(g, "kernel", "translator", kind="data", text=read)
    add_edge(g, "translator", "cache", kind="data", text=_("translated code"))
    add_edge(g, "cache", "vcpu", kind="call", text=term("callout"))
    add_edge(g, "cache", "vcpu", kind="trap", text=_("fault: page-table store"))
    for above in ("translator", "vcpu", "cache"):
        add_edge(g, above, "cpu", kind="stack")
    return g
