"""Real QEMU, when it is installed: boot a tiny x86 boot sector and read TCG's block log.

Lesson 06. `run_boot_sector` writes `programs.boot_image()` to a file, boots it with
qemu-system-x86_64 on its TCG accelerator with `-d in_asm` (QEMU logs each translation block as
it translates it), captures the serial line, and returns the blocks parsed from the log. The
guest powers off through QEMU's isa-debug-exit device, so QEMU's exit status is
(value << 1) | 1. Without QEMU, `stored_boot_log()` returns a log recorded when the course was
written (vizlib/emulation/data/boot_sector_in_asm.log, whose header says how).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vizlib.emulation.cpus import Instruction
from vizlib.emulation.errors import EmulationError, EmulatorMissing
from vizlib.emulation.programs import (
    BOOT_ADDRESS,
    DEBUG_EXIT_PORT,
    EXIT_VALUE,
    SECTOR,
    boot_image,
)

BINARY = "qemu-system-x86_64"
INSTALL = (
    "install it with `sudo apt-get install qemu-system-x86` (Debian, Ubuntu), "
    "`sudo dnf install qemu-system-x86` (Fedora) or `brew install qemu` (macOS), then re-run the "
    "cell"
)
TIMEOUT = 20.0  # seconds; the boot takes a fraction of a second under TCG
EXPECTED_EXIT = (EXIT_VALUE << 1) | 1  # isa-debug-exit: QEMU exits with (value << 1) | 1
STORED_LOG = "boot_sector_in_asm.log"
_INSTRUCTION = re.compile(r"0x([0-9a-fA-F]+):\s+((?:[0-9a-f]{2} )*)\s*(\S.*?)\s*$")
_KEY = re.compile(r"# (serial|exit status|blocks logged|recorded with): (.*)$")


@dataclass(frozen=True)
class LoggedBlock:
    """One translation block as `-d in_asm` logged it. Lesson 06."""

    address: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class BootRun:
    """What QEMU did with the boot sector: serial output, exit status, translated blocks.

    Lesson 06. `stored` is True for the log recorded when the course was written.
    """

    serial: str
    exit_status: int
    blocks: tuple[LoggedBlock, ...]
    blocks_logged: int  # all the blocks QEMU translated, firmware included
    qemu: str  # QEMU's version line
    stored: bool

    @property
    def exit_value(self) -> int:
        """The value the guest wrote to the isa-debug-exit port."""
        return self.exit_status >> 1

    @property
    def boot_blocks(self) -> tuple[LoggedBlock, ...]:
        """The blocks of the boot sector's own code, in the order QEMU translated them."""
        return tuple(b for b in self.blocks if BOOT_ADDRESS <= b.address < BOOT_ADDRESS + SECTOR)


def qemu_binary() -> str | None:
    """The path of qemu-system-x86_64, or None when it is not installed. Lesson 06."""
    return shutil.which(BINARY)


def command(image: Path, log: Path) -> list[str]:
    """The QEMU command line that boots `image` on TCG and logs blocks to `log`. Lesson 06."""
    return [
        BINARY,
        "-accel",
        "tcg",  # QEMU's own translator, even where KVM is available: its blocks are logged
        "-machine",
        "pc",
        "-m",
        "32",
        "-display",
        "none",
        "-serial",
        "stdio",  # COM1 -> QEMU's standard output
        "-monitor",
        "none",
        "-no-reboot",
        "-drive",
        f"format=raw,file={image},if=floppy",
        "-device",
        f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04",
        "-d",
        "in_asm",
        "-D",
        str(log),
    ]


def parse_in_asm(text: str) -> tuple[LoggedBlock, ...]:
    """The translation blocks of a `-d in_asm` log, in the order they were translated.

    Lesson 06. Each block starts at a line `IN:` (maybe followed by a symbol name); its
    instructions are lines `0x<address>:  <bytes>  <instruction>`. Other lines are skipped.
    """
    blocks: list[list[Instruction]] = []
    for line in text.splitlines():
        if line.startswith("IN:"):
            blocks.append([])
            continue
        match = _INSTRUCTION.match(line)
        if match and blocks:
            address, hex_bytes, text_ = match.groups()
            blocks[-1].append(
                Instruction(int(address, 16), hex_bytes.replace(" ", ""), " ".join(text_.split()))
            )
    return tuple(LoggedBlock(b[0].address, tuple(b)) for b in blocks if b)


def run_boot_sector(timeout: float = TIMEOUT) -> BootRun:
    """Boot the course's boot sector in QEMU (TCG) and log its translation blocks. Lesson 06.

    Raises EmulatorMissing without qemu-system-x86_64, EmulationError if QEMU fails or is
    still running after `timeout` seconds (it is then killed).
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    if qemu_binary() is None:
        raise EmulatorMissing(BINARY, INSTALL)
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="boot-sector-") as folder:
        image, log = Path(folder) / "boot.img", Path(folder) / "in_asm.log"
        image.write_bytes(boot_image())
        try:
            done = subprocess.run(
                command(image, log), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise EmulationError(
                f"QEMU was still running after {timeout:g} s and was stopped: the guest never "
                "reached the isa-debug-exit port"
            ) from None
        text = log.read_text(errors="replace") if log.exists() else ""
    if done.returncode != EXPECTED_EXIT:
        raise EmulationError(
            f"QEMU exited with status {done.returncode}, not {EXPECTED_EXIT}: "
            f"{done.stderr.strip()[-300:] or 'no message'}"
        )
    blocks = parse_in_asm(text)
    first_line = version.stdout.splitlines()[0] if version.stdout else BINARY
    return BootRun(done.stdout, done.returncode, blocks, len(blocks), first_line, stored=False)


def stored_boot_log() -> BootRun:
    """The boot sector's run as recorded when the course was written (QEMU 7.2). Lesson 06."""
    text = resources.files("vizlib.emulation").joinpath("data", STORED_LOG).read_text()
    keys = dict(m.groups() for m in map(_KEY.match, text.splitlines()) if m)
    return BootRun(
        serial=keys["serial"] + "\n",
        exit_status=int(keys["exit status"]),
        blocks=parse_in_asm(text),
        blocks_logged=int(keys["blocks logged"]),
        qemu=keys["recorded with"],
        stored=True,
    )
