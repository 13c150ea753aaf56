"""Lesson 06's foreign CPUs: stored guest code, runs on unicorn, limits, errors, QEMU's log."""

from __future__ import annotations

import re
import sys
import time
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest

from vizlib.emulation import blocks, cpus, programs, qemu, show
from vizlib.emulation.errors import EmulationError, EmulatorMissing, GuestFault, GuestRunaway
from vizlib.emulation.optional import load, versions
from vizlib.emulation.programs import PROGRAMS, SUMS
from vizlib.machine import qemu as pc
from vizlib.machine.devices import COM1, DEBUG_EXIT_PORT
from vizlib.machine.vm import BOOT_ADDRESS

unicorn = pytest.importorskip("unicorn")
LOOP = 0x1000C  # where ppc-sum's loop block starts: CODE_BASE + 3 instructions
EMULATORS = ("unicorn", "capstone", "keystone")
needs_qemu = pytest.mark.skipif(pc.unavailable_reason() is not None, reason="no QEMU here")


def mnemonic(text: str) -> str:
    """The instruction's mnemonic, without a leading label."""
    return re.sub(r"^\w+:\s*", "", text).split()[0]


# ---- the stored programs ----


@pytest.mark.parametrize("name", PROGRAMS)
def test_stored_bytes_are_what_keystone_assembles_from_the_listing(name):
    keystone = pytest.importorskip("keystone")
    guest = PROGRAMS[name]
    ks_arch, ks_modes = cpus.ARCHES[guest.arch].keystone
    mode = 0
    for m in ks_modes:
        mode |= getattr(keystone, m)
    source = guest.source
    if guest.arch == "ppc32":
        source = re.sub(r"\br(\d+)\b", r"%r\1", source)
    encoded, _ = keystone.Ks(getattr(keystone, ks_arch), mode).asm(source, guest.base)
    assert bytes(encoded) == guest.code


@pytest.mark.parametrize("name", PROGRAMS)
def test_capstone_reads_the_listing_in_the_stored_bytes(name):
    pytest.importorskip("capstone")
    guest = PROGRAMS[name]
    decoded = cpus.disassemble(guest)
    assert [i.hex for i in decoded] == [hex_bytes for hex_bytes, _, _ in guest.listing]
    assert [mnemonic(i.text) for i in decoded] == [mnemonic(t) for _, t, _ in guest.listing]
    assert decoded[0].address == guest.base and sum(len(i.hex) // 2 for i in decoded) == len(
        guest.code
    )


def test_the_boot_sector_is_a_bootable_sector_with_its_message_after_the_code():
    code = programs.BOOT_SECTOR.code
    image = pc.boot_sector(code + programs.BOOT_MESSAGE)
    assert len(image) == 512 and image.endswith(b"\x55\xaa")
    assert image[: len(code)] == code
    # `mov si, 0x7c18` must point at the message: right after the code
    assert BOOT_ADDRESS + len(code) == 0x7C18
    assert image[len(code) : len(code) + len(programs.BOOT_MESSAGE)] == programs.BOOT_MESSAGE
    assert pc.exit_status(programs.EXIT_VALUE) == 33
    # mov dx, COM1; mov al, EXIT_VALUE; out DEBUG_EXIT_PORT, al
    assert b"\xba" + COM1.to_bytes(2, "little") in code
    assert bytes([0xB0, programs.EXIT_VALUE, 0xE6, DEBUG_EXIT_PORT]) in code


def test_unknown_programs_and_cpus_are_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="name must be one of ppc-sum"):
        programs.program("mips-sum")
    with pytest.raises(ValueError, match="arch must be one of ppc32, arm, arm64"):
        cpus.arch("mips")


# ---- runs ----


@pytest.mark.parametrize("name", SUMS)
@pytest.mark.parametrize("n", [1, 10, 1000, cpus.MAX_ELEMENTS])
def test_every_cpu_sums_the_array(name, n):
    run = cpus.run(name, n)
    assert run.result & 0xFFFF_FFFF == n * (n + 1) // 2 & 0xFFFF_FFFF
    count, _ = PROGRAMS[name].array
    assert run.before[count] == n


def test_powerpc_stores_big_endian_and_arm_little_endian():
    assert cpus.run("ppc-sum", 4).memory_before == bytes.fromhex("00000001000000020000000300000004")
    assert cpus.run("arm-sum", 4).memory_before == bytes.fromhex("01000000020000000300000004000000")
    ppc, arm = cpus.run("ppc-endian"), cpus.run("arm-endian")
    assert (ppc.result, arm.result) == (0x11, 0x44)
    assert ppc.memory_after[:4] == bytes.fromhex("11223344")
    assert arm.memory_after[:4] == bytes.fromhex("44332211")
    assert ppc.before["r5"] == arm.before["r5"] == programs.DATA_BASE


