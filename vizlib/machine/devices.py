"""Device models: the part of a VMM that pretends to be hardware. Lessons 07 and 08.

KVM runs the guest's instructions but emulates no device: each IN/OUT and each access outside
RAM exits to user space, which answers as the device would. These models answer the same way
under both accelerators, like QEMU's device models do for `-accel kvm` and `-accel tcg`.

Port map: COM1 0x3f8-0x3ff (16550 UART), isa-debug-exit 0xf4-0xf7, paravirtual console 0x700,
and the default interrupt handlers' port 0xe0 (`NoHandler`). Memory map: the interrupt vector
table at 0 and the default handlers at 0x500 (`NoHandler.install`); text display at 0xb8000
(inside the hole at 0xa0000-0xbffff, see `memory`).

Write your own device by subclassing `PortDevice` (or `MmioDevice`) and adding it with
`VirtualMachine.add_device`::

    class Dice(PortDevice):
        def __init__(self):
            super().__init__(ports=range(0x600, 0x601))

        def io_in(self, port, size):
            return 4  # chosen by fair dice roll

    vm.add_device(Dice())     # the guest's `in al, dx` with dx=0x600 now reads 4
"""

from __future__ import annotations

import struct

from vizlib.i18n import N_, _
from vizlib.machine.memory import GuestMemory
from vizlib.machine.results import Exit

COM1 = 0x3F8  # first PC serial port (IBM PC/AT port map)
DEBUG_EXIT_PORT = 0xF4  # QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04
PV_CONSOLE_PORT = 0x700  # this course's choice: a port no standard PC device uses
DISPLAY_BASE = 0xB8000  # PC colour text-mode buffer (VGA), 80 x 25 cells of (character, colour)
DISPLAY_COLUMNS, DISPLAY_ROWS = 80, 25  # VGA text mode 3
NO_HANDLER_PORT = 0xE0  # this course's choice: a port no standard PC device uses
DEFAULT_HANDLERS = 0x500  # this course's choice: free RAM just past the BIOS data area (0x400)
VECTORS = 256  # entries of the real-mode interrupt vector table, 4 bytes each (Intel SDM)
# Real-mode exceptions by vector (Intel SDM vol. 3A, table 6-1); other vectors are interrupts.
# Shown through `_()`.
EXCEPTIONS = {
    0: N_("#DE (divide error)"),
    1: N_("#DB (debug)"),
    3: N_("#BP (breakpoint)"),
    4: N_("#OF (overflow)"),
    5: N_("#BR (BOUND range exceeded)"),
    6: N_("#UD (invalid opcode)"),
    7: N_("#NM (device not available)"),
    8: N_("#DF (double fault)"),
    13: N_("#GP (general protection)"),
}


def all_ones(size: int) -> int:
    """What a read from nothing returns on a PC bus: every bit high (QEMU: unassigned_io_read)."""
    return (1 << (8 * size)) - 1


class PortDevice:
    """A device on the I/O-port bus: the guest reaches it with IN and OUT. Lesson 08.

    Override `io_in` (return an int of `size` bytes) and/or `io_out`. `self.board` is set when the
    device is added to a machine; through it a device reaches guest memory (`board.memory`) and
    the console (`board.console`).
    """

    def __init__(self, ports: range):
        contiguous = isinstance(ports, range) and ports.step == 1
        if not (contiguous and 0 <= ports.start < ports.stop <= 1 << 16):
            raise ValueError(
                _(
                    "ports must be a non-empty range inside 0..0xffff, got {ports}",
                    ports=repr(ports),
                )
            )
        self.ports = ports
        self.board: Board | None = None

    def io_in(self, port: int, size: int) -> int:
        """The guest executed IN on one of our ports: return the value it reads."""
        return all_ones(size)

    def io_out(self, port: int, size: int, value: int) -> None:
        """The guest executed OUT on one of our ports with `value`."""


