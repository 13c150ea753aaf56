"""`VirtualMachine`: a tiny VMM in Python, on KVM or on QEMU's TCG. Lesson 07.

The machine: one x86 CPU in 16-bit real mode, RAM from 0 with a hole at 0xa0000-0xbffff
(`memory`), and the devices of `devices`: COM1, isa-debug-exit, a paravirtual console and a text
display. The same guest bytes give the same serial output, exit code and exit sequence on both
accelerators, as QEMU's `-accel kvm` and `-accel tcg` do.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping

from vizlib.i18n import _
from vizlib.machine import kvm, tcg
from vizlib.machine.devices import (
    Board,
    DebugExit,
    MmioDevice,
    NoHandler,
    PortDevice,
    PvConsole,
    Serial16550,
    TextDisplay,
)
from vizlib.machine.errors import AcceleratorUnavailable, GuestCrashed, GuestTimeout
from vizlib.machine.memory import GuestMemory
from vizlib.machine.results import REGISTER_NAMES, RunResult

ACCELS = ("auto", "kvm", "tcg")
BOOT_ADDRESS = 0x7C00  # where a PC BIOS loads the boot sector (IBM PC BIOS convention)
SEGMENT_SIZE = 0x10000  # real mode: CS = 0 reaches offsets 0..0xffff
MAX_TIMEOUT = 3600  # seconds; this course's choice: the longest run `VirtualMachine.run` takes
LOADABLE_REGISTERS = ("ax", "bx", "cx", "dx", "si", "di", "sp", "bp", "flags", "ds", "es", "ss")
AVAILABLE = "available"  # what `accelerators` says of an accelerator that works here


def accelerators() -> dict[str, str]:
    """{"kvm": ..., "tcg": ...}: AVAILABLE, or why not and what to do. Lesson 07.

    "available" is a key for code to compare, the same in every language; the reasons are in
    the course's language. `accelerator_rows` shows both in words.
    """
    return {
        "kvm": kvm.unavailable_reason() or AVAILABLE,
        "tcg": tcg.unavailable_reason() or AVAILABLE,
    }


def accelerator_rows() -> list[tuple[str, str]]:
    """(accelerator, "available" or why not) for a table, in the course's language. Lesson 07."""
    return [
        (name, _("available") if why == AVAILABLE else why) for name, why in accelerators().items()
    ]


def _backend(accel: str, memory: GuestMemory):
    if accel == "kvm":
        try:
            return kvm.KvmBackend(memory)
        except OSError as e:  # e.g. KVM_CREATE_VM refused
            raise AcceleratorUnavailable("kvm", f"{e.strerror or e}") from e
    if accel == "tcg":
        return tcg.TcgBackend(memory)
    try:
        return _backend("kvm", memory)
    except AcceleratorUnavailable as kvm_error:
        try:
            return _backend("tcg", memory)
        except AcceleratorUnavailable as tcg_error:
            reasons = f"kvm: {kvm_error.reason}; tcg: {tcg_error.reason}"
            raise AcceleratorUnavailable("auto", reasons) from None


def _release(backend, memory: GuestMemory) -> None:
    backend.close()
    memory.close()


