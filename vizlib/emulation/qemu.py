"""Lesson 06's boot sector in the real QEMU: the translation blocks TCG logged, live or stored.

`run_boot_sector` boots `programs.BOOT_SECTOR` (with its message) in qemu-system-x86_64 on its TCG
accelerator with `-d in_asm`, through `vizlib.machine.qemu` (QEMU logs each translation block as
it translates it), and returns the blocks parsed from the log. The guest powers off through
QEMU's isa-debug-exit device, so QEMU's exit status is (value << 1) | 1. Without QEMU,
`stored_boot_log()` returns a log recorded when the course was written
(vizlib/emulation/data/boot_sector_in_asm.log, whose header says how).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from vizlib.emulation.cpus import Instruction
from vizlib.emulation.errors import EmulationError, EmulatorMissing
from vizlib.emulation.programs import BOOT_MESSAGE, BOOT_SECTOR, EXIT_VALUE
from vizlib.i18n import _
from vizlib.machine import qemu as pc
from vizlib.machine.vm import BOOT_ADDRESS

STORED_LOG = "boot_sector_in_asm.log"
_INSTRUCTION = re.compile(r"0x([0-9a-fA-F]+):\s+((?:[0-9a-f]{2} )*)\s*(\S.*?)\s*$")
_KEY = re.compile(r"# (serial|exit status|blocks logged|recorded with): (.*)$")


@dataclass(frozen=True)
class LoggedBlock:
    """One translation block as `-d in_asm` logged it. Lesson 06."""

    address: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class BootLog:
    """The boot sector's run in QEMU as the lesson shows it: serial line, exit status, blocks.

    Lesson 06. `stored` is True for the log recorded when the course was written.
    """

    serial: str
    exit_status: int
    blocks: tuple[LoggedBlock, ...]
    blocks_logged: int  # all the blocks QEMU translated, firmware included
    qemu: str  # QEMU's version line
    stored: bool

    @property
    def exit_value(self) -> int | None:
        """The value the guest wrote to the isa-debug-exit port."""
        return pc.debug_exit_value(self.exit_status)

    @property
    def boot_blocks(self) -> tuple[LoggedBlock, ...]:
        """The blocks of the boot sector's own code, in the order QEMU translated them."""
        end = BOOT_ADDRESS + pc.SECTOR
        return tuple(b for b in self.blocks if BOOT_ADDRESS <= b.address < end)


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


def run_boot_sector(timeout: float = pc.TIMEOUT) -> BootLog:
    """Boot the course's boot sector in QEMU (TCG) and log its translation blocks. Lesson 06.

    Raises EmulatorMissing without qemu-system-x86_64, EmulationError if QEMU fails or is
    still running after `timeout` seconds (it is then killed).
    """
    reason = pc.unavailable_reason()
    if reason:
        hint = _("install it with {hint}, then re-run the cell", hint=_(pc.INSTALL_HINT))
        raise EmulatorMissing(pc.BINARY, hint)
    image = pc.boot_sector(BOOT_SECTOR.code + BOOT_MESSAGE)
    run = pc.run_in_qemu(image, "tcg", timeout, in_asm=True)
    if run.timed_out:
        raise EmulationError(
            _(
                "QEMU was still running after {seconds} s and was stopped: the guest never "
                "reached the isa-debug-exit port",
                seconds=f"{timeout:g}",
            )
        )
    if run.exit_code != EXIT_VALUE:
        raise EmulationError(
            _(
                "QEMU exited with status {status}, not {expected}: {messages}",
                status=run.status,
                expected=pc.exit_status(EXIT_VALUE),
                messages=run.stderr[-300:] or _("no message"),
            )
        )
    blocks = parse_in_asm(run.in_asm or "")
    serial = run.serial.decode(errors="replace").strip()
    return BootLog(serial, run.status, blocks, len(blocks), pc.version(), stored=False)


def stored_boot_log() -> BootLog:
    """The boot sector's run as recorded when the course was written (QEMU 7.2). Lesson 06."""
    text = resources.files("vizlib.emulation").joinpath("data", STORED_LOG).read_text()
    keys = dict(m.groups() for m in map(_KEY.match, text.splitlines()) if m)
    return BootLog(
        serial=keys["serial"],
        exit_status=int(keys["exit status"]),
        blocks=parse_in_asm(text),
        blocks_logged=int(keys["blocks logged"]),
        qemu=keys["recorded with"],
        stored=True,
    )
