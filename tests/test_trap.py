"""Lesson 02's trap simulator: one guest program under five techniques."""

import pytest

from vizlib.sim import isa, techniques, trap

TECHNIQUES = (
    *("native", "trap-and-emulate", "binary-translation", "paravirtualization"),
    "hardware-assisted",
)


def run_all(program):
    return {t: trap.run(program, t) for t in TECHNIQUES}


def test_the_simulator_shares_the_catalogue_and_the_model():
    assert set(trap.TECHNIQUES) == set(TECHNIQUES)
    assert set(trap.OPERANDS) <= set(isa.X86)
    needed = "CLI STI PUSHF POPF SGDT LGDT SIDT SMSW STR MOV_CR3 MOV_FROM_CR3 IN OUT HLT CPUID"
    assert set(needed.split()) | {"RDTSC", "ADD", "MOV", "SYSCALL", "INVLPG"} <= set(trap.OPERANDS)
    # The paravirtual kernel's own replacements cover the sensitive instructions that are no
    # event of the model; the model's treatments cover the rest.
    sensitive = {m for m in trap.OPERANDS if isa.X86[m].sensitive}
    assert set(trap.PV_KERNEL) == sensitive - set(techniques.EVENT_OF_INSTRUCTION)


def test_kernel_instructions_trap_exactly_when_the_catalogue_says_privileged():
    for mnemonic, operands in trap.OPERANDS.items():
        if mnemonic == "SYSCALL":
            continue
        args = " ".join(f"{name}={low}" for name, (low, _) in operands.items())
        result = trap.run(f"kernel: {mnemonic} {args}", "trap-and-emulate")
        handler = result.events[0].handler
        assert (handler == "trap") == isa.X86[mnemonic].privileged, mnemonic
        user = trap.run(f"user: {mnemonic} {args}", "native")
        assert (user.view.faults == (1,)) == isa.X86[mnemonic].privileged, mnemonic


CLI_POPF = trap.EXAMPLES["cli-popf"]  # line 2 PUSHF, 3 CLI, 4 ADD, 5 POPF if=1


@pytest.mark.parametrize(
    "technique, correct, traps",
    [
        ("native", True, 0),
        ("trap-and-emulate", False, 1),
        ("binary-translation", True, 0),
        ("paravirtualization", True, 0),
        ("hardware-assisted", True, 0),
    ],
)
def test_cli_then_popf(technique, correct, traps):
    result = trap.run(CLI_POPF, technique)
    assert (result.correct, result.traps) == (correct, traps)
    assert result.view.interrupt_flag == int(correct)
    assert [e.line for e in result.events] == [2, 3, 4, 5]
    if not correct:
        assert result.divergence.line == 5 and result.divergence.text == "POPF if=1"
        assert "silently ignores the change to IF" in result.divergence.reason
        assert "IF is 0, natively 1" in result.divergence.reason
    else:
        assert result.divergence is None


def test_cli_then_popf_event_details():
    results = run_all(CLI_POPF)
    tae = results["trap-and-emulate"].events
    assert {e.ring for e in tae} == {1}
    assert [e.handler for e in tae] == ["direct", "trap", "direct", "direct"]
    bt = results["binary-translation"].events
    assert [e.handler for e in bt] == ["inline", "inline", "direct", "inline"]
    pv = results["paravirtualization"].events
    assert all(e.handler == "direct" and "shared with Xen" in e.what for e in pv if e.text != "ADD")
    hw = results["hardware-assisted"].events
    assert all(e.ring == 0 and e.handler == "direct" for e in hw)
    assert results["hardware-assisted"].cycles == results["native"].cycles


def test_cli_then_popf_cycles_worked_by_hand():
    # Adams & Agesen (Pentium 4): cli natively 60 cycles (PUSHF, CLI, POPF alike), ADD 1
    # (illustrative); rdtsc by trap-and-emulate 2030; the translator 2300 cycles per
    # instruction, cr8write emulated in the translation cache 35; a shared-memory store 1.
    cycles = {t: r.cycles for t, r in run_all(CLI_POPF).items()}
    assert cycles["native"] == 3 * 60 + 1 == 181
    assert cycles["trap-and-emulate"] == 60 + 2030 + 1 + 60 == 2151
    assert cycles["binary-translation"] == 4 * 2300 + 3 * 35 + 1 == 9306
    assert cycles["paravirtualization"] == 3 * 1 + 1 == 4


