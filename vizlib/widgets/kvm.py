"""Lessons 07 and 08's widgets: run a real guest and see its exits; one message, four devices."""

from __future__ import annotations

import html

import ipywidgets as w
from matplotlib.figure import Figure

from vizlib.diagrams.kvm import exit_sequence
from vizlib.display import to_html
from vizlib.i18n import _, language
from vizlib.machine import MachineError, VirtualMachine, accelerators
from vizlib.machine.experiments import DEVICE_LABELS, DEVICES, message_guest
from vizlib.machine.guests import GUESTS
from vizlib.plots.machine import device_exits, exit_profile, show_device_exits, show_exit_profile
from vizlib.widgets.render import Overlay, new_figure, png, relayout

PNG_DPI = 96
RUN_TIMEOUT = 0.5  # s: enough for every guest of `GUESTS` but the runaway ones, which it stops
SEQUENCE_EXITS = 4  # exits drawn in the sequence diagram
MAX_LENGTH = 500  # bytes of the device explorer's message
FILLER = b"KVM runs the guest, the VMM emulates the devices. "  # the message, repeated


# Each explorer's figure, built for its first run in a language, then reused; the device
# explorer's chart by language and devices shown.
_FIGURES: dict[tuple[str, str], Figure] = {}
_DEVICE_PLOT: dict[tuple[str, ...], Overlay] = {}


def _profile_png(result) -> bytes:
    key = ("exits", language())
    figure = _FIGURES.get(key)
    if figure is None:
        figure = _FIGURES[key] = new_figure(exit_profile, result, dpi=PNG_DPI)
    else:
        show_exit_profile(figure, result)
        relayout(figure)
    return png(figure, PNG_DPI)


def _devices_png(runs, length: int) -> bytes:
    """The device explorer's chart: axes drawn once, bars and labels for each run (an axis
    widened for a value beyond its range is drawn again)."""
    key = (language(), *runs)
    plot = _DEVICE_PLOT.get(key)
    if plot is None:
        figure = new_figure(device_exits, runs, length, dpi=PNG_DPI)
        plot = _DEVICE_PLOT[key] = Overlay(figure, shown=_limits(figure))
    show_device_exits(plot.figure, runs, length)
    plot.show(_limits(plot.figure), lambda: None)
    return plot.png()


def _limits(figure: Figure) -> tuple:
    return tuple(ax.get_ylim() for ax in figure.axes)


def _table(header, rows) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header or ())
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table>{f'<tr>{cells}</tr>' if cells else ''}{body}</table>"


def _run(guest, accel: str, timeout: float):
    """(result or None, a sentence on how the run ended)."""
    try:
        with VirtualMachine(accel=accel) as vm:
            vm.load(guest.code, guest.address, guest.registers)
            result = vm.run(timeout=timeout)
    except MachineError as e:  # unavailable, timeout or crash: say it, never a traceback
        return getattr(e, "result", None), str(e)
    if result.stop_reason == "hlt":
        return result, _("halted (HLT)")
    if result.stop_reason == "debug-exit":
        return result, _("powered off with code {code}", code=result.exit_code)
    return result, result.stop_reason


def exit_view(guest_name: str, accel: str) -> tuple[bytes, str]:
    """Run `GUESTS[guest_name]` on `accel`: a PNG of its exits, and HTML saying what happened.

    Lesson 07. An unavailable accelerator, a timeout or a crash is explained, not raised; the
    PNG is then empty (b"") when nothing ran.
    """
    if guest_name not in GUESTS:
        raise ValueError(
            _(
                "guest_name must be one of {allowed}, got {value}",
                allowed=sorted(GUESTS),
                value=repr(guest_name),
            )
        )
    guest = GUESTS[guest_name]
    result, how = _run(guest, accel, RUN_TIMEOUT)
    intro = f"<p><b>{html.escape(guest.name)}</b>: {html.escape(_(guest.description))}</p>"
    listing = (
        f"<details><summary>{_('listing')}</summary><pre>{html.escape(guest.listing)}</pre>"
        "</details>"
    )
    if result is None:
        return b"", f"{intro}<p>{html.escape(_('Nothing ran: {why}', why=how))}</p>{listing}"
    printed = len(result.serial) + len(result.display.replace("\n", ""))
    per_byte = f"{len(result.exits) / printed:.2f}" if printed else _("n/a (no output)")
    rows = [
        (_("accelerator"), result.accel),
        (_("how the run ended"), how),
        (_("printed on the console"), repr(result.serial)),
        (_("on the display"), repr(result.display) if result.display else _("nothing")),
        (_("exits"), len(result.exits)),
        (_("exits per byte of output (console and display)"), per_byte),
        (_("wall time"), f"{result.wall_time * 1e6:,.0f} µs"),
    ]
    sequence = (
        to_html(exit_sequence(result.exits, result.accel, SEQUENCE_EXITS)) if result.exits else ""
    )
    return _profile_png(result), intro + _table(None, rows) + sequence + listing


