"""Experiments on the Python VMM: any message through each device, safe runs, timings. Lesson 08.

`message_guest("pv-console", b"Hi\\n")` is lesson 07's guest for that device with another message
(same code, longer or shorter string), so exit counts can be compared at any length. `run_code`
runs bytes and never raises for a guest that misbehaves (exercises use it); `time_guest` times
repeated runs of one guest on one accelerator, `time_guests` several guests and accelerators in
turn. The guests at the end are used by lesson 08 and
the exercises: `HALT_ONLY` times a run's fixed cost; the others talk to a device of the learner's
at port 0x600, or count exits.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from vizlib.i18n import N_, Verbatim, _
from vizlib.machine import guests
from vizlib.machine.devices import DISPLAY_COLUMNS, MmioDevice, PortDevice
from vizlib.machine.errors import GuestCrashed, GuestTimeout
from vizlib.machine.guests import Guest
from vizlib.machine.results import RunResult
from vizlib.machine.vm import VirtualMachine, run_guest

# Each device's guest from `guests`, with the message it prints.
DEVICES = {
    "com1": (guests.HELLO_SERIAL, guests.HELLO),
    "com1-polling": (guests.HELLO_POLLING, guests.HELLO),
    "pv-console": (guests.HELLO_PV, guests.HELLO),
    "display": (guests.MMIO_DISPLAY, guests.MMIO_DISPLAY.display.encode()),
}
# Each device in words, shown through `_()` (`device_label`).
DEVICE_LABELS = {
    "com1": N_("COM1 (emulated UART)"),
    "com1-polling": N_("COM1, polling its status"),
    "pv-console": N_("paravirtual console"),
    "display": N_("text display (MMIO)"),
}
# Longest message: the display's 80 x 25 cells (devices.DISPLAY_COLUMNS * DISPLAY_ROWS).
MAX_MESSAGE = 2000
TERMINATED = ("com1", "com1-polling", "display")  # these guests stop at a zero byte
HELLO_PV_LENGTH_OFFSET = 12  # HELLO_PV: 8 bytes of code, 4 of buffer address, then the length
MAX_RUN_EXITS = 10_000  # this course's choice: a runaway guest that keeps exiting stops here
COUNT_ME_ROUNDS, COUNT_ME_EXIT_CODE = 1, 35  # offsets in COUNT_ME's code: `mov cx, 3`, `mov al, 3`
PRINTABLE = range(0x20, 0x7F)  # written as text in a listing's db line; other bytes as numbers


def _check_device(device: str) -> None:
    if device not in DEVICES:
        raise ValueError(
            _(
                "device must be one of {allowed}, got {device}",
                allowed=list(DEVICES),
                device=repr(device),
            )
        )


def device_label(device: str) -> str:
    """`device` (one of DEVICES) in words, in the course's language. Lesson 08."""
    _check_device(device)
    return _(DEVICE_LABELS[device])


def db_line(message: bytes, terminator: bool) -> str:
    """A NASM `db` line holding `message` (and a 0 byte if `terminator`). Lesson 08."""
    items, text = [], ""
    for byte in message:
        if byte in PRINTABLE and byte != ord('"'):
            text += chr(byte)
            continue
        if text:
            items.append(f'"{text}"')
            text = ""
        items.append(f"0x{byte:02x}")
    if text:
        items.append(f'"{text}"')
    return "db " + ", ".join(items + (["0"] if terminator else []))


def message_guest(device: str, message: bytes) -> Guest:
    """Lesson 07's guest for `device` (one of DEVICES) printing `message` instead. Lesson 08.

    The code before the message is unchanged: its `mov si, message` (or the descriptor's
    address) already points past it. The paravirtual guest's descriptor gets the new length.
    """
    _check_device(device)
    if not isinstance(message, (bytes, bytearray)) or not 1 <= len(message) <= MAX_MESSAGE:
        raise ValueError(
            _(
                "message must be 1 to {limit} bytes, got {value}",
                limit=MAX_MESSAGE,
                value=f"{message!r:.60}",
            )
        )
    terminated = device in TERMINATED
    if terminated and 0 in message:
        raise ValueError(
            _("message: the {device} guest stops at a zero byte; remove it", device=device)
        )
    template, old_message = DEVICES[device]
    start = len(template.code) - len(old_message) - terminated
    code = bytes(template.code[:start]) + bytes(message) + b"\0" * terminated
    if device == "pv-console":  # the descriptor's length field, 4 bytes little-endian
        at = HELLO_PV_LENGTH_OFFSET
        code = code[:at] + len(message).to_bytes(4, "little") + code[at + 4 :]
    old_line = db_line(old_message, terminated)
    listing = template.listing.replace(old_line, db_line(bytes(message), terminated))
    display = device == "display"
    return replace(
        template,
        name=f"{template.name}_{len(message)}",
        listing=listing,
        code=code,
        serial=bytes(message[:1] if display else message),  # the display echoes its first cell
        display=_screen(bytes(message)) if display else "",
        exit_counts=_exit_counts(device, len(message)),
    )


