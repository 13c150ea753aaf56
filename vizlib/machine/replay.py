"""Lesson 07's KVM session where /dev/kvm cannot be used: the same steps, replayed. Lesson 07.

`open_session()` gives a real `KvmSession` when /dev/kvm is usable, else a `ReplayedKvmSession`:
it has the same methods, takes the same arguments and logs the same calls, but every result is
the one a real kernel returned when the lesson's steps were recorded (marked "(recorded)" by
`recorded`), and
nothing reaches the operating system. So the lesson's cells run everywhere, and say which it is.

The record: a cloud VM whose /dev/kvm is PVM (Linux 6.18, Intel Xeon, no VT-x), running lesson
07's steps with the LWN guest (`guests.LWN_ADD`, AL = BL = 2).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from vizlib.i18n import _
from vizlib.machine import kvm_api as api
from vizlib.machine.kvm import KvmSession, unavailable_reason
from vizlib.machine.results import Exit


def recorded(result: str) -> str:
    """A result of the recording, marked as such in the log, in the course's language."""
    return _("{result} (recorded)", result=result)


@dataclass(frozen=True)
class RecordedCall:
    """One call of the recorded session: its name and what it returned.

    data: the structure the kernel filled in (KVM_GET_SREGS), or the exit (KVM_RUN).
    """

    name: str
    result: str
    data: bytes | Exit | None = None


# struct kvm_sregs of a new vCPU as KVM_GET_SREGS returned it: the x86 reset state (CS selector
# 0xf000, base 0xffff0000, CR0 0x60000010), 312 bytes.
RESET_SREGS = bytes.fromhex(
    "0000ffff00000000ffff000000f00b0100000100000000000000000000000000ffff00000000030100000100"
    "000000000000000000000000ffff00000000030100000100000000000000000000000000ffff000000000301"
    "00000100000000000000000000000000ffff00000000030100000100000000000000000000000000ffff0000"
    "0000030100000100000000000000000000000000ffff000000000b0100000000000000000000000000000000"
    "ffff00000000020100000000000000000000000000000000ffff0000000000000000000000000000ffff0000"
    "0000000010000060000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000009e0fe0000000000000000000000000000000000000000000000000000000000000000"
    "00000000"
)

LESSON_RECORD = (
    RecordedCall("open", "3"),
    RecordedCall("KVM_GET_API_VERSION", "12"),
    RecordedCall("KVM_CHECK_EXTENSION", "1"),
    RecordedCall("KVM_CREATE_VM", "4"),
    RecordedCall("KVM_SET_USER_MEMORY_REGION", "0"),
    RecordedCall("KVM_CREATE_VCPU", "5"),
    RecordedCall("KVM_GET_VCPU_MMAP_SIZE", "12288"),
    RecordedCall("mmap", "struct kvm_run"),
    RecordedCall("KVM_GET_SREGS", "0", RESET_SREGS),
    RecordedCall("KVM_SET_SREGS", "0"),
    RecordedCall("KVM_SET_REGS", "0"),
    RecordedCall("KVM_RUN", "0", Exit("io", port=0x3F8, direction="out", size=1, data=b"4")),
    RecordedCall("KVM_RUN", "0", Exit("io", port=0x3F8, direction="out", size=1, data=b"\n")),
    RecordedCall("KVM_RUN", "0", Exit("hlt")),
)
"""The lesson's calls in order, as the kernel answered them."""


