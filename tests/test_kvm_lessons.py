"""Lessons 07-08: their guests and helpers, the replayed KVM session, QEMU, figures and widgets.

Runs that need an accelerator are parametrized over the ones this machine has (see
`accelerators()`); QEMU tests skip without qemu-system-x86_64.
"""

from __future__ import annotations

import ctypes
import html
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

from vizlib import diagrams, plots, widgets
from vizlib.course import ROOT
from vizlib.diagrams.style import LAYERS
from vizlib.machine import AcceleratorUnavailable, accelerators, kvm, qemu, replay, run_guest
from vizlib.machine import kvm_api as api
from vizlib.machine.devices import PortDevice
from vizlib.machine.errors import QemuMissing
from vizlib.machine.experiments import (
    COUNT_ME,
    DEVICES,
    HALT_ONLY,
    MAX_MESSAGE,
    READ_DEVICE,
    UPPERCASE_ECHO,
    db_line,
    message_guest,
    run_code,
    time_guest,
    time_guests,
)
from vizlib.machine.guests import BUSY_LOOP, GUESTS, HELLO, LWN_ADD, RUNAWAY
from vizlib.machine.memory import GuestMemory
from vizlib.machine.results import Exit
from vizlib.widgets import kvm as kvm_widgets

AVAILABLE = accelerators()
ACCELS = [
    pytest.param(name, marks=pytest.mark.skipif(why != "available", reason=why))
    for name, why in AVAILABLE.items()
]
needs_kvm = pytest.mark.skipif(AVAILABLE["kvm"] != "available", reason=AVAILABLE["kvm"])
needs_qemu = pytest.mark.skipif(
    qemu.unavailable_reason() is not None, reason=str(qemu.unavailable_reason())
)
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
FILL = re.compile(r'fillcolor="([^"]*)"')
MAX_WIDTH_PT = 600  # a notebook cell, about 800 px (derived: 800 * 72 / 96)
PNG = b"\x89PNG"
MESSAGES = [b"A", b'Say "hi"\n\x01\x7f', bytes(range(1, 256))[:200]]


def assemble_or_skip(listing: str) -> bytes:
    pytest.importorskip("keystone", reason="keystone-engine is not installed")
    from vizlib.machine.asm import assemble

    return assemble(listing)


class Shouter(PortDevice):
    """Exercise 08's device: answers with the upper-case version of the last byte written."""

    def __init__(self):
        super().__init__(ports=range(0x600, 0x601))
        self.last = 0

    def io_out(self, port, size, value):
        self.last = value

    def io_in(self, port, size):
        return bytes([self.last]).upper()[0]


class Teller(PortDevice):
    """Lesson 08's device: answers each IN with the next byte of its text, then 0."""

    def __init__(self, text: bytes):
        super().__init__(ports=range(0x600, 0x601))
        self.text = list(text)

    def io_in(self, port, size):
        return self.text.pop(0) if self.text else 0


# ---- experiments: the message guests ----


@pytest.mark.parametrize("device", DEVICES)
def test_a_message_guest_with_lesson_07s_message_is_lesson_07s_guest(device):
    template, message = DEVICES[device]
    built = message_guest(device, message)
    assert (built.code, built.listing) == (template.code, template.listing)
    assert (built.serial, built.display, built.exit_counts) == (
        template.serial,
        template.display,
        template.exit_counts,
    )


@pytest.mark.parametrize("device", DEVICES)
def test_message_guest_listings_assemble_to_their_bytes(device):
    guest = message_guest(device, MESSAGES[1])
    assert assemble_or_skip(guest.listing) == guest.code


@pytest.mark.parametrize("accel", ACCELS)
@pytest.mark.parametrize("device", DEVICES)
def test_message_guests_print_any_message_with_the_exits_they_announce(device, accel):
    for message in [*MESSAGES, b"y" * MAX_MESSAGE]:
        guest = message_guest(device, message)
        result = run_guest(guest, accel=accel)
        assert result.serial == guest.serial
        assert result.display == guest.display
        assert result.exit_counts == guest.exit_counts
    assert message_guest("com1-polling", b"x" * 1000).exit_counts == {"io": 2000, "hlt": 1}


def test_message_guest_refuses_bad_input_naming_the_parameter():
    with pytest.raises(ValueError, match="device must be one of"):
        message_guest("lpt1", b"x")
    with pytest.raises(ValueError, match="message must be 1 to 2000 bytes"):
        message_guest("com1", b"")
    with pytest.raises(ValueError, match="message must be 1 to 2000 bytes"):
        message_guest("com1", "text")
    with pytest.raises(ValueError, match="message must be 1 to 2000 bytes"):
        message_guest("pv-console", b"x" * (MAX_MESSAGE + 1))
    with pytest.raises(ValueError, match="stops at a zero byte"):
        message_guest("display", b"a\0b")
    assert message_guest("pv-console", b"a\0b").exit_counts == {"io": 1, "hlt": 1}


