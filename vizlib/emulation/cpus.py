"""Foreign CPUs in the notebook: run PowerPC and ARM code on unicorn, read it with capstone.

Lesson 06. unicorn is QEMU's CPU emulator (its TCG translator and CPU models) cut out as a
library: `run` loads a program from `programs`, runs it to its last instruction and returns the
registers and memory before and after. Every run has an instruction limit and a time limit; a
guest that faults or runs away raises `GuestFault` or `GuestRunaway` with its program counter.
`disassemble` decodes a program's bytes with capstone; `assemble` builds a program from source
with keystone. The three packages are optional: without them these raise `EmulatorMissing`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vizlib.emulation.errors import GuestFault, GuestRunaway
from vizlib.emulation.optional import load
from vizlib.emulation.programs import CODE_BASE, DATA_BASE, PAGE, GuestProgram, program
from vizlib.i18n import N_, _

MAX_ELEMENTS = 250_000  # words an array program may sum: 1 MB of guest data
# derived: the longest run of a shipped program is 4 instructions per word for 250,000 words.
MAX_INSTRUCTIONS = 2_000_000
TIMEOUT = 2.0  # seconds a run may last before it is stopped (a guest never hangs the kernel)
SHOWN_BYTES = 16  # bytes of the data area shown before and after a run

# Exception numbers that unicorn hands to its interrupt hook, named as in QEMU's sources
# (target/ppc/cpu.h POWERPC_EXCP_*, target/arm/cpu.h EXCP_*). unicorn's default PowerPC model
# reports an illegal instruction as 96, HV_EMU, not as a program exception (tried: unicorn 2.1).
# Shown through `_()`.
EXCEPTIONS = {
    "ppc32": {
        6: N_("program exception (a trap, or a privileged instruction in user mode)"),
        7: N_("floating-point unavailable"),
        8: N_("system call (sc)"),
        96: N_("hypervisor emulation assistance (an illegal instruction)"),
    },
    "arm": {
        1: N_("undefined instruction"),
        2: N_("supervisor call (svc)"),
        7: N_("breakpoint (bkpt)"),
    },
    "arm64": {
        1: N_("undefined instruction"),
        2: N_("supervisor call (svc)"),
        7: N_("breakpoint (brk)"),
    },
}


@dataclass(frozen=True)
class Arch:
    """One guest CPU: its byte order and the unicorn, capstone and keystone names for it.

    Lesson 06. Names are strings, resolved only when a package is needed. `title` is English,
    shown through `_()`. `unicorn` is None for a CPU the course runs in QEMU itself (16-bit x86,
    the boot sector).
    """

    name: str
    title: str
    byteorder: str
    instruction_size: int | None  # bytes, None when instructions vary in length
    unicorn: tuple[str, tuple[str, ...]] | None
    registers_module: str  # the unicorn module of register constants
    register_prefix: str
    capstone: tuple[str, tuple[str, ...]]
    keystone: tuple[str, tuple[str, ...]]
    shown: tuple[str, ...]  # registers shown by default
    result: str  # where programs built with `assemble` leave their answer


ARCHES: dict[str, Arch] = {
    "ppc32": Arch(
        "ppc32",
        N_("PowerPC, 32-bit, big-endian"),
        "big",
        4,
        ("UC_ARCH_PPC", ("UC_MODE_PPC32", "UC_MODE_BIG_ENDIAN")),
        "unicorn.ppc_const",
        "UC_PPC_REG_",
        ("CS_ARCH_PPC", ("CS_MODE_32", "CS_MODE_BIG_ENDIAN")),
        ("KS_ARCH_PPC", ("KS_MODE_PPC32", "KS_MODE_BIG_ENDIAN")),
        ("r3", "r4", "r5", "r6", "ctr", "cr"),
        "r3",
    ),
    "arm": Arch(
        "arm",
        N_("ARM, 32-bit (A32), little-endian"),
        "little",
        4,
        ("UC_ARCH_ARM", ("UC_MODE_ARM",)),
        "unicorn.arm_const",
        "UC_ARM_REG_",
        ("CS_ARCH_ARM", ("CS_MODE_ARM",)),
        ("KS_ARCH_ARM", ("KS_MODE_ARM",)),
        ("r0", "r1", "r2", "r3", "cpsr"),
        "r0",
    ),
    "arm64": Arch(
        "arm64",
        N_("ARM, 64-bit (AArch64), little-endian"),
        "little",
        4,
        ("UC_ARCH_ARM64", ("UC_MODE_ARM",)),
        "unicorn.arm64_const",
        "UC_ARM64_REG_",
        ("CS_ARCH_ARM64", ("CS_MODE_ARM",)),
        ("KS_ARCH_ARM64", ("KS_MODE_LITTLE_ENDIAN",)),
        ("x0", "x1", "x2", "x3", "nzcv"),
        "x0",
    ),
    "x86-16": Arch(
        "x86-16",
        N_("x86, 16-bit real mode, little-endian"),
        "little",
        None,
        None,
        "unicorn.x86_const",
        "UC_X86_REG_",
        ("CS_ARCH_X86", ("CS_MODE_16",)),
        ("KS_ARCH_X86", ("KS_MODE_16",)),
        ("ax", "si"),
        "ax",
    ),
}


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction: address, bytes (hex) and text. Lesson 06."""

    address: int
    hex: str
    text: str


