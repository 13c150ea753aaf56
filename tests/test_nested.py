"""Lesson 10's models: nested virtualization costs and exits, and the hypervisors side by side."""

import dataclasses
import math

import pytest

from vizlib.sim import hypervisors, nested
from vizlib.sim.nested import EVENTS, OPERATIONS, SETUPS


def test_published_costs_are_the_pvm_papers_table_1():
    assert SETUPS == ("kvm", "nested-kvm", "pvm")
    table = {e: tuple(nested.cost_us(e, s) for s in SETUPS) for e in OPERATIONS}
    assert table == {
        "hypercall": (0.46, 7.43, 0.48),
        "exception": (1.66, 9.20, 2.21),
        "MSR access": (0.87, 8.18, 2.88),
        "CPUID": (0.54, 7.10, 0.51),
        "PIO": (3.79, 29.34, 12.94),
    }
    assert (nested.WORLD_SWITCH_US, nested.NESTED_SWITCH_US) == (0.105, 1.3)
    assert all(nested.published(e, s) for e in OPERATIONS for s in SETUPS)


def test_a_hidden_page_fault_adds_the_setups_extra_exception_cost_to_kvm_spt():
    assert nested.cost_us("hidden page fault", "kvm") == 0.93  # published, kvm-spt
    assert math.isclose(nested.cost_us("hidden page fault", "nested-kvm"), 0.93 + 9.20 - 1.66)
    assert math.isclose(nested.cost_us("hidden page fault", "pvm"), 0.93 + 2.21 - 1.66)
    assert nested.published("hidden page fault", "kvm")
    assert not nested.published("hidden page fault", "pvm")
    assert nested.source("hidden page fault", "pvm") == nested.HIDDEN_FAULT_SOURCE
    assert "Table 1" in nested.source("CPUID", "pvm")


def test_slowdowns_against_bare_metal():
    assert math.isclose(nested.slowdown("CPUID", "nested-kvm"), 7.10 / 0.54)
    assert math.isclose(nested.slowdown("hypercall", "pvm"), 0.48 / 0.46)
    assert all(nested.slowdown(e, "kvm") == 1 for e in EVENTS)
    # Nested KVM is the slowest setup for every event; PVM beats bare metal only on CPUID.
    for event in EVENTS:
        costs = {s: nested.cost_us(event, s) for s in SETUPS}
        assert max(costs, key=costs.get) == "nested-kvm"
    assert [e for e in EVENTS if nested.slowdown(e, "pvm") < 1] == ["CPUID"]


@pytest.mark.parametrize(
    ("setup", "shadowing", "accesses", "exits"),
    [
        ("kvm", False, 10, 1),
        ("nested-kvm", False, 10, 12),
        ("nested-kvm", True, 10, 2),
        ("nested-kvm", False, 0, 2),
        ("nested-kvm", False, 25, 27),
        ("pvm", False, 10, 0),
        ("pvm", True, 1000, 0),
    ],
)
def test_exits_to_l0_multiply_only_under_nested_kvm(setup, shadowing, accesses, exits):
    got = nested.l0_exits(setup, vmcs_shadowing=shadowing, vmcs_accesses=accesses)
    assert got == exits
    for event in EVENTS:
        t = nested.trace(event, setup, vmcs_shadowing=shadowing, vmcs_accesses=accesses)
        assert t.l0_exits == exits and t.cost_us == nested.cost_us(event, setup)


