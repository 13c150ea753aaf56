"""Lesson 06's emulation cells as one call each: they display tables and return None.

Without unicorn, capstone, keystone or QEMU, a cell shows one install hint (in full the first time,
as a short note after that) instead of failing, so the lesson still runs to the end. A guest that
faults or runs away is shown as its error message, with the PC, not as a traceback. Everything is
shown in the course's language (table headers in English, which `markdown_table` translates).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from vizlib.emulation import blocks, cpus, qemu
from vizlib.emulation.errors import EmulationError, EmulatorMissing, GuestError
from vizlib.emulation.optional import versions
from vizlib.emulation.programs import GuestProgram, program
from vizlib.i18n import N_, _
from vizlib.machine import qemu as pc
from vizlib.tables import markdown_table

TRACE_SHOWN = 12  # block executions listed one by one before the rest is summed up
_hinted: set[str] = set()  # packages whose install hint was shown in full


def _display(*items: Any) -> None:
    from IPython.display import Markdown, display

    for item in items:
        display(Markdown(item) if isinstance(item, str) else item)


def _hint(missing: EmulatorMissing) -> str:
    if missing.package in _hinted:
        return _(
            "*(Skipped: {package} is not installed; see the note above.)*",
            package=missing.package,
        )
    _hinted.add(missing.package)
    hint = _(
        "{error}. This cell is skipped; the rest of the lesson still runs.", error=str(missing)
    )
    return _("> **Note.** {hint}", hint=hint)


def degrades(show: Callable[..., None]) -> Callable[..., None]:
    """Make a display helper show the install hint when a package is missing. Lesson 06."""

    @functools.wraps(show)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            show(*args, **kwargs)
        except EmulatorMissing as missing:
            _display(_hint(missing))

    return wrapper


def _guest(guest: GuestProgram | str) -> GuestProgram:
    return program(guest) if isinstance(guest, str) else guest


def _value(value: int) -> str:
    return f"{value:#010x}" if value < 1 << 32 else f"{value:#018x}"


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _bytes(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def show_status() -> None:
    """What this machine has for emulation: unicorn, capstone, keystone, QEMU. Lesson 06."""
    uses = {
        "unicorn": _("runs the guest CPUs (QEMU's CPU emulator as a library)"),
        "capstone": _("disassembles guest code"),
        "keystone": _("assembles your own guest code (optional)"),
    }
    rows = [
        (name, version or _("not installed"), uses[name]) for name, version in versions().items()
    ]
    state = _("not installed") if pc.unavailable_reason() else _("installed")
    rows.append((pc.BINARY, state, _("boots a real PC (TCG)")))
    _display(markdown_table([N_("Package"), N_("Version"), N_("Used to")], rows))


def show_listing(guest: GuestProgram | str) -> None:
    """A program's bytes beside its stored listing and capstone's reading of them. Lesson 06."""
    guest = _guest(guest)
    try:
        decoded = [i.text for i in cpus.disassemble(guest)]
    except EmulatorMissing as missing:
        _display(_hint(missing))
        decoded = [_("(capstone missing)")] * len(guest.listing)
    decoded += [_("(not decoded)")] * (len(guest.listing) - len(decoded))
    rows, address = [], guest.base
    for (hex_bytes, text, note), reading in zip(guest.listing, decoded, strict=False):
        rows.append(
            (
                f"{address:#x}",
                _bytes(bytes.fromhex(hex_bytes)),
                f"`{text}`",
                f"`{reading}`",
                _(note) if note else "",
            )
        )
        address += len(hex_bytes) // 2
    title = _(
        "**{title}**: {cpu}, {size} bytes",
        title=_(guest.title),
        cpu=_(cpus.arch(guest.arch).title),
        size=len(guest.code),
    )
    header = [N_("Address"), N_("Bytes"), N_("Listing"), N_("capstone reads"), N_("What it does")]
    _display(title, markdown_table(header, rows))


@degrades
def show_run(guest: GuestProgram | str, n: int | None = None, **limits: Any) -> None:
    """Run a program (see `cpus.run`); registers and memory before and after. Lesson 06."""
    guest = _guest(guest)
    try:
        result = cpus.run(guest, n, **limits)
    except GuestError as error:
        _display(
            _(
                "**The guest was stopped.** `{kind}`: {error}",
                kind=type(error).__name__,
                error=error,
            )
        )
        return
    rows = [(name, _value(result.before[name]), _value(v), v) for name, v in result.after.items()]
    lines = [
        markdown_table([N_("Register"), N_("Before"), N_("After"), N_("After (decimal)")], rows),
        markdown_table(
            [N_("Data area"), N_("Before"), N_("After")],
            [(f"{cpus.DATA_BASE:#x}", _bytes(result.memory_before), _bytes(result.memory_after))],
        ),
    ]
    if guest.array:
        answer = _(
            "Result in `{register}`: **{value}**; the host's own sum of 1..{n}: {sum}",
            register=guest.result,
            value=result.result,
            n=n,
            sum=n * (n + 1) // 2 & 0xFFFF_FFFF,
        )
    else:
        answer = _(
            "Result in `{register}`: **{value}**", register=guest.result, value=result.result
        )
    _display(*lines, answer)


def _chain(events: Iterable[blocks.BlockRun]) -> str:
    events = list(events)
    parts = [
        _("{address} (new)", address=f"{e.address:#x}") if e.new else f"{e.address:#x}"
        for e in events[:TRACE_SHOWN]
    ]
    rest = len(events) - TRACE_SHOWN
    if rest > 0:
        parts.append(_("… {rest} more", rest=rest))
    return " → ".join(parts)


@degrades
def show_blocks(guest: GuestProgram | str, n: int | None = None) -> None:
    """The translation blocks a run formed and reused (UC_HOOK_BLOCK). Lesson 06."""
    trace = blocks.trace_blocks(guest, n)
    rows = [(f"{b.address:#x}", b.instructions, b.size, b.runs) for b in trace.blocks]
    _display(
        _("Blocks in the order they ran: {chain}", chain=_chain(trace.events)),
        markdown_table([N_("Block at"), N_("Instructions"), N_("Bytes"), N_("Times run")], rows),
        _(
            "**{translated}** blocks translated, **{executed}** block executions; result {result}.",
            translated=trace.translated,
            executed=trace.executed,
            result=trace.result,
        ),
    )


@degrades
def show_speeds(guest: GuestProgram | str = "ppc-sum", repeats: int = 3) -> None:
    """Time the same sum each of `blocks.MODES`' ways; table and chart. Lesson 06."""
    from vizlib.plots.qemu import emulation_speeds

    result = blocks.speeds(guest, repeats=repeats)
    rows = [
        (
            _(mode),
            f"{result.seconds[mode] * 1e9:,.1f}",
            _times(result.ratio(mode)),
            _times(result.seconds[mode] / result.seconds["translated"]),
            _(blocks.MODE_NOTES[mode]),
        )
        for mode in blocks.MODES
    ]
    header = [N_("Way"), N_("ns per word"), N_("vs numpy"), N_("vs translated"), N_("What runs")]
    _display(markdown_table(header, rows), emulation_speeds(result))


