"""The guest programs of Lesson 06: machine code stored as bytes beside its assembly listing.

Each listing line is (bytes in hex, instruction, what it does); what it does, like a program's
title, is English marked `N_` and shown through `_()`. The bytes are the program; the
instruction text is what they mean, written as keystone assembles it (PowerPC registers as `r3`:
`cpus.assemble` turns them into keystone's `%r3`). A unit test assembles every listing with
keystone and disassembles every program with capstone to check that both agree with the bytes,
so the lessons run without keystone. Labels (`loop:`) start the line of the instruction they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vizlib.i18n import N_, _
from vizlib.machine.vm import BOOT_ADDRESS

# The guests' memory map (any free addresses do; these keep code and data apart).
CODE_BASE = 0x1_0000  # where a program's first instruction is loaded
DATA_BASE = 0x10_0000  # where its data array lives (1 MB)
PAGE = 0x1000  # unicorn maps memory in 4 KB pages (its default page size on these CPUs)

# The boot sector's line on COM1, and what it writes to isa-debug-exit (QEMU's exit status is
# then (0x10 << 1) | 1 = 33, derived).
BOOT_MESSAGE = b"Hello from the boot sector\r\n\0"
EXIT_VALUE = 0x10


@dataclass(frozen=True)
class GuestProgram:
    """A guest program: its CPU, listing and bytes, and how to run it. Lesson 06.

    `array` names the (count, address) registers of a program that sums an array of 32-bit
    words; `registers` are set before every run; `result` is the register holding the answer;
    `shown` the registers worth showing before and after.
    """

    name: str
    arch: str
    title: str
    listing: tuple[tuple[str, str, str], ...]
    result: str
    shown: tuple[str, ...]
    array: tuple[str, str] | None = None
    registers: Mapping[str, int] = field(default_factory=dict)
    base: int = CODE_BASE

    @property
    def code(self) -> bytes:
        """The machine code: the listing's bytes, in order."""
        return b"".join(bytes.fromhex(hex_bytes) for hex_bytes, _text, _note in self.listing)

    @property
    def source(self) -> str:
        """The assembly source, one instruction a line."""
        return "\n".join(text for _hex, text, _note in self.listing)

    @property
    def end(self) -> int:
        """The address just past the last instruction: reaching it ends a run."""
        return self.base + len(self.code)


PPC_SUM = GuestProgram(
    name="ppc-sum",
    arch="ppc32",
    title=N_("Sum an array of n words (PowerPC)"),
    listing=(
        ("7c8903a6", "mtctr r4", N_("CTR = n, the loop count")),
        ("38600000", "li r3, 0", N_("r3 = 0, the sum so far")),
        ("38a5fffc", "addi r5, r5, -4", N_("r5 = one word before the array")),
        ("84c50004", "loop: lwzu r6, 4(r5)", N_("r5 = r5 + 4; r6 = the word at r5")),
        ("7c633214", "add r3, r3, r6", N_("sum = sum + r6")),
        ("4200fff8", "bdnz loop", N_("CTR = CTR - 1; loop while CTR != 0")),
    ),
    result="r3",
    shown=("r3", "r4", "r5", "r6", "ctr"),
    array=("r4", "r5"),
)

ARM_SUM = GuestProgram(
    name="arm-sum",
    arch="arm",
    title=N_("Sum an array of n words (32-bit ARM)"),
    listing=(
        ("0000a0e3", "mov r0, #0", N_("r0 = 0, the sum so far")),
        ("043092e4", "loop: ldr r3, [r2], #4", N_("r3 = the word at r2; r2 = r2 + 4")),
        ("030080e0", "add r0, r0, r3", N_("sum = sum + r3")),
        ("011051e2", "subs r1, r1, #1", N_("n = n - 1, setting the flags")),
        ("fbffff1a", "bne loop", N_("loop while n != 0")),
    ),
    result="r0",
    shown=("r0", "r1", "r2", "r3", "cpsr"),
    array=("r1", "r2"),
)

