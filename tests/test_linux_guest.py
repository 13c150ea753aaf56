"""Lesson 08's Linux guest: its build (modules, initramfs), its boots, its stored runs, and the
lesson without QEMU. Live boots need qemu-system-x86_64 and a built guest (build/guest/)."""

from __future__ import annotations

import gzip
import lzma
import os
import struct
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vizlib.course import ROOT
from vizlib.machine import linux, linux_image, qemu, recordings
from vizlib.machine.linux_image import GuestBuildError, Manifest

LESSON = ROOT / "notebooks" / "08_kvm_and_qemu.ipynb"
needs_guest = pytest.mark.skipif(
    linux.unavailable_reason() is not None, reason=str(linux.unavailable_reason())
)


def cpio_members(archive: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """{name: (mode, data, (rdev major, minor))} of a gzip-compressed newc cpio archive."""
    data, members, at = gzip.decompress(archive), {}, 0
    while True:
        assert data[at : at + 6] == b"070701"
        fields = [int(data[at + 6 + 8 * i : at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, device, name_size = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name = data[at + 110 : at + 110 + name_size - 1].decode()
        at = (at + 110 + name_size + 3) & ~3
        body, at = data[at : at + size], (at + size + 3) & ~3
        if name == "TRAILER!!!":
            return members
        members[name] = (mode, body, device)


def fake_module(depends: str) -> bytes:
    """The smallest ELF64 a `.modinfo` reader needs: a header, the section, the section names."""
    info = f"license=GPL\0alias=a\0alias=b\0depends={depends}\0".encode()
    names = b"\0.modinfo\0.shstrtab\0"
    info_at, names_at = 64, 64 + len(info)
    table_at = (names_at + len(names) + 7) & ~7
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x28, table_at)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)
    body = bytes(header) + info + names
    body += bytes(table_at - len(body)) + bytes(64)  # section 0 is empty
    body += struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, info_at, len(info), 0, 0, 1, 0)
    return body + struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, names_at, len(names), 0, 0, 1, 0)


# ---- the build ----


def test_modinfo_reads_the_fields_of_a_module():
    fields = linux_image.modinfo(fake_module("virtio,virtio_ring"))
    assert fields["depends"] == "virtio,virtio_ring" and fields["alias"] == "a"
    assert linux_image.modinfo(fake_module(""))["depends"] == ""
    with pytest.raises(ValueError, match="64-bit little-endian ELF"):
        linux_image.modinfo(b"\x7fELF\x01\x01" + bytes(100))


def test_modules_come_after_those_they_depend_on_and_built_in_ones_are_left_out(tmp_path):
    kernel = tmp_path / "kernel" / "drivers"
    kernel.mkdir(parents=True)
    modules = {"virtio-rng": "virtio,virtio_ring", "virtio": "", "virtio_ring": "", "cpuid": ""}
    for name, depends in modules.items():
        (kernel / f"{name}.ko").write_bytes(fake_module(depends))
    (kernel / "failover.ko.xz").write_bytes(lzma.compress(fake_module("")))
    (tmp_path / "modules.builtin").write_text("kernel/drivers/virtio_ring.ko\n")
    order = linux_image.module_load_order(tmp_path, ("virtio_rng", "failover", "cpuid"))
    assert list(order) == ["virtio", "virtio_rng", "failover", "cpuid"]
    assert order["failover"] == fake_module("")  # unpacked from .ko.xz
    with pytest.raises(GuestBuildError, match="no module virtio_blk"):
        linux_image.module_load_order(tmp_path, ("virtio_blk",))


def test_the_initramfs_holds_busybox_the_modules_in_order_init_and_a_console():
    archive = linux_image.make_initramfs(b"BUSYBOX", {"virtio": b"V", "virtio_rng": b"R"})
    assert archive == linux_image.make_initramfs(b"BUSYBOX", {"virtio": b"V", "virtio_rng": b"R"})
    members = cpio_members(archive)
    assert members["bin/busybox"][:2] == (0o100755, b"BUSYBOX")
    assert members["init"] == (0o100755, linux_image.INIT.encode(), (0, 0))
    assert members["modules"][1] == b"virtio\nvirtio_rng\n"
    assert members["lib/modules/virtio_rng.ko"][1] == b"R"
    assert members["dev/console"] == (0o020600, b"", (5, 1))  # a character device, tty 5:1
    assert all(members[d][0] == 0o040755 for d in ("bin", "dev", "proc", "sys", "lib"))


