"""What can go wrong when emulating a foreign CPU. Lesson 06.

Every error carries a message written for the learner, in the course's language; guest errors
also carry the program counter (`pc`) where the CPU stopped and the `reason`.
"""

from __future__ import annotations

from vizlib.i18n import _


class EmulationError(Exception):
    """Base class of the errors of `vizlib.emulation`. Lesson 06."""


class EmulatorMissing(EmulationError, ImportError):
    """An optional package (unicorn, capstone, keystone) or QEMU is not installed. Lesson 06.

    The message says how to install it; `package` names what is missing.
    """

    def __init__(self, package: str, hint: str):
        super().__init__(_("{package} is not installed: {hint}", package=package, hint=hint))
        self.package = package
        self.hint = hint


class GuestError(EmulationError):
    """The guest stopped before reaching the end of its code. Lesson 06.

    `message` is the whole sentence, with the pc and the reason in it.
    """

    def __init__(self, message: str, pc: int, reason: str):
        super().__init__(message)
        self.pc = pc
        self.reason = reason


class GuestFault(GuestError):
    """The guest faulted: unmapped memory, an invalid instruction, a trap. Lesson 06."""

    def __init__(self, pc: int, reason: str):
        message = _("guest fault at pc={pc}: {reason}", pc=f"{pc:#x}", reason=reason)
        super().__init__(message, pc, reason)


class GuestRunaway(GuestError):
    """The guest hit the instruction or time limit of the run (a loop that never ends, or a
    loop count that wrapped around). Lesson 06."""

    def __init__(self, pc: int, reason: str):
        message = _("guest stopped by the limit at pc={pc}: {reason}", pc=f"{pc:#x}", reason=reason)
        super().__init__(message, pc, reason)
