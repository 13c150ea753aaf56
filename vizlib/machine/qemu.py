"""Real QEMU: a boot sector of guest bytes, booted by qemu-system-x86_64. Lessons 06 and 08.

QEMU's PC firmware (SeaBIOS) loads the first 512-byte sector of the boot disk at 0x7c00 and jumps
to it, if the sector ends with the signature 0x55 0xAA (`boot_sector` makes one from guest bytes).
`run_in_qemu` boots such an image under `-accel tcg` or `-accel kvm`: the guest prints on COM1,
which QEMU sends to its standard output (read here as it arrives, with the time of each byte), and
powers off through isa-debug-exit, which makes QEMU exit with status (value << 1) | 1. Under TCG it
can also log each translation block as QEMU translates it (`-d in_asm`). `run_command` runs any
QEMU command line the same way (lesson 08's Linux guest, `vizlib.machine.linux`);
`hello_boot_runs` boots HELLO_BOOT on every accelerator here, or gives its stored runs. Nothing
here needs root, and a timeout stops a guest that never powers off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from vizlib.i18n import N_, _
from vizlib.machine.devices import DEBUG_EXIT_PORT
from vizlib.machine.errors import QemuMissing
from vizlib.machine.guests import HELLO, Guest

BINARY = "qemu-system-x86_64"
SECTOR = 512  # bytes in a PC disk sector, all a BIOS loads
SIGNATURE = b"\x55\xaa"  # the last two bytes of a bootable sector (IBM PC BIOS convention)
ACCELS = ("tcg", "kvm")
TIMEOUT = 20.0  # seconds; this course's choice: a boot takes well under a second under TCG
MAX_TIMEOUT = 600.0  # seconds; this course's choice: the longest run a cell or benchmark may ask
INSTALL_HINT = N_(
    "`sudo apt-get install qemu-system-x86` (Debian/Ubuntu), `sudo dnf install qemu-system-x86` "
    "(Fedora), `brew install qemu` (macOS) or `conda install -c conda-forge qemu`"
)  # shown through `_()`

HELLO_BOOT = Guest(
    name="hello_boot",
    description=N_("Hello on COM1, then power off through isa-debug-exit: a boot sector for QEMU."),
    listing="""\
; A boot sector for a real PC (or QEMU): print on COM1, then power off through
; isa-debug-exit. A BIOS promises only CS:IP = 0:0x7c00, so set DS and the direction flag.
    bits 16
    org 0x7c00
    cli                 ; no interrupts: nothing may wake the CPU after the end
    cld                 ; lodsb counts upwards
    xor ax, ax
    mov ds, ax          ; DS = 0: the message's address is its offset
    mov si, message
    mov dx, 0x3f8       ; COM1 transmit register
next:
    lodsb
    test al, al
    jz done
    out dx, al          ; one exit per character
    jmp next
done:
    mov al, 42
    out 0xf4, al        ; isa-debug-exit: QEMU exits with status (42 << 1) | 1 = 85
    hlt                 ; not reached
message:
    db "Hello, world!", 0x0a, 0
""",
    code=bytes.fromhex(
        "fa fc 31 c0 8e d8 be 19 7c ba f8 03 ac 84 c0 74 03 ee eb f8 b0 2a e6 f4 f4 "
        "48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00"
    ),
    serial=HELLO,
    exit_code=42,
    stop="debug-exit",
    exit_counts={"io": 15},
)


def boot_sector(code: bytes) -> bytes:
    """`code` padded with zeros to 510 bytes, then 0x55 0xAA: a bootable disk image. Lesson 08."""
    room = SECTOR - len(SIGNATURE)
    if not isinstance(code, (bytes, bytearray)) or not 1 <= len(code) <= room:
        raise ValueError(
            _(
                "code must be 1 to {room} bytes to fit a boot sector, got {code}",
                room=room,
                code=f"{code!r:.40}",
            )
        )
    return bytes(code).ljust(room, b"\0") + SIGNATURE


def exit_status(value: int) -> int:
    """QEMU's exit status after the guest writes `value` to isa-debug-exit. Lesson 08."""
    if not (isinstance(value, int) and 0 <= value <= 0x7F):
        raise ValueError(
            _(
                "value must be an int in 0..127 (a status fits a byte), got {value}",
                value=repr(value),
            )
        )
    return (value << 1) | 1


