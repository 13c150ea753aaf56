"""Lesson 05's page-walk simulator, pinned against walks worked out by hand."""

import pytest

from vizlib.sim import paging, paging_costs, tlb
from vizlib.sim.paging import (
    EptViolation,
    GuestPageFault,
    HiddenPageFault,
    PageFault,
    ShadowPaging,
    guest_memory,
    native_tables,
    native_walk,
    nested_walk,
    reference_count,
    shadow_walk,
)
from vizlib.sim.paging_tables import Memory, PageTables, is_present, split

# The hand-worked guest: one page, virtual 0x80_8060_4000 (indices 1, 2, 3, 4), at guest frame
# 0x5000. Its four tables take guest frames 0x1000-0x4000 (L4 first); the host backs guest frame
# F at 0x200000 + F. The EPT's own four tables take host frames 0x100000-0x103000, because every
# guest frame here is below 2 MiB and so shares the EPT's L4, L3 and L2 entries at index 0.
VA = 0x80_8060_4567
GUEST_MAP = {0x80_8060_4000: 0x5000}
HOST_MAP = {frame: 0x20_0000 + frame for frame in (0x1000, 0x2000, 0x3000, 0x4000, 0x5000)}


def ept(level_1_index):
    """The EPT references for a guest frame below 2 MiB: L4, L3, L2 at index 0, then L1."""
    return [
        ("EPT", 4, 0x100000),
        ("EPT", 3, 0x101000),
        ("EPT", 2, 0x102000),
        ("EPT", 1, 0x103000 + 8 * level_1_index),
    ]


NESTED_24 = [
    *ept(1),  # where is the guest's L4 table (guest frame 0x1000)?
    ("guest", 4, 0x201000 + 8 * 1),
    *ept(2),
    ("guest", 3, 0x202000 + 8 * 2),
    *ept(3),
    ("guest", 2, 0x203000 + 8 * 3),
    *ept(4),
    ("guest", 1, 0x204000 + 8 * 4),
    *ept(5),  # and finally the data page, guest frame 0x5000
]


def shape(walk):
    return [(r.table, r.level, r.host_address) for r in walk.references]


@pytest.fixture
def vm():
    return guest_memory(GUEST_MAP, HOST_MAP)


def test_an_address_splits_into_nine_bit_indices_and_a_page_offset():
    assert split(VA) == ((1, 2, 3, 4), 0x567)
    assert split(0xFFFF_FFFF_FFFF) == ((511, 511, 511, 511), 0xFFF)
    assert split(1 << 48, 5) == ((1, 0, 0, 0, 0), 0)
    for bad in (1 << 48, -1, True, 1.5):
        with pytest.raises(ValueError, match="address must be an integer from 0 to 2\\*\\*48 - 1"):
            split(bad)


def test_ept_entries_are_present_with_any_permission_bit_x86_entries_only_with_bit_0():
    assert is_present(0x5004, "ept") and not is_present(0x5004, "x86")
    assert is_present(0x5001, "x86") and not is_present(0x5000, "ept")
    with pytest.raises(ValueError, match="kind must be one of x86, ept"):
        is_present(1, "npt")


def test_native_walk_reads_one_entry_per_level():
    tables = native_tables({0x80_8060_4000: 0x205000})
    walk = native_walk(tables, VA)
    assert shape(walk) == [
        ("native", 4, 0x1008),
        ("native", 3, 0x2010),
        ("native", 2, 0x3018),
        ("native", 1, 0x4020),
    ]
    assert walk.physical_address == 0x205567 and walk.fault is None


def test_nested_walk_makes_the_24_references_in_bhargavas_order(vm):
    walk = nested_walk(vm, VA)
    assert shape(walk) == NESTED_24
    assert [r.step for r in walk.references] == list(range(1, 25))
    assert walk.guest_physical_address == 0x5567
    assert walk.physical_address == 0x205567
    guest = [r for r in walk.references if r.table == "guest"]
    assert [r.entry_address for r in guest] == [0x1008, 0x2010, 0x3018, 0x4020]  # guest-physical
    assert [r.value & ~0xFFF for r in guest] == [0x2000, 0x3000, 0x4000, 0x5000]
    fifth = walk.references[4:10]
    assert [r.label for r in fifth] == [
        "guest L4",
        "EPT L4 for guest L3 table",
        "EPT L3 for guest L3 table",
        "EPT L2 for guest L3 table",
        "EPT L1 for guest L3 table",
        "guest L3",
    ]
    assert walk.references[-1].label == "EPT L1 for data page"


