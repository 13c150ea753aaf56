"""Lessons 06-08's machines speak Chinese: every message of `vizlib.machine` and `vizlib.emulation`
is shown through the catalogue, while the models keep comparing their English keys."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from vizlib import i18n
from vizlib.authoring.translation import code_messages
from vizlib.course import ROOT
from vizlib.emulation import blocks, cpus, optional, programs, qemu, show
from vizlib.emulation.errors import EmulationError, EmulatorMissing
from vizlib.i18n import use
from vizlib.machine import (
    VirtualMachine,
    accelerator_rows,
    asm,
    devices,
    experiments,
    guests,
    kvm,
    linux,
    linux_image,
    recordings,
    replay,
    run_guest,
    tcg,
    vm,
)
from vizlib.machine import kvm_api as api
from vizlib.machine import qemu as pc
from vizlib.machine.memory import GuestMemory
from vizlib.tables import markdown_table

pytest.importorskip("unicorn")
pytest.importorskip("capstone")
pytest.importorskip("keystone")

PACKAGES = (ROOT / "vizlib" / "machine", ROOT / "vizlib" / "emulation")
MESSAGES = {m for folder in PACKAGES for path in folder.glob("*.py") for m in code_messages(path)}
CONSOLE = ["[guest] init started at 0.41 s of kernel uptime", "[guest] kernel: 6.1.0"]


def said(call) -> str:
    """The message of the error `call()` raises."""
    with pytest.raises((ValueError, TypeError, ImportError, RuntimeError, EmulationError)) as e:
        call()
    return str(e.value)


def raising(error: Exception):
    """A stand-in for a function that raises `error`."""

    def call(*args, **kwargs):
        raise error

    return call


def qemu_run(status, lines=(), stderr="", accel="tcg") -> pc.QemuRun:
    serial = "".join(f"{line}\n" for line in lines).encode()
    return pc.QemuRun(accel, (pc.BINARY,), status, serial, (0.5,) * len(serial), stderr, 1.0)


@pytest.fixture
def looked_up(monkeypatch) -> set[str]:
    """Every message `_()` looks up from now on."""
    seen: set[str] = set()

    class Lookups(dict):
        def get(self, key, default=None):
            seen.add(key)
            return super().get(key, default)

    catalogue = Lookups(i18n.translations("zh"))
    monkeypatch.setattr(i18n, "translations", lambda lang: catalogue)
    return seen


@pytest.fixture
def displayed(monkeypatch) -> list[str]:
    """Everything the lesson 06 cells display, as text."""
    shown: list[str] = []
    monkeypatch.setattr(show, "_display", lambda *items: shown.extend(map(str, items)))
    monkeypatch.setattr(show, "_hinted", set())
    return shown


# ---- every message, driven once in Chinese ----


def drive_the_vmm(monkeypatch) -> None:
    """VirtualMachine, its devices, memory and accelerators: refusals, crashes, timeouts."""
    accelerator_rows()
    said(lambda: VirtualMachine(accel="fast"))
    with VirtualMachine(accel="tcg") as machine:
        said(machine.run)
        said(lambda: machine.load(b""))
        said(lambda: machine.load(b"\xf4", address=0x10000))
        said(lambda: machine.load(b"\xf4", registers={"ip": 1}))
        said(lambda: machine.load(b"\xf4", registers={"ax": -1}))
        machine.load(b"\xf4")
        said(lambda: machine.run(timeout=0))
        said(lambda: machine.run(max_exits=0))
        said(lambda: machine.add_device(devices.PortDevice(ports=range(0x3F8, 0x3F9))))
        said(lambda: machine.add_device(devices.MmioDevice(0x7000, 16)))
        said(lambda: machine.add_device(devices.MmioDevice(devices.DISPLAY_BASE, 16)))
        said(lambda: machine.add_device(object()))
        machine.no_handler.vector = 3  # as PVM does: delivered beyond the table's limit
        monkeypatch.setattr(machine._backend, "idt_limit", lambda: 0)
        machine._crash_reason()
    said(lambda: machine.load(b"\xf4"))
    said(lambda: devices.PortDevice(ports=range(0)))
    said(lambda: devices.NoHandler(port=0x100))
    said(lambda: devices._checked(None, devices.PortDevice(range(1)), "io_in"))
    board = SimpleNamespace(crash=lambda reason: None)
    for vector in (*devices.EXCEPTIONS, 0x21):
        handler = devices.NoHandler()
        handler.board = board
        handler.io_out(devices.NO_HANDLER_PORT, 1, vector)
    for guest in (guests.RUNAWAY, guests.FETCH_FROM_HOLE, guests.TRIPLE_FAULT):
        experiments.run_code(guest.code, accel="tcg", timeout=0.2)
    said(lambda: GuestMemory(5))
    memory = GuestMemory(0x10000)
    said(lambda: memory.read(0xA0000, 1))
    memory.close()
    said(lambda: memory.read(0, 1))
    with VirtualMachine(accel="tcg") as machine, monkeypatch.context() as patch:
        machine.load(b"\x90\xf4")  # unicorn comes back at once, neither halted nor timed out
        patch.setattr(machine._backend.uc, "emu_start", lambda *args, **kwargs: None)
        said(machine.run)
    with monkeypatch.context() as patch:
        patch.setattr(tcg, "unicorn", None)
        tcg.unavailable_reason()
        patch.setattr(tcg, "unicorn", SimpleNamespace(uc_version=lambda: (1, 0, 0)))
        tcg.unavailable_reason()


def drive_kvm(monkeypatch) -> None:
    """/dev/kvm refused every way, what a failed KVM_RUN says, and the step-by-step session."""
    for path in ("/nonexistent/kvm", "/", "/dev/null"):
        kvm.unavailable_reason(path)
    with monkeypatch.context() as patch:
        patch.setattr(kvm, "fcntl", None)
        kvm.unavailable_reason()
    with monkeypatch.context() as patch:
        patch.setattr(kvm.os, "open", raising(PermissionError()))
        kvm.unavailable_reason()
    for version, memory in ((11, 1), (api.KVM_API_VERSION, 0)):
        answers = {api.KVM_GET_API_VERSION: version, api.KVM_CHECK_EXTENSION: memory}
        with monkeypatch.context() as patch:
            ioctl = SimpleNamespace(ioctl=lambda fd, request, arg, a=answers: a[request])
            patch.setattr(kvm, "fcntl", ioctl)
            kvm.unavailable_reason("/dev/null")
    session = kvm.KvmSession()
    said(session.create_vm)
    said(session.run_once)
    session._ioctl = lambda *args, **kwargs: 4096
    said(session.mmap_run)
    session.run = api.kvm_run()
    for reason, suberror in [(api.KVM_EXIT_INTERNAL_ERROR, n) for n in (1, 2, 3, 4, 9)] + [
        (api.KVM_EXIT_FAIL_ENTRY, 0),
        (api.KVM_EXIT_SHUTDOWN, 0),
        (api.KVM_EXIT_IO, 0),
    ]:
        session.run.exit_reason, session.run.internal.suberror = reason, suberror
        session.exit_detail()
    replay.describe(kvm.KvmSession())
    for version, memory in ((11, 1), (api.KVM_API_VERSION, 0)):
        with monkeypatch.context() as patch:
            patch.setattr(kvm.KvmSession, "open", lambda self: 3)
            patch.setattr(kvm.KvmSession, "api_version", lambda self, v=version: v)
            patch.setattr(kvm.KvmSession, "check_extension", lambda self, cap, m=memory: m)
            said(lambda: kvm.KvmBackend(GuestMemory(0x10000)))
    with monkeypatch.context() as patch:
        patch.setattr(kvm.signal, "getsignal", lambda number: signal.SIG_DFL)
        errors = []
        thread = threading.Thread(target=lambda: errors.append(said(kvm._Alarm.check_thread)))
        thread.start()
        thread.join()


def drive_the_replay() -> None:
    """Lesson 07's session replayed: every step, then the steps it refuses."""
    session = replay.ReplayedKvmSession("no /dev/kvm here")
    said(session.create_vm)
    said(session.run_once)
    replay.describe(session)
    session.open()
    said(session.create_vm)
    session.api_version()
    session.check_extension(api.KVM_CAP_USER_MEMORY)
    session.create_vm()
    session.set_user_memory_region(0, 0, 0x10000, 0x7F0000000000)
    session.create_vcpu()
    session.mmap_run()
    session.set_sregs(session.get_sregs())
    session.set_regs(api.kvm_regs(rip=0x7C00, rax=2, rbx=2, rflags=0x2))
    for _step in range(3):
        session.run_once()
    said(session.run_once)
    session.close()


