"""The "kvm" accelerator: /dev/kvm driven from Python with ioctl and mmap. Lesson 07.

`KvmSession` is the KVM API one step at a time, each step a method that logs the ioctl it makes,
so a lesson can build a VM cell by cell. `KvmBackend` uses those steps to run a real-mode guest
for `VirtualMachine`.

Timeouts: KVM_RUN only comes back when the guest exits, and `jmp $` never does. In the main
thread a SIGALRM from `setitimer` interrupts it (the ioctl fails with EINTR); the handler also
sets kvm_run.immediate_exit, so an alarm that lands between two KVM_RUNs stops the next one at
once. Python runs signal handlers only in the main thread, so in another thread a watchdog
thread sets immediate_exit and sends SIGALRM to the vCPU thread with pthread_kill; that needs
a Python-level SIGALRM handler to be installed: call `install_alarm_handler()` once from the main
thread first.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import signal
import threading
import time
from dataclasses import dataclass

from vizlib.i18n import _
from vizlib.machine import kvm_api as api
from vizlib.machine.devices import Board
from vizlib.machine.errors import AcceleratorUnavailable
from vizlib.machine.memory import GuestMemory
from vizlib.machine.results import GENERAL_REGISTERS, SEGMENT_REGISTERS, Exit

try:
    import fcntl
except ImportError:  # Windows: no ioctl, and no KVM anyway
    fcntl = None

DEVICE = "/dev/kvm"
ALARM_REPEAT = 0.05  # s, this course's choice: SIGALRM repeats until the run loop notices


@dataclass(frozen=True)
class KvmCall:
    """One step of a KVM session: a syscall on /dev/kvm, a VM fd or a vCPU fd. Lesson 07."""

    name: str  # an ioctl name such as "KVM_CREATE_VM", or "open", "mmap", "munmap", "close"
    number: int | None  # the ioctl request number, None for other syscalls
    fd: str  # which file: "/dev/kvm", "vm" or "vcpu"
    argument: str
    result: str

    def __str__(self) -> str:
        number = f"0x{self.number:08x}" if self.number is not None else "-"
        return f"{self.name:<27} {number:>10}  {self.fd:<8} {self.argument:<40} -> {self.result}"


def unavailable_reason(path: str = DEVICE) -> str | None:
    """Why /dev/kvm cannot be used here (with what to do), or None if it can."""
    if fcntl is None:
        return _("KVM is part of Linux; on this system use accel='tcg'")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return _(
            "no {path}: the kvm module is not loaded or the CPU has no virtualization "
            "extensions; try `sudo modprobe kvm_intel` (or kvm_amd), enable VT-x/AMD-V in the "
            "firmware, or enable nested virtualization if this machine is itself a VM",
            path=path,
        )
    except PermissionError:
        return _(
            "permission denied on {path}: add yourself to its group "
            "(`sudo usermod -aG kvm $USER`, then log in again)",
            path=path,
        )
    except OSError as e:
        return _("cannot open {path}: {reason}", path=path, reason=e.strerror)
    try:
        version = fcntl.ioctl(fd, api.KVM_GET_API_VERSION, 0)
        if version != api.KVM_API_VERSION:
            return _(
                "KVM API version {version}, this code speaks {expected}",
                version=version,
                expected=api.KVM_API_VERSION,
            )
        if not fcntl.ioctl(fd, api.KVM_CHECK_EXTENSION, api.KVM_CAP_USER_MEMORY):
            return _("KVM lacks KVM_CAP_USER_MEMORY (a kernel older than 2.6.27?)")
    except OSError as e:
        return _("{path} refused an ioctl: {reason}", path=path, reason=e.strerror)
    finally:
        os.close(fd)
    return None


def install_alarm_handler() -> None:
    """Let KVM runs time out in threads other than the main one (call from the main thread)."""
    signal.signal(signal.SIGALRM, _ignore_alarm)


def _ignore_alarm(signum, frame) -> None:
    """A SIGALRM handler whose only job is to exist, so the signal interrupts KVM_RUN."""


class KvmSession:
    """The KVM API, one method per step, each logged in `log`. Lesson 07.

    The order of a minimal VMM: open, api_version, check_extension, create_vm,
    set_user_memory_region, create_vcpu, mmap_run, get_sregs/set_sregs, set_regs, then run_once
    in a loop. Set `record = False` to stop logging (a long run would fill the log). Close with
    `close()` or use the session as a context manager.
    """

    def __init__(self, path: str = DEVICE):
        self.path = path
        self.log: list[KvmCall] = []
        self.record = True
        self.kvm_fd: int | None = None
        self.vm_fd: int | None = None
        self.vcpu_fd: int | None = None
        self.run_size = 0
        self.run: api.kvm_run | None = None  # struct kvm_run, shared with the kernel
        self._run_map: mmap.mmap | None = None

    def __enter__(self) -> KvmSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _log(self, name, number, fd, argument, result) -> None:
        if self.record:
            self.log.append(KvmCall(name, number, fd, argument, str(result)))

    def _ioctl(self, fd_name: str, request: int, arg=0, summary: str = "") -> int:
        fd = {"/dev/kvm": self.kvm_fd, "vm": self.vm_fd, "vcpu": self.vcpu_fd}[fd_name]
        if fd is None:
            raise ValueError(
                _("fd: no {fd} file descriptor yet; run the earlier steps first", fd=fd_name)
            )
        name = api.IOCTL_NAMES[request]
        try:
            if isinstance(arg, int):
                result = fcntl.ioctl(fd, request, arg)
            else:  # a ctypes structure: the kernel reads it, or fills it in place
                result = fcntl.ioctl(fd, request, arg, True)
        except OSError as e:
            self._log(name, request, fd_name, summary, f"-1 {errno.errorcode.get(e.errno, '?')}")
            raise
        self._log(name, request, fd_name, summary, result)
        return result

    def open(self) -> int:
        """open("/dev/kvm"): the handle for system ioctls."""
        if fcntl is None:
            raise AcceleratorUnavailable("kvm", unavailable_reason(self.path))
        try:
            self.kvm_fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            reason = unavailable_reason(self.path) or "open failed"
            raise AcceleratorUnavailable("kvm", reason) from None
        self._log("open", None, "/dev/kvm", f'"{self.path}", O_RDWR | O_CLOEXEC', self.kvm_fd)
        return self.kvm_fd

    def api_version(self) -> int:
        """KVM_GET_API_VERSION: 12 on every kernel since KVM became stable."""
        return self._ioctl("/dev/kvm", api.KVM_GET_API_VERSION)

    def check_extension(self, capability: int) -> int:
        """KVM_CHECK_EXTENSION: > 0 when the kernel has the capability (KVM_CAP_...)."""
        summary = _("cap {capability}", capability=capability)
        return self._ioctl("/dev/kvm", api.KVM_CHECK_EXTENSION, capability, summary)

    def create_vm(self) -> int:
        """KVM_CREATE_VM: a new, empty virtual machine (no memory, no vCPU)."""
        self.vm_fd = self._ioctl("/dev/kvm", api.KVM_CREATE_VM, 0, _("type 0 (default)"))
        return self.vm_fd

    def set_user_memory_region(
        self, slot: int, guest_phys_addr: int, memory_size: int, userspace_addr: int
    ) -> int:
        """KVM_SET_USER_MEMORY_REGION: guest-physical range -> this process's memory."""
        region = api.kvm_userspace_memory_region(
            slot=slot,
            flags=0,
            guest_phys_addr=guest_phys_addr,
            memory_size=memory_size,
            userspace_addr=userspace_addr,
        )
        summary = _(
            "slot {slot}: guest {guest} +{size} -> host {host}",
            slot=slot,
            guest=f"{guest_phys_addr:#x}",
            size=f"{memory_size:#x}",
            host=f"{userspace_addr:#x}",
        )
        return self._ioctl("vm", api.KVM_SET_USER_MEMORY_REGION, region, summary)

    def create_vcpu(self, vcpu_id: int = 0) -> int:
        """KVM_CREATE_VCPU: a virtual CPU, in the state of a CPU after reset."""
        summary = _("vcpu id {id}", id=vcpu_id)
        self.vcpu_fd = self._ioctl("vm", api.KVM_CREATE_VCPU, vcpu_id, summary)
        return self.vcpu_fd

    def mmap_run(self) -> int:
        """KVM_GET_VCPU_MMAP_SIZE, then mmap the vCPU fd: the struct kvm_run page(s)."""
        self.run_size = self._ioctl("/dev/kvm", api.KVM_GET_VCPU_MMAP_SIZE)
        if self.vcpu_fd is None:
            raise ValueError(_("fd: no vcpu file descriptor yet; run create_vcpu first"))
        self._run_map = mmap.mmap(
            self.vcpu_fd, self.run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self.run = api.kvm_run.from_buffer(self._run_map)
        summary = _("{size} bytes, MAP_SHARED", size=self.run_size)
        self._log("mmap", None, "vcpu", summary, "struct kvm_run")
        return self.run_size

    def get_regs(self) -> api.kvm_regs:
        """KVM_GET_REGS: general registers, rip and rflags."""
        regs = api.kvm_regs()
        self._ioctl("vcpu", api.KVM_GET_REGS, regs, "struct kvm_regs *")
        return regs

    def set_regs(self, regs: api.kvm_regs) -> int:
        """KVM_SET_REGS."""
        summary = f"rip={regs.rip:#x} rflags={regs.rflags:#x} rsp={regs.rsp:#x}"
        return self._ioctl("vcpu", api.KVM_SET_REGS, regs, summary)

    def get_sregs(self) -> api.kvm_sregs:
        """KVM_GET_SREGS: segment registers, descriptor tables, control registers."""
        sregs = api.kvm_sregs()
        self._ioctl("vcpu", api.KVM_GET_SREGS, sregs, "struct kvm_sregs *")
        return sregs

    def set_sregs(self, sregs: api.kvm_sregs) -> int:
        """KVM_SET_SREGS."""
        summary = f"cs={sregs.cs.selector:#x} base={sregs.cs.base:#x} cr0={sregs.cr0:#x}"
        return self._ioctl("vcpu", api.KVM_SET_SREGS, sregs, summary)

    def run_once(self) -> Exit:
        """KVM_RUN: enter the guest until it exits; decode why from struct kvm_run.

        An interrupted run (a signal, or immediate_exit) gives Exit("intr"). For reason "io",
        `data` holds the bytes of an OUT (count * size of them); for an IN, answer with
        `complete_io_in` before the next run_once. Same for an MMIO read and
        `complete_mmio_read`.
        """
        if self.run is None:
            raise ValueError(_("run: struct kvm_run is not mapped yet; run mmap_run first"))
        try:
            self._ioctl("vcpu", api.KVM_RUN)
        except InterruptedError:
            return Exit("intr")
        run = self.run
        reason = api.EXIT_REASON_NAMES.get(run.exit_reason, f"exit {run.exit_reason}")
        if run.exit_reason == api.KVM_EXIT_IO:
            io = run.io
            out = io.direction == api.KVM_EXIT_IO_OUT
            start, length = io.data_offset, io.size * io.count
            data = self._run_map[start : start + length] if out else b""
            return Exit(
                reason, port=io.port, direction="out" if out else "in", size=io.size, data=data
            )
        if run.exit_reason == api.KVM_EXIT_MMIO:
            m = run.mmio
            data = bytes(m.data[: m.len]) if m.is_write else b""
            return Exit(
                reason,
                address=m.phys_addr,
                direction="write" if m.is_write else "read",
                size=m.len,
                data=data,
            )
        return Exit(reason)

    def complete_io_in(self, data: bytes) -> None:
        """Put the bytes an IN reads where KVM_RUN will pick them up."""
        self._run_map[self.run.io.data_offset : self.run.io.data_offset + len(data)] = data

    def complete_mmio_read(self, data: bytes) -> None:
        """Put the bytes an MMIO read returns into kvm_run.mmio.data."""
        ctypes.memmove(self.run.mmio.data, data, len(data))

    def exit_detail(self) -> str:
        """What kvm_run says about a failed run (internal error, failed entry)."""
        run = self.run
        if run.exit_reason == api.KVM_EXIT_INTERNAL_ERROR:
            sub = run.internal.suberror
            data = " ".join(f"{d:#x}" for d in run.internal.data[: min(run.internal.ndata, 16)])
            known = sub in api.INTERNAL_ERROR_NAMES
            name = _(api.INTERNAL_ERROR_NAMES[sub]) if known else _("suberror {n}", n=sub)
            return f"{name} [{data}]"
        if run.exit_reason == api.KVM_EXIT_FAIL_ENTRY:
            reason = run.fail_entry.hardware_entry_failure_reason
            return _(
                "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason {reason}", reason=f"{reason:#x}"
            )
        if run.exit_reason == api.KVM_EXIT_SHUTDOWN:
            return _("KVM_EXIT_SHUTDOWN: triple fault")
        name = api.EXIT_REASON_NAMES.get(run.exit_reason, run.exit_reason)
        return _("exit reason {name}", name=name)

    def close(self) -> None:
        """Unmap kvm_run and close the vCPU, VM and /dev/kvm fds (idempotent)."""
        if self._run_map is not None:
            self.run = None  # drop the ctypes view first: it exports the mmap's buffer
            self._run_map.close()
            self._run_map = None
            self._log("munmap", None, "vcpu", "struct kvm_run", 0)
        for attr, name in (("vcpu_fd", "vcpu"), ("vm_fd", "vm"), ("kvm_fd", "/dev/kvm")):
            fd = getattr(self, attr)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)
                self._log("close", None, name, str(fd), 0)


