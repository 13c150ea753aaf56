"""The figures, plots, tables and course map speak Chinese through the catalogue.

Every figure function, plot and table path is driven in Chinese: nothing they show may miss the
catalogue, except data another module defines and does not yet mark for it (a string of
`vizlib/sim`, `vizlib/machine` or `vizlib/emulation` that no `N_()` marks); a few Chinese strings
are checked word for word.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from matplotlib.text import Text

from vizlib import course, diagrams, i18n, plots
from vizlib.authoring import translation
from vizlib.diagrams.style import privilege
from vizlib.emulation import programs
from vizlib.emulation.blocks import MODES, Amortization, Speeds
from vizlib.i18n import use
from vizlib.machine.experiments import Timing
from vizlib.machine.results import Exit, RunResult
from vizlib.plots.costs import TECHNIQUE_LABELS
from vizlib.sim import bt, costmodel, paging, paging_costs, tcache, techniques, tlb, trap, vmexit
from vizlib.tables import markdown_table

ROOT = Path(__file__).resolve().parent.parent
DATA_MODULES = ("sim", "machine", "emulation")  # where the data the figures show is defined
EXITS = [
    Exit(reason="io", direction="out", port=0x3F8, data=b"h"),
    Exit(reason="io", direction="in", port=0x3FD, data=b" "),
    Exit(reason="mmio", direction="write", address=0xB8000, data=b"x"),
    Exit(reason="mmio", direction="read", address=0xB8000, data=b""),
    Exit(reason="hlt"),
    Exit(reason="shutdown"),
    Exit(reason="internal_error"),
]


SPEEDS = Speeds(programs.PPC_SUM, dict.fromkeys(MODES, 100), dict.fromkeys(MODES, 1e-6))
AMORTIZATION = Amortization(programs.PPC_SUM, (1, 10), (5e-5, 6e-5), (1e-5, 2e-5))


@pytest.fixture(autouse=True)
def chinese_font():
    """Plots in Chinese draw with the diagrams' Chinese font, as `set_language("zh")` sets it."""
    import matplotlib as mpl

    before = list(mpl.rcParams["font.family"])
    i18n.use_cjk_fonts()
    yield
    mpl.rcParams["font.family"] = before


def _run(accel: str, exits: list[Exit]) -> RunResult:
    return RunResult(accel, b"hi", None, "hlt", exits, 0.001, None, {}, "")


