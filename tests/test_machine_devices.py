"""Device models, the board that dispatches to them, and guest memory: no accelerator needed."""

import struct

import pytest

from vizlib.machine.devices import (
    Board,
    DebugExit,
    MmioDevice,
    PortDevice,
    PvConsole,
    Serial16550,
    TextDisplay,
)
from vizlib.machine.memory import GuestMemory


@pytest.fixture
def board():
    memory = GuestMemory(1 << 20)
    board = Board(memory)
    for device in (Serial16550(), DebugExit(), PvConsole(), TextDisplay()):
        board.add(device)
    board.start_run(max_exits=1000)
    yield board
    memory.close()


def test_memory_slots_leave_the_video_hole_unbacked():
    with_top = GuestMemory(1 << 20)
    small = GuestMemory(0x10000)
    try:
        assert with_top.slots == [(0, 0xA0000), (0xC0000, 0x40000)]
        assert with_top.holes() == [(0xA0000, 0x20000), (0x100000, 0x10000)]
        assert small.slots == [(0, 0x10000)]
        assert small.holes() == [(0x10000, 0x100000)]
        assert with_top.is_ram(0x9FFFF) and not with_top.is_ram(0x9FFFF, 2)
        with pytest.raises(ValueError, match="address"):
            with_top.read(0xB8000, 1)
    finally:
        with_top.close()
        small.close()


@pytest.mark.parametrize("size", [0, 0x8000, 0x10001, 0x200000, "1M"])
def test_memory_size_is_checked(size):
    with pytest.raises(ValueError, match="memory must be"):
        GuestMemory(size)


def test_memory_read_write_round_trip_and_close_is_idempotent():
    memory = GuestMemory(0x10000)
    memory.write(0x7C00, b"\xf4")
    assert memory.read(0x7BFF, 3) == b"\x00\xf4\x00"
    memory.close()
    memory.close()
    with pytest.raises(ValueError, match="closed"):
        memory.read(0, 1)


def test_com1_transmit_prints_and_line_status_says_empty(board):
    board.port_io("out", 0x3F8, 1, ord("A"))
    assert board.console == b"A"
    assert board.port_io("in", 0x3FD, 1) == 0x60  # THRE | TEMT
    assert board.port_io("in", 0x3FA, 1) == 0x01  # no interrupt pending


def test_com1_divisor_latch_does_not_print(board):
    board.port_io("out", 0x3FB, 1, 0x83)  # LCR: DLAB on, 8N1
    board.port_io("out", 0x3F8, 1, 0x01)  # divisor low byte: 115200 baud
    assert board.port_io("in", 0x3F8, 1) == 0x01
    board.port_io("out", 0x3FB, 1, 0x03)  # DLAB off
    board.port_io("out", 0x3F8, 1, ord("x"))
    assert board.console == b"x"
    assert board.port_io("in", 0x3FF, 1) == 0  # scratch register starts at 0


def test_debug_exit_records_the_value_and_stops(board):
    board.port_io("out", 0xF4, 1, 0x2A)
    assert (board.exit_code, board.stop_reason) == (42, "debug-exit")
    # a block that goes on after power-off (tcg) is not heard any more
    assert board.port_io("in", 0x3FD, 1) == 0xFF
    assert board.port_io("out", 0x3F8, 1, ord("X")) == 0xFF
    assert board.console == b"" and len(board.exits) == 1


def test_pv_console_reads_the_described_buffer_from_guest_memory(board):
    board.memory.write(0x8000, b"virtio!")
    board.memory.write(0x7000, struct.pack("<II", 0x8000, 7))
    board.port_io("out", 0x700, 2, 0x7000)
    assert board.console == b"virtio!"
    assert [e.reason for e in board.exits] == ["io"]


@pytest.mark.parametrize(
    "descriptor_at, buffer, length",
    [(0xB8000, 0x8000, 4), (0x7000, 0xA0000, 4), (0x7000, 0x8000, 5000)],
)
def test_pv_console_rejects_bad_descriptors(board, descriptor_at, buffer, length):
    board.memory.write(0x7000, struct.pack("<II", buffer, length))
    board.port_io("out", 0x700, 4, descriptor_at)
    pv = next(d for d in board.port_devices if isinstance(d, PvConsole))
    assert board.console == b"" and pv.rejected == 1


def test_text_display_shows_characters_and_reads_back(board):
    for i, char in enumerate(b"Hi"):
        board.mmio("write", 0xB8000 + 2 * i, 2, char | 0x0700)
    board.mmio("write", 0xB8000 + 160, 1, ord("!"))  # row 1, column 0
    display = next(d for d in board.mmio_devices if isinstance(d, TextDisplay))
    assert display.text() == "Hi\n!"
    assert board.mmio("read", 0xB8000, 2) == ord("H") | 0x0700
    assert [e.direction for e in board.exits] == ["write"] * 3 + ["read"]


def test_unclaimed_ports_read_all_ones_and_holes_read_zero(board):
    assert board.port_io("in", 0x60, 1) == 0xFF
    assert board.port_io("in", 0x60, 2) == 0xFFFF
    assert board.mmio("read", 0xA0000, 4) == 0
    assert board.exits[0].data == b"\xff" and board.exits[2].address == 0xA0000


def test_max_exits_sets_the_stop_reason_but_keeps_recording(board):
    board.start_run(max_exits=2)
    for char in b"abc":
        board.port_io("out", 0x3F8, 1, char)
    assert board.stop_reason == "max-exits"
    assert board.console == b"abc" and len(board.exits) == 3


def test_a_custom_port_device_answers_and_hears(board):
    class Counter(PortDevice):
        def __init__(self):
            super().__init__(ports=range(0x600, 0x602))
            self.count, self.written = 0, []

        def io_in(self, port, size):
            self.count += 1
            return self.count

        def io_out(self, port, size, value):
            self.written.append((port, value))

    counter = Counter()
    board.add(counter)
    assert [board.port_io("in", 0x600, 1) for _ in range(3)] == [1, 2, 3]
    board.port_io("out", 0x601, 2, 0x1234)
    assert counter.written == [(0x601, 0x1234)]
    assert str(board.exits[-1]) == "io   out   port 0x0601 size 2 b'4\\x12'"


def test_a_device_returning_none_is_named_in_the_error(board):
    class Broken(PortDevice):
        def io_in(self, port, size):
            return None

    board.add(Broken(range(0x610, 0x611)))
    with pytest.raises(TypeError, match="Broken.io_in must return an int"):
        board.port_io("in", 0x610, 1)


def test_overlapping_or_misplaced_devices_are_refused(board):
    with pytest.raises(ValueError, match="overlap Serial16550"):
        board.add(PortDevice(range(0x3FC, 0x400)))
    with pytest.raises(ValueError, match="outside RAM"):
        board.add(MmioDevice(0x7000, 0x1000))
    with pytest.raises(ValueError, match="overlaps TextDisplay"):
        board.add(MmioDevice(0xB8800, 0x1000))
    with pytest.raises(ValueError, match="ports must be"):
        PortDevice(range(0xFFFF, 0x10001))
    with pytest.raises(ValueError, match="device must be"):
        board.add(object())