def test_the_rotation_of_exercise_06():
    assert cpus.run("ppc-rotate").result == 0x34567812


def test_registers_before_are_the_start_values_and_can_be_overridden():
    run = cpus.run("ppc-endian", registers={"r5": programs.DATA_BASE + 8})
    assert run.before["r5"] == programs.DATA_BASE + 8
    assert run.memory_after[8:12] == bytes.fromhex("11223344")


def test_a_runaway_guest_stops_at_the_instruction_limit_with_its_pc():
    with pytest.raises(GuestRunaway, match="instruction limit of 1,000") as caught:
        cpus.run("arm-spin", max_instructions=1000)
    assert caught.value.pc in (0x10004, 0x10008)
    assert "pc=0x1000" in str(caught.value)


def test_a_runaway_guest_stops_at_the_time_limit():
    start = time.perf_counter()
    with pytest.raises(GuestRunaway, match="time limit of 0.05 s") as caught:
        cpus.run("arm-spin", max_instructions=10**12, timeout=0.05)
    assert time.perf_counter() - start < 2
    assert caught.value.reason == "time limit of 0.05 s reached"


def test_a_loop_count_of_zero_wraps_ctr_and_faults_past_the_array():
    with pytest.raises(GuestFault, match="UNMAPPED") as caught:
        cpus.run("ppc-sum", 0)
    assert caught.value.pc == LOOP  # the lwzu that reads past the mapped data


@pytest.mark.parametrize(
    ("arch", "source", "reason"),
    [
        ("ppc32", "li r3, 1\ntrap", "program exception"),
        ("ppc32", "li r3, 1\nsc", "system call"),
        ("ppc32", "li r3, 1\n.long 0", "an illegal instruction"),
        ("arm", "mov r0, #1\nsvc #0", "supervisor call"),
        ("arm", "udf #0", "INSN_INVALID"),
        ("arm64", "mov x0, #1\nldr x1, [x0]", "UNMAPPED"),
    ],
)
def test_guest_faults_name_their_reason(arch, source, reason):
    pytest.importorskip("keystone")
    with pytest.raises(GuestFault, match=reason) as caught:
        cpus.run(cpus.assemble(arch, source))
    assert isinstance(caught.value, EmulationError) and caught.value.pc >= programs.CODE_BASE


