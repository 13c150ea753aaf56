"""The "tcg" accelerator: QEMU's CPU emulator (through unicorn) running the guest. Lesson 07.

unicorn is QEMU's TCG cut out as a library. It emulates the CPU only, so this backend adds what
QEMU's machine provides around it: IN/OUT hooks and MMIO regions routed to the same device models
as KVM's exits, HLT detection, and real-mode interrupt delivery through the interrupt vector table
(unicorn hands interrupts to a hook instead of delivering them). A delivery whose vector, then #GP,
then #DF lies beyond the IDTR limit is a triple fault, as on a real CPU.

One difference remains: unicorn stops at the end of a translation block (straight-line code up
to a jump), not at once. After the guest powers off (isa-debug-exit) the rest of the block still
runs, but its port and MMIO accesses are dropped, so registers may differ from KVM's while the
output and the exits agree. After `max_exits` they are served and recorded, so a tcg run may
record a few more exits than asked when several I/O instructions share a block.
"""

from __future__ import annotations

import struct

from vizlib.i18n import _
from vizlib.machine.devices import Board
from vizlib.machine.errors import AcceleratorUnavailable
from vizlib.machine.memory import GuestMemory
from vizlib.machine.results import REGISTER_NAMES, SEGMENT_REGISTERS

try:
    import unicorn
    from unicorn import x86_const as x86
except ImportError:  # the reason is reported by unavailable_reason()
    unicorn = None

NEVER = 1 << 32  # emu_start's `until`: no real-mode address reaches it (the top is 0x10ffef)
HLT = 0xF4  # opcode of HLT (Intel SDM vol. 2)
INVALID_OPCODE, GENERAL_PROTECTION, DOUBLE_FAULT = 6, 13, 8  # vectors #UD, #GP, #DF (Intel SDM)
FLAGS_CLEARED_BY_INTERRUPT = 0x0200 | 0x0100  # IF | TF (Intel SDM, real-mode interrupts)
IVT_LIMIT = 0x3FF  # IDTR limit after reset: 256 vectors x 4 bytes - 1 (Intel SDM)


def unavailable_reason() -> str | None:
    """Why unicorn cannot be used here (with what to do), or None if it can."""
    if unicorn is None:
        return _(
            "unicorn is not installed: `pip install unicorn` "
            "(or `conda install -c conda-forge unicorn`)"
        )
    major = unicorn.uc_version()[0]
    if major < 2:
        return _("unicorn {major}.x is too old: `pip install -U unicorn` (2.x needed)", major=major)
    return None


def _reg(name: str) -> int:
    return getattr(x86, f"UC_X86_REG_{name.upper()}")


