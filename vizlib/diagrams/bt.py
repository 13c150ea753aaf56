"""Inside the article's Figure 1 before VT-x: a VMM that translates the guest kernel. Lesson 03."""

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
from vizlib.sim.published import value

_SPAN = "4.6"  # inches: the CPU bar under the translator and the cache (derived from a render)

_TRANSLATE = value("bt.translate")  # Adams & Agesen: cycles to translate one instruction


def binary_translation(lang: str = "en") -> graphviz.Digraph:
    """A binary-translating VMM (VMware, Adams & Agesen 2006): user code runs directly, kernel
    code is translated into a cache and calls the VMM where it must. Lesson 03."""
    t = translator(lang)
    g = new_graph(
        "binary_translation",
        t(
            "Guest applications run directly on the CPU, while the unmodified guest kernel is "
            "only read: the VMM's translator turns it, one translation unit at a time, into "
            "code kept in a translation cache, which runs deprivileged and calls out to the "
            "VMM's virtual CPU for what the guest may not do itself.",
            "客户机应用程序直接在 CPU 上运行；未经修改的客户机内核只被读取：VMM 的翻译器每次"
            "把一个翻译单元翻译成代码并存入翻译缓存，这些代码以降低的特权运行，遇到客户机不能"
            "自己完成的操作时调出到 VMM 的虚拟 CPU。",
        ),
    )
    with cluster(g, "vm", t("Virtual machine", "虚拟机"), kind="vm") as vm:
        add_node(
            vm,
            "app",
            t("Guest applications", "客户机应用程序"),
            kind="program",
            layer="guest_user",
            detail=t("run directly on the CPU", "直接在 CPU 上运行"),
            mark=privilege(lang, "ring3"),
        )
        add_node(
            vm,
            "kernel",
            t("Unmodified guest kernel", "未经修改的客户机内核"),
            kind="layer",
            layer="guest_kernel",
            detail=t("read as data, never run as it is", "只作为数据读取，从不原样运行"),
        )
        add_edge(vm, "app", "kernel", kind="stack")
    with cluster(g, "vmm", t("VMM", "VMM"), kind="space") as vmm:
        add_node(
            vmm,
            "translator",
            t("Translator", "翻译器"),
            kind="module",
            layer="hypervisor",
            detail=t(
                f"~{_TRANSLATE:g} cycles per instruction", f"每条指令约 {_TRANSLATE:g} 个周期"
            ),
            mark=privilege(lang, "ring0"),
        )
        add_node(
            vmm,
            "cache",
            t("Translation cache", "翻译缓存"),
            kind="module",
            layer="hypervisor",
            detail=t(
                "translated code, looked up\nby guest address", "翻译后的代码，\n按客户机地址查找"
            ),
            mark=privilege(lang, "ring1"),
        )
        add_node(
            vmm,
            "vcpu",
            t("Virtual CPU and callout handlers", "虚拟 CPU 与调出处理程序"),
            kind="module",
            layer="hypervisor",
            detail=t("vcpu.IF, CR3, shadow page tables", "vcpu.IF、CR3、影子页表"),
            mark=privilege(lang, "ring0"),
        )
    add_node(g, "cpu", t("CPU", "CPU"), kind="hardware", layer="hardware", width=_SPAN)
    same_rank(g, ["translator", "cache"])
    read = t("read, one TU at a time", "逐个翻译单元读取")
    add_edge(g, "kernel", "translator", kind="data", text=read)
    add_edge(g, "translator", "cache", kind="data", text=t("translated code", "翻译后的代码"))
    add_edge(g, "cache", "vcpu", kind="call", text=term("callout", lang))
    add_edge(g, "cache", "vcpu", kind="trap", text=t("fault: page-table store", "缺页：写页表"))
    for above in ("translator", "vcpu", "cache"):
        add_edge(g, above, "cpu", kind="stack")
    return g
