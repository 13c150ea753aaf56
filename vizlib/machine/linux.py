"""A real Linux guest in QEMU, on each accelerator, and what it reports about itself. Lesson 08.

`boot(accel)` starts qemu-system-x86_64 with the guest of `linux_image` (Debian's cloud kernel and
a busybox initramfs), three paravirtual devices (virtio-blk on an empty disk, virtio-net with no
network behind it, virtio-rng) and COM1 as the console. The guest's /init prints what its kernel
found, a `[guest]` line each, and powers off; `GuestReport` reads those lines. `boot_all()` boots
on every accelerator this machine offers, all at once, each in its own QEMU. Where QEMU or the
guest is missing it returns the boots stored with the course instead (the recording
`linux_boot.log` of `vizlib.machine.recordings`, made by `record()`), labelled with where and
when they were recorded.

Where the host's KVM is PVM (`vizlib.system.probe`), QEMU `-accel kvm` cannot boot a standard
kernel: on the machines this course was written on it printed nothing in 60 s, and a longer run
ended in a KVM internal error with the guest at a `lock cmpxchg16b`. There the attempt is stopped
after PVM_ATTEMPT seconds and the result says why, from the probe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from vizlib.course import ROOT
from vizlib.i18n import N_, Verbatim, _, sentences
from vizlib.machine import qemu, recordings
from vizlib.machine.linux_image import (
    GUEST_DIR,
    INITRAMFS_FILE,
    KERNEL_FILE,
    REPORT,
    Manifest,
)
from vizlib.system import VERDICT_PVM, probe

TIMEOUT = 60.0  # seconds; this course's choice: TCG reaches init in about 3 s on a 2-core VM
# seconds; this course's choice: a KVM that is PVM never boots the kernel, and TCG, all in
# software, has reached init by then on the machines this course was written on.
PVM_ATTEMPT = 4.0
MEMORY_MIB = 256  # the guest's RAM; the kernel and its 1 MB initramfs need far less
DISK_BYTES = 1 << 20  # virtio-blk's disk: 1 MiB of QEMU's null block driver, read as zeros
KERNEL_ARGUMENTS = "console=ttyS0 panic=-1 quiet"  # COM1 is the console; a panic powers off
# Virtio device IDs (the VIRTIO 1.2 specification, section 5, "Device Types"); the names are
# shown through `_()`.
VIRTIO_DEVICES = {1: N_("network card"), 2: N_("block device"), 4: N_("entropy source")}
STORED_LOG = "linux_boot.log"
# Why a kvm boot was bounded: kept in English with the boot (and its recording), shown through
# `_()` (`LinuxBoot.shown_note`).
PVM_NOTE = N_(
    "the probe said the host's KVM is PVM, which runs guests without VT-x or AMD-V; QEMU "
    "-accel kvm cannot boot a standard kernel on PVM (an emulation failure at its first "
    "cmpxchg16b instruction), so the attempt was stopped after {seconds} s"
)


def command(accel: str = "tcg", folder: Path = GUEST_DIR) -> list[str]:
    """The qemu-system-x86_64 command line that boots the guest built in `folder`. Lesson 08."""
    if accel not in qemu.ACCELS:
        raise ValueError(
            _("accel must be one of {allowed}, got {accel}", allowed=qemu.ACCELS, accel=repr(accel))
        )
    return [
        qemu.BINARY,
        "-accel",
        accel,
        "-m",
        str(MEMORY_MIB),
        "-nodefaults",  # only the devices below
        "-display",
        "none",
        "-serial",
        "stdio",  # COM1, the guest's console -> QEMU's standard output
        "-no-reboot",  # the guest's power-off (or a panic) ends QEMU
        "-kernel",
        str(folder / KERNEL_FILE),
        "-initrd",
        str(folder / INITRAMFS_FILE),
        "-append",
        KERNEL_ARGUMENTS,
        "-blockdev",
        f"driver=null-co,node-name=disk,size={DISK_BYTES}",
        "-device",
        "virtio-blk-pci,drive=disk",
        "-netdev",
        "user,id=net,restrict=on",  # a network card with nothing reachable behind it
        "-device",
        "virtio-net-pci,netdev=net",
        "-device",
        "virtio-rng-pci",
    ]


@dataclass(frozen=True)
class GuestReport:
    """What the guest's /init printed about its machine (None: it did not say). Lesson 08."""

    init_uptime: float | None = None  # seconds of kernel uptime when /init started
    kernel: str | None = None
    hypervisor_flag: bool | None = None  # CPUID.1:ECX bit 31, as /proc/cpuinfo shows it
    cpuid_max_leaf: int | None = None  # CPUID 0x40000000: EAX, the hypervisor's highest leaf
    cpuid_signature: str | None = None  # ... and EBX, ECX, EDX: the hypervisor's name
    hypervisor_detected: str | None = None  # the kernel's "Hypervisor detected:" line, if any
    clocksource: str | None = None
    clocksources: tuple[str, ...] = ()
    virtio: tuple[tuple[str, str], ...] = ()  # (device type, driver) in bus order
    hardware_rng: str | None = None
    done_uptime: float | None = None

    @classmethod
    def parse(cls, lines: list[str]) -> GuestReport:
        """Read the `[guest]` lines of a console."""
        said = [line.removeprefix(REPORT).strip() for line in lines if line.startswith(REPORT)]
        fields: dict = {}
        virtio = []
        for line in said:
            key, _colon, value = line.partition(": ")
            value = value.strip()
            if match := re.match(r"init started at ([\d.]+) s", line):
                fields["init_uptime"] = float(match[1])
            elif match := re.match(r"done at ([\d.]+) s", line):
                fields["done_uptime"] = float(match[1])
            elif key == "kernel":
                fields["kernel"] = value
            elif key == "cpu flag hypervisor":
                fields["hypervisor_flag"] = value == "yes"
            elif key == "cpuid 0x40000000":
                fields.update(_cpuid_leaf(value))
            elif key == "hypervisor detected":
                fields["hypervisor_detected"] = value or None
            elif key == "clocksource":
                fields["clocksource"] = value
            elif key == "clocksources available":
                fields["clocksources"] = tuple(value.split())
            elif match := re.match(r"virtio device 0x([0-9a-f]+): driver (\S+)", line):
                kind = int(match[1], 16)
                virtio.append((VIRTIO_DEVICES.get(kind, f"device type {kind}"), match[2]))
            elif key == "hardware rng":
                fields["hardware_rng"] = value
        return cls(**fields, virtio=tuple(virtio))


