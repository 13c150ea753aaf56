"""Real machines: a small VMM in Python on /dev/kvm or on QEMU's TCG (unicorn). Lessons 07-08.

    from vizlib.machine import VirtualMachine, guests
    with VirtualMachine(accel="kvm") as vm:       # or "tcg", or "auto"
        vm.load(guests.HELLO_SERIAL.code)
        result = vm.run()                          # result.serial == b"Hello, world!\\n"

Modules: `vm` (VirtualMachine), `kvm` (KvmSession: the KVM API step by step) on `kvm_api` (ioctl
numbers and structures), `tcg` (unicorn), `devices` and `memory` (the machine both share),
`guests` (the lessons' programs), `asm` (assembling listings), `results`, `errors`, `qemu` (a boot
sector of the same bytes in the real qemu-system-x86_64), `linux_image` and `linux` (lesson 08's
Linux guest: built from Debian's packages, booted in QEMU on each accelerator), and `recordings`
(QEMU runs stored with the course, shown where QEMU cannot run).
"""

from vizlib.machine.errors import AcceleratorUnavailable, GuestCrashed, GuestTimeout, MachineError
from vizlib.machine.results import Exit, RunResult
from vizlib.machine.vm import VirtualMachine, accelerator_rows, accelerators, run_guest

__all__ = [
    "AcceleratorUnavailable",
    "Exit",
    "GuestCrashed",
    "GuestTimeout",
    "MachineError",
    "RunResult",
    "VirtualMachine",
    "accelerator_rows",
    "accelerators",
    "run_guest",
]