@cache
def _unmarked_data() -> frozenset[str]:
    """Strings written in the data modules that no `_()` or `N_()` marks for the catalogue."""
    found = set()
    for folder in DATA_MODULES:
        for path in (ROOT / "vizlib" / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found |= {
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
    return frozenset(found - translation.message_template().keys())


def _shown_untranslated(run) -> list[str]:
    """The messages `run()` shows in English under Chinese, data of other modules aside."""
    before = set(i18n.missing())
    with use("zh"):
        run()
    missed = {message for lang, message in set(i18n.missing()) - before if lang == "zh"}
    return sorted(missed - _unmarked_data())


def _every_figure() -> None:
    for figure in (*diagrams.ALL_FIGURES.values(), diagrams.legend):
        figure()
    for mode in paging.MODES:
        for address in paging.EXAMPLE_ADDRESSES.values():
            walk = paging.example(4).walk(mode, address)
            for step in (0, 1, None):
                diagrams.page_walk(walk, step)
    for accel in ("kvm", "tcg"):
        diagrams.exit_sequence(EXITS, accel, limit=len(EXITS) - 1)
    diagrams.split_driver(focus=("xen",), edges=(("backend", "ring"),))
    for technique in techniques.TECHNIQUES:
        for event in techniques.EVENTS.values():
            steps = techniques.path(technique, event.id)
            diagrams.event_path(steps, event.name("zh"))


def _every_plot() -> None:
    program = bt.parse(bt.EXAMPLES["map-pages"])
    idle = costmodel.Workload("idle", instructions=1)
    on_p4 = [costmodel.predict(idle, t, "p4") for t in plots.choosing.offered("modern")]
    for draw in (
        lambda: plots.technique_costs(trap.EXAMPLES["mixed"]),
        lambda: plots.ring_notifications("block", ring_size=32, batch=4),
        lambda: plots.workload_grid(),
        lambda: plots.technique_bars(costmodel.WORKLOADS["forkwait"], "p4"),
        lambda: plots.technique_bars(idle, "modern"),  # a tie
        lambda: plots.nested_costs(),
        lambda: plots.slowdown_breakdown("modern", ["io-heavy"], costmodel.TECHNIQUES[1:]),
        lambda: plots.technique_slowdowns(["forkwait", "compute"], "p4"),
        lambda: plots.pte_update_costs("p4", batch=8),
        lambda: plots.translation_payoff(program, 20),
        lambda: plots.world_switches(),
        lambda: plots.exit_timeline(vmexit.simulate(exits=10, seed=2)),
        lambda: plots.tlb_references(tlb.access_stream(500, 256, seed=1), [8, 64]),
        lambda: plots.crossover_map(paging_costs.standard_grid(), point=(1000, 20)),
        lambda: plots.exit_profile(_run("kvm", EXITS)),
        lambda: plots.exit_profile(_run("tcg", [])),  # no exit
        lambda: plots.device_exits(dict.fromkeys(plots.machine.TICKS, _run("kvm", EXITS)), 3),
        lambda: plots.accelerator_times(
            [Timing("a", "kvm", 1e-3, 3, 3), Timing("a", "tcg", 2e-3, 3, 3)]
        ),
        lambda: plots.translation_cache(tcache.synthetic_program(loops=6, passes=5, seed=0)),
        lambda: plots.emulation_speeds(SPEEDS),
        lambda: plots.translation_amortization(AMORTIZATION, marked=10),
    ):
        draw()
    figure = plots.technique_bars(idle, "modern")
    plots.choosing.show_slowdowns(figure, on_p4, "idle")  # EPT on the P4: hatched


def _every_error() -> None:
    walk = paging.example(4).walk("native", paging.EXAMPLE_ADDRESSES["mapped"])
    for bad in (
        lambda: diagrams.page_walk(walk, 99),
        lambda: diagrams.exit_sequence(EXITS, "hvf"),
        lambda: diagrams.exit_sequence(EXITS, limit=0),
        lambda: diagrams.exit_sequence(["io"]),
        lambda: diagrams.event_path([], "x"),
        lambda: diagrams.event_path([techniques.PathStep("the moon", "x")], "x"),
        lambda: diagrams.legend(layers=["firmware"]),
        lambda: diagrams.split_driver(focus=("netback",)),
        lambda: plots.workload_grid(cpus=["i386"]),
        lambda: plots.slowdown_breakdown(techniques=[]),
        lambda: plots.tlb_references([1, 2], []),
        lambda: plots.device_exits({"lpt1": _run("kvm", EXITS)}, 3),
        lambda: plots.accelerator_times([]),
    ):
        with pytest.raises(ValueError):
            bad()
    figure = plots.device_exits({"com1": _run("kvm", EXITS)}, 3)
    with pytest.raises(ValueError):
        plots.machine.show_device_exits(figure, {"display": _run("kvm", EXITS)}, 3)


def _every_table() -> None:
    markdown_table(["#", *translation.notebook_headers()], [(True, False, None, "data")])
    markdown_table(*course.course_map())


@pytest.mark.parametrize("run", [_every_figure, _every_plot, _every_error, _every_table])
def test_nothing_shown_misses_the_catalogue(run):
    assert _shown_untranslated(run) == []


def test_figures_speak_chinese_word_for_word():
    with use("zh"):
        assert diagrams.kvm_architecture().comment.startswith(
            "每台虚拟机都是用户空间中的一个 QEMU 进程"
        )
        assert "label=<硬件>" in diagrams.legend(layers=["hardware"]).source
        assert privilege("root", "ring0") == "根模式 · ring 0"
        address = paging.EXAMPLE_ADDRESSES["mapped"]
        walk = paging.example(4).walk("nested", address)
        assert diagrams.page_walk(walk).comment.startswith(
            f"对 {address:#x} 的嵌套遍历共访问内存 24 次，目前显示 24 次，"
        )
        sequence = diagrams.exit_sequence(EXITS, "tcg", limit=5).source
        assert "…… 另有 2 次退出" in sequence and " io 钩子 out 0x3f8 b'h' " in sequence
        assert diagrams.split_driver().source.count('label=" 上行调用 "') == 2  # the glossary's
    # An explicit language wins over the course's.
    assert diagrams.kvm_architecture(lang="zh").comment.endswith("运行这些客户机。")
    with use("zh"):
        assert not re.search(r"[\u4e00-\u9fff]", diagrams.kvm_architecture(lang="en").source)


def test_plots_speak_chinese_word_for_word():
    with use("zh"):
        figure = plots.technique_costs(trap.EXAMPLES["mixed"])
        traps, _cycles = figure.axes
        assert traps.get_title() == "VMM 介入的次数\n（陷入、调出、超级调用、虚拟机退出）"
        assert [t.get_text() for t in traps.get_xticklabels()][:2] == ["原生", "陷入再模拟"]
        left, right = plots.ring_notifications("block", ring_size=32, batch=4).axes
        assert left.get_title() == "32 个槽位的环"
        assert right.get_title() == "批大小为 4 时环满造成的停顿"
        texts = [t.get_text() for t in plots.pte_update_costs("p4", batch=8).findobj(Text)]
        assert any(re.fullmatch(r"批大小 8：[\d,]+", text) for text in texts)
        assert any(re.fullmatch(r"批大小达到 \d+ 起半虚拟化更便宜", text) for text in texts)
        assert TECHNIQUE_LABELS["paravirtualization"] == "半虚拟化"
    assert TECHNIQUE_LABELS["paravirtualization"] == "paravirtualization"


def test_an_error_for_learners_names_the_parameter_and_values_as_code_in_chinese():
    with use("zh"), pytest.raises(ValueError) as error:
        plots.workload_grid(cpus=["i386"])
    assert str(error.value) == "cpus 必须属于 p4, core2, modern；得到的是 ['i386']"
    with pytest.raises(ValueError, match=r"^cpus must be among p4, core2, modern; got \['i386'\]$"):
        plots.workload_grid(cpus=["i386"])


def test_tables_translate_the_header_and_yes_no_unknown_only():
    rows = [(True, False, None, "kvm")]
    english = markdown_table(["Technique", "#", "-accel", "x86"], rows)
    assert (
        english
        == "| Technique | # | -accel | x86 |\n|---|---|---|---|\n| yes | no | unknown | kvm |"
    )
    with use("zh"):
        assert markdown_table(["Technique", "#", "Needs VT-x", "CPU"], rows) == (
            "| 技术 | # | 需要 VT-x | CPU |\n|---|---|---|---|\n| 是 | 否 | 未知 | kvm |"
        )


def test_the_course_map_shows_titles_and_objectives_in_the_course_language():
    header, rows = course.course_map()
    assert rows[0][:3] == ("00", "Welcome, and what your machine can do", 15)
    assert rows[0][3].startswith(
        "Find your way around the lessons, widgets and self-grading exercises; "
    )
    with use("zh"):
        header, rows = course.course_map()
        assert markdown_table(header, []).startswith("| # | 课程 | 分钟 | 学完后你能够 |")
        assert rows[0][:3] == ("00", "欢迎：你的机器能做什么", 15)
        assert rows[0][3].startswith(
            "熟悉课程的讲义、交互控件和自动评分的练习；读懂宿主机探测的结果"
        )


def test_table_headers_are_collected_from_a_cells_code():
    source = """
columns = ["Workload", "CPU", "1,000 bytes"]
show_table([*columns, "Source", f"Fastest (within {x})", "#", ""], rows)
tables.markdown_table(header, rows)
print(["not", "a", "header"])
"""
    assert translation.table_headers(source) == ["Workload", "CPU", "1,000 bytes", "Source"]
    assert translation.table_headers("%time show_table(['x'], [])") == []
    headers = translation.notebook_headers()
    assert headers["Can this machine run it?"] == ["notebooks/00_welcome.ipynb"]
    assert "Exits to L0" in translation.message_template()
