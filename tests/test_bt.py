"""Lesson 03's binary translator: parsing, translation, the cache, adaptation, the break-even,
its widget, plot and figure."""

import re
import shutil
import subprocess

import pytest
from matplotlib.figure import Figure

from vizlib import diagrams
from vizlib.plots.costs import translation_payoff
from vizlib.sim import bt
from vizlib.sim.isa import X86
from vizlib.widgets import bt as bt_widget

MAP_PAGES = bt.parse(bt.EXAMPLES["map-pages"])
SUM_ARRAY = bt.parse(bt.EXAMPLES["sum-array"])


def test_constants_worked_by_hand_from_the_sources():
    # Adams & Agesen (P4 cycles): translator 2300 per instruction, rdtsc callout 1254, cr8write
    # in the cache 35, `in` in the cache 216, ptemod 391, pgfault 3927 under the software VMM;
    # call/ret 11 natively and 51 translated; a unit of at most 12 instructions.
    assert (bt.TRANSLATE, bt.CALLOUT, bt.INLINE, bt.INLINE_PORT_IO) == (2300, 1254, 35, 216)
    assert (bt.ADAPTED_STORE, bt.TRACE_FAULT, bt.MAX_TU) == (391, 3927, 12)
    assert bt.NATIVE_CALL == 5.5 and bt.RET_LOOKUP == 40
    assert bt.INTERPRET == 4 * 2 * 30 * 2.5 == 600  # Bellard: QEMU ~8x native, Bochs ~30x slower
    # The device model: the PVM paper's PIO round trip minus CPUID on bare-metal KVM, 3.79 - 0.54
    # = 3.25 us = 8125 cycles at 2.5 GHz, in P4 cycles of native work (costs).
    from vizlib.sim import costs

    assert pytest.approx(8125 / costs.MODERN_NATIVE_SCALE) == bt.DEVICE_MODEL


def test_a_port_access_runs_the_device_model_under_translator_and_interpreter():
    serial = bt.parse(bt.EXAMPLES["serial-out"])
    r = bt.run(serial, 3)  # three OUTs
    assert r.breakdown["device model"] == 3 * bt.DEVICE_MODEL
    assert r.breakdown["inline emulation"] == 3 * 216  # `in` emulated in the cache
    assert r.breakdown["callouts"] == 0
    assert r.interpreted_cycles == 600 * (1 + 3 * 5 + 1) + 3 * bt.DEVICE_MODEL
    assert r.native_cycles == 2.5 * (1 + 3 * 4) + 3 * bt.NATIVE_PORT_IO + 5.5


def test_parse_gives_addresses_lengths_and_classes():
    rows = [(i.address - bt.BASE_ADDRESS, i.text, i.kind) for i in MAP_PAGES.instructions]
    assert rows == [
        (0, "PUSHF", "sensitive"),
        (1, "CLI", "sensitive"),
        (2, "MOV eax, [esi]", "innocuous"),
        (4, "CALL set_pte", "control flow"),
        (9, "ADD esi, 4", "innocuous"),
        (12, "DEC ecx", "innocuous"),
        (13, "JNZ loop", "control flow"),
        (15, "POPF", "sensitive"),
        (16, "RET", "control flow"),
        (17, "MOV [pte], eax", "page-table store"),  # 5 bytes: A3 disp32, the eax form
        (22, "INVLPG [edi]", "sensitive"),
        (25, "RET", "control flow"),
    ]
    assert MAP_PAGES.labels == {
        "map_pages": bt.BASE_ADDRESS,
        "loop": bt.BASE_ADDRESS + 2,
        "set_pte": bt.BASE_ADDRESS + 17,
    }
    assert MAP_PAGES.name_of(bt.BASE_ADDRESS + 9) == "loop+7"
    assert MAP_PAGES.table()[1][3] == ("0xc0100004", "CALL set_pte", 5, "control flow")


def test_control_registers_map_to_the_catalogue_names():
    program = bt.parse("MOV cr3, eax\nMOV ebx, cr3\nMOV cr0, eax\nMOV eax, cr0\nRET")
    names = [i.name for i in program.instructions]
    assert names == ["MOV_CR3", "MOV_FROM_CR3", "MOV_CR0", "MOV_FROM_CR0", "RET"]
    assert all(X86[n].sensitive for n in names[:4])