def debug_exit_value(status: int | None) -> int | None:
    """The isa-debug-exit value behind QEMU's exit `status` (odd), else None. Lesson 08."""
    if status is None or status % 2 == 0:
        return None
    return status >> 1


def unavailable_reason() -> str | None:
    """Why QEMU cannot run here (with how to install it), or None if it can. Lesson 06."""
    if shutil.which(BINARY) is None:
        return _(
            "{binary} is not installed; install it with {hint}", binary=BINARY, hint=_(INSTALL_HINT)
        )
    return None


def version() -> str:
    """QEMU's version line, e.g. "QEMU emulator version 7.2.22 (...)". Lesson 06."""
    _require_qemu()
    done = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    return (done.stdout.splitlines() or [BINARY])[0]


def command(image: Path, accel: str = "tcg", log: Path | None = None) -> list[str]:
    """The qemu-system-x86_64 command line that boots `image`; with `log`, TCG logs each block
    it translates there (`-d in_asm`). Lessons 06 and 08 print it."""
    if accel not in ACCELS:
        raise ValueError(
            _("accel must be one of {allowed}, got {accel}", allowed=ACCELS, accel=repr(accel))
        )
    if log is not None and accel != "tcg":
        raise ValueError(
            _(
                "log: only TCG translates blocks to log; use accel 'tcg', not {accel}",
                accel=repr(accel),
            )
        )
    argv = [
        BINARY,
        "-accel",
        accel,
        "-nodefaults",  # no network card, VGA or CD-ROM: only what is asked for below
        "-display",
        "none",
        "-serial",
        "stdio",  # COM1 -> QEMU's standard output
        "-device",
        f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04",
        "-drive",
        f"format=raw,file={image}",
        "-no-reboot",
    ]
    return argv + (["-d", "in_asm", "-D", str(log)] if log is not None else [])


@dataclass(frozen=True)
class QemuRun:
    """What a run of qemu-system-x86_64 gave. Lessons 06 and 08.

    status: QEMU's exit status (None after a timeout); serial: what the guest printed on COM1,
    and serial_times: for each of its bytes, the seconds from QEMU's start to its arrival;
    stderr: QEMU's messages; in_asm: the `-d in_asm` log when asked for, else None. Status 1 is
    also how QEMU reports its own errors (then `stderr` explains), so `exit_code` 0 is certain
    only when stderr is empty.
    """

    accel: str
    command: tuple[str, ...]
    status: int | None
    serial: bytes
    serial_times: tuple[float, ...] = field(repr=False)
    stderr: str
    wall_time: float
    in_asm: str | None = field(default=None, repr=False)

    @property
    def timed_out(self) -> bool:
        """True when QEMU was still running at the timeout and was killed."""
        return self.status is None

    @property
    def exit_code(self) -> int | None:
        """The value the guest wrote to isa-debug-exit, read from the exit status, else None."""
        return debug_exit_value(self.status)


def _require_qemu() -> None:
    reason = unavailable_reason()
    if reason:
        raise QemuMissing(reason)


def _read_serial(stream, start: float, serial: bytearray, times: list[float]) -> None:
    """Append COM1's bytes from QEMU's standard output to `serial` until QEMU closes it, and to
    `times` the seconds after `start` at which each arrived (runs in a thread). One byte per read,
    so that each is timed when QEMU writes it, not with the bytes after it."""
    while byte := os.read(stream.fileno(), 1):
        serial += byte
        times.append(time.perf_counter() - start)


