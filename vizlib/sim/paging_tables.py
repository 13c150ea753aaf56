"""x86-64 page tables as the processor sees them: 64-bit entries in simulated memory. Lesson 05.

A virtual address is cut into 9-bit indices, one per level, above a 12-bit page offset; each level
is a 4 KiB table of 512 eight-byte entries living at a physical address; an entry holds a present
bit (EPT: read, write and execute bits) and the physical address of the next table or of the page.
`Memory` is a sparse physical memory with a frame allocator; `GuestPhysicalMemory` is a guest's
view of memory, stored in host frames through the EPT; `PageTables` builds and reads the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Integral

from vizlib.i18n import _
from vizlib.sim.errors import not_one_of

PAGE_SHIFT = 12  # Intel SDM vol. 3A ch. 4: 4 KiB pages
PAGE_SIZE = 1 << PAGE_SHIFT
INDEX_BITS = 9  # Intel SDM vol. 3A ch. 4: 512 entries per table in 4- and 5-level paging
ENTRIES = 1 << INDEX_BITS
ENTRY_BYTES = 8  # 64-bit entries
LEVELS = (4, 5)  # 4-level paging (48-bit addresses) and 5-level paging (57-bit, LA57)
PHYSICAL_BITS = 52  # Intel SDM: entries hold physical addresses of up to 52 bits (bits 51:12)
ADDRESS_MASK = ((1 << PHYSICAL_BITS) - 1) & ~(PAGE_SIZE - 1)
# Intel SDM vol. 3A: bit 0 of a page-table entry is Present, bit 1 R/W, bit 2 U/S. An EPT entry has
# Read, Write and Execute in bits 0-2 and is present when any of the three is set.
KINDS = ("x86", "ept")
FLAGS = {"x86": 0b111, "ept": 0b111}  # present + writable + user / read + write + execute
PRESENT_MASK = {"x86": 0b001, "ept": 0b111}


def address_bits(levels: int) -> int:
    """Width of the addresses `levels` levels translate: 48 for 4, 57 for 5. Lesson 05."""
    check_levels("levels", levels)
    return PAGE_SHIFT + INDEX_BITS * levels


def check_levels(parameter: str, levels) -> int:
    """Return `levels` if page tables of that depth exist here, else ValueError. Lesson 05."""
    if isinstance(levels, bool) or levels not in LEVELS:
        raise not_one_of(parameter, levels, LEVELS)
    return levels


def check_address(parameter: str, value, bits: int, *, aligned: bool = False) -> int:
    """`value` if it is an address below 2**bits (page-aligned if asked), else ValueError.

    Lesson 05.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value < 1 << bits:
        raise ValueError(
            _(
                "{parameter} must be an integer from 0 to 2**{bits} - 1; got {value}",
                parameter=parameter,
                bits=bits,
                value=repr(value),
            )
        )
    if aligned and value % PAGE_SIZE:
        raise ValueError(
            _(
                "{parameter} must be a multiple of {page} (a page); got {value}",
                parameter=parameter,
                page=f"{PAGE_SIZE:#x}",
                value=f"{value:#x}",
            )
        )
    return int(value)


def split(address: int, levels: int = 4) -> tuple[tuple[int, ...], int]:
    """The 9-bit index of each level, top level first, and the 12-bit page offset. Lesson 05.

    >>> split(0x0000_0080_8060_4567)
    ((1, 2, 3, 4), 1383)
    """
    check_address("address", address, address_bits(levels))
    indices = tuple(
        (address >> (PAGE_SHIFT + INDEX_BITS * (level - 1))) & (ENTRIES - 1)
        for level in range(levels, 0, -1)
    )
    return indices, address & (PAGE_SIZE - 1)


def make_entry(frame: int, kind: str) -> int:
    """A present entry pointing at `frame`, in the format of `kind` ("x86" or "ept"). Lesson 05."""
    return check_address("frame", frame, PHYSICAL_BITS, aligned=True) | FLAGS[_kind(kind)]


def is_present(value: int, kind: str) -> bool:
    """True if the entry `value` is present in the format of `kind`. Lesson 05."""
    return bool(value & PRESENT_MASK[_kind(kind)])


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise not_one_of("kind", kind, KINDS)
    return kind


class Memory:
    """Sparse physical memory of 64-bit words, with a 4 KiB frame allocator. Lesson 05.

    `allocate()` hands out zeroed frames upwards from `first_free`, skipping `reserved` frames
    (pages that hold data). Unwritten words read as 0, which is a non-present entry.
    """

    def __init__(self, name: str, first_free: int = PAGE_SIZE, reserved: Iterable[int] = ()):
        self.name = name
        self._next = check_address("first_free", first_free, PHYSICAL_BITS, aligned=True)
        self._reserved = {
            check_address("reserved", r, PHYSICAL_BITS, aligned=True) for r in reserved
        }
        self._words: dict[int, int] = {}

    def allocate(self) -> int:
        """The address of a fresh frame."""
        while self._next in self._reserved:
            self._next += PAGE_SIZE
        frame, self._next = self._next, self._next + PAGE_SIZE
        check_address("allocated frame", frame, PHYSICAL_BITS)
        return frame

    def read(self, address: int) -> int:
        """The 64-bit word at `address` (8-byte aligned)."""
        return self._words.get(self._word(address), 0)

    def write(self, address: int, value: int) -> None:
        """Store a 64-bit word at `address` (8-byte aligned)."""
        if not 0 <= value < 1 << 64:
            raise ValueError(_("value must fit in 64 bits; got {value}", value=repr(value)))
        self._words[self._word(address)] = value

    def _word(self, address: int) -> int:
        check_address("address", address, PHYSICAL_BITS)
        if address % ENTRY_BYTES:
            raise ValueError(
                _(
                    "address must be a multiple of {size}; got {address}",
                    size=ENTRY_BYTES,
                    address=f"{address:#x}",
                )
            )
        return address