def test_db_line_writes_text_and_numbers_as_nasm_does():
    assert db_line(HELLO, terminator=True) == 'db "Hello, world!", 0x0a, 0'
    assert db_line(b'"q"', terminator=False) == 'db 0x22, "q", 0x22'


@pytest.mark.parametrize(
    "name", ["halt_only", "read_device", "uppercase_echo", "count_me", "hello_boot"]
)
def test_the_new_guests_listings_assemble_to_their_bytes(name):
    guest = {
        "halt_only": HALT_ONLY,
        "read_device": READ_DEVICE,
        "uppercase_echo": UPPERCASE_ECHO,
        "count_me": COUNT_ME,
        "hello_boot": qemu.HELLO_BOOT,
    }[name]
    assert assemble_or_skip(guest.listing) == guest.code


@pytest.mark.parametrize("accel", ACCELS)
def test_the_new_guests_do_what_they_say(accel):
    counted = run_guest(COUNT_ME, accel=accel)
    assert (counted.serial, counted.exit_code, counted.stop_reason) == (b"***", 3, "debug-exit")
    assert (counted.display, counted.exit_counts) == (COUNT_ME.display, COUNT_ME.exit_counts)
    booted = run_guest(qemu.HELLO_BOOT, accel=accel)
    assert (booted.serial, booted.exit_code, booted.exit_counts) == (
        HELLO,
        42,
        qemu.HELLO_BOOT.exit_counts,
    )
    told = run_code(READ_DEVICE.code, accel=accel, devices=[Teller(b"I am a device model.\n")])
    assert (told.serial, told.exit_counts) == (b"I am a device model.\n", {"io": 43, "hlt": 1})
    assert run_code(READ_DEVICE.code, accel=accel, devices=[Teller(b"")]).exit_counts == (
        READ_DEVICE.exit_counts
    )
    shouted = run_code(UPPERCASE_ECHO.code, accel=accel, devices=[Shouter()])
    assert (shouted.serial, shouted.exit_counts) == (
        UPPERCASE_ECHO.serial,
        UPPERCASE_ECHO.exit_counts,
    )


@pytest.mark.parametrize("accel", ACCELS)
def test_run_code_returns_timeouts_and_unanswered_ports_instead_of_raising(accel):
    spun = run_code(RUNAWAY.code, accel=accel, timeout=0.2)
    assert spun.stop_reason == "timeout" and spun.exits == []
    unheard = run_code(UPPERCASE_ECHO.code, accel=accel, timeout=2)  # no device at 0x600
    assert unheard.stop_reason == "hlt" and set(unheard.serial) == {0xFF}
    # IN reads 0xff forever, never 0: the exit limit stops it long before a generous timeout
    flooded = run_code(READ_DEVICE.code, accel=accel, timeout=60)
    assert flooded.stop_reason == "max-exits"


@pytest.mark.parametrize("accel", ACCELS)
def test_time_guest_reports_the_median_run_and_its_exits(accel):
    halted = run_guest(HALT_ONLY, accel=accel)
    assert (halted.serial, halted.stop_reason, halted.exit_counts) == (b"", "hlt", {"hlt": 1})
    fixed = time_guest(HALT_ONLY, accel, runs=3)
    assert (fixed.guest, fixed.exits) == ("halt_only", 1) and 0 < fixed.seconds < 5
    timing = time_guest(BUSY_LOOP, accel, runs=3)
    assert (timing.guest, timing.accel, timing.exits, timing.runs) == ("busy_loop", accel, 2, 3)
    assert 0 < timing.seconds < 5
    assert timing.microseconds_per_exit == pytest.approx(timing.seconds * 1e6 / 2)
    with pytest.raises(ValueError, match="runs must be an int from 1 to 100"):
        time_guest(BUSY_LOOP, accel, runs=0)


def test_time_guests_times_every_pair_in_order():
    available = [name for name, why in AVAILABLE.items() if why == "available"]
    timings = time_guests([HALT_ONLY, BUSY_LOOP], available, runs=2)
    expected = [(g, a) for g in ("halt_only", "busy_loop") for a in available]
    assert [(t.guest, t.accel) for t in timings] == expected
    assert [t.exits for t in timings] == [1] * len(available) + [2] * len(available)
    assert all(t.runs == 2 and 0 < t.seconds < 5 for t in timings)
    with pytest.raises(ValueError, match="at least one"):
        time_guests([], available)
    with pytest.raises(ValueError, match="runs must be an int from 1 to 100"):
        time_guests([HALT_ONLY], available, runs=101)