def run_in_qemu(
    image: bytes, accel: str = "tcg", timeout: float = TIMEOUT, in_asm: bool = False
) -> QemuRun:
    """Boot the disk `image` (see `boot_sector`) in qemu-system-x86_64; kill it after `timeout`
    seconds. With `in_asm`, TCG's log of the blocks it translated comes back too. Lessons 06, 08.

    Raises QemuMissing when QEMU is not installed (the message says how to install it).
    """
    if not (isinstance(image, bytes) and len(image) == SECTOR and image.endswith(SIGNATURE)):
        raise ValueError(
            _("image must be {size} bytes ending in 55 aa; make it with boot_sector", size=SECTOR)
        )
    with tempfile.TemporaryDirectory(prefix="vizlib-qemu-") as folder:
        disk, log = Path(folder, "boot.img"), Path(folder, "in_asm.log")
        disk.write_bytes(image)
        argv = command(disk, accel, log if in_asm else None)
        run = run_command(argv, accel, timeout, shown={folder: "$TMP"})
        text = log.read_text(errors="replace") if in_asm and log.exists() else None
    return replace(run, in_asm=text)


def run_command(
    argv: list[str], accel: str, timeout: float, shown: dict[str, str] | None = None
) -> QemuRun:
    """Run a qemu-system-x86_64 command line whose accelerator is `accel`, reading COM1 from its
    standard output; kill it after `timeout` seconds. In the command kept in the result, each key
    of `shown` (a folder) is written as its value. Lessons 06, 08.

    Raises QemuMissing when QEMU is not installed (the message says how to install it).
    """
    _require_qemu()
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT):
        raise ValueError(
            _(
                "timeout must be a number of seconds in (0, {limit}], got {timeout}",
                limit=f"{MAX_TIMEOUT:g}",
                timeout=repr(timeout),
            )
        )
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
        serial, times = bytearray(), []
        reader = threading.Thread(
            target=_read_serial, args=(process.stdout, start, serial, times), daemon=True
        )
        reader.start()
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            if process.poll() is None:  # timed out (or interrupted): stop QEMU
                process.kill()
                process.wait()
            reader.join()  # QEMU is gone: the reader has seen the end of its output
            process.stdout.close()
        wall_time = time.perf_counter() - start
        stderr.seek(0)
        messages = stderr.read().decode(errors="replace").strip()
    shown_argv = []
    for arg in map(str, argv):
        for folder, text in (shown or {}).items():
            arg = arg.replace(folder, text)
        shown_argv.append(arg)
    return QemuRun(
        argv[2], tuple(shown_argv), status, bytes(serial), tuple(times), messages, wall_time
    )


HELLO_BOOT_LOG = "hello_boot.log"  # HELLO_BOOT's stored runs (`vizlib.machine.recordings`)


def hello_boot_runs(timeout: float = TIMEOUT):
    """HELLO_BOOT booted in QEMU on each accelerator this machine has, all at once; its stored
    runs, labelled, without QEMU. Lesson 08. Returns `recordings.Runs`."""
    from vizlib.machine import recordings  # it builds on this module

    image = boot_sector(HELLO_BOOT.code)
    return recordings.everywhere(
        lambda accel: (run_in_qemu(image, accel, timeout), {}),
        HELLO_BOOT_LOG,
        unavailable_reason(),
        together=True,
    )


def record_hello_boot() -> Path:
    """Store HELLO_BOOT's runs on every accelerator here, for machines without QEMU. Lesson 08."""
    from vizlib.machine import recordings

    title = (
        "Lesson 08's boot sector (vizlib.machine.qemu.HELLO_BOOT) booted in QEMU on each\n"
        "accelerator, stored with the course for machines without QEMU. Written by\n"
        "`python -m vizlib.machine.linux_image --record`."
    )
    return recordings.write(HELLO_BOOT_LOG, title, {}, hello_boot_runs())
