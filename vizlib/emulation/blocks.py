"""Dynamic binary translation made visible: translation blocks, and what they save. Lesson 06.

`trace_blocks` runs a program with a hook on every translation block (unicorn's
UC_HOOK_BLOCK) and records each block as it runs: the first run of a block is when the translator
made it (each run starts on a fresh CPU, with an empty translation cache), every later run reuses
it. `amortization` times cold runs (translation included) against warm ones (blocks cached).
`speeds` times the same sum five ways: three on the guest CPU, two on the host.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy

from vizlib.emulation.cpus import MAX_ELEMENTS, Machine
from vizlib.emulation.optional import load
from vizlib.emulation.programs import PROGRAMS, SUMS, GuestProgram
from vizlib.i18n import N_, _

AMORTIZATION_COUNTS = (1, 10, 100, 1_000, 10_000, 100_000)  # loop counts timed cold and warm
REPEATS = 5  # timings are medians of this many runs
MAX_REPEATS = 100
SPEED_ELEMENTS = 100_000  # words summed by the fast ways in `speeds` (translated, numpy, Python)
HOOKED_ELEMENTS = 10_000  # fewer for the ways that call Python on each block or instruction

# The modes are keys, the same in every language; they, their notes and the words of the
# published rows (what, source) are shown through `_()`.
MODES = (
    N_("numpy"),
    N_("translated"),
    N_("block hook"),
    N_("CPython loop"),
    N_("instruction hook"),
)
MODE_NOTES = {
    "numpy": N_("the host's compiled code (numpy's sum), the native reference"),
    "translated": N_("guest code translated into blocks and cached, no hooks (QEMU's way)"),
    "block hook": N_("the same, calling a Python function at the start of every block"),
    "CPython loop": N_("the host's own interpreter, CPython, running the loop in Python"),
    "instruction hook": N_("a Python call before every guest instruction, as an interpreter steps"),
}
# Published ratios to native code: (what, times slower, source).
PUBLISHED = (
    (N_("QEMU user mode, integer"), 4.0, N_("Bellard, USENIX 2005 FREENIX (BYTEmark)")),
    (N_("QEMU user mode, floating point"), 10.0, N_("Bellard 2005")),
    (
        N_("QEMU full system (soft MMU)"),
        8.0,
        N_("derived: Bellard's ~4x, and ~2x more for the soft MMU"),
    ),
    (N_("PearPC's translator"), 15.0, N_("PearPC's README")),
    (
        N_("Bochs, interpreting"),
        240.0,
        N_("derived: full-system QEMU (8x) is ~30x faster (Bellard)"),
    ),
)


@dataclass(frozen=True)
class BlockRun:
    """One execution of a translation block. Lesson 06."""

    step: int
    address: int
    size: int  # bytes of guest code in the block
    new: bool  # True the first time: the translator made the block just before


@dataclass(frozen=True)
class BlockStats:
    """One translation block over a whole run. Lesson 06."""

    address: int
    size: int
    instructions: int
    runs: int


@dataclass(frozen=True)
class BlockTrace:
    """Every block execution of a run, and the blocks it formed. Lesson 06.

    `addresses` holds the address of each block execution, in order; `events` the same as
    BlockRun records.
    """

    program: GuestProgram
    n: int | None
    addresses: tuple[int, ...] = field(repr=False)
    blocks: tuple[BlockStats, ...]
    result: int

    @property
    def translated(self) -> int:
        """Blocks the translator made."""
        return len(self.blocks)

    @property
    def executed(self) -> int:
        """Block executions: how often UC_HOOK_BLOCK fired."""
        return len(self.addresses)

    @property
    def events(self) -> tuple[BlockRun, ...]:
        """Each block execution, with its size and whether the translator had just made it."""
        size = {block.address: block.size for block in self.blocks}
        seen: set[int] = set()
        runs = []
        for step, address in enumerate(self.addresses):
            runs.append(BlockRun(step, address, size[address], address not in seen))
            seen.add(address)
        return tuple(runs)


@dataclass(frozen=True)
class Amortization:
    """Seconds per run, cold (fresh CPU: translation included) and warm (blocks cached), for
    each loop count. Medians of REPEATS runs. Lesson 06."""

    program: GuestProgram
    counts: tuple[int, ...]
    cold: tuple[float, ...]
    warm: tuple[float, ...]


@dataclass(frozen=True)
class Speeds:
    """Seconds per array element summed, for each of MODES. Lesson 06."""

    program: GuestProgram
    elements: dict[str, int]
    seconds: dict[str, float]

    def ratio(self, mode: str) -> float:
        """How many times slower than numpy, the native reference."""
        return self.seconds[mode] / self.seconds["numpy"]


def trace_blocks(guest: GuestProgram | str, n: int | None = None) -> BlockTrace:
    """Run a program on a fresh CPU and record every translation block it runs. Lesson 06.

    The shipped array programs (SUMS), whose loops always end, run without the limits of
    `Machine.start`, which cost time of their own; any other program runs within them.
    """
    machine = Machine(guest, n)
    size_of = machine.cpu.instruction_size
    addresses: list[int] = []
    sizes: dict[int, int] = {}  # each block's size, in the order the translator made them
    record = addresses.append

    def on_block(_uc, address: int, size: int, _user_data) -> None:
        record(address)
        if address not in sizes:
            sizes[address] = size

    machine.uc.hook_add(load("unicorn").UC_HOOK_BLOCK, on_block)
    if _shipped_sum(machine.program):
        machine.start(max_instructions=None, timeout=None)
    else:
        machine.start()
    runs = Counter(addresses)
    blocks = tuple(
        BlockStats(address, size, size // size_of, runs[address]) for address, size in sizes.items()
    )
    result = machine.read((machine.program.result,))[machine.program.result]
    return BlockTrace(machine.program, machine.n, tuple(addresses), blocks, result)


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _repeat in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _check_count(name: str, value: int, high: int = MAX_ELEMENTS) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(
            _(
                "{name} must be an integer from 1 to {high}; got {value}",
                name=name,
                high=high,
                value=repr(value),
            )
        )


def _expected_sum(n: int) -> int:
    return n * (n + 1) // 2 & 0xFFFF_FFFF


def _shipped_sum(guest: GuestProgram) -> bool:
    """True for the shipped array programs (SUMS), whose loops end after n words."""
    return guest.name in SUMS and guest is PROGRAMS[guest.name]


def _timing_machine(guest: GuestProgram | str, n: int) -> Machine:
    """A CPU for timing runs: only the shipped array programs, whose loops end after n words."""
    name = guest if isinstance(guest, str) else guest.name
    if name not in SUMS or not (isinstance(guest, str) or _shipped_sum(guest)):
        raise ValueError(
            _(
                "guest must be one of {allowed}; got {name}",
                allowed=", ".join(SUMS),
                name=repr(name),
            )
        )
    return Machine(guest, n)


def _timed_start(machine: Machine) -> float:
    """Seconds for one run from the start registers, without limits (they cost time of their
    own; the loop of an array program always ends); checks the guest's answer."""
    machine.reset()
    start = time.perf_counter()
    machine.start(max_instructions=None, timeout=None)
    seconds = time.perf_counter() - start
    answer = machine.read((machine.program.result,))[machine.program.result] & 0xFFFF_FFFF
    if answer != _expected_sum(machine.n):
        raise RuntimeError(
            _(
                "{program} summed {answer}, not {expected}",
                program=machine.program.name,
                answer=answer,
                expected=_expected_sum(machine.n),
            )
        )
    return seconds


