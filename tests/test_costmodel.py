"""The cost model of lessons 03-05 and 10: API, calibration, breakdown, monotonicity, errors."""

import dataclasses
import math

import pytest

from vizlib.sim import costs
from vizlib.sim.costmodel import (
    CAUSES,
    CPUS,
    DEFAULT_PV_BATCH,
    MAX_PV_BATCH,
    TECHNIQUES,
    WORKLOADS,
    Workload,
    calibration,
    cost_per_pte_update,
    event_costs,
    fastest,
    predict,
)

ALL = [(w, t, c) for w in WORKLOADS for t in TECHNIQUES for c in CPUS]
COUNT_FIELDS = [f.name for f in dataclasses.fields(Workload)][1:]


def test_public_names():
    assert TECHNIQUES == (
        "native",
        "emulation",
        "binary-translation",
        "paravirtualization",
        "hardware-assisted",
        "hardware-assisted-ept",
    )
    assert CPUS == ("p4", "core2", "modern")
    for name in ("forkwait", "compute", "syscall-heavy", "io-heavy", "kernel-compile"):
        assert WORKLOADS[name].name == name
    assert {"tlb-heavy", "fork-heavy"} <= set(WORKLOADS)
    assert (DEFAULT_PV_BATCH, MAX_PV_BATCH) == (32, 2048)