def _one_of_each_form():
    """A listing with every form of bt.FORMS, and the assembler text of each line."""
    operand = {"r": "ebx", "i": "5", "m": "[esi]", "s": "[data]", "c": "cr3", "l": "here"}
    operand |= {"al": "al", "dx": "dx"}
    lines = ["here:"]
    for mnemonic, kinds in bt.FORMS:
        if mnemonic not in ("RET", "JMP"):
            lines.append(f"{mnemonic} {', '.join(operand[k] for k in kinds)}".strip())
    return "\n".join([*lines, "MOV eax, [data]", "MOV [data], eax", "RET"])


def test_every_form_has_the_length_an_assembler_gives_it():
    keystone = pytest.importorskip("keystone")
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    spelling = {"pushf": "pushfd", "popf": "popfd", "invlpg [data]": "invlpg [0x1000]"}
    spelling["[data]"] = "dword ptr [0x1000]"
    program = bt.parse(_one_of_each_form(), traced=())
    for instruction in program.instructions:
        text = instruction.text.lower()
        for ours, theirs in spelling.items():
            text = text.replace(ours, theirs)
        # near jumps to a label 0-127 bytes away take the short (2-byte) form
        text = re.sub(r"^(jmp|jz|jnz) here", r"\1 0x1010", text)
        text = re.sub(r"^call here", "call 0x2000", text)
        encoding, _ = ks.asm(text, 0x1000)
        assert len(encoding) == instruction.length, (instruction.text, bytes(encoding).hex())


def test_sensitivity_comes_from_the_x86_catalogue():
    program = bt.parse(_one_of_each_form(), traced=())
    for i in program.instructions:
        if i.kind in ("sensitive", "innocuous"):
            assert (i.kind == "sensitive") == (i.name in X86 and X86[i.name].sensitive), i.text
    kinds = {i.mnemonic: i.kind for i in program.instructions}
    assert kinds["RDTSC"] == "innocuous"  # timing is outside equivalence (isa.X86)
    assert kinds["CPUID"] == kinds["SMSW"] == kinds["HLT"] == kinds["OUT"] == "sensitive"


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ("FOO\nRET", "mnemonic must be one of .*got 'FOO'"),
        ("MOV eax\nRET", "MOV takes operands:"),
        ("MOV [esp], eax\nRET", r"memory operand must be \[register\]"),
        ("ADD eax, 200\nRET", "immediate must be 0 to 0x7f"),
        ("JMP nowhere", "label 'nowhere' is not defined"),
        ("CLI", "must end with RET or JMP"),
        ("", "at least one instruction"),
        ("a:\na:\nRET", "label 'a' must be a new name"),
        ("MOV eax, ebx, ecx\nRET", "MOV takes operands"),
    ],
)
def test_bad_listings_say_what_is_wrong(listing, message):
    with pytest.raises(ValueError, match=message):
        bt.parse(listing)


def test_the_entry_unit_is_translated_as_adams_and_agesen_describe():
    unit = bt.translate(MAP_PAGES, MAP_PAGES.entry)
    rows = [(t.guest.text, t.method, t.code, t.cycles) for t in unit.instructions]
    assert rows == [
        ("PUSHF", "INLINE", "PUSHF ; copy vcpu.IF into the pushed IF bit", 35),
        ("CLI", "INLINE", "MOV [vcpu.IF], 0", 35),
        ("MOV eax, [esi]", "IDENT", "MOV eax, [esi]", 2.5),
        ("CALL set_pte", "CONTROL", "PUSH 0xc0100009 ; JMP [set_pte']", 5.5),
    ]
    assert unit.callouts == 0 and unit.address == MAP_PAGES.entry


def test_callouts_and_the_adapted_store():
    store = MAP_PAGES.labels["set_pte"]
    before = bt.translate(MAP_PAGES, store)
    assert [t.method for t in before.instructions] == ["IDENT", "CALLOUT", "CONTROL"]
    assert before.instructions[0].cycles == bt.TRACE_FAULT
    assert before.instructions[1].code == "CALL vmm.invlpg([edi])" and before.callouts == 1
    after = bt.translate(MAP_PAGES, store, adapted=[store])
    assert after.instructions[0].method == "CALLOUT" and after.callouts == 2
    assert after.instructions[0].code == "CALL vmm.write_pte([pte], eax)"
    assert after.instructions[0].cycles == bt.ADAPTED_STORE


