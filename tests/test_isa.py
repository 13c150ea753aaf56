"""Lesson 02's instruction catalogues and Popek & Goldberg's Theorem 1."""

import dataclasses

import pytest

from vizlib.sim import isa

ROBIN_IRVINE_SEEN_EVERYWHERE = (
    *("POPF", "PUSHF", "SGDT", "SIDT", "SLDT", "SMSW", "STR"),
    *("LAR", "LSL", "VERR", "VERW"),
)


def test_entries_are_frozen_and_keyed_by_their_name():
    entry = isa.X86["POPF"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.privileged = True
    for catalogue in (isa.X86, isa.RISCV):
        assert catalogue.name
        assert all(name == e.name and e.note for name, e in catalogue.items())


def test_x86_covers_what_a_guest_kernel_uses():
    needed = "CLI STI HLT IN OUT MOV_CR0 MOV_FROM_CR0 MOV_CR3 MOV_FROM_CR3 LGDT SGDT SIDT SLDT"
    needed += " SMSW STR PUSHF POPF LAR LSL VERR VERW INVLPG RDTSC CPUID WRMSR RDMSR SYSCALL"
    assert set(needed.split()) | {"ADD", "MOV"} <= set(isa.X86)


def test_x86_fails_theorem_1_and_names_the_classic_violations():
    verdict = isa.popek_goldberg(isa.X86)
    assert not verdict.virtualizable
    assert set(ROBIN_IRVINE_SEEN_EVERYWHERE) <= set(verdict.violations)
    order = list(isa.X86)
    assert list(verdict.violations) == sorted(verdict.violations, key=order.index)
    for trapping in ("CLI", "STI", "HLT", "IN", "OUT", "MOV_CR3", "LGDT", "INVLPG", "WRMSR"):
        assert trapping in verdict.privileged and trapping not in verdict.violations
    assert "ADD" not in verdict.sensitive and "MOV" not in verdict.sensitive
    assert "SGDT" in verdict.summary and "does not apply" in verdict.summary


def test_cpuid_and_rdtsc_are_classified_as_on_pre_vt_x86():
    cpuid, rdtsc = isa.X86["CPUID"], isa.X86["RDTSC"]
    assert not cpuid.privileged and cpuid.behaviour_sensitive and cpuid.sensitive_unprivileged
    assert not rdtsc.privileged and rdtsc.innocuous and "CR4.TSD" in rdtsc.note
    assert isa.X86["POPF"].control_sensitive and "silently" in isa.X86["POPF"].note


def test_robin_irvine_list_with_its_17_versus_18_caveat():
    assert len(isa.ROBIN_IRVINE) == len(set(isa.ROBIN_IRVINE)) == 18
    assert "17" in isa.ROBIN_IRVINE_NOTE and "18" in isa.ROBIN_IRVINE_NOTE
    entries = {isa.ROBIN_IRVINE_FORMS.get(m, m) for m in isa.ROBIN_IRVINE}
    violations = set(isa.popek_goldberg(isa.X86).violations)
    assert entries <= violations
    assert violations - entries == {"CPUID"}  # the one this catalogue adds, as its note says
    assert not isa.X86["MOV"].sensitive  # plain MOV is innocuous; MOV_SREG is the problem


def test_riscv_satisfies_theorem_1():
    verdict = isa.popek_goldberg(isa.RISCV)
    assert verdict.virtualizable and verdict.violations == ()
    assert {"SRET", "WFI", "SFENCE.VMA", "CSRRW satp"} <= set(verdict.sensitive)
    assert "Theorem 1 applies" in verdict.summary


def test_a_made_up_isa_for_the_exercise():
    toy = isa.Catalogue.from_rows(
        "toy",
        [
            ("LOAD", False, False, False),
            ("SETMODE", True, True, False, "switch mode"),
            ("READMODE", False, False, True),
            ("JUMPVIRT", False, True, False),
            ("FLUSH", True, False, False),
        ],
    )
    verdict = isa.popek_goldberg(toy)
    assert verdict.violations == ("READMODE", "JUMPVIRT")
    assert verdict.privileged == ("SETMODE", "FLUSH")
    assert toy.name == "toy" and len(toy) == 5 and toy["SETMODE"].note == "switch mode"
    all_trap = [dataclasses.replace(entry, privileged=True) for entry in toy.values()]
    assert isa.popek_goldberg(isa.Catalogue("toy, fixed", all_trap)).virtualizable


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: isa.Catalogue.from_rows("t", [("A", False, False)]), r"rows must be tuples"),
        (lambda: isa.Catalogue.from_rows("t", [("A", 0, 0, 0)]), r"rows must be .* bools"),
        (lambda: isa.Catalogue.from_rows("t", [["A", 0, 0, 0]]), r"rows must be tuples"),
        (
            lambda: isa.Catalogue.from_rows("t", [("A", False, False, False)] * 2),
            r"distinct names; 'A' repeats",
        ),
        (lambda: isa.Catalogue("t", ["CLI"]), r"instructions must be Instruction objects"),
        (lambda: isa.popek_goldberg({"CLI": isa.X86["CLI"]}), r"catalogue must be a Catalogue"),
    ],
)
def test_bad_catalogues_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
