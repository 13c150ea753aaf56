"""Foreign CPUs and dynamic binary translation, for real: Lesson 06.

PowerPC and ARM guest programs (`programs`) run on unicorn, QEMU's CPU emulator as a library
(`cpus`); their translation blocks are traced and timed (`blocks`); a boot sector runs in the real
QEMU when it is installed (`qemu`). `show` holds the lesson's one-call cells. The emulator packages
(unicorn, capstone, keystone) are optional: importing this package never needs them.
"""

from vizlib.emulation.errors import (
    EmulationError,
    EmulatorMissing,
    GuestError,
    GuestFault,
    GuestRunaway,
)
from vizlib.emulation.programs import PROGRAMS, SUMS, GuestProgram, program

__all__ = [
    "PROGRAMS",
    "SUMS",
    "EmulationError",
    "EmulatorMissing",
    "GuestError",
    "GuestFault",
    "GuestProgram",
    "GuestRunaway",
    "program",
]