def drive_the_experiments(monkeypatch) -> None:
    """Devices in words, guests described, refused messages and runs, QEMU's own refusals."""
    for device in experiments.DEVICES:
        experiments.device_label(device)
    said(lambda: experiments.device_label("lpt1"))
    said(lambda: experiments.message_guest("lpt1", b"x"))
    said(lambda: experiments.message_guest("com1", b""))
    said(lambda: experiments.message_guest("com1", b"a\0b"))
    said(lambda: experiments.time_guests([experiments.HALT_ONLY], ["tcg"], runs=0))
    said(lambda: experiments.time_guests([], ["tcg"]))
    shipped = (experiments.HALT_ONLY, experiments.READ_DEVICE, experiments.UPPERCASE_ECHO)
    guests.guest_rows()
    guests.guest_rows([*shipped, experiments.COUNT_ME, pc.HELLO_BOOT])
    markdown_table(*experiments.runs_table({"tcg": run_guest(experiments.HALT_ONLY, "tcg")}))
    said(lambda: asm.assemble("[section .text]"))
    said(lambda: asm.assemble("frob ax"))
    with monkeypatch.context() as patch:
        patch.setattr(asm, "keystone", None)
        said(lambda: asm.assemble("hlt"))
    said(lambda: pc.boot_sector(b""))
    said(lambda: pc.exit_status(128))
    said(lambda: pc.command(Path("boot.img"), "hax"))
    said(lambda: pc.command(Path("boot.img"), "kvm", log=Path("in_asm.log")))
    said(lambda: pc.run_in_qemu(b"x"))
    with monkeypatch.context() as patch:
        patch.setattr(pc, "shutil", SimpleNamespace(which=lambda name: None))
        said(pc.version)
        patch.setattr(pc, "unavailable_reason", lambda: None)
        said(lambda: pc.run_command([pc.BINARY], "tcg", timeout=0))