def test_assembled_programs_run_and_keep_their_labels():
    pytest.importorskip("keystone")
    guest = cpus.assemble("ppc32", "li r3, 0\nli r4, 4\nmtctr r4\nloop:\naddi r3, r3, 5\nbdnz loop")
    assert guest.listing[3][1] == "loop: addi r3, r3, 5"
    assert cpus.run(guest).result == 20
    assert cpus.run(cpus.assemble("arm64", "mov x0, #7\nadd x0, x0, x0")).result == 14


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cpus.run("ppc-sum", -1), "n must be an integer from 0 to 250000"),
        (lambda: cpus.run("ppc-sum", cpus.MAX_ELEMENTS + 1), "n must be an integer"),
        (lambda: cpus.run("ppc-sum", True), "n must be an integer"),
        (lambda: cpus.run("ppc-sum"), "n must be an integer"),
        (lambda: cpus.run("ppc-endian", 3), "n must be None"),
        (lambda: cpus.run("ppc-endian", registers={"x9": 1}), "register must be a PowerPC"),
        (lambda: cpus.run("arm-spin", timeout=0), "timeout must be a positive number"),
        (lambda: cpus.run("arm-spin", max_instructions=0), "max_instructions must be a positive"),
        (lambda: cpus.run("boot-sector"), "run it in QEMU"),
        (lambda: cpus.assemble("x86-16", "nop"), "arch_name must be one of ppc32, arm, arm64"),
        (lambda: cpus.assemble("ppc32", "  \n"), "source must hold at least one instruction"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_invalid_assembly_is_refused():
    pytest.importorskip("keystone")
    with pytest.raises(ValueError, match="source must be valid PowerPC"):
        cpus.assemble("ppc32", "frobnicate r3")


# ---- translation blocks ----


def test_the_powerpc_loop_forms_two_blocks_and_reuses_the_second():
    trace = blocks.trace_blocks("ppc-sum", 5)
    assert [(b.address, b.instructions, b.runs) for b in trace.blocks] == [
        (programs.CODE_BASE, 6, 1),
        (LOOP, 3, 4),
    ]
    assert [(e.address, e.new) for e in trace.events] == [
        (programs.CODE_BASE, True),
        (LOOP, True),
        (LOOP, False),
        (LOOP, False),
        (LOOP, False),
    ]
    assert trace.result == 15


@pytest.mark.parametrize("name", SUMS)
def test_block_counts_of_exercise_06(name):
    trace = blocks.trace_blocks(name, 1000)
    assert (trace.translated, trace.executed) == (2, 1000)
    assert trace.blocks[1].runs == 999
    one = blocks.trace_blocks(name, 1)  # the loop branch is not taken: one block only
    assert (one.translated, one.executed) == (1, 1)


def test_timings_have_the_right_shape_and_check_the_guest():
    measured = blocks.amortization("arm-sum", counts=(1, 100), repeats=1)
    assert measured.counts == (1, 100) and len(measured.cold) == len(measured.warm) == 2
    assert all(t > 0 for t in measured.cold + measured.warm)
    speeds = blocks.speeds("ppc-sum", elements=2000, hooked_elements=100, repeats=1)
    assert tuple(speeds.seconds) == blocks.MODES and speeds.ratio("numpy") == 1
    assert speeds.elements["instruction hook"] == 100 and all(
        s > 0 for s in speeds.seconds.values()
    )


def test_timing_runs_only_take_the_shipped_array_programs():
    with pytest.raises(ValueError, match="guest must be one of ppc-sum, arm-sum, arm64-sum"):
        blocks.amortization("arm-spin", counts=(1,), repeats=1)
    with pytest.raises(ValueError, match="repeats must be an integer from 1 to 100"):
        blocks.speeds(repeats=0)
    with pytest.raises(ValueError, match="counts must be an integer from 1 to 250000"):
        blocks.amortization("ppc-sum", counts=(10, 0))  # n = 0 would fault (CTR wraps)
    with pytest.raises(ValueError, match="elements must be an integer from 1"):
        blocks.speeds(elements=0)


# ---- QEMU's log ----


def test_the_stored_log_holds_the_boot_sectors_four_blocks():
    boot = qemu.stored_boot_log()
    assert boot.stored and boot.serial == "Hello from the boot sector"
    assert (boot.exit_status, boot.exit_value) == (33, programs.EXIT_VALUE)
    assert boot.blocks_logged > 1000 and boot.qemu.startswith("QEMU emulator version")
    assert [(b.address, len(b.instructions)) for b in boot.boot_blocks] == [
        (0x7C00, 8),
        (0x7C10, 2),
        (0x7C0B, 3),
        (0x7C13, 3),
    ]
    code = programs.BOOT_SECTOR.code
    for block in boot.boot_blocks:
        for i in block.instructions:
            offset = i.address - BOOT_ADDRESS
            assert bytes.fromhex(i.hex) == code[offset : offset + len(i.hex) // 2]


def test_the_stored_log_was_recorded_with_the_lessons_command():
    text = (resources.files("vizlib.emulation") / "data" / qemu.STORED_LOG).read_text()
    recorded = " ".join(pc.command(Path("boot.img"), log=Path("in_asm.log")))
    assert f"#   {recorded}\n" in text


def test_the_log_parser_reads_blocks_with_or_without_bytes():
    text = (
        "noise\nIN: main\n0x00010000:  li r3,0\n0x00010004:  bdnz 0x10004\n\n"
        "IN:\n0x7c00:  fa  cli\n"
    )
    parsed = qemu.parse_in_asm(text)
    assert [(b.address, [i.text for i in b.instructions]) for b in parsed] == [
        (0x10000, ["li r3,0", "bdnz 0x10004"]),
        (0x7C00, ["cli"]),
    ]
    assert parsed[1].instructions[0].hex == "fa" and parsed[0].instructions[0].hex == ""


def test_the_qemu_command_logs_blocks_only_under_tcg(tmp_path):
    command = pc.command(tmp_path / "b.img", log=tmp_path / "log")
    joined = " ".join(command)
    for part in ("-accel tcg", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-d in_asm", "-D "):
        assert part in joined
    assert command[0] == pc.BINARY and "-display none" in joined
    assert "-d" not in pc.command(tmp_path / "b.img")
    with pytest.raises(ValueError, match="log: only TCG translates blocks"):
        pc.command(tmp_path / "b.img", "kvm", log=tmp_path / "log")


@needs_qemu
def test_qemu_boots_the_sector_and_logs_the_same_blocks():
    boot = qemu.run_boot_sector()
    stored = qemu.stored_boot_log()
    assert not boot.stored and boot.serial == stored.serial and boot.exit_status == 33
    assert [b.address for b in boot.boot_blocks] == [b.address for b in stored.boot_blocks]
    assert boot.blocks_logged > 1000 and boot.qemu.startswith("QEMU emulator version")


def qemu_gave(monkeypatch, status, stderr=""):
    """Make QEMU look installed and return a run that ended with `status` (None: timed out)."""
    monkeypatch.setattr(pc, "unavailable_reason", lambda: None)
    run = pc.QemuRun("tcg", (pc.BINARY,), status, b"", (), stderr, 1.0)
    monkeypatch.setattr(pc, "run_in_qemu", lambda *args, **kwargs: run)


def test_a_guest_that_never_exits_is_reported_after_the_timeout(monkeypatch):
    qemu_gave(monkeypatch, None)
    with pytest.raises(EmulationError, match="still running after 1 s"):
        qemu.run_boot_sector(timeout=1.0)


def test_qemus_own_failure_is_reported_with_its_message(monkeypatch):
    qemu_gave(monkeypatch, 1, "qemu-system-x86_64: -drive: could not open disk image")
    with pytest.raises(EmulationError, match="status 1, not 33: .*could not open disk image"):
        qemu.run_boot_sector()


def test_without_qemu_the_boot_sector_says_how_to_install_it(without_qemu):
    with pytest.raises(EmulatorMissing, match="sudo apt-get install qemu-system-x86"):
        qemu.run_boot_sector()


# ---- without the optional packages ----


@pytest.fixture
def without_qemu(monkeypatch):
    """Make qemu-system-x86_64 look absent for one test."""
    monkeypatch.setattr(pc, "shutil", SimpleNamespace(which=lambda name: None))


@pytest.fixture
def without_emulators(monkeypatch, without_qemu):
    """Make unicorn, capstone and keystone unimportable, and QEMU absent, for one test."""
    for package in EMULATORS:
        for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.setattr(show, "_hinted", set())


@pytest.fixture
def displayed(monkeypatch):
    """Everything the show helpers display, as text."""
    shown: list[str] = []
    monkeypatch.setattr(show, "_display", lambda *items: shown.extend(map(str, items)))
    return shown


def test_a_missing_package_raises_one_clear_install_hint(without_emulators):
    with pytest.raises(EmulatorMissing, match=r"unicorn is not installed: .*pip install unicorn"):
        cpus.run("ppc-sum", 3)
    with pytest.raises(ImportError, match="pip install capstone"):
        cpus.disassemble("ppc-sum")
    with pytest.raises(EmulationError, match="pip install keystone-engine"):
        cpus.assemble("ppc32", "li r3, 1")
    assert versions() == dict.fromkeys(EMULATORS)
    with pytest.raises(ValueError, match="module must belong to one of"):
        load("numpy")


def test_cells_show_the_hint_once_then_a_short_note(without_emulators, displayed):
    show.show_run("ppc-sum", n=3)
    show.show_blocks("ppc-sum", n=3)
    show.show_speeds()
    full = [line for line in displayed if line.startswith("> **Note.**")]
    assert len(full) == 1 and "pip install unicorn" in full[0]
    assert displayed.count("*(Skipped: unicorn is not installed; see the note above.)*") == 2


def test_listings_and_the_boot_log_still_show_without_the_packages(without_emulators, displayed):
    show.show_listing("ppc-sum")
    assert any("`bdnz loop` | `(capstone missing)`" in line for line in displayed)
    show.show_boot_sector()
    assert any("**Stored log**" in line for line in displayed)
    assert any("sudo apt-get install qemu-system-x86" in line for line in displayed)
    assert any("block 3 at 0x7c0b" in line for line in displayed)
    show.show_status()
    assert "| unicorn | not installed |" in displayed[-1]
    assert "| qemu-system-x86_64 | not installed |" in displayed[-1]


def test_a_stopped_guest_is_shown_as_its_message_not_a_traceback(displayed):
    show.show_run("arm-spin", max_instructions=100)
    assert displayed == [
        "**The guest was stopped.** `GuestRunaway`: guest stopped by the limit at pc=0x10008: "
        "instruction limit of 100 reached"
    ]
