"""Guest programs of the lessons: 16-bit real-mode listings with their machine code. Lessons 07-08.

Each `Guest` keeps its NASM listing beside its bytes (the tests re-assemble the listing with
keystone and compare) and what it should do on both accelerators: serial output, exit code, how
the run stops and how many exits of each kind it takes. Run one with
`run_guest(guests.HELLO_SERIAL, accel="kvm")`.

Note on `TRIPLE_FAULT`: with VT-x or AMD-V, KVM reports KVM_EXIT_SHUTDOWN as the CPU would. On a
PVM host (KVM in a cloud VM without hardware virtualization, where the host emulates real mode),
real-mode interrupt delivery ignores the IDT limit: the exception reaches the machine's default
handler (`devices.NoHandler`), and the crash reason says that the accelerator skipped the limit.
`FETCH_FROM_HOLE` is the crash to rely on: KVM's emulator cannot fetch instructions from MMIO
(KVM_INTERNAL_ERROR_EMULATION) and unicorn cannot either (checked on a PVM host and on TCG).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vizlib.i18n import N_, _
from vizlib.machine.vm import BOOT_ADDRESS


@dataclass(frozen=True)
class Guest:
    """A guest program and what it should do. Lesson 07.

    description: what it does, in English (marked `N_`, shown through `_()`). stop: the
    RunResult.stop_reason it ends with ("timeout" and "crash" arrive as GuestTimeout and
    GuestCrashed). exit_counts: RunResult.exit_counts it should produce.
    """

    name: str
    description: str
    listing: str
    code: bytes
    address: int = BOOT_ADDRESS
    registers: dict[str, int] = field(default_factory=dict)
    serial: bytes = b""
    exit_code: int | None = None
    stop: str = "hlt"
    display: str = ""
    exit_counts: dict[str, int] = field(default_factory=dict)


HELLO = b"Hello, world!\n"

LWN_ADD = Guest(
    name="lwn_add",
    description=N_("LWN's KVM API example: prints AL + BL and a newline."),
    listing="""\
; LWN's "Using the KVM API" (2015) guest: print AL + BL as a digit, then a newline.
; The VMM starts it with AL = BL = 2.
    bits 16
    org 0x7c00
    mov dx, 0x3f8       ; COM1 transmit register
    add al, bl          ; 2 + 2
    add al, '0'         ; the digit as an ASCII character
    out dx, al          ; exit 1: OUT to port 0x3f8
    mov al, 0x0a        ; newline
    out dx, al          ; exit 2
    hlt                 ; exit 3: nothing left to do
""",
    code=bytes.fromhex("ba f8 03 00 d8 04 30 ee b0 0a ee f4"),
    registers={"ax": 2, "bx": 2},
    serial=b"4\n",
    exit_counts={"io": 2, "hlt": 1},
)

HELLO_SERIAL = Guest(
    name="hello_serial",
    description=N_("Hello on COM1, one OUT (one exit) per character: an emulated device."),
    listing="""\
; Print a string on COM1, one OUT (so one exit) per character: an emulated device.
    bits 16
    org 0x7c00
    mov si, message
    mov dx, 0x3f8       ; COM1 transmit register
next:
    lodsb               ; al = next character
    test al, al
    jz done             ; a zero byte ends the string
    out dx, al          ; exit: the VMM prints the character
    jmp next
done:
    hlt
message:
    db "Hello, world!", 0x0a, 0
""",
    code=bytes.fromhex(
        "be 0f 7c ba f8 03 ac 84 c0 74 03 ee eb f8 f4 48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00"
    ),
    serial=HELLO,
    exit_counts={"io": 14, "hlt": 1},
)

HELLO_POLLING = Guest(
    name="hello_polling",
    description=N_("Hello on COM1, polling the line status register before each character."),
    listing="""\
; Print on COM1 like a careful driver: wait until the line status register says the
; transmitter is free before each character. Two exits per character.
    bits 16
    org 0x7c00
    mov si, message
next:
    lodsb
    test al, al
    jz done
    mov ah, al          ; keep the character
    mov dx, 0x3fd       ; COM1 line status register
wait:
    in al, dx           ; exit: ask the UART
    test al, 0x20       ; THRE: transmit holding register empty?
    jz wait
    mov al, ah
    mov dx, 0x3f8       ; COM1 transmit register
    out dx, al          ; exit: send the character
    jmp next