def test_the_build_says_what_it_needs_where_it_cannot(monkeypatch):
    monkeypatch.setattr(linux_image.platform, "machine", lambda: "aarch64")
    assert "x86-64 Debian or Ubuntu" in linux_image.unavailable_reason()
    with pytest.raises(GuestBuildError, match="x86-64"):
        linux_image.build(Path("/nonexistent"))
    monkeypatch.setattr(linux_image.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(linux_image.shutil, "which", lambda tool: None)
    assert "apt-get, apt-cache, dpkg-deb" in linux_image.unavailable_reason()


def test_an_unbuilt_guest_has_no_manifest_and_says_how_to_build_it(tmp_path):
    assert Manifest.read(tmp_path) is None
    if qemu.unavailable_reason() is None:
        assert "scripts/course.py setup" in linux.unavailable_reason(tmp_path)
    with pytest.raises(ValueError, match="no guest built"):
        linux.boot("tcg", folder=tmp_path)


@needs_guest
def test_the_built_guest_loads_each_module_after_its_dependencies():
    manifest = Manifest.read()
    members = cpio_members((linux_image.GUEST_DIR / linux_image.INITRAMFS_FILE).read_bytes())
    order = members["modules"][1].decode().split()
    assert tuple(order) == manifest.modules and set(linux_image.MODULES) <= set(order)
    for position, name in enumerate(order):
        module = members[f"lib/modules/{name}.ko"][1]
        depends = filter(None, linux_image.modinfo(module).get("depends", "").split(","))
        assert all(order.index(d) < position for d in depends), name


# ---- what the guest reports ----

KVM_CONSOLE = [
    "[guest] init started at 0.41 s of kernel uptime",
    "[guest] kernel: 6.1.0-57-cloud-amd64",
    "[guest] cpu flag hypervisor: yes",
    "[guest] cpuid 0x40000000: 01 00 00 40 4b 56 4d 4b 56 4d 4b 56 4d 00 00 00",
    "[guest] hypervisor detected: KVM",
    "[guest] clocksource: kvm-clock",
    "[guest] clocksources available: kvm-clock tsc acpi_pm ",
    "[guest] virtio device 0x0002: driver virtio_blk",
    "[guest] virtio device 0x0009: driver 9pnet_virtio",
    "[guest] done at 0.52 s",
    "[    0.53] reboot: Power down",
]


def test_the_report_is_read_from_the_guest_lines_alone():
    report = linux.GuestReport.parse(KVM_CONSOLE)
    assert (report.init_uptime, report.done_uptime, report.kernel) == (
        0.41,
        0.52,
        "6.1.0-57-cloud-amd64",
    )
    assert (report.cpuid_max_leaf, report.cpuid_signature) == (0x40000001, "KVMKVMKVM")
    assert (report.hypervisor_flag, report.hypervisor_detected) == (True, "KVM")
    assert report.clocksources == ("kvm-clock", "tsc", "acpi_pm")
    assert report.virtio == (("block device", "virtio_blk"), ("device type 9", "9pnet_virtio"))
    assert linux.GuestReport.parse(["[guest] cpuid 0x40000000: 01 zz"]).cpuid_signature is None
    assert linux.GuestReport.parse([]) == linux.GuestReport()


def run(status, lines, accel="tcg") -> qemu.QemuRun:
    serial = "".join(f"{line}\r\n" for line in lines).encode()
    times = tuple(float(i) / 10 for i in range(len(serial)))
    return qemu.QemuRun(accel, ("qemu",), status, serial, times, "", 1.0)


def test_a_boot_tells_how_it_ended():
    assert linux.LinuxBoot(run(0, KVM_CONSOLE), 60).outcome == "booted, reported and powered off"
    silent = linux.LinuxBoot(run(None, []), 4, note="why")
    assert silent.outcome == "stopped after 4 s with nothing on the console"
    assert silent.seconds_to_init is None and silent.extra == {"timeout": "4", "note": "why"}
    crashed = linux.LinuxBoot(qemu.QemuRun("kvm", (), 1, b"", (), "KVM internal error", 2.0), 60)
    assert crashed.outcome == "QEMU exited with status 1: KVM internal error"
    console = linux.LinuxBoot(run(0, ["firmware", *KVM_CONSOLE]), 60).console
    assert console[0] == (0.0, "firmware") and console[1][1] == KVM_CONSOLE[0]
    assert linux.LinuxBoot(run(0, ["firmware", *KVM_CONSOLE]), 60).seconds_to_init == 1.0


def test_a_kvm_boot_on_a_pvm_host_is_bounded_and_says_why(monkeypatch, tmp_path):
    for name in (linux_image.KERNEL_FILE, linux_image.INITRAMFS_FILE):
        (tmp_path / name).write_bytes(b"")
    fields = dict.fromkeys(Manifest.__dataclass_fields__, "x") | {
        "modules": [],
        "initramfs_bytes": 0,
    }
    (tmp_path / linux_image.MANIFEST_FILE).write_text(__import__("json").dumps(fields))
    asked = []
    monkeypatch.setattr(
        linux.qemu,
        "run_command",
        lambda argv, accel, timeout, shown: asked.append((accel, timeout)) or run(None, [], accel),
    )
    monkeypatch.setattr(linux, "probe", lambda: probe_saying(linux.VERDICT_PVM))
    booted = linux.boot("kvm", timeout=60, folder=tmp_path)
    assert asked == [("kvm", linux.PVM_ATTEMPT)] and "PVM" in booted.note
    assert linux.boot("tcg", timeout=60, folder=tmp_path).note == ""
    assert asked[-1] == ("tcg", 60)


def probe_saying(kind):
    """A stand-in for the probe's report whose verdict is `kind` (`HostReport.kind`)."""
    return type("Report", (), {"kind": kind})()


# ---- live boots and stored ones ----


@needs_guest
def test_the_guest_boots_under_tcg_and_reports_itself():
    booted = linux.boot("tcg")
    console = "\n".join(line for _, line in booted.console[-20:])
    assert booted.outcome == "booted, reported and powered off", f"{booted.run.stderr}\n{console}"
    report = booted.report
    assert report.kernel == Manifest.read().kernel_release
    assert (report.hypervisor_flag, report.cpuid_signature) == (True, "TCGTCGTCGTCG")
    assert report.hypervisor_detected is None
    assert sorted(report.virtio) == [
        ("block device", "virtio_blk"),
        ("entropy source", "virtio_rng"),
        ("network card", "virtio_net"),
    ]
    assert report.hardware_rng == "virtio_rng.0"
    assert "build/guest/vmlinuz" in booted.run.command and str(ROOT) not in " ".join(
        booted.run.command
    )


@pytest.mark.parametrize("name", [linux.STORED_LOG, qemu.HELLO_BOOT_LOG])
def test_stored_runs_are_labelled_with_where_and_when(name):
    runs = recordings.everywhere(lambda accel: pytest.fail("nothing runs"), name, "no QEMU here")
    assert runs.stored and runs.origin.startswith("Not run here: no QEMU here. Stored runs, ")
    assert "not on this machine" in runs.origin and "probe said" in runs.origin
    assert str(ROOT) not in recordings.path(name).read_text()
    assert "tcg" in runs.runs


def test_the_stored_boots_read_back_as_they_were_recorded():
    boots = linux.boots(recordings.everywhere(None, linux.STORED_LOG, "no QEMU"))
    report = boots["tcg"].report
    assert boots["tcg"].outcome == "booted, reported and powered off"
    assert report.cpuid_signature == "TCGTCGTCGTCG" and len(report.virtio) == 3
    assert boots["tcg"].run.command[:3] == ("qemu-system-x86_64", "-accel", "tcg")
    assert "console=ttyS0 panic=-1 quiet" in boots["tcg"].run.command
    hello = recordings.everywhere(None, qemu.HELLO_BOOT_LOG, "no QEMU").runs["tcg"][0]
    assert (hello.serial, hello.exit_code) == (qemu.HELLO_BOOT.serial, qemu.HELLO_BOOT.exit_code)


def test_a_recording_reads_back_what_was_written(monkeypatch, tmp_path):
    monkeypatch.setattr(recordings, "path", lambda name: tmp_path / name)
    monkeypatch.setattr(recordings, "version", lambda: "QEMU emulator version 0.0")
    live = recordings.Runs({"tcg": (run(0, KVM_CONSOLE), {"timeout": "60"})}, "here", False, {})
    recordings.write("x.log", "A test.\nTwo lines.", {"guest": "a kernel"}, live)
    stored = recordings.read("x.log")
    assert stored.about["guest"] == "a kernel" and stored.about["qemu"].endswith("0.0")
    again, extra = stored.runs["tcg"]
    assert extra == {"timeout": "60"} and again.status == 0 and again.command == ("qemu",)
    assert [line for _, line in recordings.console(again)] == KVM_CONSOLE
    with pytest.raises(ValueError, match="runs must be live"):
        recordings.write("y.log", "t", {}, recordings.Runs({}, "stored", True, {}))


# ---- the lesson without QEMU ----


def path_without_qemu(folder: Path) -> str:
    """A PATH of one folder that holds every command of this one but QEMU's."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not Path(directory).is_dir():
            continue
        for command in Path(directory).iterdir():
            target = folder / command.name
            if not command.name.startswith("qemu-system") and not target.exists():
                target.symlink_to(command)
    return str(folder)


def outputs(cell) -> str:
    return "".join(
        o.get("text", "")
        + o.get("data", {}).get("text/plain", "")
        + o.get("data", {}).get("text/markdown", "")
        for o in cell.outputs
    )


def test_the_lesson_shows_stored_runs_without_qemu(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", path_without_qemu(tmp_path / "bin"))
    stored = nbformat.read(LESSON, as_version=4)
    nb = nbformat.read(LESSON, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(LESSON.parent)}}
    )
    client.execute()
    cells = {cell.id: cell for cell in nb.cells}
    for cell_id in ("cell-44", "cell-guest-timing"):
        shown = outputs(cells[cell_id])
        assert (
            "qemu-system-x86_64 is not installed" in shown and "Stored runs, recorded on" in shown
        )
    before = {cell.id: cell for cell in stored.cells}
    for cell_id in ("cell-boot-same", "cell-guest-tcg", "cell-guest-command"):  # compared cells
        assert outputs(cells[cell_id]) == outputs(before[cell_id])
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
