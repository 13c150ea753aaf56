"""The same guest in real QEMU: a boot sector on a disk image, booted by QEMU. Lesson 08.

QEMU's PC firmware (SeaBIOS) loads the first 512-byte sector of the boot disk at 0x7c00 and jumps
to it, if the sector ends with the signature 0x55 0xAA. The guest prints on COM1, which
`-serial file:PATH` writes to a file, and powers off through isa-debug-exit, which makes QEMU exit
with status (value << 1) | 1. Nothing here needs root, and a timeout stops a guest that never
powers off.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vizlib.machine.devices import DEBUG_EXIT_PORT
from vizlib.machine.guests import HELLO, Guest

BINARY = "qemu-system-x86_64"
SECTOR = 512  # bytes in a PC disk sector, all a BIOS loads
SIGNATURE = b"\x55\xaa"  # the last two bytes of a bootable sector (IBM PC BIOS convention)
ACCELS = ("tcg", "kvm")
INSTALL_HINT = (
    "`sudo apt-get install qemu-system-x86` (Debian/Ubuntu), `sudo dnf install qemu-system-x86` "
    "(Fedora), `brew install qemu` (macOS) or `conda install -c conda-forge qemu`"
)

HELLO_BOOT = Guest(
    name="hello_boot",
    description="Hello on COM1, then power off through isa-debug-exit: a boot sector for QEMU.",
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
        raise ValueError(f"code must be 1 to {room} bytes to fit a boot sector, got {code!r:.40}")
    return bytes(code).ljust(room, b"\0") + SIGNATURE


def exit_status(value: int) -> int:
    """QEMU's exit status after the guest writes `value` to isa-debug-exit. Lesson 08."""
    if not (isinstance(value, int) and 0 <= value <= 0x7F):
        raise ValueError(f"value must be an int in 0..127 (a status fits a byte), got {value!r}")
    return (value << 1) | 1


def unavailable_reason() -> str | None:
    """Why QEMU cannot run here (with how to install it), or None if it can."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} is not installed; install it with {INSTALL_HINT}"
    return None


def command(image: Path, serial: Path, accel: str) -> list[str]:
    """The qemu-system-x86_64 command line that boots `image` (the lesson prints it)."""
    if accel not in ACCELS:
        raise ValueError(f"accel must be one of {ACCELS}, got {accel!r}")
    return [
        BINARY,
        "-accel",
        accel,
        "-nodefaults",  # no network card, VGA or CD-ROM: only what is asked for below
        "-display",
        "none",
        "-serial",
        f"file:{serial}",
        "-device",
        f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04",
        "-drive",
        f"format=raw,file={image}",
        "-no-reboot",
    ]


@dataclass(frozen=True)
class QemuRun:
    """What a run of qemu-system-x86_64 gave. Lesson 08.

    status: QEMU's exit status (None after a timeout); serial: what the guest printed on COM1;
    stderr: QEMU's messages. Status 1 is also how QEMU reports its own errors (then `stderr`
    explains), so `exit_code` 0 is certain only when stderr is empty.
    """

    accel: str
    command: tuple[str, ...]
    status: int | None
    serial: bytes
    stderr: str
    wall_time: float

    @property
    def timed_out(self) -> bool:
        """True when QEMU was still running at the timeout and was killed."""
        return self.status is None

    @property
    def exit_code(self) -> int | None:
        """The isa-debug-exit value behind an odd exit status, else None."""
        if self.status is None or self.status % 2 == 0:
            return None
        return self.status >> 1


def run_in_qemu(code: bytes, accel: str = "tcg", timeout: float = 20.0) -> QemuRun:
    """Boot `code` as a boot sector in qemu-system-x86_64; kill it after `timeout` s. Lesson 08.

    Raises ValueError when QEMU is not installed (the message says how to install it).
    """
    reason = unavailable_reason()
    if reason:
        raise ValueError(f"qemu: {reason}")
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= 600):
        raise ValueError(f"timeout must be a number of seconds in (0, 600], got {timeout!r}")
    with tempfile.TemporaryDirectory(prefix="vizlib-qemu-") as folder:
        image, serial = Path(folder, "boot.img"), Path(folder, "serial.txt")
        image.write_bytes(boot_sector(code))
        argv = command(image, serial, accel)
        start = time.perf_counter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            status, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as e:  # subprocess.run has killed QEMU already
            partial = e.stderr or b""
            status = None
            stderr = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        wall_time = time.perf_counter() - start
        printed = serial.read_bytes() if serial.exists() else b""
    shown = tuple(str(a).replace(folder, "$TMP") for a in argv)
    return QemuRun(accel, shown, status, printed, stderr.strip(), wall_time)