@dataclass(frozen=True)
class Run:
    """A finished run: registers and the first bytes of the data area, before and after.

    Lesson 06.
    """

    program: GuestProgram
    n: int | None
    before: dict[str, int]
    after: dict[str, int]
    memory_before: bytes
    memory_after: bytes

    @property
    def result(self) -> int:
        """The value the program leaves in its result register."""
        return self.after[self.program.result]


def arch(name: str) -> Arch:
    """The CPU called `name` (a key of ARCHES). Lesson 06."""
    if name not in ARCHES:
        raise ValueError(
            _(
                "arch must be one of {allowed}; got {name}",
                allowed=", ".join(ARCHES),
                name=repr(name),
            )
        )
    return ARCHES[name]


def _constant(module: Any, names: tuple[str, tuple[str, ...]]) -> tuple[int, int]:
    arch_name, mode_names = names
    mode = 0
    for mode_name in mode_names:
        mode |= getattr(module, mode_name)
    return getattr(module, arch_name), mode


def _register(cpu: Arch, constants: Any, name: str) -> int:
    numbered = re.fullmatch(r"r(\d+)", name) if cpu.name == "ppc32" else None
    key = cpu.register_prefix + (numbered.group(1) if numbered else name.upper())
    if not hasattr(constants, key):
        raise ValueError(
            _(
                "register must be a {cpu} register such as {examples}; got {name}",
                cpu=_(cpu.title),
                examples=cpu.shown,
                name=repr(name),
            )
        )
    return getattr(constants, key)


def _words(values: range, byteorder: str) -> bytes:
    return b"".join((v & 0xFFFF_FFFF).to_bytes(4, byteorder) for v in values)