def drive_the_linux_guest(monkeypatch, tmp_path) -> None:
    """Stored and live runs labelled, how each boot ended, what the guest found, refusals."""
    stored = recordings.everywhere(None, linux.STORED_LOG, "no QEMU here")
    markdown_table(*linux.timing_rows(stored))
    markdown_table(*linux.facts_rows(stored))
    linux._virtio_text(linux.GuestReport())
    [linux.LinuxBoot(run, 60).outcome for run in (qemu_run(None, CONSOLE), qemu_run(1))]
    said(lambda: recordings.write("x.log", "t", {}, stored))
    with monkeypatch.context() as patch:
        patch.setattr(recordings.kvm, "unavailable_reason", lambda: "no kvm here")
        patch.setattr(recordings, "version", lambda: "QEMU emulator version 0.0")
        live = recordings.everywhere(lambda accel: (qemu_run(0), {"timeout": "60"}), "x", None)
        markdown_table(*linux.timing_rows(live))
    with monkeypatch.context() as patch:
        patch.setattr(linux.qemu, "unavailable_reason", lambda: None)
        linux.unavailable_reason(tmp_path)
        said(lambda: linux.boot("tcg", folder=tmp_path))
    said(lambda: linux.command("hax"))
    fields = dict.fromkeys(linux.Manifest.__dataclass_fields__, "x") | {"modules": []}
    (tmp_path / linux_image.MANIFEST_FILE).write_text(json.dumps(fields))
    for name in (linux.KERNEL_FILE, linux.INITRAMFS_FILE):
        (tmp_path / name).write_bytes(b"")
    with monkeypatch.context() as patch:
        patch.setattr(linux, "unavailable_reason", lambda folder: None)
        patch.setattr(linux.recordings, "everywhere", lambda *args, **kwargs: live)
        linux.boot_all(folder=tmp_path)


