"""Lesson 05's VM entry / exit model: modes, the VMCS, exit reasons, timelines."""

import pytest

from vizlib.sim import vmexit
from vizlib.sim.vmexit import Cpu, Registers, Vmcs, simulate, vm_entry, vm_exit

GUEST = Registers(rip=0x7C00, rsp=0x8000, cr3=0x1000)
HOST = Registers(rip=0xFFFF_8000_0010_0000, rsp=0xFFFF_C900_0000_4000, cr3=0x10_0000)


def test_an_entry_loads_the_guest_state_and_an_exit_saves_it_and_loads_the_host():
    vmcs = Vmcs(guest=GUEST, host=HOST)
    cpu, vmcs = vm_entry(Cpu("root", HOST), vmcs)
    assert cpu == Cpu("non-root", GUEST) and vmcs.launched
    running = Cpu("non-root", Registers(rip=0x7C05, rsp=0x7FF0, cr3=0x1000))  # the guest ran on
    cpu, vmcs = vm_exit(running, vmcs, "HLT", instruction_length=1)
    assert cpu == Cpu("root", HOST)
    assert vmcs.guest == running.registers and vmcs.exit_reason == "HLT"
    resumed, vmcs = vm_entry(cpu, vmexit.skip_instruction(vmcs))
    assert resumed == Cpu("non-root", Registers(rip=0x7C06, rsp=0x7FF0, cr3=0x1000))


def test_entries_and_exits_need_the_right_mode_and_a_known_reason():
    vmcs = Vmcs(guest=GUEST, host=HOST)
    with pytest.raises(ValueError, match="cpu.mode must be 'root' for a VM entry"):
        vm_entry(Cpu("non-root", GUEST), vmcs)
    with pytest.raises(ValueError, match="cpu.mode must be 'non-root' for a VM exit"):
        vm_exit(Cpu("root", HOST), vmcs, "HLT")
    with pytest.raises(ValueError, match="reason must be one of EXCEPTION_NMI"):
        vm_exit(Cpu("non-root", GUEST), vmcs, "SYSCALL")
    with pytest.raises(ValueError, match="mode must be one of root, non-root"):
        Cpu("guest", GUEST)


def test_exit_reason_numbers_are_intels():
    numbers = {name: r.number for name, r in vmexit.EXIT_REASONS.items()}
    assert numbers["HLT"] == 12 and numbers["VMCALL"] == 18 and numbers["CPUID"] == 10
    assert numbers["IO_INSTRUCTION"] == 30 and numbers["MSR_WRITE"] == 32
    assert numbers["EPT_VIOLATION"] == 48 and numbers["EXCEPTION_NMI"] == 0


def test_world_switches_come_from_the_published_cycles_and_got_faster():
    p4, core2, modern = (vmexit.WORLD_SWITCHES[c].seconds for c in vmexit.CPUS)
    assert p4 == pytest.approx((1931 + 2409) / 3.8e9)  # Adams & Agesen, Pentium 4
    assert core2 == pytest.approx((1186 + 937) / 2.66e9)  # Core 2 Duo at 2.66 GHz (Table 1)
    assert modern == pytest.approx(0.105e-6)  # PVM paper
    assert p4 > core2 > 7 * modern  # 1.14 us, 0.80 us, 0.105 us


def test_an_exit_costs_the_switch_plus_its_handler():
    # PVM paper, bare-metal KVM: CPUID 0.54 us and a hypercall 0.46 us are whole round trips.
    assert vmexit.exit_cost_us("CPUID") == pytest.approx(0.54)
    assert vmexit.exit_cost_us("VMCALL") == pytest.approx(0.46)
    assert vmexit.exit_cost_us("IO_INSTRUCTION") == pytest.approx(3.79)
    assert vmexit.exit_cost_us("CPUID", "p4") == pytest.approx(0.54 - 0.105 + 4340 / 3800)