# ---- the replayed KVM session ----


def lesson_steps(session: kvm.KvmSession) -> tuple[list[Exit], int]:
    """Lesson 07's cells, step 2 to the end: (exits, CS selector after reset)."""
    ram = GuestMemory(0x10000)
    ram.write(LWN_ADD.address, LWN_ADD.code)
    session.api_version()
    session.check_extension(api.KVM_CAP_USER_MEMORY)
    session.create_vm()
    session.set_user_memory_region(0, 0, ram.size, ram.address)
    session.create_vcpu()
    session.mmap_run()
    sregs = session.get_sregs()
    reset_cs = sregs.cs.selector
    for name in ("cs", "ds", "es", "fs", "gs", "ss"):
        segment = getattr(sregs, name)
        segment.base = segment.selector = 0
    session.set_sregs(sregs)
    session.set_regs(api.kvm_regs(rip=0x7C00, rax=2, rbx=2, rflags=0x2))
    exits = [session.run_once()]
    while exits[-1].reason == "io":
        exits.append(session.run_once())
    session.close()
    ram.close()
    return exits, reset_cs


def test_a_replayed_session_gives_the_recorded_results_and_marks_them():
    session = replay.ReplayedKvmSession("no /dev/kvm here")
    session.open()
    exits, reset_cs = lesson_steps(session)
    assert [(e.reason, e.data) for e in exits] == [("io", b"4"), ("io", b"\n"), ("hlt", b"")]
    assert reset_cs == 0xF000
    assert all(call.result.endswith(" (recorded)") for call in session.log)
    assert [c.name for c in session.log][-4:] == ["munmap", "close", "close", "close"]
    assert (session.kvm_fd, session.vm_fd, session.vcpu_fd) == (None, None, None)
    assert "REPLAY" in replay.describe(session) and "no /dev/kvm here" in replay.describe(session)


def test_a_replayed_session_refuses_steps_out_of_order():
    session = replay.ReplayedKvmSession("test")
    with pytest.raises(ValueError, match="no /dev/kvm file descriptor yet"):
        session.api_version()
    session.open()
    with pytest.raises(ValueError, match="has KVM_GET_API_VERSION next, not KVM_CREATE_VM"):
        session.create_vm()
    with pytest.raises(ValueError, match="not mapped yet"):
        session.run_once()
    with pytest.raises(ValueError, match="has KVM_GET_API_VERSION next, not open"):
        replay.ReplayedKvmSession("test", record=replay.LESSON_RECORD[1:]).open()
    with pytest.raises(ValueError, match="the recording ends before open"):
        replay.ReplayedKvmSession("test", record=()).open()


def test_open_session_replays_where_kvm_is_unusable(monkeypatch):
    monkeypatch.setattr(replay, "unavailable_reason", lambda: "no /dev/kvm: test")
    session = replay.open_session()
    assert isinstance(session, replay.ReplayedKvmSession) and session.kvm_fd == 3
    session.close()


@needs_kvm
def test_the_recording_matches_a_live_session_on_this_machine():
    live = replay.open_session()
    assert not isinstance(live, replay.ReplayedKvmSession)
    assert replay.describe(live).startswith("LIVE")
    exits, reset_cs = lesson_steps(live)
    recorded = replay.LESSON_RECORD
    assert [c.name for c in live.log][: len(recorded)] == [c.name for c in recorded]
    assert exits == [c.data for c in recorded if c.name == "KVM_RUN"]
    assert reset_cs == api.kvm_sregs.from_buffer_copy(replay.RESET_SREGS).cs.selector
    assert ctypes.sizeof(api.kvm_sregs) == len(replay.RESET_SREGS)


# ---- QEMU ----


def test_a_boot_sector_is_512_bytes_ending_in_the_signature():
    image = qemu.boot_sector(qemu.HELLO_BOOT.code)
    assert len(image) == 512 and image[510:] == b"\x55\xaa"
    assert image.startswith(qemu.HELLO_BOOT.code) and set(image[40:510]) == {0}
    with pytest.raises(ValueError, match="code must be 1 to 510 bytes"):
        qemu.boot_sector(b"\x90" * 511)
    with pytest.raises(ValueError, match="code must be 1 to 510 bytes"):
        qemu.boot_sector(b"")