def test_workload_and_prediction_are_frozen():
    w = Workload("w", instructions=10, syscalls=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.syscalls = 3
    p = predict(w, "native")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.cycles = 0
    with pytest.raises(TypeError):
        WORKLOADS["compute"] = w


@pytest.mark.parametrize(("workload", "technique", "cpu"), ALL)
def test_breakdown_sums_to_cycles_and_guest_work_is_native(workload, technique, cpu):
    p = predict(WORKLOADS[workload], technique, cpu)
    native = predict(WORKLOADS[workload], "native", cpu)
    assert tuple(p.breakdown) == CAUSES
    assert math.isclose(sum(p.breakdown.values()), p.cycles, rel_tol=1e-12)
    assert math.isclose(p.breakdown["guest work"], native.cycles, rel_tol=1e-12)
    assert all(v >= 0 for v in p.breakdown.values()), p.breakdown
    assert math.isclose(p.relative_speed * p.slowdown, 1.0)
    assert math.isclose(p.slowdown, p.cycles / native.cycles)
    assert math.isclose(p.seconds, p.cycles / costs.COSTS[cpu].clock_hz)
    assert (p.workload, p.technique, p.cpu) == (workload, technique, cpu)


def test_native_has_no_overhead_and_every_technique_costs_something_somewhere():
    for cpu in CPUS:
        native = predict(WORKLOADS["forkwait"], "native", cpu)
        assert native.slowdown == 1.0
        assert sum(v for k, v in native.breakdown.items() if k != "guest work") == 0
        for technique in TECHNIQUES[1:]:
            assert predict(WORKLOADS["forkwait"], technique, cpu).slowdown > 1.0


def test_forkwait_native_time_matches_adams_and_agesen():
    # Published: 6.0 s on the P4 and 2.62 s on the Core 2. The instruction count is rounded to a
    # whole instruction per fork/wait (< 3 cycles of 570,000), so 0.1 % is ample.
    assert predict(WORKLOADS["forkwait"], "native", "p4").seconds == pytest.approx(6.0, rel=1e-3)
    assert predict(WORKLOADS["forkwait"], "native", "core2").seconds == pytest.approx(
        2.62, rel=1e-3
    )


def test_forkwait_counts_solve_adams_and_agesen_equations():
    # Per fork/wait on the P4 (3.8 GHz / 40,000 = 95,000 cycles per second of forkwait), with
    # Adams & Agesen's nanobenchmarks: 3 system calls (2308 - 242 = 2066 extra under the software
    # VMM, none under VT-x), 10 page faults (3927 - 1093 = 2834; 11242 - 1093 = 10149), 2 context
    # switches (a 1254-cycle callout; an exit of 1931 + 2409 + 10 x 178 = 6120), U page-table
    # updates (391 - 1 = 390; 12733 - 1 = 12732) and H hidden faults (3927; 11242):
    #   3 x 2066 + 10 x 2834 + 2 x 1254 + 390 U + 3927 H = (36.9 - 6.0) x 95,000 = 2,935,500
    #   10 x 10149 + 2 x 6120 + 12732 U + 11242 H = (106.4 - 6.0) x 95,000 = 9,538,000
    sw, hw = 2_935_500 - (3 * 2066 + 10 * 2834 + 2 * 1254), 9_538_000 - (10 * 10149 + 2 * 6120)
    det = 390 * 11242 - 3927 * 12732
    u, h = (sw * 11242 - 3927 * hw) / det, (390 * hw - sw * 12732) / det
    assert (round(u), round(h)) == (97, 728)
    assert (costs.PAGE_TABLE_UPDATES, costs.HIDDEN_PAGE_FAULTS) == (97, 728)


def test_the_core2_runs_at_2_66_ghz_as_adams_and_agesen_table_1_says():
    # Table 1: VM entry 937 cycles = 352 ns and page-fault exit 1186 cycles = 446 ns on the Core 2
    # Duo: both work out at 2.66 GHz, not 2.4 (937 cycles would be 390 ns there).
    assert costs.CORE2_CLOCK == 2.66e9
    assert pytest.approx(352e-9, abs=0.5e-9) == 937 / costs.CORE2_CLOCK
    assert pytest.approx(446e-9, abs=0.5e-9) == 1186 / costs.CORE2_CLOCK
    # The same table on the Pentium 4 at 3.8 GHz: entry 2409 cycles = 634 ns, exit 1931 = 508 ns.
    assert pytest.approx(634e-9, abs=0.5e-9) == 2409 / costs.P4_CLOCK
    assert pytest.approx(508e-9, abs=0.5e-9) == 1931 / costs.P4_CLOCK
    # The native scale then solves forkwait: (2.62 s x 2.66 GHz / 40,000 - 200 walks x 40) /
    # (570,000 - 8,000) = 166,230 / 562,000.
    assert pytest.approx(166_230 / 562_000) == costs.CORE2_NATIVE_SCALE


def test_a_syscall_heavy_loop_under_binary_translation_on_the_p4():
    # 10 million getpid calls of 100 instructions: natively 1e9 x 2.5 + 1e7 x 242 + 2e5 TLB
    # misses x 40 = 4.928e9 cycles; binary translation adds 1e7 x (2308 - 242) = 2.066e10.
    p = predict(WORKLOADS["syscall-heavy"], "binary-translation", "p4")
    assert p.native_cycles == 4.928e9
    assert (
        p.slowdown
        == pytest.approx((4.928e9 + 2.066e10) / 4.928e9)
        == pytest.approx(5.192, abs=1e-3)
    )
    assert p.breakdown["traps"] == 2.066e10


def rows():
    return {(r.workload, r.cpu, r.technique, r.baseline): r for r in calibration()}


def test_calibration_rows_are_complete_and_sourced():
    table = calibration()
    assert len(table) == len(rows()) == 14
    for r in table:
        assert r.kind in ("fitted", "check")
        assert r.source and r.published_slowdown > 1
        assert r.cpu in CPUS and r.technique in TECHNIQUES
        assert r.workload in WORKLOADS or r.workload.startswith("lmbench ")
    assert {r.kind for r in table} == {"fitted", "check"}


def test_paravirtualization_against_barham_et_al_lmbench():
    # Barham et al. (SOSP 2003), native Linux -> Xen: fork 110 -> 198 us (forkwait is fitted to
    # it), null call 0.45 -> 0.46, page fault 1.42 -> 2.73, context switch 0.77 -> 1.97. The
    # model's event prices, worked by hand: a system call 242 cycles, nothing added (1.00); a page
    # fault 1093 + a 889-cycle bounce through Xen = 1.81; a context switch 500 + a hypercall of
    # 889 = 2.78. Within 10 % of each.
    table = rows()
    fork = table["forkwait", "p4", "paravirtualization", "native"]
    assert fork.kind == "fitted" and fork.published_slowdown == pytest.approx(198 / 110)
    expected = {"null call": 1.0, "page fault": (1093 + 889) / 1093, "context switch": 1389 / 500}
    for name, model in expected.items():
        r = table[f"lmbench {name}", "p4", "paravirtualization", "native"]
        assert r.kind == "check" and r.model_slowdown == pytest.approx(model)
        assert abs(r.error) < 0.10, r


def test_fitted_rows_reproduce_what_they_were_fitted_to():
    # Forkwait: U and H are rounded to whole events per fork/wait, which moves the P4 overheads by
    # at most 0.5 * 12,732 + 0.5 * 11,242 cycles of ~9.5 million (0.13 %); the Core 2 and modern
    # factors are computed from the published times themselves. 1 % catches any changed constant.
    for r in calibration():
        if r.kind == "fitted":
            assert r.error == pytest.approx(0, abs=0.01), r


def test_compute_checks_fall_inside_the_published_spread():
    # Adams & Agesen: SPECint2000 ran 0-9 % slower under the software VMM (mean 4 %), mean 5 %
    # under the hardware VMM. The model, which knows nothing of SPECint's individual benchmarks,
    # must land inside that spread; it gives about 0.5 % and 1.2 %.
    table = rows()
    for technique in ("binary-translation", "hardware-assisted"):
        r = table["compute", "p4", technique, "native"]
        assert r.kind == "check"
        assert 1.0 < r.model_slowdown <= 1.09


def test_kernel_compile_gap_is_the_documented_one():
    # Published (P4): 67.4 % and 54.8 % of native speed. The model gives ~90 % and ~67 %: it misses
    # the cost of translated kernel code and of most interrupt exits, so it errs on the fast side.
    # Pinned: the model is optimistic by less than 30 % in slowdown, and orders the VMMs right.
    table = rows()
    sw = table["kernel-compile", "p4", "binary-translation", "native"]
    hw = table["kernel-compile", "p4", "hardware-assisted", "native"]
    for r in (sw, hw):
        assert r.kind == "check"
        assert -0.30 < r.error < 0, r
    assert 1 < sw.model_slowdown < hw.model_slowdown
    assert 1 / sw.model_slowdown == pytest.approx(0.90, abs=0.02)
    assert 1 / hw.model_slowdown == pytest.approx(0.67, abs=0.02)


def test_kernel_compile_native_time_is_265_seconds_on_the_p4():
    assert predict(WORKLOADS["kernel-compile"], "native", "p4").seconds == pytest.approx(
        265, rel=1e-6
    )


@pytest.mark.parametrize("cpu", CPUS)
def test_compute_is_near_native_except_under_emulation(cpu):
    # "A few percent": 5 %. Emulation: Bellard's ~4x x ~2x, several times slower.
    for technique in TECHNIQUES:
        slowdown = predict(WORKLOADS["compute"], technique, cpu).slowdown
        if technique == "emulation":
            assert slowdown > 5
        else:
            assert slowdown < 1.05, (technique, slowdown)


def test_shadow_paging_and_ept_cross_over_on_the_modern_cpu():
    def faster(workload):
        spt, ept = (predict(WORKLOADS[workload], t, "modern") for t in TECHNIQUES[-2:])
        return "shadow" if spt.cycles < ept.cycles else "ept"

    assert faster("tlb-heavy") == "shadow"
    assert faster("fork-heavy") == "ept"


def test_forkwait_under_shadow_paging_goes_mostly_to_hidden_page_faults():
    # Per fork/wait on the P4: 728 hidden faults at 3927 cycles (binary translation, traps) and
    # at 11242 (VT-x, VM exits) against the whole overheads of 2,935,500 and 9,538,000 cycles.
    for technique, cause, price, overhead in (
        ("binary-translation", "traps", 3927, 2_935_500),
        ("hardware-assisted", "VM exits", 11242, 9_538_000),
    ):
        b = predict(WORKLOADS["forkwait"], technique, "p4").breakdown
        overheads = {k: v for k, v in b.items() if k != "guest work"}
        assert max(overheads, key=overheads.get) == cause
        assert 728 * price / overhead > 0.85


def test_paravirtual_cost_per_update_falls_with_batch_size():
    sizes = [1, 2, 4, 8, 32, 256, 2048]
    for cpu in CPUS:
        pv = [cost_per_pte_update("paravirtualization", cpu, b) for b in sizes]
        assert all(x > y for x, y in zip(pv, pv[1:], strict=False)), pv
        assert pv[-1] > costs.COSTS[cpu].pv_pte_validate  # validation is never batched away
        for technique in ("binary-translation", "hardware-assisted", "native"):
            flat = {cost_per_pte_update(technique, cpu, b) for b in sizes}
            assert len(flat) == 1
        # Paravirtualization beats first-generation hardware assist even unbatched.
        assert pv[0] < cost_per_pte_update("hardware-assisted", cpu, 1)


def test_paravirtualization_beats_binary_translation_from_batch_4_on_the_p4():
    bt = cost_per_pte_update("binary-translation", "p4")
    assert cost_per_pte_update("paravirtualization", "p4", 3) > bt
    assert cost_per_pte_update("paravirtualization", "p4", 4) < bt
    assert bt == 391  # Adams & Agesen's ptemod under the software VMM


def test_batch_size_only_changes_paravirtualization():
    w = WORKLOADS["forkwait"]
    for technique in TECHNIQUES:
        small = predict(w, technique, "p4", pv_batch_size=1).cycles
        large = predict(w, technique, "p4", pv_batch_size=MAX_PV_BATCH).cycles
        assert (small > large) == (technique == "paravirtualization")


def test_more_events_cost_more_where_they_should():
    base = Workload("base", instructions=1_000_000)
    tlb = dataclasses.replace(base, tlb_misses=10_000)
    ptes = dataclasses.replace(base, page_table_updates=1_000)
    for cpu in CPUS:
        assert predict(tlb, "hardware-assisted-ept", cpu).slowdown > 1
        assert predict(tlb, "hardware-assisted", cpu).slowdown == 1  # shadow: native walks
        assert predict(ptes, "hardware-assisted", cpu).slowdown > 1
        assert predict(ptes, "hardware-assisted-ept", cpu).slowdown == 1  # guest owns its tables


def test_event_costs_include_the_native_part():
    native = event_costs("native", "p4")
    assert native["page_faults"] == 1093 and native["hidden_page_faults"] == 0
    hw = event_costs("hardware-assisted", "p4")
    assert hw["page_faults"] == 11242  # Adams & Agesen pgfault under the hardware VMM
    assert hw["page_table_updates"] == 12733  # ptemod
    assert event_costs("emulation", "core2")["instructions"] == pytest.approx(8 * costs.CORE2.cpi)


def test_core2_exits_come_from_the_vm_entry_exit_table():
    assert costs.CORE2.hw_context_switch == 1186 + 937 + 10 * 52
    assert costs.P4.hw_context_switch == 1931 + 2409 + 10 * 178


def test_ept_before_nehalem_is_marked_hypothetical():
    for technique in TECHNIQUES:
        for cpu in CPUS:
            p = predict(WORKLOADS["compute"], technique, cpu)
            assert p.hypothetical == (technique == "hardware-assisted-ept" and cpu != "modern")


def test_ties_are_named_and_only_techniques_the_cpu_had_compete():
    idle = Workload("idle", instructions=1_000_000)
    assert fastest(idle, "p4") == ("binary-translation", "paravirtualization", "hardware-assisted")
    assert "hardware-assisted-ept" in fastest(idle, "modern")
    assert fastest(WORKLOADS["syscall-heavy"], "modern") == ("hardware-assisted-ept",)
    # forkwait on the P4: EPT would win (1.046x), but the P4 never had it; PV's 1.80x is best.
    assert fastest(WORKLOADS["forkwait"], "p4") == ("paravirtualization",)
    assert fastest(WORKLOADS["forkwait"], "p4", real_only=False) == ("hardware-assisted-ept",)
    assert fastest(WORKLOADS["compute"], "p4", tolerance=0.05) == (
        "binary-translation",
        "paravirtualization",
        "hardware-assisted",
    )
    with pytest.raises(ValueError, match="tolerance must be a number from 0 to below 1"):
        fastest(idle, "p4", tolerance=1)


@pytest.mark.parametrize("field", COUNT_FIELDS)
def test_negative_counts_name_the_parameter(field):
    with pytest.raises(ValueError, match=rf"{field} must be .*-1"):
        Workload("w", **{"instructions": 10, field: -1})


@pytest.mark.parametrize("bad", [0, True, float("nan"), float("inf"), "5", None])
def test_bad_instruction_counts_are_rejected(bad):
    with pytest.raises(ValueError, match="instructions must be"):
        Workload("w", instructions=bad)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_workload_needs_a_name(bad):
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        Workload(bad, instructions=1)


def test_unknown_technique_cpu_and_workload_name_the_allowed_values():
    w = WORKLOADS["compute"]
    with pytest.raises(ValueError, match="technique must be one of native, emulation, .*'vmx'"):
        predict(w, "vmx")
    with pytest.raises(ValueError, match="cpu must be one of p4, core2, modern; got 'i386'"):
        predict(w, "native", "i386")
    with pytest.raises(ValueError, match="workload must be a Workload"):
        predict("compute", "native")
    with pytest.raises(ValueError, match="technique must be one of"):
        cost_per_pte_update("xen", "p4")
    with pytest.raises(ValueError, match="cpu must be one of"):
        event_costs("native", "arm")


@pytest.mark.parametrize("bad", [0, -1, 2049, 1.5, True, "32"])
def test_bad_batch_sizes_name_the_parameter_and_range(bad):
    with pytest.raises(ValueError, match="pv_batch_size must be an integer from 1 to 2048"):
        predict(WORKLOADS["forkwait"], "paravirtualization", "p4", pv_batch_size=bad)
    with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 2048"):
        cost_per_pte_update("paravirtualization", "p4", bad)
    with pytest.raises(ValueError, match="pv_batch_size must be an integer from 1 to 2048"):
        event_costs("native", "p4", pv_batch_size=bad)