def _cpuid_leaf(hex_bytes: str) -> dict:
    """EAX and the signature in EBX, ECX, EDX, from the 16 bytes /dev/cpu/0/cpuid gave."""
    try:
        data = bytes.fromhex(hex_bytes)
    except ValueError:
        return {}
    if len(data) != 16:
        return {}
    signature = data[4:16].rstrip(b"\0").decode("ascii", errors="replace")
    return {"cpuid_max_leaf": int.from_bytes(data[:4], "little"), "cpuid_signature": signature}


@dataclass(frozen=True)
class LinuxBoot:
    """One boot of the guest in QEMU, stopped after `timeout` seconds if it had not powered off;
    `note` says why the attempt was bounded, when known beforehand, in English (as recorded).
    Lesson 08."""

    run: qemu.QemuRun
    timeout: float
    note: str = ""

    @classmethod
    def of(cls, run: qemu.QemuRun, extra: Mapping[str, str]) -> LinuxBoot:
        """The boot behind a run of `recordings.Runs` and its extra fields."""
        return cls(run, float(extra["timeout"]), extra.get("note", ""))

    @property
    def extra(self) -> dict[str, str]:
        """The fields a recording keeps beside the run."""
        return {"timeout": f"{self.timeout:g}", "note": self.note}

    @property
    def console(self) -> tuple[tuple[float, str], ...]:
        """The guest's console, line by line, with the seconds after QEMU's start of each."""
        return recordings.console(self.run)

    @property
    def report(self) -> GuestReport:
        """What the guest said about itself."""
        return GuestReport.parse([line for _seconds, line in self.console])

    @property
    def seconds_to_init(self) -> float | None:
        """Seconds from QEMU's start to the guest's first line: firmware, kernel and /init."""
        return next((t for t, line in self.console if line.startswith(REPORT)), None)

    @property
    def shown_note(self) -> str:
        """`note` in the course's language (a note of another kind is shown as it was kept)."""
        seconds = f"{self.timeout:g}"
        if self.note == PVM_NOTE.format(seconds=seconds):
            return _(PVM_NOTE, seconds=seconds)
        return self.note

    @property
    def outcome(self) -> str:
        """How the run ended, in words, in the course's language."""
        if self.run.status == 0 and self.report.done_uptime is not None:
            return _("booted, reported and powered off")
        if self.run.timed_out:
            if self.console:
                return _(
                    "stopped after {seconds} s with an unfinished report",
                    seconds=f"{self.timeout:g}",
                )
            return _(
                "stopped after {seconds} s with nothing on the console", seconds=f"{self.timeout:g}"
            )
        return _(
            "QEMU exited with status {status}: {messages}",
            status=self.run.status,
            messages=self.run.stderr[-200:] or _("no message"),
        )


def unavailable_reason(folder: Path = GUEST_DIR) -> str | None:
    """Why the guest cannot boot here (with what to do), or None if it can. Lesson 08."""
    reason = qemu.unavailable_reason()
    if reason:
        return reason
    if Manifest.read(folder) is None:
        return _(
            "the course's Linux guest is not built; `python3 scripts/course.py setup` builds "
            "it into build/guest/ on Debian (as root it also installs what it needs)"
        )
    return None