def test_a_conditional_jump_gets_two_exits_and_cr3_a_callout():
    unit = bt.translate(SUM_ARRAY, SUM_ARRAY.labels["loop"])
    assert unit.instructions[-1].code == "JNZ [loop'] ; JMP [loop+8']"
    switch = bt.parse("MOV cr3, eax\nMOV ebx, cr3\nSTI\nRET")
    codes = [t.code for t in bt.translate(switch, switch.entry).instructions]
    assert codes[:3] == [
        "CALL vmm.write_cr3(eax)",
        "MOV ebx, [vcpu.CR3]",
        "MOV [vcpu.IF], 1 ; then deliver a pending virtual interrupt",
    ]


def test_a_unit_stops_after_max_tu_instructions():
    program = bt.parse("\n".join(["NOP"] * 20 + ["RET"]))
    first = bt.translate(program, program.entry)
    assert len(first.instructions) == bt.MAX_TU
    r = bt.run(program, 1)
    assert [e.translated for e in r.entries] == [12, 9]  # the second unit starts at NOP 13


def test_one_pass_of_sum_array_by_hand():
    # Units: [PUSHF CLI XOR ADD ADD DEC JNZ] then [POPF RET]: 9 instructions translated. Executed:
    # 2 inline (35 each), 5 IDENT/jumps (2.5 each), the fall-through JMP (2.5), POPF inline (35),
    # RET (5.5 + 40). Natively: 3 system instructions (60 each), 5 x 2.5 and RET 5.5.
    r = bt.run(SUM_ARRAY, 1)
    assert r.breakdown == {
        "translation": 9 * 2300,
        "IDENT and control flow": 5 * 2.5 + 2.5 + 45.5,
        "inline emulation": 3 * 35,
        "callouts": 0,
        "faults": 0,
        "device model": 0,
    }
    assert r.cycles == 20700 + 60.5 + 105
    assert r.native_cycles == 3 * 60 + 5 * 2.5 + 5.5
    assert r.interpreted_cycles == 9 * 600


def test_sum_array_break_even_by_hand():
    # From 2 passes on: 13 instructions translated (the loop's unit starts at `loop`), 82.5 cycles
    # for the first pass, 10 per later pass, 2.5 + 80.5 to leave: BT(n) = 30,055.5 + 10 n.
    # Interpreting runs 4 n + 5 instructions: 600 (4 n + 5). Equal at n = 11.3, so 12.
    for n in (2, 11, 12, 50):
        r = bt.run(SUM_ARRAY, n)
        assert r.cycles == 30055.5 + 10 * n
        assert r.interpreted_cycles == 600 * (4 * n + 5)
    assert bt.break_even(SUM_ARRAY) == 12
    assert bt.break_even(SUM_ARRAY, cache_size=1) == 12  # its loop is one unit


def test_the_cache_warms_up_and_the_store_is_adapted():
    r = bt.run(MAP_PAGES, 4)
    seen = [(e.iteration, e.name, e.hit, e.faults) for e in r.entries]
    assert seen == [
        (1, "map_pages", False, 0),
        (1, "set_pte", False, 1),
        (1, "loop+7", False, 0),
        (2, "loop", False, 0),
        (2, "set_pte", True, 1),  # second fault: adapted, dropped from the cache
        (2, "loop+7", True, 0),
        (3, "loop", True, 0),
        (3, "set_pte", False, 0),  # retranslated with the callout
        (3, "loop+7", True, 0),
        (4, "loop", True, 0),
        (4, "set_pte", True, 0),
        (4, "loop+7", True, 0),
        (4, "loop+13", False, 0),
    ]
    assert (r.hits, r.misses, r.flushes, r.faults) == (7, 6, 0, 2)
    assert r.adapted == (MAP_PAGES.labels["set_pte"],)
    assert r.translated == 4 + 3 + 3 + 2 + 3 + 2
    assert r.callouts == 4 + 2  # INVLPG on each pass, the adapted store on passes 3 and 4
    assert r.table()[1][0] == (1, "map_pages", "miss", 4, 0, "9,278")


def test_adapt_after_changes_when_the_store_stops_faulting():
    assert bt.run(MAP_PAGES, 10, adapt_after=1).faults == 1
    assert bt.run(MAP_PAGES, 10, adapt_after=5).faults == 5
    never = bt.run(MAP_PAGES, 10, adapt_after=1000)
    assert never.faults == 10 and never.adapted == ()


def test_a_cache_smaller_than_the_loop_thrashes():
    small, big = bt.run(MAP_PAGES, 50, cache_size=2), bt.run(MAP_PAGES, 50, cache_size=8)
    assert small.hits == 0 and small.flushes > 50
    assert big.flushes == 0 and small.cycles > 5 * big.cycles
    assert [bt.break_even(MAP_PAGES, c) for c in range(1, 9)] == [None, None, 19] + [15] * 5


