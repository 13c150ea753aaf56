"""What can go wrong when running a guest. Lesson 07."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vizlib.i18n import _

if TYPE_CHECKING:
    from vizlib.machine.results import RunResult


class MachineError(RuntimeError):
    """Base class of the errors of `vizlib.machine`."""


class AcceleratorUnavailable(MachineError):
    """The accelerator cannot run here; the message says why and what to do. Lesson 07."""

    def __init__(self, accel: str, reason: str):
        super().__init__(
            _("accelerator {accel} is unavailable: {reason}", accel=repr(accel), reason=reason)
        )
        self.accel = accel
        self.reason = reason


class GuestTimeout(MachineError):
    """The guest was still running when the timeout expired. Lesson 07.

    `result` holds what happened until then (serial output, exits), with stop_reason "timeout".
    """

    def __init__(self, timeout: float, result: RunResult):
        super().__init__(
            _(
                "guest still running after {timeout} s ({exits} exits so far); a loop such as "
                "`jmp $` never gives control back",
                timeout=timeout,
                exits=len(result.exits),
            )
        )
        self.timeout = timeout
        self.result = result


class GuestCrashed(MachineError):
    """The guest stopped in a state it cannot leave (e.g. a triple fault). Lesson 07.

    `reason` says what the accelerator reported, `registers` is the CPU state at the crash and
    `result` holds what happened until then, with stop_reason "crash".
    """

    def __init__(self, reason: str, registers: dict[str, int], result: RunResult):
        where = f"cs:ip={registers.get('cs', 0):04x}:{registers.get('ip', 0):04x}"
        super().__init__(_("guest crashed: {reason} ({where})", reason=reason, where=where))
        self.reason = reason
        self.registers = registers
        self.result = result


class QemuMissing(MachineError):
    """qemu-system-x86_64 is not installed; the message says how to install it. Lesson 08."""
