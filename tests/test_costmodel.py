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
    # The page-table updates U and hidden faults H per fork/wait solve, with the P4's costs,
    # "software VMM overhead = 30.9 s" and "hardware VMM overhead = 100.4 s" (Cramer's rule).
    p4, per_second = costs.P4, costs.P4_CLOCK / costs.FORKWAIT_ITERATIONS
    s, c, f = costs.FORKWAIT_SYSCALLS, costs.FORKWAIT_CONTEXT_SWITCHES, costs.FORKWAIT_PAGE_FAULTS
    sw = 30.9 * per_second - (s * p4.bt_syscall + f * p4.bt_page_fault + c * p4.bt_context_switch)
    hw = 100.4 * per_second - (s * p4.hw_syscall + f * p4.hw_page_fault + c * p4.hw_context_switch)
    a, b, d, e = p4.bt_pte_write, p4.bt_hidden_fault, p4.hw_pte_write, p4.hw_hidden_fault
    det = a * e - b * d
    u, h = (sw * e - b * hw) / det, (a * hw - sw * d) / det
    assert (round(u), round(h)) == (
        costs.FORKWAIT_PAGE_TABLE_UPDATES,
        costs.FORKWAIT_HIDDEN_PAGE_FAULTS,
    )


def rows():
    return {(r.workload, r.cpu, r.technique, r.baseline): r for r in calibration()}


def test_calibration_rows_are_complete_and_sourced():
    table = calibration()
    assert len(table) == len(rows()) == 10
    for r in table:
        assert r.kind in ("fitted", "check")
        assert r.source and r.published_slowdown > 1
        assert r.cpu in CPUS and r.technique in TECHNIQUES and r.workload in WORKLOADS
    assert {r.kind for r in table} == {"fitted", "check"}


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


def test_forkwait_under_shadow_paging_is_mostly_page_table_maintenance():
    for technique in ("binary-translation", "hardware-assisted"):
        b = predict(WORKLOADS["forkwait"], technique, "p4").breakdown
        overheads = {k: v for k, v in b.items() if k != "guest work"}
        assert max(overheads, key=overheads.get) == "page-table maintenance"


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


def test_predictions_are_deterministic():
    assert predict(WORKLOADS["io-heavy"], "emulation", "modern") == predict(
        WORKLOADS["io-heavy"], "emulation", "modern"
    )


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