class GuestPhysicalMemory:
    """A guest's physical memory, kept in host frames that the EPT maps. Lesson 05.

    This is the builder's view (the hypervisor's, or the guest kernel writing its own tables): it
    translates through `ept` in software and records nothing. A new guest frame is backed by a
    fresh host frame unless the EPT already maps it.
    """

    def __init__(
        self, host: Memory, ept: PageTables, first_free: int = PAGE_SIZE, reserved=()
    ) -> None:
        self.name = "guest-physical"
        self.host = host
        self.ept = ept
        self._frames = Memory(self.name, first_free, reserved)

    def allocate(self) -> int:
        """A fresh guest frame, backed by a host frame."""
        frame = self._frames.allocate()
        if self.ept.translate(frame) is None:
            self.ept.map(frame, self.host.allocate())
        return frame

    def host_address(self, address: int) -> int:
        """The host-physical address behind guest-physical `address`."""
        host = self.ept.translate(address)
        if host is None:
            raise ValueError(
                _(
                    "guest-physical address {address} is not mapped by the EPT",
                    address=f"{address:#x}",
                )
            )
        return host

    def read(self, address: int) -> int:
        """The 64-bit word at guest-physical `address`."""
        return self.host.read(self.host_address(address))

    def write(self, address: int, value: int) -> None:
        """Store a 64-bit word at guest-physical `address`."""
        self.host.write(self.host_address(address), value)


@dataclass(frozen=True)
class EntryRead:
    """One entry read while descending the tables: level, index, table, address, value.

    Lesson 05.
    """

    level: int
    index: int
    table: int
    entry_address: int
    value: int


class PageTables:
    """A radix tree of page tables in `memory`, rooted at `root` (CR3, or the EPT pointer).

    Lesson 05. `kind` is "x86" (a guest's, the host's or a shadow table) or "ept". `map` writes the
    entries a kernel would write; `steps` reads them as the processor's walker would.
    """

    def __init__(self, name: str, memory: Memory | GuestPhysicalMemory, kind="x86", levels=4):
        self.name = name
        self.memory = memory
        self.kind = _kind(kind)
        self.levels = check_levels("levels", levels)
        self.root = memory.allocate()

    @property
    def address_bits(self) -> int:
        """Width of the addresses these tables translate."""
        return address_bits(self.levels)

    def map(self, page: int, frame: int) -> int:
        """Point the entry for `page` at `frame`, adding tables on the way; return entries written.

        Both are page-aligned addresses; an existing mapping of `page` is replaced.
        """
        check_address("page", page, self.address_bits, aligned=True)
        check_address("frame", frame, PHYSICAL_BITS, aligned=True)
        indices, _ = split(page, self.levels)
        table, written = self.root, 0
        for index in indices[:-1]:
            entry = table + index * ENTRY_BYTES
            value = self.memory.read(entry)
            if not is_present(value, self.kind):
                value = make_entry(self.memory.allocate(), self.kind)
                self.memory.write(entry, value)
                written += 1
            table = value & ADDRESS_MASK
        self.memory.write(table + indices[-1] * ENTRY_BYTES, make_entry(frame, self.kind))
        return written + 1

    def unmap(self, page: int) -> int:
        """Clear the entry for `page` (tables stay); return entries written, 0 or 1."""
        check_address("page", page, self.address_bits, aligned=True)
        steps = list(self.steps(page))
        last = steps[-1]
        if len(steps) < self.levels or not is_present(last.value, self.kind):
            return 0
        self.memory.write(last.entry_address, 0)
        return 1

    def steps(self, address: int) -> Iterator[EntryRead]:
        """The entries a walk for `address` reads, top level first, up to a non-present one."""
        indices, _ = split(address, self.levels)
        table = self.root
        for level, index in zip(range(self.levels, 0, -1), indices, strict=True):
            entry = table + index * ENTRY_BYTES
            value = self.memory.read(entry)
            yield EntryRead(level, index, table, entry, value)
            if not is_present(value, self.kind):
                return
            table = value & ADDRESS_MASK

    def translate(self, address: int) -> int | None:
        """The address `address` maps to, or None; read in software, nothing recorded."""
        last = list(self.steps(address))[-1]
        if last.level != 1 or not is_present(last.value, self.kind):
            return None
        return (last.value & ADDRESS_MASK) | (address & (PAGE_SIZE - 1))

    def mappings(self) -> dict[int, int]:
        """Every page mapped, as {page: frame}, in address order."""
        found: dict[int, int] = {}
        self._collect(self.root, self.levels, 0, found)
        return found

    def _collect(self, table: int, level: int, base: int, found: dict[int, int]) -> None:
        for index in range(ENTRIES):
            value = self.memory.read(table + index * ENTRY_BYTES)
            if not is_present(value, self.kind):
                continue
            page = base | index << (PAGE_SHIFT + INDEX_BITS * (level - 1))
            if level == 1:
                found[page] = value & ADDRESS_MASK
            else:
                self._collect(value & ADDRESS_MASK, level - 1, page, found)