def test_sweep_equals_separate_runs():
    for program in (MAP_PAGES, SUM_ARRAY, bt.parse(bt.EXAMPLES["serial-out"])):
        for cache in (1, 2, 3, 8):
            runs = bt.sweep(program, 25, cache)
            assert runs == tuple(bt.run(program, n, cache) for n in range(1, 26))


def test_translation_beats_interpretation_only_in_the_long_run():
    for name, listing in bt.EXAMPLES.items():
        program = bt.parse(listing)
        one, many = bt.run(program, 1), bt.run(program, 200)
        assert one.cycles > one.interpreted_cycles > one.native_cycles, name
        assert many.interpreted_cycles > many.cycles > many.native_cycles, name
        assert sum(one.breakdown.values()) == one.cycles


def test_a_routine_that_never_returns_is_refused():
    with pytest.raises(ValueError, match="must return"):
        bt.run(bt.parse("top:\nNOP\nJMP top"), 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterations": 0}, "iterations must be an integer from 1 to 1000; got 0"),
        ({"iterations": 1001}, "iterations must be an integer from 1 to 1000"),
        ({"iterations": True}, "iterations must be an integer"),
        ({"cache_size": 0}, "cache_size must be an integer from 1 to 64"),
        ({"cache_size": 2.0}, "cache_size must be an integer"),
        ({"adapt_after": 0}, "adapt_after must be an integer"),
    ],
)
def test_bad_run_parameters_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bt.run(MAP_PAGES, **kwargs)


def test_bad_programs_and_addresses_are_refused():
    with pytest.raises(ValueError, match="program must be a Program"):
        bt.run(bt.EXAMPLES["map-pages"])
    with pytest.raises(ValueError, match="program must be a Program"):
        bt.translate("CLI", 0)
    with pytest.raises(ValueError, match="address must be the start of an instruction"):
        bt.translate(MAP_PAGES, MAP_PAGES.entry + 3)
    with pytest.raises(ValueError, match="max_iterations must be an integer"):
        bt.sweep(MAP_PAGES, 0)


def test_payoff_plot_draws_three_lines_and_the_break_even():
    fig = translation_payoff(MAP_PAGES, 30)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines[:3]] == [
        "binary translation",
        "interpreter",
        "native",
    ]
    assert len(ax.lines) == 4  # and the break-even at 15
    assert len(translation_payoff(MAP_PAGES, 10).axes[0].lines) == 3  # 15 is off the plot
    assert len(translation_payoff(MAP_PAGES, 30, cache_size=2).axes[0].lines) == 3  # never


@pytest.mark.parametrize("example", list(bt.EXAMPLES))
@pytest.mark.parametrize("iterations", [1, bt_widget.MAX_LOOP])
@pytest.mark.parametrize("cache", [1, bt_widget.MAX_CACHE])
def test_payoff_view_at_the_extremes(example, iterations, cache):
    png, summary = bt_widget.payoff_view(example, iterations, cache)
    assert png.startswith(b"\x89PNG") and f"At {iterations} iterations" in summary
    assert ("never pays off" in summary) == (example == "map-pages" and cache == 1)


def test_payoff_view_rejects_an_unknown_routine():
    with pytest.raises(ValueError, match="example must be one of map-pages"):
        bt_widget.payoff_view("nope", 1, 1)


def test_the_widget_redraws_when_each_control_moves():
    box = bt_widget.translation_payoff_explorer()
    routine, loops, cache = box.children[0].children
    image, summary = box.children[1:]
    seen = {summary.value}
    for control, value in ((loops, loops.max), (loops, loops.min), (cache, cache.min)):
        before = image.value
        control.value = value
        assert image.value != before
        seen.add(summary.value)
    routine.value = "serial-out"
    seen.add(summary.value)
    assert len(seen) == 5


@pytest.mark.parametrize("lang", diagrams.LANGS)
def test_the_translator_figure(lang):
    g = diagrams.binary_translation(lang)
    assert g.comment.endswith(("。", "."))
    assert ("翻译缓存" in g.source) == (lang == "zh")
    assert "Translation cache" in diagrams.binary_translation().source
    if shutil.which("dot"):
        out = subprocess.run(["dot", "-Tsvg"], input=g.source.encode(), capture_output=True)
        assert out.returncode == 0 and not out.stderr, out.stderr