class MmioDevice:
    """A device in the physical address space outside RAM: plain MOVs reach it. Lesson 08."""

    def __init__(self, base: int, size: int):
        self.base = base
        self.size = size
        self.board: Board | None = None

    def mmio_read(self, offset: int, size: int) -> int:
        """The guest read `size` bytes at base + offset: return them as an int."""
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        """The guest wrote `value` (`size` bytes) at base + offset."""


class Serial16550(PortDevice):
    """COM1, a 16550 UART reduced to what a polling guest needs. Lesson 07.

    Writing the transmit register (base + 0) prints a byte: one exit per character. The line
    status register (base + 5) always says "transmitter empty", so polling loops finish at once.
    """

    # register offsets and bits from the 16550 data sheet (also QEMU hw/char/serial.c)
    THR, IER, IIR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 3, 4, 5, 6, 7
    LCR_DLAB = 0x80  # divisor latch access: offsets 0 and 1 hold the baud-rate divisor
    LSR_IDLE = 0x20 | 0x40  # THRE (holding register empty) | TEMT (transmitter empty)
    MSR_CABLE = 0x80 | 0x20 | 0x10  # DCD | DSR | CTS, as QEMU reports with nothing attached
    IIR_NO_INTERRUPT = 0x01

    def __init__(self, base: int = COM1):
        super().__init__(ports=range(base, base + 8))
        self.registers = bytearray(8)
        self.divisor = bytearray(2)

    def io_out(self, port: int, size: int, value: int) -> None:
        offset, value = port - self.ports[0], value & 0xFF
        if offset in (self.THR, self.IER) and self.registers[self.LCR] & self.LCR_DLAB:
            self.divisor[offset] = value
        elif offset == self.THR:
            self.board.console.append(value)
        elif offset not in (self.IIR, self.LSR, self.MSR):  # read-only or FIFO control
            self.registers[offset] = value

    def io_in(self, port: int, size: int) -> int:
        offset = port - self.ports[0]
        if offset in (self.THR, self.IER) and self.registers[self.LCR] & self.LCR_DLAB:
            return self.divisor[offset]
        return {
            self.THR: 0,  # receive buffer: no input ever arrives
            self.IIR: self.IIR_NO_INTERRUPT,
            self.LSR: self.LSR_IDLE,
            self.MSR: self.MSR_CABLE,
        }.get(offset, self.registers[offset])


class DebugExit(PortDevice):
    """QEMU's isa-debug-exit: a write powers the machine off and reports a value. Lesson 07.

    Real QEMU exits with status (value << 1) | 1, so a test harness can tell it from a normal
    exit; here the run stops and `RunResult.exit_code` is the value itself.
    """

    def __init__(self, port: int = DEBUG_EXIT_PORT):
        super().__init__(ports=range(port, port + 4))  # iosize=0x04

    def io_out(self, port: int, size: int, value: int) -> None:
        self.board.power_off(value)


class PvConsole(PortDevice):
    """A paravirtual console: the guest shares a buffer and kicks once. Lesson 08.

    The guest puts a descriptor in its RAM, 4-byte buffer address then 4-byte length (the first
    fields of virtio's vring_desc), then writes the descriptor's address to port 0x700 (one OUT,
    16 or 32 bits): one exit for the whole string, where COM1 takes one per byte. The device reads
    the bytes straight from guest memory. A descriptor outside RAM or longer than `max_length`
    is ignored and counted in `rejected`.
    """

    max_length = 4096  # this course's limit, one page

    def __init__(self, port: int = PV_CONSOLE_PORT):
        super().__init__(ports=range(port, port + 1))
        self.rejected = 0

    def io_out(self, port: int, size: int, value: int) -> None:
        memory = self.board.memory
        if not memory.is_ram(value, 8):
            self.rejected += 1
            return
        address, length = struct.unpack("<II", memory.read(value, 8))
        if length > self.max_length or not memory.is_ram(address, length):
            self.rejected += 1
            return
        self.board.console.extend(memory.read(address, length))