class KvmBackend:
    """Runs a real-mode guest on /dev/kvm for `VirtualMachine`. Lesson 07."""

    name = "kvm"

    def __init__(self, memory: GuestMemory):
        self.session = KvmSession()
        try:
            self._build(memory)
        except BaseException:
            self.session.close()
            raise

    def _build(self, memory: GuestMemory) -> None:
        s = self.session
        s.open()
        version = s.api_version()
        if version != api.KVM_API_VERSION:
            reason = _("KVM API version {version}, expected 12", version=version)
            raise AcceleratorUnavailable("kvm", reason)
        if not s.check_extension(api.KVM_CAP_USER_MEMORY):
            raise AcceleratorUnavailable("kvm", _("KVM lacks KVM_CAP_USER_MEMORY"))
        s.create_vm()
        for slot, (start, size) in enumerate(memory.slots):
            s.set_user_memory_region(slot, start, size, memory.address + start)
        s.create_vcpu()
        s.mmap_run()
        sregs = s.get_sregs()
        for name in SEGMENT_REGISTERS:  # real mode, every segment at 0 (after reset CS is 0xf000)
            segment = getattr(sregs, name)
            segment.base, segment.selector = 0, 0
        s.set_sregs(sregs)
        s.set_regs(api.kvm_regs(rflags=0x2))  # bit 1 of RFLAGS is reserved and always 1
        s.record = False  # from here on, the run loop's ioctls would flood the log

    def set_registers(self, values: dict[str, int]) -> None:
        """Set 16-bit registers (ax..bp, ip, flags) and segment selectors (cs, ds, ...)."""
        s = self.session
        regs = s.get_regs()
        for name, value in values.items():
            if name in SEGMENT_REGISTERS:
                continue
            field = {"ip": "rip", "flags": "rflags"}.get(name, "r" + name)
            setattr(regs, field, value)
        s.set_regs(regs)
        if any(name in SEGMENT_REGISTERS for name in values):
            sregs = s.get_sregs()
            for name in SEGMENT_REGISTERS:
                if name in values:
                    segment = getattr(sregs, name)
                    segment.selector, segment.base = values[name], values[name] << 4
            s.set_sregs(sregs)

    def registers(self) -> dict[str, int]:
        """The 16-bit CPU state: ax..bp, ip, flags and the segment selectors."""
        regs, sregs = self.session.get_regs(), self.session.get_sregs()
        values = {name: getattr(regs, "r" + name) & 0xFFFF for name in GENERAL_REGISTERS}
        values["ip"] = regs.rip & 0xFFFF
        values["flags"] = regs.rflags & 0xFFFF
        values.update({name: getattr(sregs, name).selector for name in SEGMENT_REGISTERS})
        return values

    def idt_limit(self) -> int:
        """The limit of the interrupt table register (IDTR), in bytes."""
        return self.session.get_sregs().idt.limit

    def invalidate(self, address: int, size: int) -> None:
        """Nothing to do: KVM runs guest memory as it is."""

    def run(self, board: Board, timeout: float, count_instructions: bool) -> None:
        """KVM_RUN until the board says stop; sets board.stop_reason ("timeout" if so)."""
        s = self.session
        _Alarm.check_thread()  # before the alarm holds kvm_run: an error must not pin its mmap
        s.run.immediate_exit = 0
        deadline = time.monotonic() + timeout
        with _Alarm(s.run, timeout):
            while board.stop_reason is None:
                exit_ = s.run_once()
                if exit_.reason == "intr":
                    if time.monotonic() >= deadline:
                        board.stop_reason = "timeout"
                    else:  # some other signal, e.g. a debugger; carry on
                        s.run.immediate_exit = 0
                elif exit_.reason == "io":
                    self._port_io(board, exit_)
                elif exit_.reason == "mmio":
                    value = board.mmio(exit_.direction, exit_.address, exit_.size, exit_.value)
                    if exit_.direction == "read":
                        s.complete_mmio_read(value.to_bytes(exit_.size, "little"))
                elif exit_.reason == "hlt":
                    board.halt()
                else:
                    board.crash(s.exit_detail(), exit_.reason)

    def _port_io(self, board: Board, exit_: Exit) -> None:
        size = exit_.size
        if exit_.direction == "out":  # count > 1 for string I/O: one device access per item
            for i in range(0, len(exit_.data), size):
                value = int.from_bytes(exit_.data[i : i + size], "little")
                board.port_io("out", exit_.port, size, value)
            return
        count = self.session.run.io.count
        data = b"".join(
            board.port_io("in", exit_.port, size).to_bytes(size, "little") for _item in range(count)
        )
        self.session.complete_io_in(data)

    def close(self) -> None:
        self.session.close()