done:
    hlt
message:
    db "Hello, world!", 0x0a, 0
""",
    code=bytes.fromhex(
        "be 1b 7c ac 84 c0 74 12 88 c4 ba fd 03 ec a8 20 74 fb 88 e0 ba f8 03 ee eb e9 f4 48 65 "
        "6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00"
    ),
    serial=HELLO,
    exit_counts={"io": 28, "hlt": 1},
)

HELLO_PV = Guest(
    name="hello_pv",
    description=N_("Hello through the paravirtual console: one notify for the whole string."),
    listing="""\
; Print through the paravirtual console: describe the buffer in shared memory, then
; ring the doorbell once. One exit for the whole string, as a virtio driver does.
    bits 16
    org 0x7c00
    mov ax, descriptor  ; where the descriptor is (guest-physical address)
    mov dx, 0x700       ; paravirtual console: notify port
    out dx, ax          ; the only I/O exit: "the buffer described at AX is ready"
    hlt
descriptor:             ; like virtio's vring_desc: address, then length
    dd message
    dd message_end - message
message:
    db "Hello, world!", 0x0a
message_end:
""",
    code=bytes.fromhex(
        "b8 08 7c ba 00 07 ef f4 10 7c 00 00 0e 00 00 00 48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a"
    ),
    serial=HELLO,
    exit_counts={"io": 1, "hlt": 1},
)

MMIO_DISPLAY = Guest(
    name="mmio_display",
    description=N_("Writes to the text display at 0xb8000: one MMIO exit per store."),
    listing="""\
; Write a string to the text display at 0xb8000. No RAM backs that address, so every
; store is an MMIO exit; then read the first cell back and echo it on COM1.
    bits 16
    org 0x7c00
    mov ax, 0xb800
    mov es, ax          ; ES:DI -> 0xb8000, the display
    xor di, di
    mov si, message
    mov ah, 0x07        ; colour: light grey on black
next:
    lodsb
    test al, al
    jz done
    stosw               ; exit: a 2-byte MMIO write (character, colour)
    jmp next
done:
    mov al, [es:0x0000] ; exit: an MMIO read of the first character
    mov dx, 0x3f8
    out dx, al          ; exit: echo it on COM1
    hlt
message:
    db "Hello, world!", 0
""",
    code=bytes.fromhex(
        "b8 00 b8 8e c0 31 ff be 1d 7c b4 07 ac 84 c0 74 03 ab eb f8 26 a0 00 00 ba f8 03 ee f4 "
        "48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 00"
    ),
    serial=b"H",
    display="Hello, world!",
    exit_counts={"mmio": 14, "io": 1, "hlt": 1},
)

DEBUG_EXIT = Guest(
    name="debug_exit",
    description=N_("Powers off through isa-debug-exit with code 42."),
    listing="""\
; Stop the machine with an exit code through QEMU's isa-debug-exit device (port 0xf4).
; Real QEMU would exit with status (42 << 1) | 1 = 85.
    bits 16
    org 0x7c00
    mov al, 0x2a        ; 42
    out 0xf4, al        ; exit: the machine powers off here
    hlt                 ; never reached
""",
    code=bytes.fromhex("b0 2a e6 f4 f4"),
    exit_code=42,
    stop="debug-exit",
    exit_counts={"io": 1},
)

INTERRUPTS = Guest(
    name="interrupts",
    description=N_(
        "A software interrupt and an invalid-opcode exception, handled through the IVT."
    ),
    listing="""\
