"""Lesson 01's model: who handles what under each kind of virtualization."""

import pytest

from vizlib.sim import techniques as t


def test_every_technique_has_a_path_for_every_event():
    for technique in t.TECHNIQUES:
        for event in t.EVENTS:
            steps = t.path(technique, event)
            assert steps and all(step.actor for step in steps)


def test_emulation_handles_even_plain_arithmetic_in_software():
    assert t.leaves_guest("emulation", "app-arithmetic")
    for technique in ("full-virtualization", "paravirtualization", "hardware-assisted"):
        assert not t.leaves_guest(technique, "app-arithmetic")


def test_only_hardware_assist_runs_cli_and_page_table_writes_without_leaving_the_guest():
    assert not t.leaves_guest("hardware-assisted", "disable-interrupts")
    assert not t.leaves_guest("hardware-assisted", "page-table-write")
    assert t.leaves_guest("full-virtualization", "page-table-write")
    assert t.leaves_guest("paravirtualization", "page-table-write")


def test_paravirtualization_masks_interrupts_without_the_hypervisor():
    assert not t.leaves_guest("paravirtualization", "disable-interrupts")


def test_device_io_leaves_the_guest_in_every_technique():
    assert all(t.leaves_guest(technique, "device-io") for technique in t.TECHNIQUES)


def test_properties_match_the_article():
    assert t.properties("paravirtualization").guest_modified
    assert not t.properties("full-virtualization").guest_modified
    assert t.properties("hardware-assisted").needs_hardware_support
    assert t.properties("emulation").guest_isa_may_differ
    assert sum(t.properties(x).guest_isa_may_differ for x in t.TECHNIQUES) == 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: t.path("hardware", "device-io"), "technique must be one of emulation"),
        (lambda: t.path("emulation", "reboot"), "event must be one of app-arithmetic"),
        (lambda: t.properties("magic"), "technique must be one of"),
    ],
)
def test_unknown_names_are_rejected_with_the_allowed_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()