def amortization(
    guest: GuestProgram | str,
    counts: Iterable[int] = AMORTIZATION_COUNTS,
    repeats: int = REPEATS,
) -> Amortization:
    """Time an array program cold and warm at each loop count (array length). Lesson 06.

    Cold: the first run on a fresh CPU, which translates the blocks; warm: the next run of the
    same CPU, which finds them in its translation cache. Machine-dependent: shown, never tested.
    """
    _check_count("repeats", repeats, MAX_REPEATS)
    counts = tuple(counts)
    if not counts:
        raise ValueError(_("counts must hold at least one loop count"))
    for n in counts:
        _check_count("counts", n)
    cold, warm = [], []
    for n in counts:
        pairs = []
        for _repeat in range(repeats):
            machine = _timing_machine(guest, n)
            pairs.append((_timed_start(machine), _timed_start(machine)))
        cold.append(statistics.median(p[0] for p in pairs))
        warm.append(statistics.median(p[1] for p in pairs))
    return Amortization(machine.program, counts, tuple(cold), tuple(warm))


def speeds(
    guest: GuestProgram | str = "ppc-sum",
    elements: int = SPEED_ELEMENTS,
    hooked_elements: int = HOOKED_ELEMENTS,
    repeats: int = 3,
) -> Speeds:
    """Sum an array of words each of MODES' ways; seconds per element, medians. Lesson 06.

    The guest runs warm (blocks already translated), so the times are execution, not
    translation. Machine-dependent: shown, never tested for an order.
    """
    _check_count("repeats", repeats, MAX_REPEATS)
    _check_count("elements", elements)
    _check_count("hooked_elements", hooked_elements)
    unicorn = load("unicorn")
    sizes = {
        "numpy": elements,
        "translated": elements,
        "block hook": hooked_elements,
        "CPython loop": elements,
        "instruction hook": hooked_elements,
    }
    hooks = {"block hook": unicorn.UC_HOOK_BLOCK, "instruction hook": unicorn.UC_HOOK_CODE}
    seconds: dict[str, float] = {}
    words = numpy.arange(1, elements + 1, dtype=numpy.uint32)
    seconds["numpy"] = _median_seconds(lambda: words.sum(dtype=numpy.uint32), repeats)
    values = list(range(1, elements + 1))

    def python_loop() -> int:
        total = 0
        for value in values:
            total = (total + value) & 0xFFFF_FFFF
        return total

    seconds["CPython loop"] = _median_seconds(python_loop, repeats)
    for mode in ("translated", "block hook", "instruction hook"):
        machine = _timing_machine(guest, sizes[mode])
        if mode in hooks:
            machine.uc.hook_add(hooks[mode], lambda *_args: None)
        _timed_start(machine)  # translate once: what follows is execution
        seconds[mode] = statistics.median(_timed_start(machine) for _repeat in range(repeats))
    return Speeds(
        machine.program,
        {mode: sizes[mode] for mode in MODES},
        {mode: seconds[mode] / sizes[mode] for mode in MODES},
    )
