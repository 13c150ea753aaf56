"""QEMU's translation cache as a model: find blocks by PC, chain them, flush when full. Lesson 06.

Bellard (USENIX 2005 FREENIX) describes it: QEMU translates guest code one translated block (TB)
at a time into a cache of fixed size (16 MB then); before running the block that starts at a
guest PC it looks it up in a hash table keyed by the PC (and CPU state); once a block has run, its
direct jump to the next block is patched to go there straight, without a lookup (block
chaining); and when the cache is full, all of it is flushed at once. `simulate` replays the
block trace of a program through such a cache and counts hits, misses, chained jumps and
flushes; `synthetic_program` makes a seeded program of loops to replay. The model counts blocks,
not bytes: its caches are a few dozen blocks, real ones millions of bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from vizlib.sim.errors import not_an_integer
from vizlib.sim.published import value

# Cycles. A guest instruction translated: Adams & Agesen (ASPLOS 2006) measured ~2300 cycles per
# x86 instruction for VMware's binary translator. assumption: QEMU's costs the same order.
TRANSLATE = value("bt.translate")
# A guest instruction run from the cache. derived: Bellard (2005) found user-mode QEMU ~4x slower
# than native on integer code; 4 x 2.5 cycles per native instruction (the cost model's P4 CPI,
# an assumption) = 10.
EXECUTE = value("qemu.user-slowdown") * value("p4.cpi")
# A lookup by PC. derived: Adams & Agesen's call/ret pair costs 51 cycles translated and 11
# natively; the 40 between is the return's lookup in the translation cache. assumption: a QEMU
# block lookup (back to the main loop, hash the PC, find the block) costs the same.
LOOKUP = value("p4.call-ret.software") - value("p4.call-ret.native")
# A chained exit costs nothing extra (derived): it is a direct jump, one of the block's own
# instructions, already counted in EXECUTE.

BASE_PC = 0x1_0000  # where the synthetic program's code starts (any address does)
INSTRUCTION_BYTES = 4  # a fixed-length guest ISA, like PowerPC or ARM
MAX_LOOPS = 12
MAX_PASSES = 10  # times the synthetic program may run all its loops
MAX_CAPACITY = 128  # blocks; more than any synthetic program has


@dataclass(frozen=True)
class Block:
    """One translation block of the synthetic program. Lesson 06.

    `indirect` blocks end with an indirect jump (a return), whose target is only known at run
    time: QEMU cannot chain them, so leaving one always costs a lookup.
    """

    pc: int
    instructions: int
    indirect: bool = False


@dataclass(frozen=True)
class Program:
    """A synthetic program: its blocks and the order it runs them in (by PC). Lesson 06.

    `runs` is the same order folded: one pass as (PCs, times) pairs, each PC sequence run that
    many times in a row; `trace` is that pass `passes` times over. Empty when only `trace` is
    known. `simulate` uses it to skip repeats that leave the cache as they found it.
    """

    blocks: tuple[Block, ...]
    trace: tuple[int, ...]
    loops: int
    passes: int
    seed: int
    largest_loop: int  # blocks one loop runs, the helper's included: the cache must hold them
    runs: tuple[tuple[tuple[int, ...], int], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class CacheRun:
    """What one replay of a program through a translation cache did. Lesson 06.

    One replay answers for both settings of block chaining: chaining changes how many block
    entries need a lookup, not what the cache holds. `chained` counts the entries that follow a
    chained jump when chaining is on.
    """

    capacity: int
    entries: int  # block executions
    instructions: int  # guest instructions executed
    misses: int  # entries whose block had to be translated first
    flushes: int
    translated: int  # guest instructions translated (again after each flush)
    chained: int  # entries through a patched direct jump: no lookup at all

    @property
    def hits(self) -> int:
        """Entries whose block was translated already."""
        return self.entries - self.misses

    @property
    def hit_rate(self) -> float:
        """Share of block executions that found their block translated already."""
        return self.hits / self.entries

    def lookups(self, chaining: bool = True) -> int:
        """Entries that look their block up by PC: all of them without chaining."""
        return self.entries - self.chained if chaining else self.entries

    def cycles(self, chaining: bool = True) -> float:
        """Cycles of the whole run: translation, execution and lookups (model)."""
        return float(
            self.translated * TRANSLATE
            + self.instructions * EXECUTE
            + self.lookups(chaining) * LOOKUP
        )

    def cycles_per_instruction(self, chaining: bool = True) -> float:
        """Cycles per guest instruction executed, translation and lookups included."""
        return self.cycles(chaining) / self.instructions


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise not_an_integer(name, value, low, high)
    return value


def synthetic_program(loops: int = 6, passes: int = 5, seed: int = 0) -> Program:
    """A seeded program of `loops` loops run one after the other, `passes` times. Lesson 06.

    Each loop has 2-6 blocks of 2-12 instructions and runs 10-100 times; a block may call a shared
    two-block helper function, whose return is an indirect jump.
    """
    _check_int("loops", loops, 1, MAX_LOOPS)
    _check_int("passes", passes, 1, MAX_PASSES)
    rng = random.Random(seed)
    pc = BASE_PC
    blocks: list[Block] = []

    def new_block(indirect: bool = False) -> Block:
        nonlocal pc
        block = Block(pc, rng.randint(2, 12), indirect)
        blocks.append(block)
        pc += block.instructions * INSTRUCTION_BYTES
        return block

    helper = (new_block(), new_block(indirect=True))
    bodies = []
    for _ in range(loops):
        body = [(new_block(), rng.random() < 0.25) for _ in range(rng.randint(2, 6))]
        bodies.append((body, rng.randint(10, 100)))
    runs = []
    for body, iterations in bodies:
        pcs = []
        for block, calls_helper in body:
            pcs.append(block.pc)
            if calls_helper:
                pcs.extend(h.pc for h in helper)
        runs.append((tuple(pcs), iterations))
    one_pass = [pc for pcs, iterations in runs for pc in pcs * iterations]
    largest = max(len(body) + len(helper) * any(c for _, c in body) for body, _ in bodies)
    return Program(
        tuple(blocks), tuple(one_pass * passes), loops, passes, seed, largest, tuple(runs)
    )


class _Replay:
    """A translation cache of `capacity` blocks replaying a program's block executions."""

    def __init__(self, program: Program, capacity: int):
        self.by_pc = {block.pc: block for block in program.blocks}
        self.capacity = capacity
        self.cache: set[int] = set()  # the PCs of the translated blocks (the hash table)
        self.links: set[tuple[int, int]] = set()  # chained jumps (from PC, to PC)
        self.previous: Block | None = None
        # entries, instructions, misses, flushes, translated, chained
        self.counts = [0, 0, 0, 0, 0, 0]
        self.changes = 0  # how often the cache or its chains changed

    def run(self, pcs: tuple[int, ...]) -> None:
        """Execute the blocks at `pcs` in order (see `simulate` for the rules)."""
        by_pc, cache, links, capacity = self.by_pc, self.cache, self.links, self.capacity
        previous = self.previous
        instructions = misses = flushes = translated = chained = changes = 0
        for pc in pcs:
            block = by_pc[pc]
            instructions += block.instructions
            if previous is not None and (previous.pc, pc) in links:
                chained += 1
            else:
                if pc not in cache:
                    misses += 1
                    changes += 1
                    if len(cache) == capacity:
                        cache.clear()
                        links.clear()
                        flushes += 1
                    cache.add(pc)
                    translated += block.instructions
                if previous is not None and not previous.indirect and previous.pc in cache:
                    links.add((previous.pc, pc))
                    changes += 1
            previous = block
        self.previous = previous
        for i, n in enumerate((len(pcs), instructions, misses, flushes, translated, chained)):
            self.counts[i] += n
        self.changes += changes

    def _state(self) -> tuple:
        return frozenset(self.cache), frozenset(self.links), self.previous

    def repeat(self, step, times: int) -> None:
        """Call `step()` `times` times, counting repeats at once: once the cache, its chains and
        the last block are as they were some calls before, the calls since then repeat exactly
        until the end. A call that changed nothing repeats itself: no state to compare."""
        seen: dict[tuple, tuple[int, list[int]]] = {}
        done = 0
        while done < times:
            before, changes, previous = list(self.counts), self.changes, self.previous
            step()
            done += 1
            if self.changes == changes and self.previous is previous:
                period, then = 1, before
            else:
                state = self._state()
                if state not in seen:
                    seen[state] = (done, list(self.counts))
                    continue
                first, then = seen[state]
                period = done - first
            cycles = (times - done) // period
            self.counts = [n + (n - t) * cycles for n, t in zip(self.counts, then, strict=True)]
            for _ in range((times - done) % period):
                step()
            return