def _screen(message: bytes) -> str:
    """What `devices.TextDisplay.text()` shows after the message is written from the top left."""
    text = message.decode("cp437")
    rows = [text[i : i + DISPLAY_COLUMNS].rstrip() for i in range(0, len(text), DISPLAY_COLUMNS)]
    return "\n".join(rows).rstrip("\n")


def _exit_counts(device: str, length: int) -> dict[str, int]:
    """The exits each guest takes for a message of `length` bytes (see the listings)."""
    return {
        "com1": {"io": length, "hlt": 1},  # one OUT per byte
        "com1-polling": {"io": 2 * length, "hlt": 1},  # IN (status) + OUT per byte
        "pv-console": {"io": 1, "hlt": 1},  # one notify for the whole buffer
        "display": {"mmio": length + 1, "io": 1, "hlt": 1},  # a store per byte, read back, echo
    }[device]


def run_code(
    code: bytes,
    accel: str = "auto",
    timeout: float = 2.0,
    devices: Iterable[PortDevice | MmioDevice] = (),
) -> RunResult:
    """Load `code` at 0x7c00 and run it; a timeout or a crash comes back as the result. Lesson 08.

    The result's stop_reason says how the run ended ("hlt", "debug-exit", "timeout", "crash",
    or "max-exits" after MAX_RUN_EXITS exits), so a check can explain what went wrong instead
    of failing with a traceback.
    """
    with VirtualMachine(accel=accel) as vm:
        for device in devices:
            vm.add_device(device)
        vm.load(code)
        try:
            return vm.run(timeout=timeout, max_exits=MAX_RUN_EXITS)
        except (GuestTimeout, GuestCrashed) as e:
            return e.result


@dataclass(frozen=True)
class Timing:
    """Repeated runs of one guest on one accelerator. Lesson 08.

    seconds: the median wall time of the runs; exits: exits per run; runs: how many.
    """

    guest: str
    accel: str
    seconds: float
    exits: int
    runs: int

    @property
    def microseconds_per_exit(self) -> float:
        """The median run's time divided by its exits."""
        return self.seconds * 1e6 / max(self.exits, 1)


def runs_table(runs: Mapping[str, RunResult]) -> tuple[list[str], list[tuple]]:
    """Header and rows for `vizlib.tables.show_table`: what one guest printed on COM1, left on
    the display, exited with and took, one column per accelerator it ran on (`runs`: accelerator
    -> its run), the labels in the course's language. Lesson 08."""
    header = ["", *map(Verbatim, runs)]
    rows = [
        (_("printed on COM1"), *(r.serial for r in runs.values())),
        (_("on the display"), *(r.display for r in runs.values())),
        (_("exits"), *(r.exit_counts for r in runs.values())),
        ("µs", *(f"{r.wall_time * 1e6:,.0f}" for r in runs.values())),
    ]
    return header, rows


def time_guests(guests: Sequence[Guest], accels: Sequence[str], runs: int = 5) -> list[Timing]:
    """Time every guest on every accelerator, in rounds; the median of each pair. Lesson 08.

    Each round runs every (guest, accelerator) pair once on a fresh machine, so that a burst of
    load on a shared machine slows all pairs alike rather than one. Only `VirtualMachine.run` is
    timed, not building the machine. The timings come guest by guest, accelerator by accelerator.
    """
    if not (isinstance(runs, int) and 1 <= runs <= 100):
        raise ValueError(_("runs must be an int from 1 to 100, got {runs}", runs=repr(runs)))
    pairs = [(guest, accel) for guest in guests for accel in accels]
    if not pairs:
        raise ValueError(_("guests and accels must each hold at least one item"))
    results = [[] for _pair in pairs]
    for _round in range(runs):
        for (guest, accel), done in zip(pairs, results, strict=True):
            done.append(run_guest(guest, accel, timeout=10))
    return [
        Timing(
            guest.name,
            done[0].accel,
            statistics.median(r.wall_time for r in done),
            len(done[0].exits),
            runs,
        )
        for (guest, _accel), done in zip(pairs, results, strict=True)
    ]


def time_guest(guest: Guest, accel: str = "auto", runs: int = 5) -> Timing:
    """Run `guest` `runs` times on fresh machines; the median wall time. Lesson 08."""
    return time_guests([guest], [accel], runs)[0]


HALT_ONLY = Guest(
    name="halt_only",
    description=N_("A single HLT: what a run costs before the guest does anything."),
    listing="""\
; Stop at once: the run's set-up and one HLT exit are all there is to time.
    bits 16
    org 0x7c00
    hlt
""",
    code=bytes.fromhex("f4"),
    exit_counts={"hlt": 1},
)