def test_trace_steps_name_the_levels_in_order():
    t = nested.trace("CPUID", "nested-kvm")
    assert [s.level for s in t.steps] == ["L2", "L0", "L1", "L1", "L1", "L0"]
    assert [row[0] for row in t.rows()] == list(range(1, 7))
    assert "VMCS12" in t.steps[1].action and "VMCS02" in t.steps[-1].action
    assert "10 VMREAD" in t.steps[2].action
    assert "shadow VMCS" in nested.trace("CPUID", "nested-kvm", vmcs_shadowing=True).rows()[2][2]
    pvm = nested.trace("PIO", "pvm")
    assert {s.level for s in pvm.steps} == {"L2", "L1"} and "QEMU" in pvm.steps[1].action
    assert [s.level for s in nested.trace("hypercall", "kvm").steps] == ["L1", "L0", "L0"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.cost_us = 0


def test_cpu_share_of_a_rate_of_exits():
    assert math.isclose(nested.cpu_share("hypercall", "nested-kvm", 50_000), 0.3715)
    assert math.isclose(nested.cpu_share("hypercall", "pvm", 50_000), 0.024)
    assert nested.cpu_share("CPUID", "kvm", 0) == 0
    assert nested.cpu_share("PIO", "nested-kvm", 100_000) > 1  # more than one CPU: impossible


@pytest.mark.parametrize(
    ("fields", "setup"),
    [
        ({"kvm_usable": True, "hardware_assist": True, "in_vm": False, "nested_pvm": False}, "kvm"),
        (
            {"kvm_usable": True, "hardware_assist": True, "in_vm": True, "nested_pvm": False},
            "nested-kvm",
        ),
        ({"kvm_usable": True, "hardware_assist": False, "in_vm": True, "nested_pvm": True}, "pvm"),
        ({"kvm_usable": False, "hardware_assist": True, "in_vm": False, "nested_pvm": None}, None),
        ({"kvm_usable": True, "hardware_assist": True, "in_vm": None, "nested_pvm": None}, None),
        ({"kvm_usable": True, "hardware_assist": False, "in_vm": None, "nested_pvm": None}, None),
    ],
)
def test_the_setup_a_guest_started_here_runs_under(fields, setup):
    assert nested.setup_for_host(**fields) == setup


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nested.cost_us("VMCALL", "kvm"), "event must be one of hypercall"),
        (lambda: nested.cost_us("CPUID", "xen"), "setup must be one of kvm, nested-kvm, pvm"),
        (lambda: nested.trace("CPUID", "kvm", vmcs_accesses=-1), "vmcs_accesses must be"),
        (lambda: nested.trace("CPUID", "kvm", vmcs_accesses=1001), "from 0 to 1000"),
        (lambda: nested.trace("CPUID", "kvm", vmcs_accesses=2.5), "vmcs_accesses must be"),
        (lambda: nested.trace("CPUID", "kvm", vmcs_accesses=True), "vmcs_accesses must be"),
        (lambda: nested.trace("CPUID", "kvm", vmcs_shadowing="yes"), "vmcs_shadowing must be"),
        (lambda: nested.cpu_share("CPUID", "kvm", -1), "per_second must be"),
        (lambda: nested.cpu_share("CPUID", "kvm", math.inf), "per_second must be"),
        (lambda: nested.published("CPUID", "L3"), "setup must be one of"),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_paging_schemes_flatten_the_third_dimension():
    names = [s.name for s in nested.PAGING_SCHEMES]
    assert names == ["EPT on EPT", "shadow on EPT"]
    shadow = nested.PAGING_SCHEMES[1]
    assert "PVM" in shadow.used_by and "traps to L1" in shadow.l2_page_table_write


def test_the_three_systems_are_described_field_by_field_with_sources():
    assert list(hypervisors.HYPERVISORS) == ["KVM", "Xen", "QEMU"]
    for h in hypervisors.HYPERVISORS.values():
        assert len(h.row()) == len(hypervisors.FIELDS) and all(h.row()) and h.sources
    assert "2.6.20" in hypervisors.HYPERVISORS["KVM"].what
    assert "Nothing for PV guests" in hypervisors.HYPERVISORS["Xen"].needs_hardware
    assert "TCG" in hypervisors.HYPERVISORS["QEMU"].needs_hardware


# The seed article's sentences that the claims quote, copied from the article (2013-03-20).
SEED_SENTENCES = (
    "KVM是集成到Linux内核的Hypervisor,是X86架构且硬件支持虚拟化技术(Intel VT或AMD-V)的Linux的"
    "全虚拟化解决方案。",
    "它是Linux的一个很小的模块,利用Linux做大量的事,如任务调度、内存管理与硬件设备交互等。",
    "Xen是第一类运行再裸机上的虚拟化管理程序(Hypervisor)。它支持全虚拟化和半虚拟化,Xen支持"
    "hypervisor和虚拟机互相通讯,而且提供在所有Linux版本上的免费产品,包括Red Hat Enterprise "
    "Linux和SUSE Linux Enterprise Server。",
    "Xen最重要的优势在于半虚拟化,此外未经修改的操作系统也可以直接在xen上运行(如Windows)",
    "经由kqemu这个开源的加速器,QEMU能模拟至接近真实电脑的速度。",
    "比如说在x86的CPU上可虚拟一个Power的CPU,并可利用它编译出可运行在Power上的程序。",
    "所以你会看到,官方提供的KVM下载有两大部分(qemu和kvm)三个文件(KVM模块、QEMU工具以及二者的合集)。",
)


def test_every_claim_quotes_the_article_and_has_a_verdict_and_a_source():
    for claim in hypervisors.CLAIMS:
        assert any(claim.article in sentence for sentence in SEED_SENTENCES), claim.article
    systems = {c.system for c in hypervisors.CLAIMS}
    assert systems == {"KVM", "Xen", "QEMU", "KVM + QEMU"}
    for claim in hypervisors.CLAIMS:
        assert claim.verdict in hypervisors.VERDICTS and claim.source and claim.today
    verdicts = [c.verdict for c in hypervisors.CLAIMS]
    assert verdicts.count("out of date") == 4