class NoHandler(PortDevice):
    """The machine's default interrupt handlers, one per vector: they report the vector here and
    stop the run, so that an interrupt or exception the guest installed no handler for ends
    the same way on both accelerators, with its name, instead of a jump to address 0. A PC's BIOS
    fills the table with handlers of its own; this machine has no BIOS. Lesson 07.
    """

    STUB = bytes.fromhex("b0 00 e6 00 f4")  # mov al, vector; out port, al; hlt (never reached)

    def __init__(self, port: int = NO_HANDLER_PORT):
        if not 0 <= port <= 0xFF:
            raise ValueError(
                _(
                    "port must be 0..0xff (OUT with an immediate port), got {port}",
                    port=f"{port:#x}",
                )
            )
        super().__init__(ports=range(port, port + 1))
        self.vector: int | None = None  # the vector last reported

    def install(self, memory: GuestMemory) -> None:
        """Point every vector of the table at 0 to its default handler at DEFAULT_HANDLERS."""
        size = len(self.STUB)
        table = b"".join(struct.pack("<HH", DEFAULT_HANDLERS + v * size, 0) for v in range(VECTORS))
        port = self.ports.start
        stubs = b"".join(bytes([0xB0, v, 0xE6, port, 0xF4]) for v in range(VECTORS))
        memory.write(0, table)
        memory.write(DEFAULT_HANDLERS, stubs)

    def io_out(self, port: int, size: int, value: int) -> None:
        self.vector = vector = value & 0xFF
        if vector in EXCEPTIONS:
            reason = _(
                "exception {name} with no handler: the guest put none in the interrupt vector "
                "table, and this machine has no BIOS to provide one",
                name=_(EXCEPTIONS[vector]),
            )
        else:
            reason = _(
                "interrupt {vector} with no handler: the guest put none in the interrupt vector "
                "table, and this machine has no BIOS to provide one",
                vector=f"{vector:#x}",
            )
        self.board.crash(reason)


class TextDisplay(MmioDevice):
    """A memory-mapped text screen at 0xb8000, laid out as a PC's VGA text mode. Lesson 08.

    Cell (row, column) is two bytes at 2 * (80 * row + column): character, then colour. Every
    guest store to it is an MMIO exit, because no RAM backs the address.
    """

    def __init__(self, base: int = DISPLAY_BASE):
        super().__init__(base=base, size=0x1000)  # one page; 80 * 25 * 2 = 4000 bytes are used
        self.cells = bytearray(2 * DISPLAY_COLUMNS * DISPLAY_ROWS)

    def mmio_read(self, offset: int, size: int) -> int:
        return int.from_bytes(self.cells[offset : offset + size].ljust(size, b"\0"), "little")

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        data = value.to_bytes(size, "little")[: max(0, len(self.cells) - offset)]
        self.cells[offset : offset + len(data)] = data

    def text(self) -> str:
        """The characters on screen, one line per row, trailing blanks and empty rows removed."""
        chars = self.cells[0::2].replace(b"\0", b" ").decode("cp437")
        rows = [chars[r : r + DISPLAY_COLUMNS].rstrip() for r in range(0, len(chars), 80)]
        return "\n".join(rows).rstrip("\n")


def _checked(value, device, method: str) -> int:
    if not isinstance(value, int):
        raise TypeError(
            _(
                "{device}.{method} must return an int, got {value}",
                device=type(device).__name__,
                method=method,
                value=repr(value),
            )
        )
    return value


