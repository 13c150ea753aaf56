"""VirtualMachine's public API on each available accelerator: loading, running, stopping, errors."""

import time

import pytest

from vizlib.machine import (
    AcceleratorUnavailable,
    GuestCrashed,
    GuestTimeout,
    VirtualMachine,
    accelerators,
    kvm,
    tcg,
)
from vizlib.machine.devices import MmioDevice, PortDevice
from vizlib.machine.guests import GUESTS, LWN_ADD

AVAILABLE = accelerators()
ACCELS = [
    pytest.param(name, marks=pytest.mark.skipif(why != "available", reason=why))
    for name, why in AVAILABLE.items()
]
ANY = next((name for name, why in AVAILABLE.items() if why == "available"), None)
needs_any = pytest.mark.skipif(ANY is None, reason=f"no accelerator: {AVAILABLE}")

# mov dx, 0x3f8; mov al, 'x'; out dx, al; jmp $  -- prints, then spins
PRINT_THEN_SPIN = bytes.fromhex("ba f8 03 b0 78 ee eb fe")
# mov dx, 0x3f8; mov al, 'a'; out dx, al; hlt; mov al, 'b'; out dx, al; hlt
TWO_HALTS = bytes.fromhex("ba f8 03 b0 61 ee f4 b0 62 ee f4")


def test_accelerators_reports_both_with_a_reason():
    assert set(AVAILABLE) == {"kvm", "tcg"}
    assert all(isinstance(why, str) and why for why in AVAILABLE.values())


@pytest.mark.parametrize("accel", ACCELS)
def test_lwn_example_prints_the_sum_of_al_and_bl(accel):
    with VirtualMachine(accel=accel) as vm:
        vm.load(LWN_ADD.code, registers={"ax": 3, "bx": 4})
        result = vm.run()
    assert (result.serial, result.halted, result.accel) == (b"7\n", True, accel)
    assert result.exit_code is None and result.wall_time > 0
    assert result.registers["ip"] == 0x7C00 + len(LWN_ADD.code)  # just past HLT


@pytest.mark.parametrize("accel", ACCELS)
def test_max_exits_pauses_and_run_continues(accel):
    hello = GUESTS["hello_serial"]
    with VirtualMachine(accel=accel) as vm:
        vm.load(hello.code)
        first = vm.run(max_exits=5)
        rest = vm.run()
    assert (first.stop_reason, first.serial, len(first.exits)) == ("max-exits", b"Hello", 5)
    assert not first.halted
    assert first.serial + rest.serial == hello.serial and rest.halted


@pytest.mark.parametrize("accel", ACCELS)
def test_run_after_hlt_goes_on_past_it(accel):
    with VirtualMachine(accel=accel) as vm:
        vm.load(TWO_HALTS)
        assert [vm.run().serial, vm.run().serial] == [b"a", b"b"]


@pytest.mark.parametrize("accel", ACCELS)
def test_a_learners_port_device_is_reached_by_in_and_out(accel):
    class Dice(PortDevice):
        def __init__(self):
            super().__init__(ports=range(0x600, 0x601))
            self.heard = []

        def io_in(self, port, size):
            return ord("4")

        def io_out(self, port, size, value):
            self.heard.append(value)

    dice = Dice()
    # mov dx, 0x600; in al, dx; out dx, al; mov dx, 0x3f8; out dx, al; hlt
    code = bytes.fromhex("ba 00 06 ec ee ba f8 03 ee f4")
    with VirtualMachine(accel=accel) as vm:
        vm.add_device(dice)
        vm.load(code)
        result = vm.run()
    assert result.serial == b"4" and dice.heard == [ord("4")]
    assert [(e.port, e.direction) for e in result.exits[:2]] == [(0x600, "in"), (0x600, "out")]


@pytest.mark.parametrize("accel", ACCELS)
def test_a_learners_mmio_device_sees_stores_outside_ram(accel):
    class Lamp(MmioDevice):
        def __init__(self):
            super().__init__(base=0xA0000, size=0x1000)
            self.stores = []

        def mmio_write(self, offset, size, value):
            self.stores.append((offset, size, value))

    lamp = Lamp()
    # mov ax, 0xa000; mov es, ax; mov word [es:0x0010], 0x1234; hlt
    code = bytes.fromhex("b8 00 a0 8e c0 26 c7 06 10 00 34 12 f4")
    with VirtualMachine(accel=accel) as vm:
        vm.add_device(lamp)
        vm.load(code)
        result = vm.run()
    assert lamp.stores == [(0x10, 2, 0x1234)]
    assert result.exit_counts == {"mmio": 1, "hlt": 1}