def boot(accel: str = "tcg", timeout: float = TIMEOUT, folder: Path = GUEST_DIR) -> LinuxBoot:
    """Boot the guest once in QEMU with `-accel accel`; stop it after `timeout` seconds. On a
    host whose KVM is PVM, a kvm boot stops after PVM_ATTEMPT seconds at most. Lesson 08.

    Raises QemuMissing without QEMU, ValueError when the guest is not built.
    """
    if Manifest.read(folder) is None:
        raise ValueError(
            _(
                "folder: no guest built in {folder}; {reason}",
                folder=folder,
                reason=unavailable_reason(folder),
            )
        )
    note = ""
    if accel == "kvm" and probe().kind == VERDICT_PVM:
        timeout = min(timeout, PVM_ATTEMPT)
        note = PVM_NOTE.format(seconds=f"{timeout:g}")
    inside = folder.resolve().is_relative_to(ROOT)
    shown = {str(folder): str(folder.resolve().relative_to(ROOT)) if inside else "$GUEST"}
    run = qemu.run_command(command(accel, folder), accel, timeout, shown=shown)
    return LinuxBoot(run, timeout, note)


def boot_all(timeout: float = TIMEOUT, folder: Path = GUEST_DIR) -> recordings.Runs:
    """Boot the guest on every accelerator this machine offers, all at once; the stored boots,
    labelled, when QEMU or the guest is missing. Lesson 08."""

    def run(accel: str) -> tuple[qemu.QemuRun, dict[str, str]]:
        booted = boot(accel, timeout, folder)
        return booted.run, booted.extra

    runs = recordings.everywhere(run, STORED_LOG, unavailable_reason(folder), together=True)
    manifest = Manifest.read(folder)
    if runs.stored or manifest is None:
        return runs
    guest = _(
        "The guest: {kernel} {version} with busybox {busybox}, built {built}.",
        kernel=manifest.kernel_package,
        version=manifest.kernel_version,
        busybox=manifest.busybox_version,
        built=manifest.built,
    )
    return replace(runs, origin=sentences(runs.origin, guest))


def boots(runs: recordings.Runs) -> dict[str, LinuxBoot]:
    """The boots of `boot_all`'s runs, by accelerator. Lesson 08."""
    return {accel: LinuxBoot.of(run, extra) for accel, (run, extra) in runs.runs.items()}


def timing_rows(runs: recordings.Runs) -> tuple[list[str], list[tuple]]:
    """(header, rows): how each boot went and how long it took, in the course's language (the
    header in English, which the table translates). Lesson 08."""
    header = [
        Verbatim("-accel"),
        N_("how it ended"),
        N_("s to the guest's first line"),
        N_("s of kernel uptime then"),
    ]
    rows = []
    for accel, booted in boots(runs).items():
        to_init, uptime = booted.seconds_to_init, booted.report.init_uptime
        how = booted.outcome
        if booted.note:
            how = _("{outcome} ({note})", outcome=how, note=booted.shown_note)
        rows.append(
            (
                accel,
                how,
                "-" if to_init is None else f"{to_init:.2f}",
                "-" if uptime is None else f"{uptime:.2f}",
            )
        )
    rows += [
        (accel, _("not tried: {reason}", reason=why), "-", "-")
        for accel, why in runs.skipped.items()
    ]
    return header, rows


def facts_rows(runs: recordings.Runs) -> tuple[list[str], list[tuple]]:
    """(header, rows): what the guest found, one column per accelerator it booted on, in the
    course's language (the header in English, which the table translates). Lesson 08."""
    reports = {a: b.report for a, b in boots(runs).items() if b.report.kernel is not None}
    header = [N_("the guest found"), *(Verbatim(f"-accel {accel}") for accel in reports)]

    def row(label: str, value: Callable[[GuestReport], object]) -> tuple:
        return (label, *(value(report) for report in reports.values()))

    rows = [
        row(_("CPUID.1 hypervisor flag"), lambda r: r.hypervisor_flag),
        row(_("CPUID 0x40000000: signature"), lambda r: r.cpuid_signature or _("none")),
        row(
            _("the kernel's 'Hypervisor detected'"),
            lambda r: r.hypervisor_detected or _("none"),
        ),
        row(_("clocksource in use"), lambda r: r.clocksource),
        row(_("clocksources offered"), lambda r: ", ".join(r.clocksources)),
        row(_("virtio devices and their drivers"), _virtio_text),
        row(_("hardware random number generator"), lambda r: r.hardware_rng),
    ]
    return header, rows


def _virtio_text(report: GuestReport) -> str:
    """Each virtio device and its driver, the device's kind in the course's language."""
    known = set(VIRTIO_DEVICES.values())
    return _("; ").join(
        _("{device}: {driver}", device=_(kind) if kind in known else kind, driver=driver)
        for kind, driver in report.virtio
    ) or _("none")


def record() -> Path:
    """Boot the guest on every accelerator here and store the boots (`STORED_LOG`), for machines
    without QEMU or the guest. Lesson 08."""
    runs = boot_all()
    manifest = Manifest.read()
    guest = (
        f"{manifest.kernel_package} {manifest.kernel_version}, busybox {manifest.busybox_version}"
    )
    title = (
        "Lesson 08's Linux guest booted in QEMU on each accelerator, stored with the course for\n"
        "machines without QEMU or the guest. Written by `python -m vizlib.machine.linux_image "
        "--record`."
    )
    return recordings.write(STORED_LOG, title, {"guest": guest}, runs)