READ_DEVICE = Guest(
    name="read_device",
    description=N_("Prints what the device at port 0x600 answers, until it answers 0."),
    listing="""\
; Print what the device at port 0x600 says, one character per IN, until it answers 0.
    bits 16
    org 0x7c00
next:
    mov dx, 0x600       ; the device's port
    in al, dx           ; exit: the VMM asks the device model for a character
    test al, al
    jz done             ; 0: the device has nothing more to say
    mov dx, 0x3f8       ; COM1 transmit register
    out dx, al          ; exit: print it
    jmp next
done:
    hlt
""",
    code=bytes.fromhex("ba 00 06 ec 84 c0 74 06 ba f8 03 ee eb f2 f4"),
    exit_counts={"io": 1, "hlt": 1},  # with a device that answers 0 at once; 2 more per byte
)

UPPERCASE_ECHO = Guest(
    name="uppercase_echo",
    description=N_("Gives each character to the device at port 0x600 and prints its answer."),
    listing="""\
; Hand each character to the device at port 0x600, read back its answer, print the answer.
    bits 16
    org 0x7c00
    mov si, message
next:
    lodsb               ; al = next character
    test al, al
    jz done             ; a zero byte ends the string
    mov dx, 0x600       ; the device's port
    out dx, al          ; exit: give the device the character
    in al, dx           ; exit: read its answer
    mov dx, 0x3f8       ; COM1 transmit register
    out dx, al          ; exit: print the answer
    jmp next
done:
    hlt
message:
    db "hello, kvm!", 0x0a, 0
""",
    code=bytes.fromhex(
        "be 14 7c ac 84 c0 74 0b ba 00 06 ee ec ba f8 03 ee eb f0 f4 "
        "68 65 6c 6c 6f 2c 20 6b 76 6d 21 0a 00"
    ),
    serial=b"HELLO, KVM!\n",  # with a device that upper-cases what it is given
    exit_counts={"io": 36, "hlt": 1},
)

COUNT_ME = Guest(
    name="count_me",
    description=N_(
        "Polls COM1 and prints three stars, writes two cells of the display, powers off."
    ),
    listing="""\
; Three rounds of "wait for COM1, print a star", two characters on the display, power off.
    bits 16
    org 0x7c00
    mov cx, 3           ; three rounds
round:
    mov dx, 0x3fd       ; COM1 line status register
    in al, dx           ; is the transmitter free? (this UART always says yes)
    mov dx, 0x3f8       ; COM1 transmit register
    mov al, '*'
    out dx, al
    loop round          ; cx = cx - 1, again while cx != 0
    mov ax, 0xb800
    mov es, ax          ; ES -> the text display at 0xb8000
    mov word [es:0x0000], 0x0721    ; '!' in light grey, top-left corner
    mov word [es:0x0002], 0x0721    ; and another one beside it
    mov al, 3
    out 0xf4, al        ; isa-debug-exit: power off with code 3
""",
    code=bytes.fromhex(
        "b9 03 00 ba fd 03 ec ba f8 03 b0 2a ee e2 f4 b8 00 b8 8e c0 "
        "26 c7 06 00 00 21 07 26 c7 06 02 00 21 07 b0 03 e6 f4"
    ),
    serial=b"***",
    exit_code=3,
    stop="debug-exit",
    display="!!",
    exit_counts={"io": 7, "mmio": 2},
)


def count_me(rounds: int, exit_code: int) -> Guest:
    """COUNT_ME with another number of rounds and exit code (exercise 07 draws them per student):
    the same code with its two immediates changed, so its exits are known without a run."""
    if not 1 <= rounds <= 0xFFFF:
        raise ValueError(f"rounds must be 1 to 65535, got {rounds!r}")
    if not 0 <= exit_code <= 0xFF:
        raise ValueError(f"exit_code must be 0 to 255, got {exit_code!r}")
    code = bytearray(COUNT_ME.code)
    code[COUNT_ME_ROUNDS : COUNT_ME_ROUNDS + 2] = rounds.to_bytes(2, "little")
    code[COUNT_ME_EXIT_CODE] = exit_code
    listing = (
        COUNT_ME.listing.replace("; Three rounds", f"; {rounds} rounds")
        .replace("mov cx, 3           ; three rounds", f"mov cx, {rounds:<12}; {rounds} rounds")
        .replace("mov al, 3\n", f"mov al, {exit_code}\n")
        .replace("power off with code 3", f"power off with code {exit_code}")
    )
    return replace(
        COUNT_ME,
        name=f"count_me_{rounds}_{exit_code}",
        listing=listing,
        code=bytes(code),
        serial=b"*" * rounds,
        exit_code=exit_code,
        exit_counts={"io": 2 * rounds + 1, "mmio": 2},
    )