def test_the_published_mix_sums_to_one_with_others_as_the_rest():
    shares = vmexit.mix_shares("linux guest")
    assert shares["HLT"] == 0.75 and shares["OTHERS"] == pytest.approx(0.037)
    assert sum(shares.values()) == pytest.approx(1)
    assert vmexit.mix_shares({"HLT": 3, "CPUID": 1}) == {"HLT": 0.75, "CPUID": 0.25}


def test_a_timeline_is_seeded_and_alternates_guest_runs_with_exits():
    t = simulate(seed=3)
    assert t == simulate(seed=3) and t != simulate(seed=4)
    assert [s.mode for s in t.segments[:4]] == ["non-root", "root", "non-root", "root"]
    assert sum(t.counts().values()) == 40
    for a, b in zip(t.segments, t.segments[1:], strict=False):
        assert b.start_us == pytest.approx(a.start_us + a.duration_us)
    assert t.exit_us == pytest.approx(sum(t.exit_us_by_reason().values()))
    assert 0 < t.fraction_in_exits < 1


def test_the_same_seed_gives_the_same_exits_on_every_cpu_and_older_cpus_spend_longer():
    runs = [simulate("linux guest", cpu, exits=200, mean_run_us=5, seed=1) for cpu in vmexit.CPUS]
    assert len({tuple(r.counts().items()) for r in runs}) == 1
    p4, core2, modern = (r.fraction_in_exits for r in runs)
    assert p4 > core2 > modern


def test_shorter_guest_runs_mean_more_time_in_exits():
    fractions = [simulate(mean_run_us=run, seed=0).fraction_in_exits for run in (0.1, 10, 1000)]
    assert fractions == sorted(fractions, reverse=True)
    assert fractions[0] > 0.5 > 0.01 > fractions[-1]


def test_a_cpuid_loop_exits_only_on_cpuid():
    assert simulate("CPUID loop", exits=5).counts() == {"CPUID": 5}


@pytest.mark.parametrize(
    ("event", "ept", "shadow"),
    [
        ("has nothing to do and halts (HLT)", "HLT", "HLT"),
        ("makes a system call (SYSCALL)", None, None),
        ("switches process: loads CR3", None, "CR_ACCESS"),
        ("writes one of its page-table entries", None, "EXCEPTION_NMI"),
        ("touches a page its page table does not map yet", None, "EXCEPTION_NMI"),
        ("writes a device register (OUT)", "IO_INSTRUCTION", "IO_INSTRUCTION"),
        (
            "touches a guest-physical page the host has not backed yet",
            "EPT_VIOLATION",
            "EXCEPTION_NMI",
        ),
    ],
)
def test_which_events_exit_depends_on_the_paging_mode(event, ept, shadow):
    assert vmexit.exit_reason(event, "ept") == ept
    assert vmexit.exit_reason(event, "shadow") == shadow


def test_kvm_hands_device_exits_to_user_space_and_handles_the_rest_itself():
    handled = vmexit.HANDLED_WITH_EPT
    assert handled["writes a device register (OUT)"] == "exit-user"
    assert handled["has nothing to do and halts (HLT)"] == "exit-kernel"
    assert handled["makes a system call (SYSCALL)"] == "direct"
    assert "handled in user space" in vmexit.EXIT_REASONS["IO_INSTRUCTION"].cause


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: simulate(exits=0), "exits must be an integer from 1 to 10000"),
        (lambda: simulate(mean_run_us=0), "mean_run_us must be a positive finite number"),
        (lambda: simulate(cpu="i386"), "cpu must be one of p4, core2, modern"),
        (lambda: simulate(mix="idle"), "mix must be one of linux guest"),
        (lambda: simulate(mix={"HLT": 0}), "mix weights must not all be zero"),
        (lambda: simulate(mix={"HLT": -1}), "mix weights must be finite numbers >= 0"),
        (lambda: simulate(mix={"HALT": 1}), "mix reasons must be one of EXCEPTION_NMI"),
        (lambda: vmexit.exit_reason("reboots"), "event must be one of"),
        (
            lambda: vmexit.exit_reason("has nothing to do and halts (HLT)", "npt"),
            "paging must be one of ept",
        ),
    ],
)
def test_bad_input_is_rejected_with_the_allowed_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()
