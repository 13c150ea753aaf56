"""The one model of virtualization: techniques, events, treatments, read against the sources."""

import pytest

from vizlib.sim import techniques as t


def kind(technique, event, cpu=None):
    return t.treatment(technique, event, cpu).kind


def test_every_technique_treats_every_event_with_a_known_kind_and_a_source():
    for technique in t.TECHNIQUES:
        for event in t.EVENTS:
            chosen = t.treatment(technique, event)
            assert chosen.kind in t.TREATMENT_KINDS and chosen.how and chosen.source
            steps = t.path(technique, event)
            assert steps[0].actor == t.EVENTS[event].actor
            assert steps[-1].actor == chosen.handler and steps[-1].action == chosen.how


def test_each_technique_and_event_has_one_id_and_names_in_both_languages():
    for table in (t.TECHNIQUES, t.EVENTS, t.TREATMENT_KINDS):
        for key, entry in table.items():
            assert entry.id == key and entry.name.en and entry.name.zh
            assert entry.name("zh") == entry.name.zh
    with pytest.raises(ValueError, match="lang must be one of 'en', 'zh'"):
        t.TECHNIQUES["emulation"].name("fr")


def test_adams_and_agesen_binary_translation():
    # ASPLOS 2006: CLI/STI/PUSHF/POPF are emulated inline in the translation cache (cr8write: 35
    # cycles), the page-table store becomes a callout once adaptive translation has seen it
    # fault, and a system call traps into the VMM (syscall: 242 cycles native, 2308 under BT).
    assert kind("binary-translation", "interrupt-flag") == "inline"
    assert kind("binary-translation", "page-table-write") == "callout"
    assert kind("binary-translation", "system-call") == "trap"
    assert kind("binary-translation", "instruction") == "direct"  # user code runs directly


def test_barham_et_al_paravirtualization_on_32_bit_x86():
    # SOSP 2003: a fast exception handler takes the system call straight to the guest kernel,
    # page faults go through Xen (CR2 is readable in ring 0 only), page-table updates are
    # batched into hypercalls, interrupts are masked with a flag in shared memory.
    assert kind("paravirtualization", "system-call") == "direct"
    assert not t.leaves_guest("paravirtualization", "system-call")
    assert kind("paravirtualization", "page-fault") == "trap"
    assert kind("paravirtualization", "page-table-write") == "hypercall"
    assert kind("paravirtualization", "interrupt-flag") == "direct"


def test_a_64_bit_pv_kernel_in_ring_3_sends_its_system_calls_through_xen():
    assert kind("paravirtualization", "system-call", "modern") == "trap"
    assert kind("paravirtualization", "system-call", "p4") == "direct"


def test_hardware_assist_exits_and_where_kvm_handles_them():
    for technique in ("hardware-assisted", "hardware-assisted-ept"):
        assert kind(technique, "system-call") == "direct"
        assert kind(technique, "interrupt-flag") == "direct"
        assert t.treatment(technique, "cpuid").exit_reason == "CPUID"  # always exits (SDM)
        port = t.treatment(technique, "port-io")
        assert (port.kind, port.exit_reason) == ("exit-user", "IO_INSTRUCTION")
    # Shadow paging intercepts page faults and CR3 loads; with EPT the guest owns its tables.
    assert kind("hardware-assisted", "context-switch") == "exit-kernel"
    assert kind("hardware-assisted-ept", "context-switch") == "direct"
    assert kind("hardware-assisted-ept", "page-table-write") == "direct"
    # A KPTI guest loads CR3 on every kernel entry and exit: exits under shadow paging (PVM
    # paper: getpid 0.22 us under kvm-ept, 2.09 us under kvm-spt).
    assert kind("hardware-assisted", "system-call", "modern") == "exit-kernel"


def test_trap_and_emulate_fails_where_robin_and_irvine_say():
    flags = t.treatment("trap-and-emulate", "interrupt-flag")
    assert flags.kind == "trap" and set(flags.not_equivalent) == {"PUSHF", "POPF"}
    cpuid = t.treatment("trap-and-emulate", "cpuid")
    assert cpuid.kind == "direct" and cpuid.not_equivalent == ("CPUID",)


def test_emulation_handles_even_plain_arithmetic_in_software():
    assert t.leaves_guest("emulation", "instruction")
    for technique in ("binary-translation", "paravirtualization", "hardware-assisted"):
        assert not t.leaves_guest(technique, "instruction")


def test_device_access_leaves_the_guest_under_every_virtualization_technique():
    for technique in t.TECHNIQUES:
        assert t.leaves_guest(technique, "port-io") == (
            technique not in ("native", "binary-translation")
        )


def test_the_processors_that_had_each_technique():
    assert t.available("p4") == t.available("core2")
    assert "hardware-assisted-ept" not in t.available("p4")
    assert "hardware-assisted-ept" in t.available("modern")
    assert "trap-and-emulate" not in t.available("modern")  # x86 cannot run it correctly
    assert t.PROCESSORS["core2"].description.startswith("Intel Core 2 Duo, 2.66 GHz (2006)")


def test_what_each_technique_asks_of_the_guest_and_the_hardware():
    assert t.technique("paravirtualization").guest_modified
    assert not t.technique("binary-translation").guest_modified
    assert t.technique("hardware-assisted").needs_hardware
    assert [x for x in t.TECHNIQUES if t.TECHNIQUES[x].foreign_isa] == ["emulation"]
    years = {x: t.TECHNIQUES[x].year for x in ("binary-translation", "paravirtualization")}
    assert years == {"binary-translation": 1999, "paravirtualization": 2003}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: t.treatment("hardware", "port-io"), "technique must be one of native"),
        (lambda: t.path("emulation", "reboot"), "event must be one of instruction"),
        (lambda: t.treatment("emulation", "cpuid", "z80"), "cpu must be one of p4"),
        (lambda: t.available("z80"), "cpu must be one of p4, core2, modern"),
    ],
)
def test_unknown_names_are_rejected_with_the_allowed_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()
