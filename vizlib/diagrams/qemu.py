"""QEMU's architecture with its own accelerator, TCG: guest code becomes host code. Lesson 06."""

from __future__ import annotations

import graphviz

from vizlib.diagrams.style import (
    add_edge,
    add_node,
    cluster,
    new_graph,
    privilege,
    same_rank,
    translator,
)

_SPAN = "7.5"  # inches: the host's bars under the whole figure (derived from a render)


def qemu_architecture(lang: str = "en") -> graphviz.Digraph:
    """QEMU with TCG (Bellard 2005): a front end decodes a guest block into TCG ops, a back end
    emits host code into the translation cache, where blocks are chained; loads and stores go
    through the soft MMU, device accesses to the device models. Lesson 06."""
    t = translator(lang)
    g = new_graph(
        "qemu_architecture",
        t(
            "QEMU's CPU loop looks up the guest's next block in the translation cache; on a miss "
            "the front end decodes the guest instructions into TCG ops and the back end turns "
            "them into host code, which runs on the host CPU, jumps straight to chained blocks, "
            "and reaches guest memory through the soft MMU and devices through the device models.",
            "QEMU 的 CPU 循环在翻译缓存中查找客户机的下一个块；未命中时，前端把客户机指令"
            "解码为 TCG 操作，后端再把它们变成宿主机代码；这些代码在宿主机 CPU 上运行，"
            "直接跳到已链接的块，经软件 MMU 访问客户机内存，经设备模型访问设备。",
        ),
    )
    with cluster(
        g, "guest", t("Guest machine, e.g. PowerPC", "客户机，例如 PowerPC"), kind="vm"
    ) as vm:
        add_node(
            vm,
            "code",
            t("Guest code", "客户机代码"),
            kind="program",
            layer=("guest_user", "guest_kernel"),
            detail=t("applications and kernel,\nread as data", "应用程序和内核，\n作为数据读取"),
            mark=privilege(lang, "emulated"),
        )
    with cluster(
        g, "qemu", t("QEMU process (-accel tcg)", "QEMU 进程（-accel tcg）"), kind="space"
    ) as q:
        add_node(
            q,
            "loop",
            t("CPU loop", "CPU 循环"),
            kind="program",
            layer="emulator",
            detail=t(
                "find the block of the guest PC\n(hash of PC and CPU state)",
                "查找客户机 PC 对应的块\n（按 PC 和 CPU 状态散列）",
            ),
        )
        add_node(
            q,
            "frontend",
            t("Front end", "前端"),
            kind="module",
            layer="emulator",
            detail=t("decodes guest\ninstructions", "解码客户机\n指令"),
        )
        add_node(
            q,
            "ops",
            t("TCG ops", "TCG 操作"),
            kind="interface",
            layer="emulator",
            detail=t("intermediate code", "中间代码"),
        )
        add_node(
            q,
            "backend",
            t("Back end", "后端"),
            kind="module",
            layer="emulator",
            detail=t("emits host\ninstructions", "生成宿主机\n指令"),
        )
        add_node(
            q,
            "cache",
            t("Translation cache", "翻译缓存"),
            kind="module",
            layer="emulator",
            detail=t(
                "host code of translated blocks,\nchained; flushed whole when full",
                "已翻译块的宿主机代码，\n块间链接；满了整体清空",
            ),
        )
        add_node(
            q,
            "softmmu",
            t("Soft MMU", "软件 MMU"),
            kind="module",
            layer="emulator",
            detail=t(
                "guest address -> host memory,\na TLB in software",
                "客户机地址 -> 宿主机内存，\n软件实现的 TLB",
            ),
        )
        add_node(
            q,
            "devices",
            t("Device models", "设备模型"),
            kind="device",
            layer="emulator",
            detail=t("serial port, disk,\nnetwork, timer", "串口、磁盘、\n网络、定时器"),
        )
        same_rank(q, ["frontend", "ops", "backend"])
        same_rank(q, ["softmmu", "devices"])
    add_node(
        g,
        "os",
        t("Host OS", "宿主机操作系统"),
        kind="layer",
        layer="host_kernel",
        detail="Linux, macOS, Windows",
        width=_SPAN,
    )
    cpu = t("Host CPU, e.g. x86", "宿主机 CPU，例如 x86")
    add_node(g, "cpu", cpu, kind="hardware", layer="hardware", width=_SPAN)
    add_edge(
        g, "code", "frontend", kind="data", text=t("read one block", "读取一个块"), dir="forward"
    )
    add_edge(g, "loop", "frontend", kind="call", text=t("miss: translate", "未命中：翻译"))
    add_edge(g, "frontend", "ops", kind="data", dir="forward")
    add_edge(g, "ops", "backend", kind="data", dir="forward")
    add_edge(g, "backend", "cache", kind="data", text=t("host code", "宿主机代码"), dir="forward")
    add_edge(g, "loop", "cache", kind="call", text=t("hit: run it", "命中：运行"))
    add_edge(g, "cache", "cache", kind="call", text=t("chained jump", "链接跳转"))
    add_edge(g, "cache", "softmmu", kind="call", text=t("loads, stores", "读写内存"))
    add_edge(g, "softmmu", "devices", kind="trap", text=t("I/O address", "I/O 地址"))
    add_edge(g, "softmmu", "os", kind="stack")
    add_edge(g, "os", "cpu", kind="stack")
    return g