class TcgBackend:
    """Runs a real-mode guest on unicorn for `VirtualMachine`. Lesson 07."""

    name = "tcg"

    def __init__(self, memory: GuestMemory):
        reason = unavailable_reason()
        if reason:
            raise AcceleratorUnavailable("tcg", reason)
        self.memory = memory
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_16)
        self.board: Board | None = None
        self.instructions = 0
        for start, size in memory.slots:  # the same host pages KVM would map
            self.uc.mem_map_ptr(start, size, unicorn.UC_PROT_ALL, memory.address + start)
        for start, size in memory.holes():  # everything else real mode reaches is MMIO
            self.uc.mmio_map(start, size, self._mmio_read, start, self._mmio_write, start)
        self.uc.hook_add(unicorn.UC_HOOK_INSN, self._in, None, 1, 0, x86.UC_X86_INS_IN)
        self.uc.hook_add(unicorn.UC_HOOK_INSN, self._out, None, 1, 0, x86.UC_X86_INS_OUT)
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._interrupt)
        self.uc.hook_add(unicorn.UC_HOOK_INSN_INVALID, self._invalid_opcode)
        self.uc.reg_write(x86.UC_X86_REG_IDTR, (0, 0, IVT_LIMIT, 0))
        self.set_registers({"flags": 0x2, **dict.fromkeys(SEGMENT_REGISTERS, 0)})

    # ---- registers ----
    def set_registers(self, values: dict[str, int]) -> None:
        """Set 16-bit registers (ax..bp, ip, flags) and segment selectors (cs, ds, ...)."""
        for name, value in values.items():
            self.uc.reg_write(_reg(name), value)

    def registers(self) -> dict[str, int]:
        """The 16-bit CPU state: ax..bp, ip, flags and the segment selectors."""
        return {name: self.uc.reg_read(_reg(name)) & 0xFFFF for name in REGISTER_NAMES}

    def idt_limit(self) -> int:
        """The limit of the interrupt table register (IDTR), in bytes."""
        return self.uc.reg_read(x86.UC_X86_REG_IDTR)[2]

    def invalidate(self, address: int, size: int) -> None:
        """Drop translated code of [address, address + size) after the VMM rewrote it."""
        self.uc.ctl_remove_cache(address, address + size)

    # ---- running ----
    def run(self, board: Board, timeout: float, count_instructions: bool) -> None:
        """Emulate until the board says stop; sets board.stop_reason ("timeout" if so)."""
        self.board, self.instructions = board, 0
        counter = None
        if count_instructions:
            counter = self.uc.hook_add(unicorn.UC_HOOK_CODE, self._count)
        cs, ip = self.uc.reg_read(x86.UC_X86_REG_CS), self.uc.reg_read(x86.UC_X86_REG_IP)
        try:
            self.uc.emu_start((cs << 4) + ip, NEVER, timeout=max(1, int(timeout * 1e6)))
        except unicorn.UcError as e:
            if board.stop_reason is None:
                reason = _("unicorn: {error} at {address}", error=e, address=self._where())
                board.crash(reason, "internal_error")
        finally:
            if counter is not None:
                self.uc.hook_del(counter)
        if board.stop_reason is not None:
            return
        if self.uc.query(unicorn.UC_QUERY_TIMEOUT):
            board.stop_reason = "timeout"
        elif self.uc.mem_read(self._linear_ip() - 1, 1)[0] == HLT:  # HLT returns silently
            board.halt()
        else:
            board.crash(_("emulation stopped without a reason at {address}", address=self._where()))

    def _where(self) -> str:
        return f"{self._linear_ip():#x}"

    def _linear_ip(self) -> int:
        return (self.uc.reg_read(x86.UC_X86_REG_CS) << 4) + self.uc.reg_read(x86.UC_X86_REG_IP)

    def _stop_if_asked(self) -> None:
        if self.board.stop_reason is not None:
            self.uc.emu_stop()

    def _count(self, uc, address, size, user_data) -> None:
        self.instructions += 1

    def _in(self, uc, port, size, user_data) -> int:
        value = self.board.port_io("in", port, size)
        self._stop_if_asked()
        return value  # unicorn needs an int: None would leave garbage in AL

    def _out(self, uc, port, size, value, user_data) -> None:
        self.board.port_io("out", port, size, value)
        self._stop_if_asked()

    def _mmio_read(self, uc, offset, size, start) -> int:
        value = self.board.mmio("read", start + offset, size)
        self._stop_if_asked()
        return value

    def _mmio_write(self, uc, offset, size, value, start) -> None:
        self.board.mmio("write", start + offset, size, value)
        self._stop_if_asked()

    # ---- real-mode interrupts, as the CPU delivers them ----
    def _invalid_opcode(self, uc, user_data) -> bool:
        self._interrupt(uc, INVALID_OPCODE, user_data)
        return True  # go on, at the handler (or stop, if the delivery failed)

    def _interrupt(self, uc, vector, user_data) -> None:
        """Push FLAGS, CS, IP and jump through the IVT entry; escalate to #GP, #DF, shutdown."""
        _selector, base, limit, _flags = uc.reg_read(x86.UC_X86_REG_IDTR)
        for v in (vector, GENERAL_PROTECTION, DOUBLE_FAULT):
            if v * 4 + 3 <= limit:
                break
        else:
            reason = _(
                "triple fault: vector {vector}, then #GP and #DF, lie beyond the IDT limit {limit}",
                vector=vector,
                limit=f"{limit:#x}",
            )
            self.board.crash(reason, "shutdown")
            uc.emu_stop()
            return
        regs = self.registers()
        sp = regs["sp"]
        for word in (regs["flags"], regs["cs"], regs["ip"]):
            sp = (sp - 2) & 0xFFFF
            uc.mem_write((regs["ss"] << 4) + sp, struct.pack("<H", word))
        offset, segment = struct.unpack("<HH", uc.mem_read(base + 4 * v, 4))
        self.set_registers(
            {
                "sp": sp,
                "flags": regs["flags"] & ~FLAGS_CLEARED_BY_INTERRUPT & 0xFFFF,
                "cs": segment,
                "ip": offset,
            }
        )

    def close(self) -> None:
        """Free the engine now (idempotent).

        The binding keeps its hook wrappers in reference cycles, so the engine (and the 1 GiB of
        address space it reserves for translated code) would otherwise wait for the garbage
        collector. Close it here and null the handle, so the binding's own finalizer does nothing.
        """
        if self.uc is None:
            return
        handle = self.uc._uch
        unicorn.Uc.release_handle(handle)
        handle.value = None
        self.uc = None
        self.board = None
