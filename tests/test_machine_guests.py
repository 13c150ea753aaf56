"""The lessons' guest programs: listing == bytes, and the same behaviour on KVM and on TCG.

KVM tests run wherever /dev/kvm is usable, TCG tests wherever unicorn imports; otherwise they skip
with the reason `accelerators()` gives.
"""

import pytest

from vizlib.machine import GuestCrashed, GuestTimeout, accelerators, run_guest
from vizlib.machine.guests import GUESTS, LWN_ADD, TRIPLE_FAULT, Guest

AVAILABLE = accelerators()
ACCELS = [
    pytest.param(name, marks=pytest.mark.skipif(why != "available", reason=why))
    for name, why in AVAILABLE.items()
]
BOTH = pytest.mark.skipif(
    set(AVAILABLE.values()) != {"available"}, reason=f"needs kvm and tcg: {AVAILABLE}"
)
TIMEOUT = 0.3  # s, for the guests that never stop by themselves
# On a PVM host (KVM without VT-x/AMD-V) real-mode delivery ignores the IDT limit, so the triple
# fault reaches the machine's default handler instead: accept that on kvm only, and say so.
PVM_TRIPLE_FAULT = "although the guest had set the table's limit to 0x0"


def outcome(guest, accel):
    """(stop reason, result, crash reason) of a guest, however it ends."""
    try:
        result, why = run_guest(guest, accel=accel, timeout=TIMEOUT), ""
    except GuestTimeout as e:
        result, why = e.result, ""
    except GuestCrashed as e:
        result, why = e.result, e.reason
    return result.stop_reason, result, why


def test_the_lwn_bytes_are_the_articles():
    assert LWN_ADD.code == bytes.fromhex("ba f8 03 00 d8 04 30 ee b0 0a ee f4")


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_listing_assembles_to_the_stored_bytes(name):
    pytest.importorskip("keystone", reason="keystone-engine is not installed")
    from vizlib.machine.asm import assemble

    guest = GUESTS[name]
    assert assemble(guest.listing, guest.address) == guest.code


@pytest.mark.parametrize("accel", ACCELS)
@pytest.mark.parametrize("name", sorted(GUESTS))
def test_guest_does_what_it_says(name, accel):
    guest = GUESTS[name]
    stop, result, why = outcome(guest, accel)
    if guest is TRIPLE_FAULT and accel == "kvm" and PVM_TRIPLE_FAULT in why:
        pytest.xfail("PVM host: real-mode interrupt delivery ignores the IDT limit (it says so)")
    assert stop == guest.stop
    assert result.accel == accel
    assert result.serial == guest.serial
    assert result.exit_code == guest.exit_code
    assert result.display == guest.display
    assert result.exit_counts == guest.exit_counts


@BOTH
@pytest.mark.parametrize("name", sorted(set(GUESTS) - {"runaway", "triple_fault"}))
def test_kvm_and_tcg_agree_exit_by_exit(name):
    (kvm_stop, on_kvm, _), (tcg_stop, on_tcg, _) = (
        outcome(GUESTS[name], a) for a in ("kvm", "tcg")
    )
    assert kvm_stop == tcg_stop
    assert on_kvm.serial == on_tcg.serial
    assert on_kvm.exit_code == on_tcg.exit_code
    assert on_kvm.exits == on_tcg.exits
    if kvm_stop == "hlt":  # after a stop inside a block tcg may have run further (see tcg.py)
        assert on_kvm.registers == on_tcg.registers


@pytest.mark.parametrize("accel", ACCELS)
def test_exits_name_ports_addresses_and_data(accel):
    stop, result, _ = outcome(GUESTS["mmio_display"], accel)
    first, *_, read, echo, halt = result.exits
    assert (first.reason, first.address, first.direction, first.size) == (
        "mmio",
        0xB8000,
        "write",
        2,
    )
    assert first.data == b"H\x07"
    assert (read.direction, read.size, read.data) == ("read", 1, b"H")
    assert (echo.reason, echo.port, echo.direction, echo.value) == ("io", 0x3F8, "out", ord("H"))
    assert halt.reason == "hlt" and result.halted


@pytest.mark.parametrize("accel", ACCELS)
def test_paravirtual_console_costs_one_exit_where_com1_costs_one_per_byte(accel):
    emulated = run_guest(GUESTS["hello_serial"], accel=accel)
    polling = run_guest(GUESTS["hello_polling"], accel=accel)
    paravirtual = run_guest(GUESTS["hello_pv"], accel=accel)
    assert emulated.serial == polling.serial == paravirtual.serial
    length = len(emulated.serial)
    assert [r.exit_counts["io"] for r in (emulated, polling, paravirtual)] == [
        length,
        2 * length,
        1,
    ]


@pytest.mark.parametrize(
    "listing, expected",
    [
        ("mov byte [es:0x0010], 'A'", "26 c6 06 10 00 41"),
        ("jmp $", "eb fe"),
        ("jmp 0xa000:0x0000", "ea 00 00 00 a0"),
        ('here:\n    dd here ; comment\n    db "a;b", 0x0a', "00 7c 00 00 61 3b 62 0a"),
        ("[bits 16]\n[org 0x7c00]\n    mov al, 10", "b0 0a"),  # decimal, unlike keystone's NASM
    ],
)
def test_assemble_reads_the_nasm_forms_of_the_listings(listing, expected):
    pytest.importorskip("keystone", reason="keystone-engine is not installed")
    from vizlib.machine.asm import assemble

    assert assemble(listing) == bytes.fromhex(expected)


@pytest.mark.parametrize(
    "listing, message", [("[section .text]", "not supported"), ("mov ax, nowhere", "keystone")]
)
def test_assemble_refuses_what_it_cannot_do(listing, message):
    pytest.importorskip("keystone", reason="keystone-engine is not installed")
    from vizlib.machine.asm import assemble

    with pytest.raises(ValueError, match=message):
        assemble(listing)


# Exceptions and interrupts with no handler of the guest's: (code, what the crash names).
UNHANDLED = {
    "ud2": ("0f 0b", "exception #UD (invalid opcode)"),
    "div by 0": ("31 c9 f7 f1", "exception #DE (divide error)"),
    "int3": ("cc", "exception #BP (breakpoint)"),
    "int 0x10": ("cd 10", "interrupt 0x10"),
}


@pytest.mark.parametrize("accel", ACCELS)
@pytest.mark.parametrize("case", UNHANDLED)
def test_an_exception_without_a_handler_is_named_the_same_on_both_accelerators(case, accel):
    code, named = UNHANDLED[case]
    with pytest.raises(GuestCrashed) as caught:
        run_guest(Guest("x", "x", "", bytes.fromhex(code)), accel=accel, timeout=TIMEOUT)
    assert f"{named} with no handler" in caught.value.reason
    assert caught.value.result.exit_counts == {"io": 1}  # the default handler's report