def _accel_options() -> list[tuple[str, str]]:
    return [
        (
            _("{name} (available)", name=name)
            if why == "available"
            else _("{name} (unavailable)", name=name),
            name,
        )
        for name, why in accelerators().items()
    ]


def _default_accel() -> str:
    return next((n for n, why in accelerators().items() if why == "available"), "tcg")


def _run_each_setting_once(view, controls: list, again: w.Button, image, text) -> None:
    """Show `view(*values of controls)` in `image` and `text`. A setting seen before shows its
    run again; `again` makes a new run of the current one (timings vary from run to run)."""
    views: dict[tuple, tuple[bytes, str]] = {}

    def show(_=None):
        key = tuple(control.value for control in controls)
        if key not in views:
            views[key] = view(*key)
        image.value, text.value = views[key]

    def rerun(_=None):
        views.pop(tuple(control.value for control in controls), None)
        show()

    for control in controls:
        control.observe(show, "value")
    again.on_click(rerun)
    show()


def exit_explorer() -> w.VBox:
    """Guest and accelerator -> a real run: its exits, time per exit, sequence (Lesson 07).

    Each guest runs once per accelerator: going back to it shows that run; "Run again" reruns.
    """
    guest = w.Dropdown(
        options=[(f"{name}: {_(g.description)}", name) for name, g in GUESTS.items()],
        value="hello_serial",
        description=_("Guest"),
        layout=w.Layout(width="42em"),
    )
    accel = w.Dropdown(options=_accel_options(), value=_default_accel(), description=_("Accel"))
    again = w.Button(description=_("Run again"), tooltip=_("timings vary from run to run"))
    image, text = w.Image(format="png"), w.HTML()
    _run_each_setting_once(exit_view, [guest, accel], again, image, text)
    return w.VBox([guest, w.HBox([accel, again]), image, text])


def device_message(length: int) -> bytes:
    """The device explorer's message: `length` bytes of a repeated sentence. Lesson 08."""
    if not (isinstance(length, int) and 1 <= length <= MAX_LENGTH):
        raise ValueError(
            _(
                "length must be an int from 1 to {high}, got {value}",
                high=MAX_LENGTH,
                value=repr(length),
            )
        )
    return (FILLER * (length // len(FILLER) + 1))[:length]


def device_view(length: int, accel: str) -> tuple[bytes, str]:
    """The same message through each device on `accel`: PNG of exits and µs per exit, HTML table.

    Lesson 08. An unavailable accelerator is explained, not raised (the PNG is then b"").
    """
    message = device_message(length)
    runs, problems = {}, []
    for device in DEVICES:
        result, how = _run(message_guest(device, message), accel, timeout=5.0)
        if result is None or result.stop_reason != "hlt":
            problems.append(_("{device}: {problem}", device=device, problem=how))
        else:
            runs[device] = result
    if problems:
        return b"", f"<p>{html.escape('; '.join(problems))}</p>"
    rows = [
        (
            _(DEVICE_LABELS[device]),
            len(r.exits),
            f"{len(r.exits) / length:.3g}",
            f"{r.wall_time * 1e6:,.0f}",
            f"{r.wall_time * 1e6 / len(r.exits):.1f}",
        )
        for device, r in runs.items()
    ]
    header = [_("device"), _("exits"), _("exits per byte"), _("total µs"), _("µs per exit")]
    return _devices_png(runs, length), _table(header, rows)


def device_explorer() -> w.VBox:
    """Message length and accelerator -> exits and time per exit of each device (Lesson 08).

    The slider acts when released. Each setting runs once: going back to it shows that run;
    "Run again" reruns.
    """
    length = w.IntSlider(
        value=14, min=1, max=MAX_LENGTH, description=_("Bytes"), continuous_update=False
    )
    accel = w.Dropdown(options=_accel_options(), value=_default_accel(), description=_("Accel"))
    again = w.Button(description=_("Run again"), tooltip=_("timings vary from run to run"))
    image, text = w.Image(format="png"), w.HTML()
    _run_each_setting_once(device_view, [length, accel], again, image, text)
    return w.VBox([w.HBox([length, accel, again]), image, text])