ARM64_SUM = GuestProgram(
    name="arm64-sum",
    arch="arm64",
    title=N_("Sum an array of n words (64-bit ARM)"),
    listing=(
        ("000080d2", "mov x0, #0", N_("x0 = 0, the sum so far")),
        ("434440b8", "loop: ldr w3, [x2], #4", N_("w3 = the word at x2; x2 = x2 + 4")),
        ("0000030b", "add w0, w0, w3", N_("sum = sum + w3 (32 bits)")),
        ("210400f1", "subs x1, x1, #1", N_("n = n - 1, setting the flags")),
        ("a1ffff54", "b.ne loop", N_("loop while n != 0")),
    ),
    result="x0",
    shown=("x0", "x1", "x2", "x3", "nzcv"),
    array=("x1", "x2"),
)

PPC_ENDIAN = GuestProgram(
    name="ppc-endian",
    arch="ppc32",
    title=N_("Store a word, load its first byte (PowerPC)"),
    listing=(
        ("3c801122", "lis r4, 0x1122", N_("r4 = 0x11220000")),
        ("60843344", "ori r4, r4, 0x3344", N_("r4 = 0x11223344")),
        ("90850000", "stw r4, 0(r5)", N_("store the word at r5")),
        ("88650000", "lbz r3, 0(r5)", N_("r3 = the byte at r5, the lowest address")),
    ),
    result="r3",
    shown=("r3", "r4", "r5"),
    registers={"r5": DATA_BASE},
)

ARM_ENDIAN = GuestProgram(
    name="arm-endian",
    arch="arm",
    title=N_("Store a word, load its first byte (32-bit ARM)"),
    listing=(
        ("444303e3", "movw r4, #0x3344", N_("r4 = 0x00003344")),
        ("224141e3", "movt r4, #0x1122", N_("r4 = 0x11223344")),
        ("004085e5", "str r4, [r5]", N_("store the word at r5")),
        ("0000d5e5", "ldrb r0, [r5]", N_("r0 = the byte at r5, the lowest address")),
    ),
    result="r0",
    shown=("r0", "r4", "r5"),
    registers={"r5": DATA_BASE},
)

PPC_ROTATE = GuestProgram(
    name="ppc-rotate",
    arch="ppc32",
    title=N_("Build a word and rotate it (PowerPC)"),
    listing=(
        ("3c601234", "lis r3, 0x1234", N_("r3 = 0x1234 shifted into the upper half")),
        ("60635678", "ori r3, r3, 0x5678", N_("OR 0x5678 into the lower half")),
        ("5463403e", "rotlwi r3, r3, 8", N_("rotate r3 left by 8 bits (an rlwinm)")),
    ),
    result="r3",
    shown=("r3",),
)

ARM_SPIN = GuestProgram(
    name="arm-spin",
    arch="arm",
    title=N_("A loop that never ends (32-bit ARM)"),
    listing=(
        ("0100a0e3", "mov r0, #1", N_("r0 = 1")),
        ("010080e2", "spin: add r0, r0, #1", N_("r0 = r0 + 1")),
        ("fdffffea", "b spin", N_("jump back, forever")),
    ),
    result="r0",
    shown=("r0", "pc"),
)

# Runs in QEMU itself (`vizlib.emulation.qemu`), not in unicorn: it needs a PC's BIOS and ports.
# Its message (BOOT_MESSAGE) follows the code in the sector.
BOOT_SECTOR = GuestProgram(
    name="boot-sector",
    arch="x86-16",
    title=N_("Print a line on COM1 and power off (16-bit x86 boot sector)"),
    listing=(
        ("fa", "cli", N_("no interrupts")),
        ("31c0", "xor ax, ax", N_("ax = 0")),
        ("8ed8", "mov ds, ax", N_("data segment 0: addresses are physical")),
        ("be187c", "mov si, 0x7c18", N_("si = the message, right after the code")),
        ("baf803", "mov dx, 0x3f8", N_("dx = COM1's data port")),
        ("ac", "next: lodsb", N_("al = the byte at si; si = si + 1")),
        ("84c0", "test al, al", N_("the terminating zero?")),
        ("7403", "je done", N_("then stop printing")),
        ("ee", "out dx, al", N_("send the character to COM1")),
        ("ebf8", "jmp next", N_("and the next one")),
        ("b010", "done: mov al, 0x10", N_("al = the exit value")),
        ("e6f4", "out 0xf4, al", N_("write it to isa-debug-exit: QEMU exits")),
        ("f4", "hlt", N_("stop here if there is no such device")),
    ),
    result="al",
    shown=(),
    base=BOOT_ADDRESS,
)