def test_exit_status_goes_there_and_back_and_the_command_line():
    assert [qemu.exit_status(v) for v in (0, 3, 42)] == [1, 7, 85]
    assert [qemu.debug_exit_value(s) for s in (1, 7, 85, 0, 2, None)] == [
        0,
        3,
        42,
        None,
        None,
        None,
    ]
    with pytest.raises(ValueError, match="value must be an int in 0..127"):
        qemu.exit_status(128)
    line = qemu.command(Path("boot.img"), "kvm")
    assert line[:3] == ["qemu-system-x86_64", "-accel", "kvm"]
    assert "isa-debug-exit,iobase=0xf4,iosize=0x04" in line and "format=raw,file=boot.img" in line
    assert line[line.index("-serial") + 1] == "stdio" and "-nodefaults" in line
    with pytest.raises(ValueError, match="accel must be one of"):
        qemu.command(Path("a"), "hvf")


def test_missing_qemu_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "apt-get install qemu-system-x86" in qemu.unavailable_reason()
    with pytest.raises(QemuMissing, match="qemu-system-x86_64 is not installed"):
        qemu.run_in_qemu(qemu.boot_sector(qemu.HELLO_BOOT.code))
    with pytest.raises(QemuMissing, match="install it with"):
        qemu.version()


@needs_qemu
def test_only_a_boot_sector_and_a_sane_timeout_are_run():
    with pytest.raises(ValueError, match="image must be 512 bytes ending in 55 aa"):
        qemu.run_in_qemu(qemu.HELLO_BOOT.code)
    with pytest.raises(ValueError, match="image must be 512 bytes"):
        qemu.run_in_qemu(bytes(512))
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds in \(0, 600\]"):
        qemu.run_in_qemu(qemu.boot_sector(HALT_ONLY.code), timeout=0)
    with pytest.raises(ValueError, match="log: only TCG"):
        qemu.run_in_qemu(qemu.boot_sector(HALT_ONLY.code), "kvm", in_asm=True)


@needs_qemu
def test_real_qemu_prints_the_same_and_exits_with_the_value_shifted():
    run = qemu.run_in_qemu(qemu.boot_sector(qemu.HELLO_BOOT.code), accel="tcg", timeout=30)
    assert (run.status, run.exit_code, run.serial, run.stderr) == (85, 42, HELLO, "")
    assert not run.timed_out and "$TMP/boot.img" in " ".join(run.command)
    times = run.serial_times
    assert len(times) == len(HELLO) and times == tuple(sorted(times))
    assert 0 < times[0] <= run.wall_time and run.in_asm is None


@needs_qemu
def test_real_qemu_logs_the_blocks_it_translates_when_asked():
    run = qemu.run_in_qemu(qemu.boot_sector(qemu.HELLO_BOOT.code), timeout=30, in_asm=True)
    assert run.exit_code == 42 and "IN:" in run.in_asm and "0x00007c00:" in run.in_asm


@needs_qemu
def test_real_qemu_is_stopped_by_the_timeout():
    run = qemu.run_in_qemu(qemu.boot_sector(RUNAWAY.code), accel="tcg", timeout=0.5)
    assert run.timed_out and run.exit_code is None and run.serial == b""
    assert 0.5 <= run.wall_time < 5


# ---- diagrams ----


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_figures_speak_the_language_and_use_the_course_colours(lang):
    exits = run_guest(LWN_ADD, accel="auto").exits
    for g in (diagrams.kvm_ioctl_levels(lang), diagrams.exit_sequence(exits, "tcg", lang=lang)):
        fills = {part.split(";")[0] for f in FILL.findall(g.source) for part in f.split(":")}
        assert fills <= set(LAYERS.values()), fills
        if lang == "en":
            assert not CJK.search(g.source) and re.fullmatch(r"[A-Z][^\n]*\.", g.comment)
        else:
            assert CJK.search(g.source) and g.comment.count("。") == 1
        if shutil.which("dot"):
            out = subprocess.run(["dot", "-Tsvg"], input=g.source, capture_output=True, text=True)
            assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr
            width = float(re.search(r'<svg width="([\d.]+)pt"', out.stdout).group(1))
            assert 100 < width <= MAX_WIDTH_PT


