"""The lessons' guest programs: listing == bytes, and the same behaviour on KVM and on TCG.

KVM tests run wherever /dev/kvm is usable, TCG tests wherever unicorn imports; otherwise they skip
with the reason `accelerators()` gives.
"""

import pytest

from vizlib.machine import GuestCrashed, GuestTimeout, accelerators, run_guest
from vizlib.machine.guests import GUESTS, LWN_ADD, TRIPLE_FAULT

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
# fault becomes an endless loop: accept that outcome on kvm only, and say so.
PVM_TRIPLE_FAULT = "timeout"


def outcome(guest, accel):
    """(stop reason, result) of a guest, whether it ends normally or with an exception."""
    try:
        result = run_guest(guest, accel=accel, timeout=TIMEOUT)
    except (GuestTimeout, GuestCrashed) as e:
        result = e.result
    return result.stop_reason, result


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
    stop, result = outcome(guest, accel)
    if guest is TRIPLE_FAULT and accel == "kvm" and stop == PVM_TRIPLE_FAULT:
        pytest.xfail("PVM host: real-mode interrupt delivery ignores the IDT limit")
    assert stop == guest.stop
    assert result.accel == accel
    assert result.serial == guest.serial
    assert result.exit_code == guest.exit_code
    assert result.display == guest.display
    assert result.exit_counts == guest.exit_counts


@BOTH
@pytest.mark.parametrize("name", sorted(set(GUESTS) - {"runaway", "triple_fault"}))
def test_kvm_and_tcg_agree_exit_by_exit(name):
    (kvm_stop, on_kvm), (tcg_stop, on_tcg) = (outcome(GUESTS[name], a) for a in ("kvm", "tcg"))
    assert kvm_stop == tcg_stop
    assert on_kvm.serial == on_tcg.serial
    assert on_kvm.exit_code == on_tcg.exit_code
    assert on_kvm.exits == on_tcg.exits
    if kvm_stop == "hlt":  # after a stop inside a block tcg may have run further (see tcg.py)
        assert on_kvm.registers == on_tcg.registers


@pytest.mark.parametrize("accel", ACCELS)
def test_exits_name_ports_addresses_and_data(accel):
    stop, result = outcome(GUESTS["mmio_display"], accel)
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
