"""Page walks, native and virtualized, reference by reference. Lesson 05.

A TLB miss makes the processor walk the page tables (`vizlib.sim.paging_tables`). Natively an
n-level walk reads n entries. A virtual machine has two translations: the guest's tables map
guest-virtual to guest-physical addresses, the hypervisor's map guest-physical to host-physical.
- **Nested paging** (Intel EPT, AMD NPT): the processor walks both. Every guest table lives at a
  guest-physical address, so each of the n guest references first needs an m-level EPT walk, and so
  does the final guest-physical address: n*m + n + m references, 24 for 4 + 4 (Bhargava et al.,
  ASPLOS 2008). A non-present guest entry is a guest page fault, delivered to the guest without a
  VM exit; a non-present EPT entry is an EPT violation, a VM exit.
- **Shadow paging**: the hypervisor composes both translations into a shadow table (guest-virtual
  to host-physical) that the processor walks natively, n references; in exchange it write-protects
  the guest's tables and takes a trap on every write to them, to keep the shadow in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral

from vizlib.i18n import N_, _
from vizlib.sim.errors import not_one_of
from vizlib.sim.paging_tables import (
    ADDRESS_MASK,
    ENTRY_BYTES,
    PAGE_SIZE,
    PHYSICAL_BITS,
    GuestPhysicalMemory,
    Memory,
    PageTables,
    address_bits,
    check_address,
    is_present,
    split,
)

MODES = (N_("native"), N_("shadow"), N_("nested"))
MAX_FORMULA_LEVELS = 5  # x86 paging has had 2 (32-bit), 3 (PAE), 4 and 5 levels
# Where the builders put tables unless told otherwise (illustrative: low, readable addresses).
GUEST_TABLE_BASE = 0x1000
HOST_TABLE_BASE = 0x10_0000


def reference_count(mode: str, guest_levels: int = 4, host_levels: int = 4) -> int:
    """Memory references of one page walk that misses every cache. Lesson 05.

    native and shadow: n (the guest's levels; a shadow table has the guest's shape); nested:
    n*m + n + m with m the EPT's levels (Bhargava et al., ASPLOS 2008).
    """
    if mode not in MODES:
        raise not_one_of("mode", mode, MODES)
    n = _formula_levels("guest_levels", guest_levels)
    m = _formula_levels("host_levels", host_levels)
    return n * m + n + m if mode == "nested" else n


def _formula_levels(parameter: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(
            _(
                "{parameter} must be an integer from 1 to {high}",
                parameter=parameter,
                high=MAX_FORMULA_LEVELS,
            )
        )
    if not 1 <= value <= MAX_FORMULA_LEVELS:
        raise ValueError(
            _(
                "{parameter} must be from 1 to {high}; got {value}",
                parameter=parameter,
                high=MAX_FORMULA_LEVELS,
                value=repr(value),
            )
        )
    return int(value)


@dataclass(frozen=True)
class Reference:
    """One memory reference of a walk. Lesson 05.

    `table` is "native", "guest", "shadow" or "EPT"; `entry_address` is the entry's address in its
    table's own space (guest-physical for guest tables) and `host_address` the host-physical address
    actually read. An EPT reference serves `for_guest_level`: the guest table it is locating
    (n ... 1), or 0 for the final data page; other references have None.
    """

    step: int
    table: str
    level: int
    index: int
    entry_address: int
    host_address: int
    value: int
    for_guest_level: int | None = None

    @property
    def present(self) -> bool:
        """Whether the entry read was present."""
        return is_present(self.value, "ept" if self.table == "EPT" else "x86")

    @property
    def label(self) -> str:
        """Short words for the reference, in the course's language: "EPT L3 for guest L2 table",
        "guest L1"."""
        name = _(_LABELS[self.table], level=self.level)
        if self.for_guest_level is None:
            return name
        if self.for_guest_level:
            return _("{name} for guest L{level} table", name=name, level=self.for_guest_level)
        return _("{name} for data page", name=name)


_LABELS = {
    "native": N_("native L{level}"),
    "guest": N_("guest L{level}"),
    "shadow": N_("shadow L{level}"),
    "EPT": N_("EPT L{level}"),
}


class WalkFault(Exception):
    """A walk that stopped at a non-present entry, and where. Lesson 05."""

    def _key(self) -> tuple:
        return (type(self).__name__, *vars(self).values())

    def __eq__(self, other) -> bool:
        return isinstance(other, WalkFault) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class PageFault(WalkFault):
    """A non-present entry in the only tables of a native walk: a page fault. Lesson 05."""

    def __init__(self, level: int, virtual_address: int, message: str | None = None):
        self.level = level
        self.virtual_address = virtual_address
        super().__init__(
            message
            or _(
                "page fault at {address}: the level-{level} entry is not present; the processor "
                "delivers it to the kernel",
                address=f"{virtual_address:#x}",
                level=level,
            )
        )


class GuestPageFault(PageFault):
    """A non-present entry in the guest's own tables. Lesson 05.

    With EPT the processor delivers it straight to the guest kernel (`exits` False); under shadow
    paging the hypervisor intercepts page faults, so it costs a VM exit first (`exits` True).
    """

    def __init__(self, level: int, virtual_address: int, exits: bool):
        self.exits = exits
        route = (
            _("a VM exit: the hypervisor finds the guest's entry empty and reflects the fault")
            if exits
            else _("delivered to the guest kernel without a VM exit")
        )
        super().__init__(
            level,
            virtual_address,
            _(
                "guest page fault at {address}: the guest's level-{level} entry is not present; "
                "{route}",
                address=f"{virtual_address:#x}",
                level=level,
                route=route,
            ),
        )


class EptViolation(WalkFault):
    """A non-present EPT entry: a VM exit to the hypervisor. Lesson 05.

    `level` is the EPT level where the walk stopped, `guest_physical_address` what it was
    translating, `guest_level` which guest table it was locating (0: the final data page).
    """

    exits = True

    def __init__(self, level: int, guest_physical_address: int, guest_level: int, virtual_address):
        self.level = level
        self.guest_physical_address = guest_physical_address
        self.guest_level = guest_level
        self.virtual_address = virtual_address
        target = _("guest L{level} table", level=guest_level) if guest_level else _("data page")
        super().__init__(
            _(
                "EPT violation at guest-physical {address} (the {target} of {virtual}): the "
                "EPT's level-{level} entry is not present; a VM exit",
                address=f"{guest_physical_address:#x}",
                target=target,
                virtual=f"{virtual_address:#x}",
                level=level,
            )
        )


@dataclass(frozen=True)
class Walk:
    """A page walk: every reference in order, and the translation or the fault. Lesson 05.

    `physical_address` raises the fault when there is one. `guest_physical_address` is the
    guest-physical address a nested walk found (None when it faulted first, or in other modes).
    """

    mode: str
    virtual_address: int
    references: tuple[Reference, ...]
    fault: WalkFault | None
    guest_physical_address: int | None = None
    result: int | None = None

    @property
    def physical_address(self) -> int:
        """The (host-)physical address, or the fault raised."""
        if self.fault is not None:
            raise self.fault
        return self.result


def _reference(refs: list[Reference], table: str, step, for_guest_level=None, host=None):
    address = step.entry_address if host is None else host
    refs.append(
        Reference(
            len(refs) + 1,
            table,
            step.level,
            step.index,
            step.entry_address,
            address,
            step.value,
            for_guest_level,
        )
    )


def _single_walk(tables: PageTables, virtual_address: int, table: str):
    """Walk one set of tables in host memory: references and the result, or the faulting step."""
    refs: list[Reference] = []
    for step in tables.steps(virtual_address):
        _reference(refs, table, step)
    last = refs[-1]
    if last.level == 1 and last.present:
        return refs, (last.value & ADDRESS_MASK) | (virtual_address & (PAGE_SIZE - 1)), None
    return refs, None, last.level


def native_walk(tables: PageTables, virtual_address: int) -> Walk:
    """Walk tables that live in physical memory, as a processor without a VM does. Lesson 05."""
    refs, result, stopped = _single_walk(tables, virtual_address, "native")
    fault = None if stopped is None else PageFault(stopped, virtual_address)
    return Walk("native", virtual_address, tuple(refs), fault, result=result)


def _check_map(parameter: str, mapping: Mapping[int, int], levels: int) -> None:
    if not isinstance(mapping, Mapping):
        raise ValueError(
            _(
                "{parameter} must be a dict {{page: frame}}; got {mapping}",
                parameter=parameter,
                mapping=repr(mapping),
            )
        )
    for page, frame in mapping.items():
        check_address(f"{parameter} page", page, address_bits(levels), aligned=True)
        check_address(f"{parameter} frame", frame, PHYSICAL_BITS, aligned=True)


def native_tables(mappings: Mapping[int, int], *, levels: int = 4, table_base=GUEST_TABLE_BASE):
    """Page tables in a fresh physical memory, mapping {virtual page: physical frame}. Lesson 05.

    Tables take frames upwards from `table_base`, skipping the mapped frames.
    """
    _check_map("mappings", mappings, levels)
    memory = Memory("physical", table_base, reserved=mappings.values())
    tables = PageTables("native", memory, "x86", levels)
    for page, frame in sorted(mappings.items()):
        tables.map(page, frame)
    return tables


@dataclass
class GuestMemory:
    """A guest's memory: host-physical memory, the EPT, and the guest's own tables. Lesson 05.

    `guest` maps guest-virtual to guest-physical pages; its tables live in guest-physical memory
    (backed by host frames). `ept` maps guest-physical to host-physical pages; its tables live in
    host memory. Build one with `guest_memory`.
    """

    host: Memory
    ept: PageTables
    guest: PageTables


def guest_memory(
    guest_map: Mapping[int, int],
    host_map: Mapping[int, int],
    *,
    guest_levels: int = 4,
    ept_levels: int = 4,
    guest_table_base: int = GUEST_TABLE_BASE,
    host_table_base: int = HOST_TABLE_BASE,
) -> GuestMemory:
    """Build a guest from {guest page: guest frame} and {guest frame: host frame}. Lesson 05.

    The EPT is written first, from `host_map` in address order (its tables take host frames from
    `host_table_base` up); then the guest's tables, from `guest_map` (their guest frames from
    `guest_table_base` up). A guest table frame missing from `host_map` gets the next host frame.
    A guest frame missing from `host_map` stays unmapped: touching it is an EPT violation.
    """
    _check_map("guest_map", guest_map, guest_levels)
    _check_map("host_map", host_map, ept_levels)
    host = Memory("host-physical", host_table_base, reserved=host_map.values())
    ept = PageTables("EPT", host, "ept", ept_levels)
    for frame, host_frame in sorted(host_map.items()):
        ept.map(frame, host_frame)
    memory = GuestPhysicalMemory(host, ept, guest_table_base, reserved=guest_map.values())
    guest = PageTables("guest", memory, "x86", guest_levels)
    for page, frame in sorted(guest_map.items()):
        guest.map(page, frame)
    return GuestMemory(host, ept, guest)


def nested_walk(memory: GuestMemory, virtual_address: int) -> Walk:
    """The processor's two-dimensional walk under EPT / NPT. Lesson 05.

    For each guest level, top first: an EPT walk for the guest-physical address of the guest's
    table, then one reference to the guest entry at the host address found; last, an EPT walk
    for the guest-physical address of the data.
    """
    refs: list[Reference] = []

    def ept_walk(address: int, for_guest_level: int) -> int | EptViolation:
        for step in memory.ept.steps(address):
            _reference(refs, "EPT", step, for_guest_level)
        last = refs[-1]
        if last.level == 1 and last.present:
            return (last.value & ADDRESS_MASK) | (address & (PAGE_SIZE - 1))
        return EptViolation(last.level, address, for_guest_level, virtual_address)

    indices, offset = split(virtual_address, memory.guest.levels)
    table = memory.guest.root
    for level, index in zip(range(memory.guest.levels, 0, -1), indices, strict=True):
        host_table = ept_walk(table, level)
        if isinstance(host_table, EptViolation):
            return Walk("nested", virtual_address, tuple(refs), host_table)
        entry = table + index * ENTRY_BYTES
        read = host_table + index * ENTRY_BYTES
        value = memory.host.read(read)
        refs.append(Reference(len(refs) + 1, "guest", level, index, entry, read, value))
        if not is_present(value, "x86"):
            fault = GuestPageFault(level, virtual_address, exits=False)
            return Walk("nested", virtual_address, tuple(refs), fault)
        table = value & ADDRESS_MASK
    guest_physical = table | offset
    result = ept_walk(guest_physical, 0)
    if isinstance(result, EptViolation):
        return Walk("nested", virtual_address, tuple(refs), result, guest_physical)
    return Walk("nested", virtual_address, tuple(refs), None, guest_physical, result)


@dataclass(frozen=True)
class PteWrite:
    """A guest kernel's page-table update under shadow paging, and the traps it cost. Lesson 05.

    `host_frame` is the shadow entry written, None when the guest unmapped the page or the host
    has not backed `guest_frame` yet (the shadow entry then waits for a hidden page fault).
    """

    page: int
    guest_frame: int | None
    host_frame: int | None
    traps: int


class ShadowPaging:
    """The hypervisor's shadow tables for a guest: guest-virtual to host-physical. Lesson 05.

    Built by composing the guest's tables with the hypervisor's record of where each guest frame
    lives (here `memory.ept`, read in software: with shadow paging the processor never walks
    it). The shadow tables live in host memory and have the guest's number of levels. A guest
    frame the host has not backed gets no shadow entry.
    """

    def __init__(self, memory: GuestMemory):
        self.memory = memory
        self.tables = PageTables("shadow", memory.host, "x86", memory.guest.levels)
        self.traps = 0
        for page, frame in memory.guest.mappings().items():
            host_frame = memory.ept.translate(frame)
            if host_frame is not None:
                self.tables.map(page, host_frame)

    def guest_write(self, page: int, guest_frame: int | None) -> PteWrite:
        """The guest maps `page` to `guest_frame` (None: unmaps it); the hypervisor keeps up.

        The guest's tables are write-protected, so every entry the guest writes traps to the
        hypervisor, which makes the write for it and updates the shadow entry.
        """
        host_frame = None
        if guest_frame is None:
            traps = self.memory.guest.unmap(page)
            self.tables.unmap(page)
        else:
            check_address("guest_frame", guest_frame, PHYSICAL_BITS, aligned=True)
            traps = self.memory.guest.map(page, guest_frame)
            host_frame = self.memory.ept.translate(guest_frame)
            if host_frame is None:
                self.tables.unmap(page)
            else:
                self.tables.map(page, host_frame)
        self.traps += traps
        return PteWrite(page, guest_frame, host_frame, traps)


class HiddenPageFault(WalkFault):
    """A shadow-table miss where the guest's own table maps the page. Lesson 05.

    The guest never sees it: the hypervisor takes the page fault (a VM exit), backs the guest
    frame if needed, fills in the shadow entry and resumes the guest.
    """

    exits = True

    def __init__(self, level: int, virtual_address: int):
        self.level = level
        self.virtual_address = virtual_address
        super().__init__(
            _(
                "hidden page fault at {address}: the shadow table's level-{level} entry is not "
                "present but the guest's tables map the page; a VM exit the guest never sees",
                address=f"{virtual_address:#x}",
                level=level,
            )
        )


def shadow_walk(shadow: ShadowPaging, virtual_address: int) -> Walk:
    """The processor's walk of the shadow tables: n references, like a native walk. Lesson 05.

    A miss in the shadow table is a page fault the hypervisor intercepts (a VM exit). It walks the
    guest's own tables in software: if they do not map the page either, it reflects a guest page
    fault (at the guest's level where they stop); if they do, the fault was hidden.
    """
    refs, result, stopped = _single_walk(shadow.tables, virtual_address, "shadow")
    fault = None
    if stopped is not None:
        guest_last = list(shadow.memory.guest.steps(virtual_address))[-1]
        if guest_last.level == 1 and is_present(guest_last.value, "x86"):
            fault = HiddenPageFault(stopped, virtual_address)
        else:
            fault = GuestPageFault(guest_last.level, virtual_address, exits=True)
    return Walk("shadow", virtual_address, tuple(refs), fault, result=result)


# The lesson's example guest (illustrative addresses): one virtual page mapped and backed, one
# mapped by the guest but not backed by the host, one the guest has not mapped. All three share
# the guest's tables down to level 1 (indices 1, 2, 3 at levels 4, 3, 2).
EXAMPLE_ADDRESSES = {
    N_("mapped"): 0x80_8060_4567,
    N_("not backed by the host"): 0x80_8060_5567,
    N_("not mapped by the guest"): 0x80_8060_6567,
}
_EXAMPLE_GUEST = {0x80_8060_4000: 0x5000, 0x80_8060_5000: 0x6000}
_EXAMPLE_HOST = {0x5000: 0x20_5000}  # guest frame 0x6000 is not backed


@dataclass
class Example:
    """The lesson's example guest in every mode: native tables, VM, shadow tables. Lesson 05."""

    native: PageTables
    memory: GuestMemory
    shadow: ShadowPaging

    def walk(self, mode: str, virtual_address: int) -> Walk:
        """Walk `virtual_address` in `mode` (one of MODES)."""
        if mode not in MODES:
            raise not_one_of("mode", mode, MODES)
        if mode == "native":
            return native_walk(self.native, virtual_address)
        if mode == "shadow":
            return shadow_walk(self.shadow, virtual_address)
        return nested_walk(self.memory, virtual_address)

    def outcomes(self, mode: str) -> dict[str, str]:
        """How the walk of each of EXAMPLE_ADDRESSES ends in `mode`: the physical address, or the
        fault, keyed by the case, all in the course's language."""
        outcomes = {}
        for case, virtual_address in EXAMPLE_ADDRESSES.items():
            walk = self.walk(mode, virtual_address)
            outcomes[_(case)] = walk.fault or hex(walk.physical_address)
        return outcomes


def example(levels: int = 4) -> Example:
    """The lesson's example with `levels`-level guest tables and EPT (4 or 5). Lesson 05.

    Natively the same program maps its pages straight to the guest's frames: no host layer.
    """
    native = native_tables(_EXAMPLE_GUEST, levels=levels)
    memory = guest_memory(_EXAMPLE_GUEST, _EXAMPLE_HOST, guest_levels=levels, ept_levels=levels)
    return Example(native, memory, ShadowPaging(memory))