def test_shadow_walk_makes_four_references_to_tables_composed_in_host_memory(vm):
    shadow = ShadowPaging(vm)
    walk = shadow_walk(shadow, VA)
    # The shadow's tables come after the EPT's in host memory: 0x104000 up.
    assert shape(walk) == [
        ("shadow", 4, 0x104008),
        ("shadow", 3, 0x105010),
        ("shadow", 2, 0x106018),
        ("shadow", 1, 0x107020),
    ]
    assert walk.physical_address == nested_walk(vm, VA).physical_address == 0x205567


def test_a_missing_guest_entry_is_a_guest_page_fault_without_exit_under_ept(vm):
    walk = nested_walk(vm, VA + 0x1000)  # L1 index 5: never mapped
    assert walk.fault == GuestPageFault(1, VA + 0x1000, exits=False)
    assert len(walk.references) == 20 and walk.references[-1].host_address == 0x204028
    assert not walk.references[-1].present
    with pytest.raises(GuestPageFault, match="without a VM exit"):
        _ = walk.physical_address
    top = nested_walk(vm, 0x1000)  # L4 index 0: stops at the guest's first table
    assert top.fault.level == 4 and len(top.references) == 5


def test_a_missing_ept_entry_for_the_data_page_is_an_ept_violation_exit():
    vm = guest_memory({**GUEST_MAP, 0x80_8060_6000: 0x6000}, HOST_MAP)  # 0x6000 not backed
    walk = nested_walk(vm, 0x80_8060_6010)
    assert walk.fault == EptViolation(1, 0x6010, 0, 0x80_8060_6010)
    assert walk.fault.exits and walk.guest_physical_address == 0x6010
    assert shape(walk) == [*NESTED_24[:19], ("guest", 1, 0x204000 + 8 * 6), *ept(6)]
    with pytest.raises(EptViolation, match="a VM exit"):
        _ = walk.physical_address


def test_an_ept_violation_while_locating_a_guest_table_stops_the_walk_there(vm):
    assert vm.ept.unmap(0x3000) == 1  # the guest's L2 table loses its host frame
    walk = nested_walk(vm, VA)
    assert walk.fault == EptViolation(1, 0x3000, 2, VA)
    assert shape(walk) == NESTED_24[:14]


def test_an_ept_violation_reports_the_ept_level_where_the_walk_stopped():
    far = 0x80_0000_0000  # EPT L4 index 1: no EPT L3 table there
    vm = guest_memory({0x80_8060_4000: far}, HOST_MAP)
    walk = nested_walk(vm, VA)
    assert walk.fault.level == 4 and walk.fault.guest_level == 0
    assert len(walk.references) == 21


def test_shadow_paging_faults_exit_to_the_hypervisor():
    vm = guest_memory({**GUEST_MAP, 0x80_8060_6000: 0x6000}, HOST_MAP)
    shadow = ShadowPaging(vm)
    unmapped = shadow_walk(shadow, VA + 0x1000)
    assert unmapped.fault == GuestPageFault(1, VA + 0x1000, exits=True)
    hidden = shadow_walk(shadow, 0x80_8060_6000)  # the guest maps it, the host has not backed it
    assert hidden.fault == HiddenPageFault(1, 0x80_8060_6000) and hidden.fault.exits
    assert len(unmapped.references) == len(hidden.references) == 4


def test_native_page_faults_name_their_level():
    walk = native_walk(native_tables(GUEST_MAP), VA + 0x1000)
    assert walk.fault == PageFault(1, VA + 0x1000) and not isinstance(walk.fault, GuestPageFault)


