"""Guest RAM and the machine's memory map. Lesson 07.

The guest sees a small PC: RAM from address 0, except a hole at 0xa0000-0xbffff where a PC has its
video memory. Nothing backs the hole, so every access to it leaves the guest (an MMIO exit) and
reaches a device model, such as the text display at 0xb8000. The host side is one anonymous
mapping of `size` bytes; guest-physical address A lives at offset A of it.
"""

from __future__ import annotations

import ctypes
import mmap

from vizlib.i18n import _

HOLE_START = 0xA0000  # PC legacy video window 0xA0000-0xBFFFF (VGA frame buffers)
HOLE_END = 0xC0000
REAL_MODE_END = 0x110000  # 0xFFFF:0xFFFF = 0x10FFEF is the highest real-mode address, page-rounded
PAGE = 0x1000  # x86 page, the granularity of KVM memory slots
MIN_MEMORY = 0x10000  # 64 KiB: one real-mode segment, room for a boot sector at 0x7c00
MAX_MEMORY = 0x100000  # 1 MiB: what real mode addresses without tricks


class GuestMemory:
    """Guest RAM, shared by the VMM (Python) and the accelerator. Lesson 07.

    `address` is the host virtual address of guest-physical 0 (what KVM_SET_USER_MEMORY_REGION and
    unicorn's mem_map_ptr need); `slots` the (guest_phys_addr, size) ranges that are RAM.
    """

    def __init__(self, size: int):
        if not (isinstance(size, int) and MIN_MEMORY <= size <= MAX_MEMORY and size % PAGE == 0):
            raise ValueError(
                _(
                    "memory must be a multiple of {page} bytes from {low} (64 KiB) to {high} "
                    "(1 MiB), got {size}",
                    page=f"{PAGE:#x}",
                    low=f"{MIN_MEMORY:#x}",
                    high=f"{MAX_MEMORY:#x}",
                    size=repr(size),
                )
            )
        self.size = size
        self._map = mmap.mmap(-1, size)
        anchor = ctypes.c_char.from_buffer(self._map)
        self.address = ctypes.addressof(anchor)
        del anchor  # an exported buffer would make mmap.close() fail with BufferError

    @property
    def slots(self) -> list[tuple[int, int]]:
        """RAM ranges (guest_phys_addr, size): below the hole and, if any, above it."""
        ranges = [(0, min(self.size, HOLE_START))]
        if self.size > HOLE_END:
            ranges.append((HOLE_END, self.size - HOLE_END))
        return ranges

    def holes(self, end: int = REAL_MODE_END) -> list[tuple[int, int]]:
        """Ranges (start, size) below `end` that are not RAM: where MMIO devices live."""
        gaps, cursor = [], 0
        for start, size in self.slots:
            if start > cursor:
                gaps.append((cursor, start - cursor))
            cursor = start + size
        if cursor < end:
            gaps.append((cursor, end - cursor))
        return gaps

    def is_ram(self, address: int, length: int = 1) -> bool:
        """True when [address, address + length) lies inside one RAM slot."""
        return any(s <= address and address + length <= s + n for s, n in self.slots)

    def read(self, address: int, length: int) -> bytes:
        """Bytes of guest RAM (what a device doing DMA sees)."""
        self._check(address, length)
        return self._map[address : address + length]

    def write(self, address: int, data: bytes) -> None:
        """Store bytes into guest RAM."""
        self._check(address, len(data))
        self._map[address : address + len(data)] = data

    def _check(self, address: int, length: int) -> None:
        if self._map.closed:
            raise ValueError(_("memory: the machine is closed"))
        if not self.is_ram(address, length):
            raise ValueError(
                _(
                    "address: [{start}, {end}) is not guest RAM (RAM is {ram})",
                    start=f"{address:#x}",
                    end=f"{address + length:#x}",
                    ram=", ".join(f"{s:#x}-{s + n - 1:#x}" for s, n in self.slots),
                )
            )

    def close(self) -> None:
        """Unmap the RAM (idempotent); the accelerator must have let go of it first."""
        self._map.close()