; Real-mode interrupts through the interrupt vector table at address 0: a software
; interrupt (int 0x21) and an exception (#UD from ud2), each with its own handler.
    bits 16
    org 0x7c00
    mov word [0x0084], handler      ; IVT entry 0x21 (0x21 * 4): offset...
    mov word [0x0086], 0            ; ...and segment
    mov word [0x0018], ud_handler   ; IVT entry 6, invalid opcode
    mov word [0x001a], 0
    mov dx, 0x3f8
    int 0x21            ; -> handler prints 'A'
    mov al, 'B'
    out dx, al
    ud2                 ; invalid opcode -> ud_handler prints 'C'
    mov al, 'D'
    out dx, al
    hlt
handler:
    mov al, 'A'
    out dx, al
    iret
ud_handler:
    mov al, 'C'
    out dx, al
    mov bp, sp
    add word [bp], 2    ; return past the 2-byte ud2, not to it
    iret
""",
    code=bytes.fromhex(
        "c7 06 84 00 26 7c c7 06 86 00 00 00 c7 06 18 00 2a 7c c7 06 1a 00 00 00 ba f8 03 cd 21 "
        "b0 42 ee 0f 0b b0 44 ee f4 b0 41 ee cf b0 43 ee 89 e5 83 46 00 02 cf"
    ),
    serial=b"ABCD",
    exit_counts={"io": 4, "hlt": 1},
)

BUSY_LOOP = Guest(
    name="busy_loop",
    description=N_(
        "50,000 loop iterations with no exit, then one character: guest time, not exits."
    ),
    listing="""\
; Count down 50,000 times without leaving the guest, then print one dot: time spent
; running guest code rather than exiting.
    bits 16
    org 0x7c00
    mov cx, 50000
spin:
    loop spin           ; cx = cx - 1, jump back while cx != 0
    mov al, '.'
    mov dx, 0x3f8
    out dx, al
    hlt
""",
    code=bytes.fromhex("b9 50 c3 e2 fe b0 2e ba f8 03 ee f4"),
    serial=b".",
    exit_counts={"io": 1, "hlt": 1},
)

RUNAWAY = Guest(
    name="runaway",
    description=N_("`jmp $`: never exits, only a timeout stops it."),
    listing="""\
; Loop forever without touching a device: no exit ever gives the VMM control back,
; only a timeout stops it.
    bits 16
    org 0x7c00
    jmp $
""",
    code=bytes.fromhex("eb fe"),
    stop="timeout",
    exit_counts={},
)

TRIPLE_FAULT = Guest(
    name="triple_fault",
    description=N_("IDT limit 0, then int3: a triple fault (a PVM host delivers it anyway)."),
    listing="""\
; Load an interrupt table of limit 0, then raise an exception: no vector fits, the #GP and
; the #DF raised on the way do not fit either, and the CPU shuts down (a triple fault).
    bits 16
    org 0x7c00
    mov bx, empty_idt
    lidt [bx]           ; IDTR = base 0, limit 0
    int3                ; #BP -> #GP -> #DF -> shutdown
    hlt                 ; never reached
empty_idt:
    dw 0                ; limit
    dd 0                ; base
""",
    code=bytes.fromhex("bb 08 7c 0f 01 1f cc f4 00 00 00 00 00 00"),
    stop="crash",
    exit_counts={"shutdown": 1},
)

FETCH_FROM_HOLE = Guest(
    name="fetch_from_hole",
    description=N_("Jumps to 0xa0000 where no RAM is: the accelerator cannot fetch code."),
    listing="""\
; Jump into the hole at 0xa0000, where no RAM is: the CPU has no instructions to fetch.
; KVM reports an internal error (its emulator cannot fetch from MMIO), unicorn a fetch error.
    bits 16
    org 0x7c00
    mov al, '!'
    out 0x80, al        ; exit: a write to POST port 0x80, which no device claims
    jmp 0xa000:0x0000
""",
    code=bytes.fromhex("b0 21 e6 80 ea 00 00 00 a0"),
    stop="crash",
    exit_counts={"io": 1, "internal_error": 1},
)


GUESTS = {
    guest.name: guest
    for guest in (
        LWN_ADD,
        HELLO_SERIAL,
        HELLO_POLLING,
        HELLO_PV,
        MMIO_DISPLAY,
        DEBUG_EXIT,
        INTERRUPTS,
        BUSY_LOOP,
        RUNAWAY,
        TRIPLE_FAULT,
        FETCH_FROM_HOLE,
    )
}
"""Every guest by name."""


def guest_rows(guests: Iterable[Guest] | None = None) -> list[tuple[str, str, str]]:
    """(name, what it does, exits it should cause) of each guest (default: GUESTS), for a table,
    in the course's language. Lesson 07."""
    return [
        (
            guest.name,
            _(guest.description),
            ", ".join(f"{count} {reason}" for reason, count in guest.exit_counts.items())
            or _("none"),
        )
        for guest in (GUESTS.values() if guests is None else guests)
    ]
