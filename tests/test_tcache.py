"""Lesson 06's translation cache model, pinned against hand-worked replays."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from vizlib.sim import tcache
from vizlib.sim.tcache import Block, Program

A, B, C = Block(0x10, 3), Block(0x20, 2), Block(0x30, 4, indirect=True)
HAND = Program(
    (A, B, C), (A.pc, B.pc, A.pc, B.pc, C.pc, A.pc), loops=1, passes=1, seed=0, largest_loop=3
)


def counts(run: tcache.CacheRun) -> tuple[int, ...]:
    return (run.entries, run.instructions, run.misses, run.flushes, run.translated, run.chained)


def test_the_costs_cite_their_published_sources():
    assert tcache.TRANSLATE == 2300  # Adams & Agesen 2006
    assert tcache.LOOKUP == 40  # derived: 51 - 11 cycles (Adams & Agesen)
    assert tcache.EXECUTE == 10  # derived: 4 x 2.5 cycles (Bellard 2005; the P4 CPI assumption)


def test_a_cache_with_room_for_everything_translates_each_block_once_and_chains():
    # A miss; B miss, chain A->B; A hit, chain B->A; B chained; C miss, chain B->C;
    # A hit, no chain: C ends with an indirect jump.
    run = tcache.simulate(HAND, 3)
    assert counts(run) == (6, 17, 3, 0, 9, 1)
    assert (run.hits, run.lookups(True), run.lookups(False)) == (3, 5, 6)
    assert run.cycles(True) == 9 * 2300 + 17 * 10 + 5 * 40 == 21070
    assert run.cycles(False) == 21110
    assert tcache.chaining_speedup(HAND, 3) == pytest.approx(21110 / 21070)
    assert run.hit_rate == pytest.approx(0.5)


def test_a_full_cache_is_flushed_whole_and_its_chains_with_it():
    # As above until C misses with A and B cached: flush, C alone; then A misses again and cannot
    # be chained from C (indirect), and nothing is chained from the flushed B.
    run = tcache.simulate(HAND, 2)
    assert counts(run) == (6, 17, 4, 1, 12, 1)
    assert run.cycles(True) == 12 * 2300 + 17 * 10 + 5 * 40


def test_a_one_block_cache_thrashes():
    run = tcache.simulate(HAND, 1)
    assert counts(run) == (6, 17, 6, 5, 17, 0)
    assert run.hit_rate == 0 and run.cycles(True) == run.cycles(False)


def test_a_block_that_jumps_to_itself_is_chained_to_itself():
    loop = Program((A,), (A.pc,) * 4, loops=1, passes=1, seed=0, largest_loop=1)
    run = tcache.simulate(loop, 1)
    assert (run.misses, run.chained, run.lookups(True)) == (1, 2, 2)


@pytest.mark.parametrize("seed", range(5))
def test_synthetic_programs_thrash_below_their_largest_loop(seed):
    program = tcache.synthetic_program(seed=seed)
    everything = tcache.simulate(program, len(program.blocks))
    assert everything.flushes == 0 and everything.misses == len(program.blocks)
    fits = tcache.simulate(program, program.largest_loop)
    too_small = tcache.simulate(program, program.largest_loop - 1)
    assert too_small.flushes > 10 * max(fits.flushes, 1)
    assert too_small.hit_rate < fits.hit_rate < everything.hit_rate
    assert tcache.chaining_speedup(program, len(program.blocks)) > 1


def test_synthetic_programs_are_seeded_and_sized_by_their_parameters():
    assert tcache.synthetic_program(seed=3) == tcache.synthetic_program(seed=3)
    assert tcache.synthetic_program(seed=3) != tcache.synthetic_program(seed=4)
    short, long = tcache.synthetic_program(passes=1), tcache.synthetic_program(passes=4)
    assert len(long.trace) == 4 * len(short.trace) and long.blocks == short.blocks
    assert len(tcache.synthetic_program(loops=12).blocks) > len(tcache.synthetic_program(1).blocks)
    program = tcache.synthetic_program()
    assert {pc for pc in program.trace} == {b.pc for b in program.blocks}
    assert sum(b.indirect for b in program.blocks) == 1  # the helper's return


def test_chaining_pays_more_the_longer_a_program_runs():
    speedups = [tcache.chaining_speedup(tcache.synthetic_program(passes=p), 64) for p in (1, 5, 10)]
    assert speedups == sorted(speedups) and speedups[0] < speedups[-1]


def test_the_numbers_of_exercise_06():
    program = tcache.synthetic_program(loops=4, passes=8, seed=1)
    assert len(program.blocks) == 15
    assert tcache.simulate(program, 15).flushes == 0 < tcache.simulate(program, 14).flushes
    assert tcache.chaining_speedup(program, 15) == pytest.approx(1.2554, rel=1e-3)


def test_sweep_is_simulate_at_each_capacity():
    program = tcache.synthetic_program(loops=2, passes=1)
    beyond = len(program.blocks) + 3  # replayed at the program's size, then relabelled
    assert tcache.sweep(program, (1, 5, beyond)) == (
        tcache.simulate(program, 1),
        tcache.simulate(program, 5),
        tcache.simulate(program, beyond),
    )


@pytest.mark.parametrize(("loops", "passes", "seed"), [(1, 1, 0), (4, 8, 1), (12, 10, 0)])
def test_skipping_repeats_gives_what_a_replay_of_the_whole_trace_gives(loops, passes, seed):
    program = tcache.synthetic_program(loops, passes, seed)
    flat = dataclasses.replace(program, runs=())  # only the trace: replayed block by block
    assert program.trace == tuple(
        pc for _ in range(passes) for pcs, times in program.runs for pc in pcs * times
    )
    for capacity in range(1, len(program.blocks) + 2):
        assert tcache.simulate(program, capacity) == tcache.simulate(flat, capacity)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tcache.synthetic_program(loops=0), "loops must be an integer from 1 to 12"),
        (lambda: tcache.synthetic_program(loops=13), "loops must be an integer from 1 to 12"),
        (lambda: tcache.synthetic_program(passes=0), "passes must be an integer from 1 to 10"),
        (lambda: tcache.synthetic_program(passes=True), "passes must be an integer"),
        (lambda: tcache.simulate(HAND, 0), "capacity must be an integer from 1 to 128"),
        (lambda: tcache.simulate(HAND, 129), "capacity must be an integer from 1 to 128"),
        (lambda: tcache.simulate(HAND, 2.5), "capacity must be an integer"),
    ],
)
def test_bad_parameters_are_refused_with_their_allowed_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_model_is_pure():
    tree = ast.parse(inspect.getsource(tcache))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"ipywidgets", "matplotlib", "matplotlib.pyplot", "IPython"}