SGDT = trap.EXAMPLES["sgdt"]  # line 2 LGDT base=0x5000, line 3 SGDT


@pytest.mark.parametrize(
    "technique, correct, traps, handlers",
    [
        ("native", True, 0, ["native", "native"]),
        ("trap-and-emulate", False, 1, ["trap", "direct"]),
        ("binary-translation", True, 2, ["callout", "callout"]),
        ("paravirtualization", True, 1, ["hypercall", "direct"]),
        ("hardware-assisted", True, 0, ["direct", "direct"]),
    ],
)
def test_sgdt_reveals_the_vmm_table_under_trap_and_emulate(technique, correct, traps, handlers):
    result = trap.run(SGDT, technique)
    assert (result.correct, result.traps) == (correct, traps)
    assert [e.handler for e in result.events] == handlers
    assert result.view.gdt_base == 0x5000  # the VMM tracked LGDT in every technique
    [(_, label, value)] = result.view.reads
    assert label == "GDT base" and (value == 0x5000) == correct
    if not correct:
        assert result.divergence.line == 3 and result.divergence.text == "SGDT"
        assert f"{value:#x}" in result.divergence.reason and "0x5000" in result.divergence.reason


def test_io_program_traps_and_costs():
    results = run_all(trap.EXAMPLES["io"])
    # The translator emulates IN and OUT in its cache and makes HLT a callout; KVM hands the
    # port accesses to user space and handles HLT in the kernel.
    assert [results[t].traps for t in TECHNIQUES] == [0, 5, 1, 5, 5]
    for result in results.values():
        assert result.correct
        assert bytes(v for _, v in result.view.output) == b"Hi\n"
        assert result.view.reads == ((2, "port 0x3fd", 0x60),)
    hw = [e.handler for e in results["hardware-assisted"].events]
    assert hw == ["exit-user"] * 4 + ["exit-kernel"]
    cycles = {t: r.cycles for t, r in results.items()}
    # Adams & Agesen: in 3209 cycles natively, 216 under the software VMM, 15826 under VT-x; a
    # VM exit and entry with 10 VMCS reads 1931 + 2409 + 10 x 178 = 6120.
    assert cycles["native"] == 4 * 3209 + 60
    assert cycles["binary-translation"] == 5 * 2300 + 4 * 216 + 1254
    assert cycles["hardware-assisted"] == 4 * 15826 + 6120 == 69424


def test_a_privileged_instruction_in_user_mode_faults_in_every_technique():
    results = run_all("kernel: STI\n\nuser: CLI  # not allowed in ring 3\n")
    for technique, result in results.items():
        assert result.correct, technique
        assert result.view.faults == (3,) and result.view.interrupt_flag == 1
        gp = result.events[1]
        assert gp.line == 3 and gp.ring == 3 and gp.what.startswith("#GP")
    handlers = [results[t].events[1].handler for t in TECHNIQUES]
    assert handlers == ["native", "trap", "trap", "trap", "direct"]
    assert results["native"].traps == results["hardware-assisted"].traps == 0


def test_user_popf_is_ignored_natively_too():
    for result in run_all("kernel: CLI\nuser: POPF if=1").values():
        assert result.correct and result.view.interrupt_flag == 0


def test_user_mode_sidt_is_wrong_unless_the_hardware_helps():
    results = run_all(trap.EXAMPLES["user-sidt"])
    assert {t for t, r in results.items() if r.correct} == {"native", "hardware-assisted"}
    assert results["binary-translation"].events[0].ring == 3
    assert results["binary-translation"].divergence.line == 2


def test_mixed_program():
    results = run_all(trap.EXAMPLES["mixed"])
    assert {t for t, r in results.items() if not r.correct} == {"trap-and-emulate"}
    assert results["trap-and-emulate"].divergence.text == "SMSW"
    syscall = {t: r.events[1] for t, r in results.items()}
    assert syscall["trap-and-emulate"].handler == "trap"
    assert syscall["binary-translation"].cycles == 2308  # Adams & Agesen: syscall, software VMM
    assert syscall["paravirtualization"].handler == "direct"  # Xen's fast system-call trap
    assert syscall["hardware-assisted"].handler == "direct"
    hw = [e.text for e in results["hardware-assisted"].events if e.handler == "exit-kernel"]
    assert hw == ["MOV_CR3 value=0x200000", "INVLPG", "MOV_FROM_CR3"]
    assert results["native"].view.cr3 == 0x200000
    assert all(r.view.cr3 == 0x200000 for r in results.values())