class VirtualMachine:
    """A one-vCPU real-mode PC run by this process: the learner's own VMM. Lesson 07.

    >>> with VirtualMachine(accel="tcg") as vm:
    ...     vm.load(bytes.fromhex("b0 41 e6 f4"))   # mov al, 0x41; out 0xf4, al
    ...     vm.run().exit_code
    65

    accel: "kvm" (/dev/kvm), "tcg" (unicorn) or "auto" (kvm if usable, else tcg).
    memory: bytes of RAM, see `memory.GuestMemory`. Devices: `serial` (COM1), `debug_exit`,
    `pv_console`, `display`, and `no_handler`, whose default handlers fill the interrupt vector
    table; add your own with `add_device`. Close with `close()` or a `with`.
    """

    def __init__(self, accel: str = "auto", memory: int = 1 << 20):
        if accel not in ACCELS:
            raise ValueError(
                _("accel must be one of {allowed}, got {accel}", allowed=ACCELS, accel=repr(accel))
            )
        self.memory = GuestMemory(memory)
        try:
            self._backend = _backend(accel, self.memory)
        except BaseException:
            self.memory.close()
            raise
        self._finalizer = weakref.finalize(self, _release, self._backend, self.memory)
        self.board = Board(self.memory)
        self.serial = Serial16550()
        self.debug_exit = DebugExit()
        self.pv_console = PvConsole()
        self.display = TextDisplay()
        self.no_handler = NoHandler()
        self.no_handler.install(self.memory)
        devices = (self.serial, self.debug_exit, self.pv_console, self.display, self.no_handler)
        for device in devices:
            self.board.add(device)
        self._loaded = False

    @property
    def accel(self) -> str:
        """The accelerator in use: "kvm" or "tcg"."""
        return self._backend.name

    @property
    def closed(self) -> bool:
        """True after `close()` (or once the machine was released)."""
        return not self._finalizer.alive

    @property
    def kvm_log(self) -> list:
        """The KVM calls that built this machine (`kvm.KvmCall`); empty on tcg. Lesson 07."""
        return list(self._backend.session.log) if self.accel == "kvm" else []

    def __enter__(self) -> VirtualMachine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the accelerator, its file descriptors and the guest RAM (idempotent)."""
        self._finalizer()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(_("vm: this machine is closed; create a new VirtualMachine"))

    def add_device(self, device: PortDevice | MmioDevice) -> None:
        """Plug in a device model (a `devices.PortDevice` or `devices.MmioDevice`). Lesson 08."""
        self._check_open()
        self.board.add(device)

    def load(
        self, code: bytes, address: int = BOOT_ADDRESS, registers: Mapping[str, int] | None = None
    ) -> None:
        """Copy `code` to `address` and reset the CPU to run it, as a BIOS starts a boot sector.

        CS = DS = ES = SS = 0, IP = address, SP = address (the stack grows down below the code),
        other registers 0, FLAGS = 0x2. `registers` overrides some of them, e.g. {"ax": 2}.
        """
        self._check_open()
        if not isinstance(code, (bytes, bytearray, memoryview)) or len(code) == 0:
            raise ValueError(
                _("code must be non-empty bytes, got {kind}", kind=type(code).__name__)
            )
        if not (isinstance(address, int) and 0 <= address <= SEGMENT_SIZE - len(code)):
            raise ValueError(
                _(
                    "address must be an int with address + len(code) <= {limit} (CS = 0), got "
                    "{address} for {size} bytes",
                    limit=f"{SEGMENT_SIZE:#x}",
                    address=repr(address),
                    size=len(code),
                )
            )
        values = dict.fromkeys(REGISTER_NAMES, 0)
        values.update(ip=address, sp=address, flags=0x2)
        for name, value in (registers or {}).items():
            if name not in LOADABLE_REGISTERS:
                raise ValueError(
                    _(
                        "registers: {name} is not one of {allowed}",
                        name=repr(name),
                        allowed=LOADABLE_REGISTERS,
                    )
                )
            if not (isinstance(value, int) and 0 <= value <= 0xFFFF):
                raise ValueError(
                    _(
                        "registers: {name} must be an int in 0..0xffff, got {value}",
                        name=name,
                        value=repr(value),
                    )
                )
            values[name] = value
        self.memory.write(address, bytes(code))
        self._backend.invalidate(address, len(code))
        self._backend.set_registers(values | {"flags": values["flags"] | 0x2})
        self._loaded = True

    def registers(self) -> dict[str, int]:
        """The vCPU's 16-bit registers and segment selectors now."""
        self._check_open()
        return self._backend.registers()

    def run(
        self, timeout: float = 5.0, max_exits: int = 100_000, count_instructions: bool = False
    ) -> RunResult:
        """Run the guest until it halts, powers off, or exits `max_exits` times. Lesson 07.

        Reaching `max_exits` is not an error: the result says stop_reason "max-exits" and
        another `run()` continues. A guest still running after `timeout` seconds raises
        GuestTimeout, one that cannot go on raises GuestCrashed; both carry the partial result.
        `count_instructions` counts guest instructions on tcg (slow: a hook per instruction).
        """
        self._check_open()
        if not self._loaded:
            raise ValueError(_("vm: nothing to run; call load(code) first"))
        if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT):
            raise ValueError(
                _(
                    "timeout must be a number of seconds in (0, {limit}], got {timeout}",
                    limit=MAX_TIMEOUT,
                    timeout=repr(timeout),
                )
            )
        if not (isinstance(max_exits, int) and max_exits >= 1):
            raise ValueError(
                _("max_exits must be an int >= 1, got {max_exits}", max_exits=repr(max_exits))
            )
        board = self.board
        board.start_run(max_exits)
        self.no_handler.vector = None
        start = time.perf_counter()
        self._backend.run(board, float(timeout), count_instructions)
        wall_time = time.perf_counter() - start
        registers = self._backend.registers()
        counted = count_instructions and self.accel == "tcg"
        result = RunResult(
            accel=self.accel,
            serial=bytes(board.console),
            exit_code=board.exit_code,
            stop_reason=board.stop_reason,
            exits=board.exits,
            wall_time=wall_time,
            instructions=self._backend.instructions if counted else None,
            registers=registers,
            display=self.display.text(),
        )
        if board.stop_reason == "timeout":
            raise GuestTimeout(timeout, result)
        if board.stop_reason == "crash":
            raise GuestCrashed(self._crash_reason(), registers, result)
        return result

    def _crash_reason(self) -> str:
        """The board's crash reason, unless a default handler ran for a vector the interrupt
        table's limit excludes: then the accelerator, not the guest, broke the rule."""
        vector = self.no_handler.vector
        if vector is None or vector * 4 + 3 <= self._backend.idt_limit():
            return self.board.crash_reason
        return _(
            "{accel} delivered vector {vector} through the interrupt vector table although the "
            "guest had set the table's limit to {limit}: a real CPU shuts down here (a triple "
            "fault), as the tcg accelerator does. A KVM without VT-x or AMD-V, such as PVM, "
            "emulates real mode in the host and skips that check",
            accel=self.accel,
            vector=vector,
            limit=f"{self._backend.idt_limit():#x}",
        )


def run_guest(
    guest,
    accel: str = "auto",
    timeout: float = 5.0,
    max_exits: int = 100_000,
    count_instructions: bool = False,
) -> RunResult:
    """Run a `guests.Guest` on a fresh machine and return the result. Lesson 07."""
    with VirtualMachine(accel=accel) as vm:
        vm.load(guest.code, guest.address, guest.registers)
        return vm.run(timeout, max_exits, count_instructions)