def drive_the_foreign_cpus(monkeypatch, displayed) -> None:
    """Lesson 06's cells in full, each CPU exception, the refusals, the missing packages."""
    with monkeypatch.context() as patch:
        patch.setattr(pc, "unavailable_reason", lambda: None)
        show.show_status()
        patch.setattr(show, "versions", lambda: dict.fromkeys(optional.INSTALL))
        patch.setattr(pc, "unavailable_reason", lambda: "no QEMU here")
        show.show_status()
    for name in programs.PROGRAMS:
        show.show_listing(name)
    show.show_run("ppc-sum", n=3)
    show.show_run("ppc-rotate")
    show.show_run("arm-spin", max_instructions=100)
    show.show_blocks("ppc-sum", n=20)
    show.show_speeds(repeats=1)
    show.show_published()
    show.show_assembled("ppc32", "lwz r3, 0(r0)")  # reads address 0: a guest fault
    boot = replace(qemu.stored_boot_log(), stored=False)
    missing_qemu, failed = EmulatorMissing(pc.BINARY, "hint"), EmulationError("no exit")
    for run in (lambda timeout: boot, raising(missing_qemu), raising(failed)):
        with monkeypatch.context() as patch:
            patch.setattr(qemu, "run_boot_sector", run)
            show.show_boot_sector()
    missing = EmulatorMissing("capstone", "hint")
    with monkeypatch.context() as patch:
        patch.setattr(cpus, "disassemble", raising(missing))
        show.show_listing("arm-sum")
        show.show_listing("arm-sum")
        patch.setattr(cpus, "disassemble", lambda guest: [])
        show.show_listing("arm-sum")
    for arch, numbers in cpus.EXCEPTIONS.items():
        machine = cpus.Machine(next(p for p in programs.PROGRAMS.values() if p.arch == arch), 1)
        for number in (*numbers, 99):
            machine._exception(machine.uc, number, None)
    said(lambda: cpus.arch("z80"))
    said(lambda: programs.program("z80-sum"))
    said(lambda: cpus.run("ppc-rotate", registers={"zz": 1}))
    said(lambda: cpus.run("boot-sector"))
    said(lambda: cpus.run("ppc-rotate", 3))
    said(lambda: cpus.run("ppc-sum", -1))
    said(lambda: cpus.run("ppc-sum", 3, timeout=0))
    said(lambda: cpus.run("ppc-sum", 3, max_instructions=0))
    said(lambda: cpus.run("arm-spin", max_instructions=None, timeout=0.01))
    said(lambda: cpus.assemble("x86-16", "nop"))
    said(lambda: cpus.assemble("arm", ""))
    said(lambda: cpus.assemble("arm", "frob r0"))
    said(lambda: cpus.assemble("arm", ".word 1, 2"))
    said(lambda: blocks.amortization("ppc-sum", counts=[]))
    said(lambda: blocks.amortization("ppc-sum", repeats=0))
    said(lambda: blocks.amortization("arm-spin", counts=[1], repeats=1))
    with monkeypatch.context() as patch:
        patch.setattr(blocks, "_expected_sum", lambda n: -1)
        said(lambda: blocks.amortization("ppc-sum", counts=[1], repeats=1))
    said(lambda: optional.load("numpy"))
    with monkeypatch.context() as patch:
        patch.setattr(optional.importlib, "import_module", raising(ImportError()))
        for package in optional.INSTALL:
            said(lambda p=package: optional.load(p))
    with monkeypatch.context() as patch:
        patch.setattr(pc, "unavailable_reason", lambda: "no QEMU here")
        said(qemu.run_boot_sector)
        patch.setattr(pc, "unavailable_reason", lambda: None)
        for status in (None, 1):
            patch.setattr(pc, "run_in_qemu", lambda *args, s=status, **kwargs: qemu_run(s))
            said(qemu.run_boot_sector)