def test_every_guest_page_table_write_traps_under_shadow_paging_and_none_under_ept(vm):
    shadow = ShadowPaging(vm)
    near = shadow.guest_write(0x80_8060_5000, 0x5000)  # one more entry in the existing L1 table
    assert near.traps == 1 and near.host_frame == 0x205000
    far = shadow.guest_write(0x7F00_0000_0000, 0x5000)  # new L3, L2 and L1 tables, then the leaf
    assert far.traps == 4 and shadow.traps == 5
    assert shadow_walk(shadow, 0x7F00_0000_0123).physical_address == 0x205123
    assert nested_walk(vm, 0x7F00_0000_0123).physical_address == 0x205123  # guest tables changed
    gone = shadow.guest_write(0x80_8060_5000, None)
    assert gone.traps == 1 and isinstance(shadow_walk(shadow, 0x80_8060_5000).fault, PageFault)
    assert vm.guest.map(0x80_8060_7000, 0x5000) == 1  # with EPT: a plain store, nothing traps


@pytest.mark.parametrize(("n", "m", "count"), [(4, 4, 24), (5, 5, 35), (4, 5, 29), (2, 2, 8)])
def test_the_nested_formula_gives_n_m_plus_n_plus_m(n, m, count):
    assert reference_count("nested", n, m) == count
    assert reference_count("native", n, m) == reference_count("shadow", n, m) == n


@pytest.mark.parametrize(("n", "m"), [(4, 4), (5, 5), (4, 5), (5, 4)])
def test_walks_make_as_many_references_as_the_formula_says(n, m):
    vm = guest_memory(GUEST_MAP, {0x5000: 0x205000}, guest_levels=n, ept_levels=m)
    walk = nested_walk(vm, VA)
    assert len(walk.references) == reference_count("nested", n, m)
    assert walk.physical_address == 0x205567
    assert len(shadow_walk(ShadowPaging(vm), VA).references) == n


def test_the_lesson_example_shows_every_outcome_in_every_mode():
    example = paging.example()
    outcomes = {
        (mode, case): type(example.walk(mode, address).fault).__name__
        for mode in paging.MODES
        for case, address in paging.EXAMPLE_ADDRESSES.items()
    }
    assert outcomes == {
        ("native", "mapped"): "NoneType",
        ("native", "not backed by the host"): "NoneType",
        ("native", "not mapped by the guest"): "PageFault",
        ("shadow", "mapped"): "NoneType",
        ("shadow", "not backed by the host"): "HiddenPageFault",
        ("shadow", "not mapped by the guest"): "GuestPageFault",
        ("nested", "mapped"): "NoneType",
        ("nested", "not backed by the host"): "EptViolation",
        ("nested", "not mapped by the guest"): "GuestPageFault",
    }
    assert (
        len(paging.example(5).walk("nested", paging.EXAMPLE_ADDRESSES["mapped"]).references) == 35
    )


def test_page_tables_list_what_they_map_and_unmap_one_entry():
    memory = Memory("physical")
    tables = PageTables("native", memory)
    assert tables.map(0x7000, 0x9000) == 4 and tables.map(0x8000, 0xA000) == 1
    assert tables.mappings() == {0x7000: 0x9000, 0x8000: 0xA000}
    assert tables.unmap(0x7000) == 1 and tables.unmap(0x7000) == 0
    assert tables.unmap(0x40_0000_0000) == 0  # no tables there at all
    assert tables.translate(0x8ABC) == 0xAABC and tables.translate(0x7ABC) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reference_count("ept"), "mode must be one of native, shadow, nested"),
        (lambda: reference_count("nested", 6), "guest_levels must be from 1 to 5"),
        (lambda: reference_count("nested", 4, 0), "host_levels must be from 1 to 5"),
        (lambda: guest_memory({}, {}, guest_levels=3), "levels must be one of 4, 5"),
        (lambda: native_tables({0x1234: 0x5000}), "mappings page must be a multiple of 0x1000"),
        (lambda: native_tables({0x1000: 1 << 52}), "mappings frame must be an integer from 0"),
        (lambda: paging.example().walk("2d", 0), "mode must be one of native"),
        (lambda: guest_memory({}, {0x1000: 0x10}), "host_map frame must be a multiple of"),
        (lambda: guest_memory({1 << 48: 0}, {}), "guest_map page must be an integer from 0"),
    ],
)
def test_bad_input_names_the_parameter_and_the_allowed_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_tlb_evicts_the_least_recently_used_page():
    stats = tlb.run_tlb([1, 2, 3, 1, 4, 2], entries=3)  # 4 evicts 2; 2 then misses
    assert (stats.hits, stats.misses) == (1, 5)
    assert tlb.run_tlb([1, 2, 3, 1, 4, 1], entries=3).hits == 2  # 1 was used again: kept
    assert stats.references_per_access(24) == 5 * 24 / 6