class Board:
    """The devices of one machine and what they share; records every exit. Lesson 07.

    Both accelerators call `port_io`, `mmio`, `halt` and `crash`; devices call `power_off`.
    """

    def __init__(self, memory: GuestMemory):
        self.memory = memory
        self.console = bytearray()
        self.exits: list[Exit] = []
        self.exit_code: int | None = None
        self.stop_reason: str | None = None
        self.crash_reason = ""
        self.max_exits = 0
        self.port_devices: list[PortDevice] = []
        self.mmio_devices: list[MmioDevice] = []

    def add(self, device: PortDevice | MmioDevice) -> None:
        """Plug a device in; its ports or addresses must be free."""
        if isinstance(device, PortDevice):
            for other in self.port_devices:
                if set(device.ports) & set(other.ports):
                    raise ValueError(
                        _(
                            "device: ports {ports} overlap {other}'s {other_ports}",
                            ports=device.ports,
                            other=type(other).__name__,
                            other_ports=other.ports,
                        )
                    )
            self.port_devices.append(device)
        elif isinstance(device, MmioDevice):
            end = device.base + device.size
            if not any(s <= device.base and end <= s + n for s, n in self.memory.holes()):
                raise ValueError(
                    _(
                        "device: MMIO range {start}-{end} must lie outside RAM, in {holes}",
                        start=f"{device.base:#x}",
                        end=f"{end - 1:#x}",
                        holes=", ".join(f"{s:#x}-{s + n - 1:#x}" for s, n in self.memory.holes()),
                    )
                )
            for other in self.mmio_devices:
                if device.base < other.base + other.size and other.base < end:
                    raise ValueError(
                        _("device: MMIO range overlaps {other}", other=type(other).__name__)
                    )
            self.mmio_devices.append(device)
        else:
            raise ValueError(
                _(
                    "device must be a PortDevice or an MmioDevice, got {device}",
                    device=repr(device),
                )
            )
        device.board = self

    def start_run(self, max_exits: int) -> None:
        """Forget the previous run's output and exits."""
        self.console.clear()
        self.exits = []
        self.exit_code = None
        self.stop_reason = None
        self.crash_reason = ""
        self.max_exits = max_exits

    def port_io(self, direction: str, port: int, size: int, value: int = 0) -> int:
        """An IN ("in") or OUT ("out") reached the VMM; returns the value an IN reads.

        An IN from a port no device claims reads all ones, as QEMU's unassigned_io_read.
        """
        if self._off():
            return all_ones(size)
        device = next((d for d in self.port_devices if port in d.ports), None)
        if direction == "in":
            value = _checked(device.io_in(port, size), device, "io_in") if device else -1
        elif device:
            device.io_out(port, size, value & all_ones(size))
        data = (value & all_ones(size)).to_bytes(size, "little")
        self._record(Exit("io", port=port, direction=direction, size=size, data=data))
        return value & all_ones(size)

    def mmio(self, direction: str, address: int, size: int, value: int = 0) -> int:
        """A read ("read") or write ("write") outside RAM; returns the value a read sees."""
        if self._off():
            return 0
        device = next((d for d in self.mmio_devices if d.base <= address < d.base + d.size), None)
        offset = address - device.base if device else 0
        if direction == "read":
            # nothing there: 0, as QEMU's unassigned_mem_read (memory.c)
            value = _checked(device.mmio_read(offset, size), device, "mmio_read") if device else 0
        elif device:
            device.mmio_write(offset, size, value & all_ones(size))
        data = (value & all_ones(size)).to_bytes(size, "little")
        self._record(Exit("mmio", address=address, direction=direction, size=size, data=data))
        return value & all_ones(size)

    def halt(self) -> None:
        """The guest executed HLT: with no interrupt to wake it, the run is over."""
        self._record(Exit("hlt"))
        self.stop_reason = "hlt"

    def crash(self, reason: str, exit_reason: str | None = None) -> None:
        """The accelerator cannot continue; `exit_reason` is recorded as an exit if given."""
        if exit_reason:
            self._record(Exit(exit_reason))
        self.stop_reason = "crash"
        self.crash_reason = reason

    def power_off(self, code: int) -> None:
        """isa-debug-exit: stop the machine with an exit code."""
        self.exit_code = code
        self.stop_reason = "debug-exit"

    def _off(self) -> bool:
        """True once the machine halted, crashed or powered off. Only tcg calls in then (unicorn
        finishes its translation block): such accesses are dropped, while after "max-exits" they
        did happen and are handled and recorded."""
        return self.stop_reason not in (None, "max-exits")

    def _record(self, exit_: Exit) -> None:
        self.exits.append(exit_)
        if self.stop_reason is None and len(self.exits) >= self.max_exits:
            self.stop_reason = "max-exits"