def test_every_message_of_the_machines_is_shown_translated(
    monkeypatch, tmp_path, looked_up, displayed
):
    before = set(i18n.missing())
    with use("zh"):
        drive_the_vmm(monkeypatch)
        drive_kvm(monkeypatch)
        drive_the_replay()
        drive_the_experiments(monkeypatch)
        drive_the_linux_guest(monkeypatch, tmp_path)
        drive_the_foreign_cpus(monkeypatch, displayed)
    assert sorted(MESSAGES - looked_up) == []
    assert [message for lang, message in set(i18n.missing()) - before if lang == "zh"] == []


# ---- a few sentences worked by hand, and the keys that stay English ----


def test_the_lessons_sentences_read_in_chinese(displayed):
    stored = recordings.read(linux.STORED_LOG)
    with use("zh"):
        assert dict(accelerator_rows())["tcg"] == "可用"
        assert experiments.device_label("pv-console") == "半虚拟化控制台"
        stopped = said(lambda: run_guest(guests.RUNAWAY, accel="tcg", timeout=0.2))
        show.show_run("arm-spin", max_instructions=100)
        label = stored.label
        header, rows = linux.timing_rows(recordings.everywhere(None, linux.STORED_LOG, "x"))
        table = markdown_table(header, rows)
    assert stopped == (
        "0.2 秒后客户机仍在运行（到目前为止退出了 0 次）；像 `jmp $` 这样的循环永远不会交回控制权"
    )
    assert displayed == [
        "**客户机被停下了。** `GuestRunaway`：客户机在 pc=0x10008 处因达到运行上限而被停下："
        "达到了 100 条指令的上限"
    ]
    about = stored.about
    assert label == (
        f"保存的运行记录：{about['recorded on']} 录制于一台 Linux 机器（{about['arch']}，"
        f"{about['cpu']}，{about['cores']} 核，{about['system']}），其探测结果为“有 KVM，但没有 "
        f"VT-x/AMD-V：PVM / 嵌套”，使用 {about['qemu']}；不是在本机上运行的。"
    )
    assert header[:2] == ["-accel", "how it ended"] and rows[0][1] == "已启动，报告完毕后关机"
    assert table.startswith("| -accel | 结束方式 |")


def test_the_models_keep_their_english_keys_in_chinese():
    stored = recordings.everywhere(None, linux.STORED_LOG, "x")
    with use("zh"):
        usable = [name for name, why in vm.accelerators().items() if why == "available"]
        timings = experiments.time_guests([experiments.HALT_ONLY], usable, runs=1)
        boots = linux.boots(stored)
        assert "tcg" in usable and [t.accel for t in timings] == usable
        assert ("block device", "virtio_blk") in boots["tcg"].report.virtio
        assert (
            boots["kvm"].note.startswith("the probe said") and "探测程序" in boots["kvm"].shown_note
        )
        assert blocks.MODES == (
            "numpy",
            "translated",
            "block hook",
            "CPython loop",
            "instruction hook",
        )
        assert run_guest(guests.HELLO_PV, accel="tcg").stop_reason == "hlt"