def _pages(size: int) -> int:
    return max(PAGE, -(-size // PAGE) * PAGE)


class Machine:
    """One emulated CPU (unicorn) with a program and its data loaded. Lesson 06.

    For an array program, `n` words 1, 2, ..., n are written at DATA_BASE in the CPU's byte
    order, and the program's count and address registers point at them. `start` may be called
    again to run the same code warm, its translated blocks already cached.
    """

    def __init__(
        self,
        guest: GuestProgram | str,
        n: int | None = None,
        registers: Mapping[str, int] | None = None,
    ):
        self.program = program(guest) if isinstance(guest, str) else guest
        self.cpu = arch(self.program.arch)
        if self.cpu.unicorn is None:
            raise ValueError(
                _(
                    "program must run on one of {allowed}; {name} is {cpu}: run it in QEMU "
                    "(vizlib.emulation.qemu.run_boot_sector)",
                    allowed=[a for a in ARCHES if ARCHES[a].unicorn],
                    name=repr(self.program.name),
                    cpu=_(self.cpu.title),
                )
            )
        self.n = self._check_n(n)
        unicorn = load("unicorn")
        self._unicorn = unicorn
        self._constants = load(self.cpu.registers_module)
        self.uc = unicorn.Uc(*_constant(unicorn, self.cpu.unicorn))
        code = self.program.code
        self.uc.mem_map(self.program.base, _pages(len(code)))
        self.uc.mem_write(self.program.base, code)
        data = _words(range(1, self.n + 1), self.cpu.byteorder) if self.n else b""
        self.uc.mem_map(DATA_BASE, _pages(len(data)))
        self.uc.mem_write(DATA_BASE, data)
        self.start_registers = dict(self.program.registers)
        if self.program.array:
            count, address = self.program.array
            self.start_registers.update({count: self.n, address: DATA_BASE})
        self.start_registers.update(registers or {})
        self._pc = _register(self.cpu, self._constants, "pc")
        self._ids = {
            name: _register(self.cpu, self._constants, name) for name in self.start_registers
        }
        self._stopped: tuple[int, str] | None = None
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._exception)
        self.reset()

    def _check_n(self, n: int | None) -> int | None:
        if self.program.array is None:
            if n is not None:
                raise ValueError(
                    _("n must be None for {name}: it sums no array", name=repr(self.program.name))
                )
            return None
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_ELEMENTS:
            raise ValueError(
                _(
                    "n must be an integer from 0 to {limit} for {name}; got {n}",
                    limit=MAX_ELEMENTS,
                    name=repr(self.program.name),
                    n=repr(n),
                )
            )
        return n

    def _exception(self, uc: Any, number: int, _user_data: Any) -> None:
        name = EXCEPTIONS.get(self.cpu.name, {}).get(number)
        reason = _(name) if name else _("CPU exception {number}", number=number)
        self._stopped = (uc.reg_read(self._pc), reason)
        uc.emu_stop()

    def reset(self) -> None:
        """Put the start registers back, to run the program again."""
        for name, value in self.start_registers.items():
            self.uc.reg_write(self._ids[name], value)

    def read(self, names: tuple[str, ...]) -> dict[str, int]:
        """The current value of each named register."""
        return {
            name: self.uc.reg_read(_register(self.cpu, self._constants, name)) for name in names
        }

    def memory(self, size: int = SHOWN_BYTES) -> bytes:
        """The first `size` bytes of the data area."""
        return bytes(self.uc.mem_read(DATA_BASE, size))

    @property
    def pc(self) -> int:
        """The program counter now."""
        return self.uc.reg_read(self._pc)

    def start(
        self, max_instructions: int | None = MAX_INSTRUCTIONS, timeout: float | None = TIMEOUT
    ) -> None:
        """Run from the first instruction to the end of the code, within the limits.

        Raises GuestFault or GuestRunaway. Both limits cost time (unicorn counts instructions
        with a hook on each one and enforces a timeout with a timer thread per run), so only
        timing runs of the shipped array programs, whose loops always end, go without (None).
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(
                _(
                    "timeout must be a positive number of seconds; got {timeout}",
                    timeout=repr(timeout),
                )
            )
        if max_instructions is not None and (
            isinstance(max_instructions, bool)
            or not isinstance(max_instructions, int)
            or max_instructions < 1
        ):
            raise ValueError(
                _(
                    "max_instructions must be a positive integer; got {value}",
                    value=repr(max_instructions),
                )
            )
        self._stopped = None
        try:
            self.uc.emu_start(
                self.program.base,
                self.program.end,
                timeout=0 if timeout is None else max(1, round(timeout * 1e6)),
                count=max_instructions or 0,
            )
        except self._unicorn.UcError as error:
            raise GuestFault(self.pc, str(error)) from None
        if self._stopped is not None:
            raise GuestFault(*self._stopped)
        if self.pc != self.program.end:
            if self.uc.query(self._unicorn.UC_QUERY_TIMEOUT):
                reason = _("time limit of {seconds} s reached", seconds=f"{timeout:g}")
                raise GuestRunaway(self.pc, reason)
            reason = _("instruction limit of {count} reached", count=f"{max_instructions:,}")
            raise GuestRunaway(self.pc, reason)


def run(
    guest: GuestProgram | str,
    n: int | None = None,
    registers: Mapping[str, int] | None = None,
    *,
    max_instructions: int = MAX_INSTRUCTIONS,
    timeout: float = TIMEOUT,
) -> Run:
    """Run a guest program on its own CPU; registers and memory before and after. Lesson 06.

    `n` is the array length of an array program (see programs.SUMS); `registers` overrides
    start values. Raises GuestFault, GuestRunaway, or EmulatorMissing without unicorn.
    """
    machine = Machine(guest, n, registers)
    shown = tuple(dict.fromkeys((*machine.program.shown, machine.program.result)))
    before, memory_before = machine.read(shown), machine.memory()
    machine.start(max_instructions, timeout)
    return Run(
        machine.program, machine.n, before, machine.read(shown), memory_before, machine.memory()
    )


def disassemble(guest: GuestProgram | str) -> list[Instruction]:
    """Decode a program's bytes with capstone, one Instruction each. Lesson 06."""
    guest = program(guest) if isinstance(guest, str) else guest
    capstone = load("capstone")
    decoder = capstone.Cs(*_constant(capstone, arch(guest.arch).capstone))
    return [
        Instruction(i.address, bytes(i.bytes).hex(), f"{i.mnemonic} {i.op_str}".strip())
        for i in decoder.disasm(guest.code, guest.base)
    ]


_LABEL_ONLY = re.compile(r"\s*[A-Za-z_.]\w*:\s*")


def assemble(arch_name: str, source: str, name: str = "yours") -> GuestProgram:
    """Assemble `source` (one instruction a line, labels as `loop:`) with keystone into a
    program for `run`. PowerPC registers are written `r3`. Lesson 06."""
    cpu = arch(arch_name)
    if cpu.instruction_size is None or cpu.unicorn is None:
        raise ValueError(
            _("arch_name must be one of ppc32, arm, arm64; got {name}", name=repr(arch_name))
        )
    lines, label = [], ""
    for line in (raw.strip() for raw in source.splitlines()):
        if _LABEL_ONLY.fullmatch(line):
            label += line + " "
        elif line:
            lines.append(label + line)
            label = ""
    if not lines:
        raise ValueError(_("source must hold at least one instruction"))
    text = "\n".join(lines)
    if cpu.name == "ppc32":
        text = re.sub(r"\br(\d+)\b", r"%r\1", text)
    keystone = load("keystone")
    try:
        encoded, _count = keystone.Ks(*_constant(keystone, cpu.keystone)).asm(text, CODE_BASE)
    except keystone.KsError as error:
        raise ValueError(
            _("source must be valid {cpu} assembly: {error}", cpu=_(cpu.title), error=error)
        ) from None
    code = bytes(encoded or b"")
    size = cpu.instruction_size
    if len(code) != size * len(lines):
        raise ValueError(
            _(
                "source must hold one machine instruction a line: {lines} lines gave {size} bytes",
                lines=len(lines),
                size=len(code),
            )
        )
    listing = tuple(
        (code[i * size : (i + 1) * size].hex(), line, "") for i, line in enumerate(lines)
    )
    return GuestProgram(name, cpu.name, N_("Your program"), listing, cpu.result, cpu.shown)