def simulate(program: Program, capacity: int) -> CacheRun:
    """Replay `program` through a translation cache of `capacity` blocks. Lesson 06.

    Each block execution either follows a chained jump from the previous block (no lookup), or
    looks its PC up: a hit runs the cached block, a miss translates it first, flushing the whole
    cache if it is full. After a lookup, the previous block's exit is chained to this block if
    that exit is a direct jump and the previous block survived (no flush in between).
    """
    _check_int("capacity", capacity, 1, MAX_CAPACITY)
    replay = _Replay(program, capacity)
    if program.runs:

        def one_pass() -> None:
            for pcs, times in program.runs:
                replay.repeat(lambda pcs=pcs: replay.run(pcs), times)

        replay.repeat(one_pass, program.passes)
    else:
        replay.run(program.trace)
    entries, instructions, misses, flushes, translated, chained = replay.counts
    return CacheRun(capacity, entries, instructions, misses, flushes, translated, chained)


def chaining_speedup(program: Program, capacity: int) -> float:
    """How many times faster the program runs with block chaining than without. Lesson 06."""
    run = simulate(program, capacity)
    return run.cycles(chaining=False) / run.cycles(chaining=True)


def sweep(program: Program, capacities: range | tuple[int, ...]) -> tuple[CacheRun, ...]:
    """`simulate` at each capacity. Lesson 06.

    A cache with room for every block never fills, so it never flushes: every larger one runs
    the same, and is replayed once, at the program's size.
    """
    fits = len(program.blocks)
    whole = simulate(program, fits) if max(capacities, default=0) > fits else None
    return tuple(
        simulate(program, c) if c <= fits else replace(whole, capacity=c) for c in capacities
    )