def test_flushing_the_tlb_at_each_exit_costs_hits():
    assert tlb.run_tlb([1, 1, 1, 1], entries=4).hits == 3
    assert tlb.run_tlb([1, 1, 1, 1], entries=4, flush_every=2).hits == 2


def test_access_streams_are_seeded_and_a_bigger_tlb_never_misses_more():
    stream = tlb.access_stream(3000, 1000, seed=7)
    assert stream == tlb.access_stream(3000, 1000, seed=7) != tlb.access_stream(3000, 1000, seed=8)
    assert all(0 <= page < 1000 for page in stream)
    misses = [tlb.run_tlb(stream, size).misses for size in (8, 32, 128, 512)]
    assert misses == sorted(misses, reverse=True) and misses[0] > misses[-1]
    skewed = tlb.run_tlb(tlb.access_stream(3000, 1000, skew=2, seed=7), 32).hit_rate
    uniform = tlb.run_tlb(tlb.access_stream(3000, 1000, skew=0, seed=7), 32).hit_rate
    assert skewed > 0.9 > 0.1 > uniform


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tlb.run_tlb([1], 0), "entries must be an integer from 1 to 4096"),
        (lambda: tlb.run_tlb([1], 4, flush_every=0), "flush_every must be an integer from 1"),
        (lambda: tlb.access_stream(10, 0), "pages must be an integer from 1"),
        (lambda: tlb.access_stream(10, 5, skew=-1), "skew must be a number from 0 to 4"),
    ],
)
def test_tlb_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_shadow_paging_wins_below_the_break_even_update_rate_and_ept_above():
    even = paging_costs.break_even_updates(1000)
    # derived from the cost model's modern CPU: a 2D walk adds 130 cycles per TLB miss, a trapped
    # page-table write 6275 cycles per update: 1000 * 130 / 6275.
    assert even == pytest.approx(1000 * 130 / 6275, rel=1e-3)
    assert paging_costs.compare(1000, even * 0.9).winner == "shadow paging"
    assert paging_costs.compare(1000, even * 1.1).winner == "EPT"
    assert paging_costs.compare(1000, even).winner == "tie"
    assert paging_costs.compare(0, 0).ratio == 1


def test_fork_heavy_work_favours_ept_and_tlb_heavy_work_favours_shadow_paging():
    rows = {r.name: r for r in paging_costs.workload_rates()}
    assert rows["fork-heavy"].winner == "EPT"
    assert rows["tlb-heavy"].winner == "shadow paging"
    assert rows["tlb-heavy"].tlb_misses == pytest.approx(2940)  # Bhargava's worst, per million


def test_the_crossover_grid_has_one_row_per_update_rate():
    grid = paging_costs.crossover_grid([0, 3000], [1, 100, 1000])
    assert len(grid.ratio) == 3 and len(grid.ratio[0]) == 2
    assert grid.ratio[0][1] < 1 < grid.ratio[2][0]  # few updates, many misses: shadow wins
    standard = paging_costs.standard_grid(points=5)
    assert standard.pte_updates[0] == 1 and standard.pte_updates[-1] == pytest.approx(1000)
    with pytest.raises(ValueError, match="tlb_misses must be a finite number"):
        paging_costs.compare(-1, 0)
    with pytest.raises(ValueError, match="names must be among"):
        paging_costs.workload_rates(["make"])
