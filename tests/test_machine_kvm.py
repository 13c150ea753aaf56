"""The KVM API layer: structure layouts, ioctl numbers, the step-by-step session, timeouts."""

import ctypes
import mmap
import os
import signal
import threading

import pytest

from vizlib.machine import GuestTimeout, VirtualMachine
from vizlib.machine import kvm_api as api
from vizlib.machine.errors import AcceleratorUnavailable
from vizlib.machine.kvm import KvmSession, install_alarm_handler, unavailable_reason

WHY = unavailable_reason()
needs_kvm = pytest.mark.skipif(WHY is not None, reason=f"KVM unavailable: {WHY}")


def test_structures_have_the_kernels_sizes_and_offsets():
    assert ctypes.sizeof(api.kvm_regs) == 144
    assert ctypes.sizeof(api.kvm_segment) == 24
    assert ctypes.sizeof(api.kvm_sregs) == 312
    assert ctypes.sizeof(api.kvm_userspace_memory_region) == 32
    assert api.kvm_run.exit_reason.offset == 8
    assert api.kvm_run.exit.offset == 32
    assert api._exit_io.data_offset.offset == 8
    assert api._exit_mmio.len.offset == 16


def test_ioctl_numbers_match_linux_kvm_h():
    # values printed by a C program including <linux/kvm.h> on x86-64
    assert api.KVM_GET_API_VERSION == 0xAE00
    assert api.KVM_CREATE_VM == 0xAE01
    assert api.KVM_CREATE_VCPU == 0xAE41
    assert api.KVM_SET_USER_MEMORY_REGION == 0x4020AE46
    assert api.KVM_RUN == 0xAE80
    assert api.KVM_GET_REGS == 0x8090AE81
    assert api.KVM_SET_REGS == 0x4090AE82
    assert api.KVM_GET_SREGS == 0x8138AE83
    assert api.KVM_SET_SREGS == 0x4138AE84


def test_missing_device_and_permission_denied_say_what_to_do(monkeypatch, tmp_path):
    missing = str(tmp_path / "kvm")
    assert "modprobe" in unavailable_reason(missing)
    with pytest.raises(AcceleratorUnavailable, match="no .*kvm: the kvm module"):
        KvmSession(path=missing).open()

    def denied(path, flags):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    assert "usermod -aG kvm" in unavailable_reason()


@needs_kvm
def test_a_vm_built_step_by_step_runs_the_lwn_guest():
    """Lesson 07's sequence, each step logged with its ioctl."""
    ram = mmap.mmap(-1, 0x10000)
    anchor = ctypes.c_char.from_buffer(ram)
    ram[0x1000:0x100C] = bytes.fromhex("ba f8 03 00 d8 04 30 ee b0 0a ee f4")
    with KvmSession() as s:
        s.open()
        assert s.api_version() == 12
        assert s.check_extension(api.KVM_CAP_USER_MEMORY) > 0
        s.create_vm()
        s.set_user_memory_region(0, 0, 0x10000, ctypes.addressof(anchor))
        s.create_vcpu()
        assert s.mmap_run() >= ctypes.sizeof(api.kvm_run)
        sregs = s.get_sregs()
        sregs.cs.base, sregs.cs.selector = 0, 0
        s.set_sregs(sregs)
        s.set_regs(api.kvm_regs(rip=0x1000, rax=2, rbx=2, rflags=0x2))
        exits = [s.run_once() for _ in range(3)]
        fds = (s.kvm_fd, s.vm_fd, s.vcpu_fd)
    del anchor
    ram.close()
    assert [(e.reason, e.port, e.data) for e in exits] == [
        ("io", 0x3F8, b"4"),
        ("io", 0x3F8, b"\n"),
        ("hlt", None, b""),
    ]
    names = [call.name for call in s.log]
    assert names[:8] == [
        "open",
        "KVM_GET_API_VERSION",
        "KVM_CHECK_EXTENSION",
        "KVM_CREATE_VM",
        "KVM_SET_USER_MEMORY_REGION",
        "KVM_CREATE_VCPU",
        "KVM_GET_VCPU_MMAP_SIZE",
        "mmap",
    ]
    assert names.count("KVM_RUN") == 3 and names[-4:] == ["munmap", "close", "close", "close"]
    assert s.log[3].number == api.KVM_CREATE_VM and s.log[3].result == str(fds[1])
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


@needs_kvm
def test_session_steps_out_of_order_are_refused():
    with KvmSession() as s:
        with pytest.raises(ValueError, match="no vm file descriptor"):
            s.create_vcpu()
        with pytest.raises(ValueError, match="not mapped"):
            s.run_once()


@needs_kvm
def test_vm_log_shows_how_the_machine_was_built():
    with VirtualMachine(accel="kvm") as vm:
        log = vm.kvm_log
    regions = [call for call in log if call.name == "KVM_SET_USER_MEMORY_REGION"]
    assert [r.argument.split(":")[0] for r in regions] == ["slot 0", "slot 1"]
    assert "guest 0xc0000" in regions[1].argument
    assert "KVM_RUN" not in {call.name for call in log}


@needs_kvm
def test_the_alarm_is_put_back_after_a_run():
    before = signal.getsignal(signal.SIGALRM)
    with VirtualMachine(accel="kvm") as vm:
        vm.load(b"\xeb\xfe")
        with pytest.raises(GuestTimeout):
            vm.run(timeout=0.1)
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@needs_kvm
def test_a_run_in_another_thread_times_out_through_the_watchdog():
    previous = signal.getsignal(signal.SIGALRM)
    outcome = []

    def worker():
        with VirtualMachine(accel="kvm") as vm:
            vm.load(b"\xeb\xfe")
            try:
                vm.run(timeout=0.2)
            except (GuestTimeout, RuntimeError) as e:
                outcome.append(type(e).__name__)

    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
        install_alarm_handler()
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert outcome == ["RuntimeError", "GuestTimeout"]


@needs_kvm
def test_a_run_in_a_thread_without_a_handler_says_so_even_through_with():
    previous, caught = signal.getsignal(signal.SIGALRM), []

    def worker():
        try:
            with VirtualMachine(accel="kvm") as vm:
                vm.load(b"\xeb\xfe")
                vm.run(timeout=0.2)
        except Exception as e:  # noqa: BLE001 -- which exception escapes is the point
            caught.append(e)

    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert [type(e) for e in caught] == [RuntimeError], caught  # not a BufferError on close
    assert "install_alarm_handler()" in str(caught[0])
