"""The models and the widgets in Chinese: every message they show comes from the catalogue, the
keys code compares stay English, a figure is drawn once per language, and a few sentences read as
worked out by hand."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import astuple

import matplotlib as mpl
import pytest

from vizlib import i18n, widgets
from vizlib.authoring.translation import code_messages
from vizlib.course import ROOT
from vizlib.emulation import blocks, programs
from vizlib.emulation.blocks import Amortization
from vizlib.i18n import use
from vizlib.machine import AcceleratorUnavailable, accelerators, kvm
from vizlib.sim import (
    bt,
    costmodel,
    errors,
    hypervisors,
    isa,
    nested,
    paging,
    paging_costs,
    paging_tables,
    published,
    tcache,
    techniques,
    tlb,
    trap,
    vmexit,
    xen_guests,
    xenio,
    xenring,
)
from vizlib.widgets import bt as bt_widget
from vizlib.widgets import choosing, hwassist, pv, qemu, xen
from vizlib.widgets import kvm as kvm_widget
from vizlib.widgets import techniques as techniques_widget
from vizlib.widgets import trap as trap_widget

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ACCEL = next((name for name, why in accelerators().items() if why == "available"), None)
AMORTIZATION = Amortization(programs.PPC_SUM, (1, 10, 100), (5e-5, 6e-5, 9e-5), (1e-5, 2e-5, 5e-5))


@pytest.fixture(autouse=True)
def chinese_fonts():
    """Matplotlib with the Chinese font `set_language("zh")` gives a notebook, for this module."""
    with mpl.rc_context():
        i18n.use_cjk_fonts()
        yield


def _messages(*folders: str) -> set[str]:
    """The `_()` and `N_()` messages of these folders of vizlib."""
    return {
        m for f in folders for p in (ROOT / "vizlib" / f).glob("*.py") for m in code_messages(p)
    }


def _strings(*folders: str) -> set[str]:
    """Every string constant written in these folders of vizlib."""
    return {
        node.value
        for f in folders
        for path in (ROOT / "vizlib" / f).glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


OURS = _messages("sim", "widgets")
# The widgets also show data of vizlib.machine (a guest's description, a device's name), which
# that package marks for the catalogue.
MACHINE = _strings("machine")


def _shown_in_english(run: Callable[[], object]) -> list[str]:
    """The messages `run()` looked up in Chinese and found untranslated."""
    before = set(i18n.missing())
    with use("zh"):
        run()
    return sorted(m for lang, m in set(i18n.missing()) - before if lang == "zh")


def _error(call: Callable[[], object]) -> str:
    with pytest.raises(ValueError) as raised:
        call()
    return str(raised.value)


# ---- the models -----------------------------------------------------------------------------


BAD_CALLS = [
    lambda: techniques.treatment("hardware", "port-io"),
    lambda: techniques.technique("nope"),
    lambda: isa.popek_goldberg("x86"),
    lambda: isa.Catalogue.from_rows("toy", [("A", True)]),
    lambda: isa.Catalogue.from_rows("toy", [(1, True, True, True)]),
    lambda: isa.Catalogue("toy", ["A"]),
    lambda: isa.Catalogue("toy", [isa.X86["ADD"], isa.X86["ADD"]]),
    lambda: trap.run("kernel: CLI", "nope"),
    lambda: trap.run("kernel CLI", "native"),
    lambda: trap.run("kernel: NOPE", "native"),
    lambda: trap.run("kernel: CLI if=1", "native"),
    lambda: trap.run("kernel: POPF if=2", "native"),
    lambda: trap.run("kernel: OUT port=0x3f8", "native"),
    lambda: trap.run("kernel: OUT port=0x3f8 value=999", "native"),
    lambda: bt.parse(""),
    lambda: bt.parse("NOP"),
    lambda: bt.parse("FROB eax\nRET"),
    lambda: bt.parse("MOV eax, [esp]\nRET"),
    lambda: bt.parse("MOV eax, eax, eax\nRET"),
    lambda: bt.parse("ADD eax, 999\nRET"),
    lambda: bt.parse("MOV eax, 1+1\nRET"),
    lambda: bt.parse("1x: NOP\nRET"),
    lambda: bt.parse("JMP nowhere"),
    lambda: bt.parse("loop:\nNOP\nJMP loop").at(0),
    lambda: bt.run(bt.parse("loop: NOP\nJMP loop"), iterations=1),
    lambda: bt.run("routine"),
    lambda: bt.translate("routine", 0),
    lambda: bt.run(bt.parse("RET"), iterations=0),
    lambda: costmodel.predict("forkwait", "native"),
    lambda: costmodel.predict(costmodel.WORKLOADS["compute"], "native", "z80"),
    lambda: costmodel.cost_per_pte_update("paravirtualization", "p4", 0),
    lambda: costmodel.fastest(costmodel.WORKLOADS["compute"], tolerance=2),
    lambda: costmodel.Workload("", instructions=1),
    lambda: costmodel.Workload("w", instructions=0),
    lambda: costmodel.Workload("w", instructions=1, syscalls=-1),
    lambda: costmodel.Workload("w", instructions=float("nan")),
    lambda: vmexit.Cpu("guest", vmexit.Registers(0, 0, 0)),
    lambda: vmexit.vm_entry(vmexit.Cpu("non-root", vmexit.Registers(0, 0, 0)), None),
    lambda: vmexit.vm_exit(vmexit.Cpu("root", vmexit.Registers(0, 0, 0)), None, "HLT"),
    lambda: vmexit.exit_cost_us("NOPE"),
    lambda: vmexit.simulate("nope"),
    lambda: vmexit.simulate({}),
    lambda: vmexit.simulate({"HLT": -1}),
    lambda: vmexit.simulate({"HLT": 0}),
    lambda: vmexit.simulate(cpu="z80"),
    lambda: vmexit.simulate(exits=0),
    lambda: vmexit.simulate(mean_run_us=0),
    lambda: vmexit.exit_reason("reboots"),
    lambda: vmexit.exit_reason(techniques.EVENTS["cpuid"].does, "flat"),
    lambda: paging.reference_count("flat"),
    lambda: paging.reference_count("nested", 1.5),
    lambda: paging.reference_count("nested", 9),
    lambda: paging.native_tables([]),
    lambda: paging.example().walk("flat", 0),
    lambda: paging_tables.check_levels("levels", 3),
    lambda: paging_tables.check_address("address", -1, 48),
    lambda: paging_tables.check_address("address", 0x1001, 48, aligned=True),
    lambda: paging_tables.is_present(1, "arm"),
    lambda: paging_tables.Memory("host").write(8, 1 << 64),
    lambda: paging_tables.Memory("host").read(3),
    lambda: paging.guest_memory({}, {}).guest.memory.host_address(0x50_0000),
    lambda: paging_costs.compare(-1, 0),
    lambda: paging_costs.crossover_grid([], [1]),
    lambda: paging_costs.standard_grid(points=1),
    lambda: paging_costs.workload_rates(["nope"]),
    lambda: published.number("nope"),
    lambda: tcache.synthetic_program(loops=0),
    lambda: tlb.access_stream(-1, 10),
    lambda: tlb.access_stream(10, 10, skew=9),
    lambda: tlb.run_tlb((1, 2), 0),
    lambda: nested.cost_us("reboot", "kvm"),
    lambda: nested.trace("CPUID", "nested-kvm", vmcs_shadowing=1),
    lambda: nested.trace("CPUID", "nested-kvm", vmcs_accesses=-1),
    lambda: nested.cpu_share("CPUID", "kvm", -1),
    lambda: xen_guests.suitable(
        kernel_can_change=1, has_vtx=True, device_model_allowed=True, needs_fast_io=True
    ),
    lambda: xenio.simulate("tape"),
    lambda: xenio.simulate("block", ring_size=3),
    lambda: xenio.simulate("block", batch=0),
    lambda: xenio.Device("d", "", 32, 0, 1, 0, 0),
    lambda: xenio.Device("d", "", 32, 0.5, 0, 0, 0),
    lambda: xenio.Device("d", "", 3, 0.5, 1, 0, 0),
    lambda: xenio.overhead_per_request(3),
    lambda: xenring.slots_per_page(0),
    lambda: xenring.slots_per_page(5000),
    lambda: xenring.slot(-1, 8),
    lambda: xenring.RingState(size=3),
    lambda: xenring.RingState(size=1).queue_request().queue_request(),
    lambda: xenring.RingState(size=1).consume_response(),
    lambda: xenring.RingState(size=1).consume_request(),
    lambda: xenring.RingState(size=1).queue_response(),
]


def _use_every_model() -> None:
    """Every sentence the models compose, every table and summary they show."""
    for technique in techniques.TECHNIQUES:
        for event in techniques.EVENTS:
            techniques.path(technique, event)
            techniques.path(technique, event, "modern")
    techniques.table()
    for p in techniques.PROCESSORS.values():
        p.description  # noqa: B018 -- a property that translates
    for catalogue in (isa.X86, isa.RISCV):
        isa.popek_goldberg(catalogue).summary  # noqa: B018
    for program in trap.EXAMPLES.values():
        for technique in trap.TECHNIQUES:
            trap.run(program, technique)
    trap.run("user: LGDT base=0x1000\nuser: IN port=0x80\nkernel: STR", "paravirtualization")
    trap.run("kernel: MOV_FROM_CR3\nkernel: INVLPG\nkernel: LGDT base=1", "hardware-assisted")
    for listing in bt.EXAMPLES.values():
        program = bt.parse(listing)
        program.table()
        bt.translate(program, program.entry).table()
        bt.run(program, iterations=3, cache_size=1).table()
    for event in nested.EVENTS:
        for setup in nested.SETUPS:
            for shadowing in (False, True):
                nested.trace(event, setup, vmcs_shadowing=shadowing).rows()
    for h in hypervisors.HYPERVISORS.values():
        h.row()
    for g in xen_guests.GUEST_TYPES:
        g.row()
    for start in (0, xenring.MAX_INDEX - 1, xenring.MAX_INDEX):
        xenring.one_request(start=start)
    xenring.one_request(size=1)
    example = paging.example()
    for mode in paging.MODES:
        for address in paging.EXAMPLE_ADDRESSES.values():
            walk = example.walk(mode, address)
            str(walk.fault)
            [r.label for r in walk.references]
    str(paging.native_walk(paging.native_tables({}), 0x1000).fault)
    for reason in vmexit.WORLD_SWITCHES.values():
        reason.description  # noqa: B018
    for call in BAD_CALLS:
        _error(call)


def test_every_message_of_the_models_is_in_the_catalogue():
    assert _shown_in_english(_use_every_model) == []


def test_every_error_of_a_bad_argument_is_a_chinese_sentence_naming_the_parameter_in_code():
    with use("zh"):
        said = [_error(call) for call in BAD_CALLS]
    assert [s for s in said if not CHINESE.search(s)] == []
    assert _error(lambda: costmodel.predict(costmodel.WORKLOADS["compute"], "native", "z80")) == (
        "cpu must be one of p4, core2, modern; got 'z80'"
    )
    with use("zh"):
        bad_cpu = _error(lambda: costmodel.predict(costmodel.WORKLOADS["compute"], "x", "z80"))
        assert bad_cpu == "technique 必须是 native, emulation, binary-translation, " + (
            "paravirtualization, hardware-assisted, hardware-assisted-ept 之一；实际是 'x'"
        )
        assert str(errors.not_an_integer("exits", 0, 1, 10)) == (
            "exits 必须是 1 到 10 之间的整数；实际是 0"
        )
        assert _error(lambda: trap.run("kernel: NOPE", "native")).startswith(
            "程序第 1 行：mnemonic 必须是 ADD, MOV, CLI"
        )


def test_the_models_say_their_sentences_in_chinese_as_worked_out_by_hand():
    with use("zh"):
        steps = techniques.path("binary-translation", "interrupt-flag")
        assert steps[0].action == "屏蔽中断（CLI），这条代码已被二进制翻译器改写"
        assert steps[-1].action == "翻译后的代码直接设置或清除虚拟 CPU 的中断标志，不陷入"
        header, rows = techniques.table(("emulation",))
        assert header == ["事件", "硬件模拟"] and rows[0] == ("普通指令", "软件模拟")
        result = trap.run(trap.EXAMPLES["cli-popf"], "trap-and-emulate")
        assert "CPL > IOPL，因此 CPU 悄无声息地忽略了对 IF 的修改" in result.divergence.reason
        assert isa.popek_goldberg(isa.X86).summary.startswith("x86（32 位，VT-x 之前）：有 ")
        assert xenring.one_request()[0].action == "授权数据页"
        trace = nested.trace("CPUID", "kvm")
        assert trace.steps[0].action == "客户机执行 CPUID：一次到 L0 的虚拟机退出"
        unbacked = paging.EXAMPLE_ADDRESSES["not backed by the host"]
        assert str(paging.example().walk("shadow", unbacked).fault) == (
            "0x8080605567 处的隐藏缺页：影子页表第 1 级的表项不存在，但客户机的页表映射了这个页；"
            "这是一次客户机永远看不到的虚拟机退出"
        )
        assert techniques.PROCESSORS["core2"].description.startswith(
            "Intel Core 2 Duo，2.66 GHz（2006 年），VT-x，"
        )


def test_the_models_compare_english_keys_whatever_the_language():
    english = _model_results()
    with use("zh"):
        assert _model_results() == english
        assert techniques.table(lang="en")[0][0] == "Event"
        assert paging_costs.compare(1000, 20).winner in ("EPT", "shadow paging", "tie")
        assert vmexit.exit_reason(techniques.EVENTS["cpuid"].does) == "CPUID"
        assert [s.actor for s in xenring.one_request()] == [
            s.actor for s in _in_english(xenring.one_request)
        ]


def _in_english(run):
    with use("en"):
        return run()


def _model_results() -> list:
    """What the models compute, words left out."""
    runs = [trap.run(p, t) for p in trap.EXAMPLES.values() for t in trap.TECHNIQUES]
    program = bt.parse(bt.EXAMPLES["map-pages"])
    return [
        [(r.correct, r.traps, r.cycles, [(e.handler, e.cycles) for e in r.events]) for r in runs],
        [(e.hit, e.cycles) for e in bt.run(program, 5).entries],
        [i.kind for i in program.instructions],
        [(s.actor, s.domain, s.notify) for s in xenring.one_request()],
        [astuple(xenio.simulate("block", batch=b)) for b in (1, 16)],
        [(s.level, s.l0_exits) for s in nested.trace("PIO", "nested-kvm").steps],
        [paging_costs.compare(m, u).winner for m in (0, 1000, 3000) for u in (0, 20, 1000)],
        [
            type(paging.example().walk(m, a).fault).__name__
            for m in paging.MODES
            for a in paging.EXAMPLE_ADDRESSES.values()
        ],
        [s.actor for s in techniques.path("hardware-assisted", "port-io")],
    ]


# ---- the widgets ----------------------------------------------------------------------------


def _controls(box) -> list:
    """Every control of a widget, depth first."""
    found = []
    for child in getattr(box, "children", ()):
        found += [child] if hasattr(child, "description") else _controls(child)
    return found


def _use_every_widget(monkeypatch) -> None:
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    for t in techniques_widget.CHOICES:
        techniques_widget.explain(t, "port-io")
    for event in techniques.EVENTS:
        techniques_widget.explain("binary-translation", event)
    widgets.technique_explorer()
    for program in trap.EXAMPLES.values():
        for technique in trap.TECHNIQUES:
            count = trap_widget.step_view(program, technique, 0)[1]
            for step in range(count + 1):
                trap_widget.step_view(program, technique, step)
    trap_widget.step_view("kernel: NOPE", "native", 0)
    widgets.trap_explorer()
    box = widgets.translation_payoff_explorer()
    example, loops, cache = box.children[0].children
    for value in (1, bt_widget.MAX_LOOP):
        loops.value = value
    cache.value = 1
    example.value = "serial-out"
    for cpu in costmodel.CPUS:
        for batch in (1, 8, pv.BATCHES[-1]):
            pv.batch_view(cpu, batch)
    widgets.batch_explorer()
    for mix in vmexit.EXIT_MIXES:
        hwassist.timeline_view(mix, "p4", 10, 0)
    widgets.exit_timeline_explorer()
    for mode in paging.MODES:
        for case in hwassist.CASES:
            total = hwassist.walk_view(mode, 4, case, 0)[1]
            for step in range(total + 1):
                hwassist.walk_view(mode, 4, case, step)
    widgets.page_walk_explorer()
    for misses, updates in ((0, 0), (0, 1000), (3000, 1)):
        hwassist.crossover_view(misses, updates)
    widgets.crossover_explorer()
    if ACCEL:
        for name in ("hello_serial", "runaway"):
            kvm_widget.exit_view(name, ACCEL)
        kvm_widget.device_view(3, ACCEL)
        widgets.exit_explorer()
        widgets.device_explorer()
    monkeypatch.setattr(kvm, "KvmBackend", _refuse)
    kvm_widget.exit_view("lwn_add", "kvm")
    kvm_widget.device_view(3, "kvm")
    monkeypatch.undo()
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    pytest.importorskip("unicorn")
    for name in programs.SUMS:
        qemu.block_view(name, 1, AMORTIZATION)
    widgets.block_explorer()
    for setting in ((1, 1, 1), (6, 5, 12), (tcache.MAX_LOOPS, tcache.MAX_PASSES, qemu.MAX_CACHE)):
        qemu.cache_view(*setting)
    widgets.cache_explorer()
    for start in xen.STARTS.values():
        count = xen.request_step_view(0, start)[1]
        for step in range(count + 1):
            xen.request_step_view(step, start)
    widgets.request_stepper()
    for device in xenio.DEVICES:
        for batch in (1, 64):
            xen.ring_view(device, 4, batch)
    widgets.ring_explorer()
    for cpu in costmodel.CPUS:
        for name in costmodel.WORKLOADS:
            choosing.workload_view(cpu, choosing.rates_of(name))
        choosing.workload_view(cpu, {})
    box = widgets.workload_builder()
    box.children[0].children[1].value = choosing.CUSTOM
    for call in (
        lambda: bt_widget.payoff_view("nope", 1, 1),
        lambda: bt_widget.payoff_view("map-pages", 0, 1),
        lambda: choosing.rates_of("nope"),
        lambda: choosing.build_workload({"reboots": 1}),
        lambda: hwassist.walk_view("nested", 4, "nope", 0),
        lambda: kvm_widget.exit_view("nope", "tcg"),
        lambda: kvm_widget.device_message(0),
        lambda: qemu.block_view("nope", 1, AMORTIZATION),
        lambda: qemu.block_view("ppc-sum", 3, AMORTIZATION),
        lambda: widgets.trap_explorer("nope"),
        lambda: widgets.trap_explorer("cli-popf", "nope"),
    ):
        assert CHINESE.search(_error(call))


def _refuse(memory):
    raise AcceleratorUnavailable("kvm", "no /dev/kvm: test")


def test_every_message_of_the_widgets_is_in_the_catalogue(monkeypatch):
    shown = _shown_in_english(lambda: _use_every_widget(monkeypatch))
    assert [m for m in shown if m in OURS or m not in MACHINE] == []


def test_every_control_is_labelled_in_chinese_and_its_values_stay_english(monkeypatch):
    monkeypatch.setattr(blocks, "amortization", lambda name: AMORTIZATION)
    with use("zh"):
        boxes = [getattr(widgets, name)() for name in widgets.__all__ if name != "exit_explorer"]
        boxes += [widgets.exit_explorer()] if ACCEL else []
    english = {"CPU"}  # the same in Chinese
    for box in boxes:
        for control in _controls(box):
            if control.description and control.description not in english:
                assert CHINESE.search(control.description), control.description
    with use("zh"):
        technique, event = widgets.technique_explorer().children[0].children
    assert technique.description == "技术" and event.description == "事件"
    assert technique.options[1] == ("二进制翻译", "binary-translation")
    assert [value for _, value in event.options] == list(techniques.EVENTS)


def test_the_widgets_say_their_sentences_in_chinese_as_worked_out_by_hand():
    with use("zh"):
        page = techniques_widget.explain("binary-translation", "interrupt-flag")
        assert (
            "<b>二进制翻译</b>（binary translation）：<b>内联翻译</b>（translated inline）" in page
        )
        assert "这个事件留在客户机内部。出处：Adams &amp; Agesen, ASPLOS 2006。" in page
        assert "需要修改客户机：否；需要 VT-x/AMD-V：否；" in page
        page = trap_widget.step_view("kernel: NOPE", "native", 0)[0]
        assert "<b>这个程序无法解析：</b>程序第 1 行：mnemonic 必须是" in page
        text = hwassist.crossover_view(0, 0)[1]
        assert "每百万条指令有 0 次快表未命中、0.0 次页表更新：两者打平" in text
        assert "<b>第 0 / 12 步</b>：一个有 32 个槽的空闲环。" in xen.request_step_view(0)[0]


def test_a_figure_is_drawn_once_per_language():
    english = bt_widget._plot()
    with use("zh"):
        chinese = bt_widget._plot()
        assert bt_widget._plot() is chinese
    assert chinese is not english and bt_widget._plot() is english