class _Alarm:
    """Interrupts KVM_RUN after `timeout` seconds (see the module docstring)."""

    def __init__(self, run: api.kvm_run, timeout: float):
        self.run = run
        self.timeout = timeout
        self.main = threading.current_thread() is threading.main_thread()

    def _fire(self, *args) -> None:
        self.run.immediate_exit = 1

    @staticmethod
    def check_thread() -> None:
        """Raise RuntimeError if a run in this thread could not be stopped at its timeout."""
        main = threading.current_thread() is threading.main_thread()
        if not main and not callable(signal.getsignal(signal.SIGALRM)):
            raise RuntimeError(
                _(
                    "timeout: a KVM run outside the main thread needs a SIGALRM handler; call "
                    "vizlib.machine.kvm.install_alarm_handler() from the main thread first"
                )
            )

    def __enter__(self) -> None:
        if self.main:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 1e-3), ALARM_REPEAT)
            return
        self.stop = threading.Event()
        thread_id = threading.get_ident()

        def watchdog() -> None:
            if self.stop.wait(self.timeout):
                return
            while not self.stop.is_set():
                self._fire()
                signal.pthread_kill(thread_id, signal.SIGALRM)
                self.stop.wait(ALARM_REPEAT)

        self.thread = threading.Thread(target=watchdog, name="kvm-watchdog", daemon=True)
        self.thread.start()

    def __exit__(self, *exc) -> None:
        if self.main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous or signal.SIG_DFL)
        else:
            self.stop.set()
            self.thread.join()