def test_instructions_are_counted_on_tcg_only_when_asked():
    if AVAILABLE["tcg"] != "available":
        pytest.skip(AVAILABLE["tcg"])
    busy = GUESTS["busy_loop"]
    with VirtualMachine(accel="tcg") as vm:
        vm.load(busy.code)
        counted = vm.run(count_instructions=True)
        vm.load(busy.code)
        plain = vm.run()
    # mov cx; 50,000 x loop; mov al; mov dx; out; hlt
    assert counted.instructions == 1 + 50_000 + 4
    assert plain.instructions is None


@pytest.mark.parametrize("accel", ACCELS)
def test_runaway_guest_times_out_with_the_partial_result(accel):
    with VirtualMachine(accel=accel) as vm:
        vm.load(PRINT_THEN_SPIN)
        start = time.monotonic()
        with pytest.raises(GuestTimeout, match="still running after 0.2 s") as caught:
            vm.run(timeout=0.2)
        elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 1.5
    assert caught.value.result.serial == b"x"
    assert caught.value.result.stop_reason == "timeout"


@pytest.mark.parametrize("accel", ACCELS)
def test_fetching_code_from_the_hole_crashes_with_registers(accel):
    with VirtualMachine(accel=accel) as vm:
        vm.load(GUESTS["fetch_from_hole"].code)
        with pytest.raises(GuestCrashed) as caught:
            vm.run()
    crash = caught.value
    assert crash.registers["cs"] == 0xA000 and crash.registers["ip"] == 0
    assert crash.result.exits[-1].reason == "internal_error"
    assert "a000:0000" in str(crash)
    expected = {"kvm": "KVM_INTERNAL_ERROR_EMULATION", "tcg": "UC_ERR_FETCH"}[accel]
    assert expected in crash.reason


def test_triple_fault_crashes_on_tcg():
    """TCG only: on a PVM host KVM never reports the shutdown (see guests.py)."""
    if AVAILABLE["tcg"] != "available":
        pytest.skip(AVAILABLE["tcg"])
    with VirtualMachine(accel="tcg") as vm:
        vm.load(GUESTS["triple_fault"].code)
        with pytest.raises(GuestCrashed, match="triple fault") as caught:
            vm.run()
    assert caught.value.result.exits[-1].reason == "shutdown"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"accel": "qemu"}, "accel must be one of"), ({"memory": 4096}, "memory must be")],
)
def test_bad_machine_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VirtualMachine(**kwargs)


@needs_any
def test_bad_load_and_run_arguments_name_the_parameter():
    with VirtualMachine(accel=ANY) as vm:
        with pytest.raises(ValueError, match="nothing to run"):
            vm.run()
        with pytest.raises(ValueError, match="code must be"):
            vm.load(b"")
        with pytest.raises(ValueError, match="address must be"):
            vm.load(b"\xf4" * 16, address=0xFFF8)
        with pytest.raises(ValueError, match="registers: 'eax'"):
            vm.load(b"\xf4", registers={"eax": 1})
        with pytest.raises(ValueError, match="registers: ax must be"):
            vm.load(b"\xf4", registers={"ax": 0x10000})
        vm.load(b"\xf4")
        with pytest.raises(ValueError, match="timeout must be"):
            vm.run(timeout=0)
        with pytest.raises(ValueError, match="max_exits must be"):
            vm.run(max_exits=0)


@needs_any
def test_close_is_idempotent_and_final():
    vm = VirtualMachine(accel=ANY)
    vm.load(b"\xf4")
    vm.close()
    vm.close()
    assert vm.closed
    with pytest.raises(ValueError, match="closed"):
        vm.run()


def test_auto_prefers_kvm():
    if ANY is None:
        pytest.skip(str(AVAILABLE))
    with VirtualMachine() as vm:
        assert vm.accel == ANY


def test_no_accelerator_says_why_and_what_to_do(monkeypatch):
    def refuse(self):
        raise AcceleratorUnavailable("kvm", "no /dev/kvm: try `sudo modprobe kvm_intel`")

    monkeypatch.setattr(kvm.KvmSession, "open", refuse)
    monkeypatch.setattr(tcg, "unicorn", None)
    assert "pip install unicorn" in accelerators()["tcg"]
    with pytest.raises(AcceleratorUnavailable, match="unicorn is not installed"):
        VirtualMachine(accel="tcg")
    with pytest.raises(AcceleratorUnavailable, match="kvm: no /dev/kvm.*tcg: unicorn") as caught:
        VirtualMachine(accel="auto")
    assert caught.value.accel == "auto"
