"""What a run of a guest produced: its exits and its output. Lesson 07."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

GENERAL_REGISTERS = ("ax", "bx", "cx", "dx", "si", "di", "sp", "bp")
SEGMENT_REGISTERS = ("cs", "ds", "es", "ss", "fs", "gs")
REGISTER_NAMES = GENERAL_REGISTERS + ("ip", "flags") + SEGMENT_REGISTERS  # RunResult.registers


@dataclass(frozen=True)
class Exit:
    """One exit from the guest to the VMM (a VM exit that reached user space). Lesson 07.

    reason: "io" (IN/OUT), "mmio" (access outside RAM), "hlt", "shutdown" (triple fault),
    "internal_error" or "fail_entry" (KVM could not go on).
    port: the I/O port ("io"); address: the guest-physical address ("mmio").
    direction: "in"/"out" for "io", "read"/"write" for "mmio".
    size: bytes moved (1, 2 or 4); data: those bytes, little-endian, as written by the guest or
    as answered by the device.
    """

    reason: str
    port: int | None = None
    address: int | None = None
    direction: str | None = None
    size: int = 0
    data: bytes = b""

    @property
    def value(self) -> int:
        """`data` as an unsigned integer."""
        return int.from_bytes(self.data, "little")

    def __str__(self) -> str:
        if self.port is not None:
            return f"io   {self.direction:<5} port 0x{self.port:04x} size {self.size} {self.data!r}"
        if self.address is not None:
            return f"mmio {self.direction:<5} 0x{self.address:05x} size {self.size} {self.data!r}"
        return self.reason


@dataclass
class RunResult:
    """The outcome of `VirtualMachine.run`. Lesson 07.

    serial: bytes the guest printed on the console (COM1 transmit register and paravirtual
    console, in order). exit_code: the value written to isa-debug-exit, else None.
    stop_reason: "hlt", "debug-exit", "max-exits" (the run stopped after `max_exits` exits; run
    again to continue), "timeout" or "crash" (the last two arrive inside GuestTimeout and
    GuestCrashed). wall_time: seconds the run took. instructions: guest instructions executed,
    counted only on tcg with `count_instructions=True`, else None. registers: 16-bit CPU state at
    the stop. display: the text on the memory-mapped display.
    """

    accel: str
    serial: bytes
    exit_code: int | None
    stop_reason: str
    exits: list[Exit] = field(repr=False)
    wall_time: float
    instructions: int | None
    registers: dict[str, int] = field(repr=False)
    display: str = field(repr=False)

    @property
    def halted(self) -> bool:
        """True when the guest executed HLT."""
        return self.stop_reason == "hlt"

    @property
    def exit_counts(self) -> dict[str, int]:
        """Number of exits of each reason, in order of first appearance."""
        return dict(Counter(e.reason for e in self.exits))