PROGRAMS: dict[str, GuestProgram] = {
    p.name: p
    for p in (
        PPC_SUM,
        ARM_SUM,
        ARM64_SUM,
        PPC_ENDIAN,
        ARM_ENDIAN,
        PPC_ROTATE,
        ARM_SPIN,
        BOOT_SECTOR,
    )
}
SUMS = ("ppc-sum", "arm-sum", "arm64-sum")  # the same work on three CPUs


def rotate_program(high: int, low: int, shift: int) -> GuestProgram:
    """PPC_ROTATE with other constants: r3 = (high << 16 | low) rotated left by `shift` bits.
    Exercise 06 draws them per student; the bytes are encoded here, so no assembler is needed."""
    for name, value, top in (("high", high, 0xFFFF), ("low", low, 0xFFFF), ("shift", shift, 31)):
        if not 0 <= value <= top:
            raise ValueError(f"{name} must be 0 to {top:#x}, got {value!r}")
    rlwinm = 0x5463003E | shift << 11  # rlwinm r3, r3, shift, 0, 31 (rotlwi)
    return replace(
        PPC_ROTATE,
        listing=(
            (
                f"3c60{high:04x}",
                f"lis r3, {high:#06x}",
                f"r3 = {high:#06x} shifted into the upper half",
            ),
            (f"6063{low:04x}", f"ori r3, r3, {low:#06x}", f"OR {low:#06x} into the lower half"),
            (
                f"{rlwinm:08x}",
                f"rotlwi r3, r3, {shift}",
                f"rotate r3 left by {shift} bits (an rlwinm)",
            ),
        ),
    )


def endian_program(arch: str, word: int) -> GuestProgram:
    """PPC_ENDIAN or ARM_ENDIAN (`arch` "ppc32" or "arm") storing `word` instead of 0x11223344.
    Exercise 06 draws it per student; the bytes are encoded here, so no assembler is needed."""
    if not 0 <= word <= 0xFFFF_FFFF:
        raise ValueError(f"word must be a 32-bit number, got {word!r}")
    high, low = word >> 16, word & 0xFFFF
    if arch == "ppc32":
        code = [f"3c80{high:04x}", f"6084{low:04x}"]
        texts = [f"lis r4, {high:#06x}", f"ori r4, r4, {low:#06x}"]
        notes = [f"r4 = {high:#06x}0000", f"r4 = {word:#010x}"]
        template = PPC_ENDIAN
    elif arch == "arm":  # movw/movt r4, #imm16: imm4 in bits 16-19, imm12 in bits 0-11
        words = [0xE3004000 | (part >> 12) << 16 | (part & 0xFFF) for part in (low, high)]
        words[1] |= 0x00400000
        code = [number.to_bytes(4, "little").hex() for number in words]
        texts = [f"movw r4, #{low:#06x}", f"movt r4, #{high:#06x}"]
        notes = [f"r4 = {low:#010x}", f"r4 = {word:#010x}"]
        template = ARM_ENDIAN
    else:
        raise ValueError(f"arch must be 'ppc32' or 'arm', got {arch!r}")
    listing = tuple(zip(code, texts, notes, strict=True)) + template.listing[2:]
    return replace(template, listing=listing)


def program(name: str) -> GuestProgram:
    """The guest program called `name` (a key of PROGRAMS). Lesson 06."""
    if name not in PROGRAMS:
        raise ValueError(
            _(
                "name must be one of {allowed}; got {name}",
                allowed=", ".join(PROGRAMS),
                name=repr(name),
            )
        )
    return PROGRAMS[name]