def test_runs_are_deterministic_and_empty_programs_are_fine():
    assert trap.run(trap.EXAMPLES["mixed"], "binary-translation") == trap.run(
        trap.EXAMPLES["mixed"], "binary-translation"
    )
    empty = trap.run("# nothing\n\n", "paravirtualization")
    assert empty.correct and empty.events == () and empty.traps == empty.cycles == 0
    assert trap.parse("kernel: popf if=0x1")[0].mnemonic == "POPF"


@pytest.mark.parametrize(
    "program, message",
    [
        (
            "kernel: CLI\nkernel: FROB",
            r"line 2: mnemonic must be one of .*CLI.*; got 'FROB'",
        ),
        ("root: CLI", r"program line 1: ring must be one of kernel, user"),
        ("CLI", r"program line 1: ring must be one of kernel, user"),
        ("kernel:", r"program line 1: mnemonic must be one of"),
        ("\nkernel: POPF flag=1", r"program line 2: POPF operands are if=; got 'flag=1'"),
        ("kernel: CLI if=1", r"program line 1: CLI operands are none; got 'if=1'"),
        ("kernel: POPF if=2", r"program line 1: if must be an integer, 0 or 1"),
        ("kernel: IN port=zz", r"program line 1: port must be an integer, 0 to 0xffff"),
        ("kernel: POPF if", r"program line 1: if must be an integer"),
        ("kernel: POPF if=1 if=0", r"POPF operands are if=; got 'if=0'"),
        ("kernel: OUT port=0x3f8", r"program line 1: OUT needs value="),
    ],
)
def test_bad_programs_are_rejected(program, message):
    with pytest.raises(ValueError, match=message):
        trap.run(program, "native")


def test_unknown_technique_is_rejected():
    with pytest.raises(ValueError, match=r"technique must be one of native, trap-and-emulate"):
        trap.run("kernel: CLI", "emulation")


def test_pushf_after_cli_shows_the_real_flag_under_trap_and_emulate():
    results = run_all("kernel: CLI\nkernel: PUSHF")
    assert {t for t, r in results.items() if not r.correct} == {"trap-and-emulate"}
    divergence = results["trap-and-emulate"].divergence
    assert divergence.line == 2 and "natively the guest reads IF = 0" in divergence.reason


def test_paravirtual_costs_price_hypercalls_and_traps_apart():
    from vizlib.sim import costs

    # One hypercall figure for the whole course: lesson 04's cost model sets it.
    assert costs.P4.pv_hypercall == trap.HYPERCALL
    pv = trap.run("kernel: LGDT base=0x5000\nkernel: CPUID\n", "paravirtualization")
    assert [(e.handler, e.cycles) for e in pv.events] == [("hypercall", 889), ("trap", 2030)]


def test_cpuid_breaks_equivalence_under_trap_and_emulate_only():
    results = run_all("kernel: CPUID")
    assert {t for t, r in results.items() if not r.correct} == {"trap-and-emulate"}
    assert "CPUID features" in results["trap-and-emulate"].divergence.reason


def test_the_cost_table_shows_every_constant_with_a_source():
    rows = {what: (cycles, source) for what, cycles, source in trap.COSTS}
    assert len(rows) == len(trap.COSTS)
    shown = {cycles for cycles, _ in rows.values()}
    constants = (trap.TRAP_EMULATE, trap.BT_TRANSLATE, trap.BT_CALLOUT, trap.HYPERCALL)
    assert set(constants) | {trap.VM_EXIT, trap.VM_EXIT_PORT_IO, trap.NATIVE_PORT_IO} <= shown
    for _, source in rows.values():
        assert source.startswith(("Adams & Agesen", "derived", "assumption"))
    assert rows["hypercall into Xen (32-bit)"][1].startswith("assumption")