def show_published() -> None:
    """How many times slower than native code published emulators ran (`blocks.PUBLISHED`).

    Lesson 06.
    """
    rows = [(_(what), ratio, _(source)) for what, ratio, source in blocks.PUBLISHED]
    header = [N_("Published"), N_("Times slower than native"), N_("Source")]
    _display(markdown_table(header, rows))


def _block_listing(boot: qemu.BootLog) -> str:
    lines = []
    for number, block in enumerate(boot.boot_blocks, 1):
        lines.append(
            _(
                "block {number} at {address}, {count} instructions",
                number=number,
                address=f"{block.address:#x}",
                count=len(block.instructions),
            )
        )
        lines += [f"  {i.address:#x}  {i.hex:<8} {i.text}" for i in block.instructions]
    return "```\n" + "\n".join(lines) + "\n```"


def show_boot_sector(timeout: float = pc.TIMEOUT) -> None:
    """Boot the boot sector in QEMU and show TCG's block log; a stored log without QEMU.

    Lesson 06.
    """
    try:
        boot = qemu.run_boot_sector(timeout)
        origin = _("**Live run** on this machine, {qemu}.", qemu=boot.qemu)
    except EmulationError as error:
        missing = isinstance(error, EmulatorMissing)
        _display(_hint(error) if missing else _("> **QEMU did not finish.** {error}", error=error))
        boot = qemu.stored_boot_log()
        origin = _(
            "**Stored log**, recorded with {qemu} when the course was written, not on this "
            "machine.",
            qemu=boot.qemu,
        )
    _display(
        origin,
        _("Serial output (COM1): `{serial}`", serial=boot.serial),
        _(
            "Exit status {status} = ({value} << 1) | 1: the value the guest wrote to the "
            "isa-debug-exit port.",
            status=boot.exit_status,
            value=f"{boot.exit_value:#x}",
        ),
        _(
            "QEMU translated {logged} blocks, {own} of them the boot sector's:",
            logged=f"{boot.blocks_logged:,}",
            own=len(boot.boot_blocks),
        ),
        _block_listing(boot),
    )


@degrades
def show_assembled(arch_name: str, source: str, **limits: Any) -> None:
    """Assemble your own code with keystone (`cpus.assemble`), then list and run it. Lesson 06."""
    guest = cpus.assemble(arch_name, source)
    show_listing(guest)
    show_run(guest, **limits)