def test_the_sequence_has_four_arrows_per_exit_shown_and_says_what_it_left_out():
    exits = run_guest(GUESTS["hello_serial"], accel="auto").exits  # 15 exits
    source = diagrams.exit_sequence(exits, "kvm", limit=3).source
    messages = re.findall(r"-> \w+_\d+ \[[^\]]*label=\" ([^\"]*) \"", source)
    assert len(messages) == 4 * 3
    assert messages[:4] == [
        "KVM_RUN",
        "VM entry",
        "VM exit: OUT 0x3f8 b'H'",
        "KVM_EXIT_IO out 0x3f8 b'H'",
    ]
    assert "... 12 more exits" in source
    lwn = diagrams.exit_sequence(run_guest(LWN_ADD, accel="auto").exits, "kvm").source
    assert "b'\\\\n'" in lwn  # a backslash kept, not a DOT line break
    assert "more exits" not in lwn and "KVM_EXIT_HLT" in lwn
    with pytest.raises(ValueError, match="accel must be one of"):
        diagrams.exit_sequence(exits, "hvf")
    with pytest.raises(ValueError, match="limit must be an int from 1 to 50"):
        diagrams.exit_sequence(exits, limit=0)
    with pytest.raises(ValueError, match="exits must be a sequence"):
        diagrams.exit_sequence(["io"])


# ---- plots ----


def test_plots_return_closed_figures_with_their_bars():
    polling = run_guest(GUESTS["hello_polling"], accel="auto")
    fig = plots.exit_profile(polling)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 3  # IN 0x3fd, OUT 0x3f8, HLT
    spun = run_code(RUNAWAY.code, timeout=0.1)
    assert len(plots.exit_profile(spun).axes[0].patches) == 0
    runs = {d: run_guest(message_guest(d, b"abc")) for d in DEVICES}
    fig = plots.device_exits(runs, 3)
    assert len(fig.axes) == 3 and all(len(ax.patches) == 4 for ax in fig.axes)
    with pytest.raises(ValueError, match="runs must map devices"):
        plots.device_exits({"lpt1": polling}, 3)
    timings = [time_guest(g, "auto", runs=1) for g in (LWN_ADD, BUSY_LOOP)]
    assert len(plots.accelerator_times(timings).axes[0].patches) == 2
    with pytest.raises(ValueError, match="at least one Timing"):
        plots.accelerator_times([])


# ---- widgets ----


@pytest.mark.parametrize("accel", ACCELS)
def test_exit_view_runs_the_first_and_last_guests_and_explains_a_runaway(accel):
    names = list(GUESTS)
    views = {name: kvm_widgets.exit_view(name, accel) for name in (names[0], names[-1], "runaway")}
    for name, (png, text) in views.items():
        assert png.startswith(PNG) and html.escape(GUESTS[name].description) in text
    assert "halted (HLT)" in views[names[0]][1]
    assert "still running after" in views["runaway"][1]
    with pytest.raises(ValueError, match="guest_name must be one of"):
        kvm_widgets.exit_view("nope", accel)


def test_exit_view_explains_an_unavailable_accelerator(monkeypatch):
    def refuse(memory):
        raise AcceleratorUnavailable("kvm", "no /dev/kvm: test")

    monkeypatch.setattr(kvm, "KvmBackend", refuse)
    png, text = kvm_widgets.exit_view("lwn_add", "kvm")
    assert png == b"" and "no /dev/kvm: test" in text


@pytest.mark.parametrize("accel", ACCELS)
def test_device_view_at_both_ends_of_the_slider(accel):
    for length in (1, kvm_widgets.MAX_LENGTH):
        png, text = kvm_widgets.device_view(length, accel)
        assert png.startswith(PNG)
        assert f"<td>{2 * length + 1}</td>" in text  # COM1 polling: IN + OUT per byte, HLT
    with pytest.raises(ValueError, match="length must be an int from 1 to 500"):
        kvm_widgets.device_message(0)


def test_the_widgets_redraw_when_a_control_changes():
    box = widgets.exit_explorer()
    guest, text = box.children[0], box.children[3]
    before = text.value
    guest.value = "hello_pv"
    assert text.value != before and "hello_pv" in text.value
    box = widgets.device_explorer()
    length, text = box.children[0].children[0], box.children[2]
    before = text.value
    length.value = 1
    assert text.value != before


# ---- the lessons ----


@pytest.mark.parametrize("name", ["07_kvm", "08_kvm_and_qemu"])
def test_machine_dependent_cells_are_marked_for_nbval(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    dependent = re.compile(
        r"accelerators\(\)|open_session|time_guest|probe\(\)|run_in_qemu|widgets\.|wall_time|kvm\.log"
    )
    for cell in nb.cells:
        imports = cell.source.startswith(("from ", "import "))
        if cell.cell_type == "code" and not imports and dependent.search(cell.source):
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT\n"), cell.source