class ReplayedKvmSession(KvmSession):
    """A `KvmSession` that replays `record` instead of calling the kernel. Lesson 07.

    Steps must come in the recorded order; another step raises ValueError naming the one
    expected. `reason` says why the real /dev/kvm is not used.
    """

    def __init__(self, reason: str, record: tuple[RecordedCall, ...] = LESSON_RECORD):
        super().__init__()
        self.reason = reason
        self._pending = list(record)

    def _next(self, name: str) -> RecordedCall:
        if not self._pending:
            raise ValueError(
                _("step: the recording ends before {name}; re-run from open()", name=name)
            )
        if self._pending[0].name != name:
            raise ValueError(
                _(
                    "step: the recording has {expected} next, not {name}; a replayed session "
                    "follows the lesson's steps in order (re-run them from open())",
                    expected=self._pending[0].name,
                    name=name,
                )
            )
        return self._pending.pop(0)

    def open(self) -> int:
        call = self._next("open")
        self.kvm_fd = int(call.result)
        self._log(
            "open", None, "/dev/kvm", f'"{self.path}", O_RDWR | O_CLOEXEC', recorded(call.result)
        )
        return self.kvm_fd

    def _ioctl(self, fd_name: str, request: int, arg=0, summary: str = "") -> int:
        if {"/dev/kvm": self.kvm_fd, "vm": self.vm_fd, "vcpu": self.vcpu_fd}[fd_name] is None:
            raise ValueError(
                _("fd: no {fd} file descriptor yet; run the earlier steps first", fd=fd_name)
            )
        name = api.IOCTL_NAMES[request]
        call = self._next(name)
        if isinstance(call.data, bytes):  # the kernel filled the structure in place
            ctypes.memmove(ctypes.addressof(arg), call.data, ctypes.sizeof(arg))
        self._log(name, request, fd_name, summary, recorded(call.result))
        return int(call.result)

    def mmap_run(self) -> int:
        self.run_size = self._ioctl("/dev/kvm", api.KVM_GET_VCPU_MMAP_SIZE)
        if self.vcpu_fd is None:
            raise ValueError(_("fd: no vcpu file descriptor yet; run create_vcpu first"))
        call = self._next("mmap")
        summary = _("{size} bytes, MAP_SHARED", size=self.run_size)
        self._log("mmap", None, "vcpu", summary, recorded(call.result))
        return self.run_size

    def run_once(self) -> Exit:
        if self.run_size == 0:
            raise ValueError(_("run: struct kvm_run is not mapped yet; run mmap_run first"))
        call = self._next("KVM_RUN")
        self._log("KVM_RUN", api.KVM_RUN, "vcpu", "", recorded(call.result))
        return call.data

    def complete_io_in(self, data: bytes) -> None:
        """Nothing to hand back: the recorded guest made no IN."""

    def complete_mmio_read(self, data: bytes) -> None:
        """Nothing to hand back: the recorded guest made no MMIO read."""

    def close(self) -> None:
        """Forget the recorded fds (idempotent); no file was ever opened."""
        if self.run_size:
            self.run_size = 0
            self._log("munmap", None, "vcpu", "struct kvm_run", recorded("0"))
        for attr, name in (("vcpu_fd", "vcpu"), ("vm_fd", "vm"), ("kvm_fd", "/dev/kvm")):
            fd = getattr(self, attr)
            if fd is not None:
                setattr(self, attr, None)
                self._log("close", None, name, str(fd), recorded("0"))


def open_session() -> KvmSession:
    """A KvmSession on /dev/kvm, opened; or, where that is unusable, an opened replay. Lesson 07."""
    reason = unavailable_reason()
    session = KvmSession() if reason is None else ReplayedKvmSession(reason)
    session.open()
    return session


def describe(session: KvmSession) -> str:
    """One sentence: does this session talk to the kernel, or replay a recording? Lesson 07."""
    if isinstance(session, ReplayedKvmSession):
        return _(
            "REPLAY. /dev/kvm cannot be used here ({reason}). Each step below calls the same "
            "method, but its result is the one a real kernel returned when these steps were "
            "recorded on a cloud VM whose KVM is PVM; such results are marked {mark}.",
            reason=session.reason,
            mark=recorded("").strip(),
        )
    return _(
        "LIVE. Each step below is a real system call on {path} of this machine.", path=session.path
    )
