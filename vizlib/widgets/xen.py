"""Follow one request through a split driver; batch requests on a shared ring. Lesson 09."""

from __future__ import annotations

import functools
import html

import ipywidgets as w

from vizlib import diagrams
from vizlib.diagrams.style import LAYERS
from vizlib.display import to_html
from vizlib.plots.xen import BATCHES, CHOSEN, ring_notifications, show_ring
from vizlib.sim import xenio, xenring
from vizlib.widgets.render import Overlay, new_figure

_CELL = "padding:2px 8px;border:1px solid #ccc;text-align:left;vertical-align:top"
_CHANGED = "background:#fbd3e3"  # an index the step changed (a light tint of CHOSEN)
_TEXT = "line-height:1.4"  # widget HTML is spaced for one-line labels; lessons read as prose
# Fill of each slot state, in the course's layer colours (vizlib.diagrams.style.LAYERS).
_SLOT_FILL = {
    "free": "#FFFFFF",
    "request (unpushed)": LAYERS["guest_user"],  # still private to the frontend
    "request": LAYERS["guest_kernel"],  # visible to both ends in the shared page
    "in progress": LAYERS["host_kernel"],  # taken by the backend
    "response (unpushed)": LAYERS["host_user"],
    "response": LAYERS["hypervisor"],  # waiting for the frontend
}
_EMULATED = {"block": "disk", "network": "network card"}  # what an HVM guest gets instead
# Where the request stepper may start its indices: a fresh ring, or one about to wrap.
STARTS = {"0 (a fresh ring)": 0, "4294967295 (about to wrap)": xenring.MAX_INDEX}
_OWNER = {
    **dict.fromkeys(xenring.SHARED_INDICES, "shared page"),
    **dict.fromkeys(xenring.FRONTEND_INDICES, "frontend (DomU)"),
    **dict.fromkeys(xenring.BACKEND_INDICES, "backend (Dom0)"),
}


def _slots(state: xenring.RingState) -> str:
    """The ring's slots as a row of coloured cells, and a legend."""
    cells = "".join(
        f"<td title='slot {k}: {state_}' style='border:1px solid #333;width:1.6em;height:1.6em;"
        f"text-align:center;font-size:75%;background:{_SLOT_FILL[state_]}'>{k}</td>"
        for k, state_ in enumerate(state.slot_states())
    )
    legend = " ".join(
        f"<span style='background:{fill};border:1px solid #333;padding:0 6px'>&nbsp;</span> {name}"
        for name, fill in _SLOT_FILL.items()
    )
    return (
        f"<table style='border-collapse:collapse'><tr>{cells}</tr></table>"
        f"<p style='font-size:85%'>{legend}</p>"
    )


def _indices(state: xenring.RingState, before: xenring.RingState) -> str:
    changed = set(state.changed(before))
    rows = "".join(
        f"<tr style='{_CHANGED if name in changed else ''}'><td style='{_CELL}'>{name}</td>"
        f"<td style='{_CELL}'>{_OWNER[name]}</td><td style='{_CELL}'>{getattr(before, name)}</td>"
        f"<td style='{_CELL}'>{getattr(state, name)}</td></tr>"
        for name in _OWNER
    )
    head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in ("index", "kept by", "before", "after"))
    return f"<table style='border-collapse:collapse;font-size:90%'><tr>{head}</tr>{rows}</table>"


def request_step_view(step: int, start: int = 0) -> tuple[str, int]:
    """The stepper's HTML after `step` events of one request (clamped to 0..n), and n.

    `start` is where every index of the idle ring starts (0, or near 2**32 to see the wrap).
    Lesson 09.
    """
    steps = xenring.one_request(start=start)
    count = len(steps)
    step = max(0, min(step, count))
    idle = xenring.RingState.at(xenring.BLOCK_RING_SIZE, start)
    if step == 0:
        state, before = idle, idle
        title = (
            f"<p><b>Step 0 of {count}</b>: an idle ring of {idle.size} slots. Both ends sleep "
            "with their event index armed one past what they consumed. Move the slider.</p>"
        )
        figure = diagrams.split_driver()
    else:
        current = steps[step - 1]
        state = current.state
        before = steps[step - 2].state if step > 1 else idle
        verdict = {True: " → notify", False: " → no notification", None: ""}[current.notify]
        title = (
            f"<p><b>Step {step} of {count}: {html.escape(current.action)}</b> "
            f"({html.escape(current.actor)} in {html.escape(current.domain)}){verdict}</p>"
            f"<p>{html.escape(current.detail)}</p>"
        )
        figure = diagrams.split_driver(focus=(current.actor,), edges=current.edges)
    parts = [
        title,
        to_html(figure),
        "<p><b>The ring's slots</b> (slot = index &amp; size - 1)</p>",
        _slots(state),
        "<p><b>The indices</b> (changed ones tinted)</p>",
        _indices(state, before),
    ]
    return f"<div style='{_TEXT}'>{''.join(parts)}</div>", count


def request_stepper() -> w.VBox:
    """A step slider over the events of one disk read through a split driver (Lesson 09)."""
    count = len(xenring.one_request())
    start = w.Dropdown(options=STARTS, description="Indices at", layout=w.Layout(width="22em"))
    step = w.IntSlider(value=0, min=0, max=count, description="Step")
    play = w.Play(value=0, min=0, max=count, interval=2000, description="Play")
    w.jslink((play, "value"), (step, "value"))
    out = w.HTML()

    def update(_=None):
        out.value = request_step_view(step.value, start.value)[0]

    step.observe(update, "value")
    start.observe(update, "value")
    update()
    return w.VBox([w.HBox([play, step, start]), out])


@functools.cache
def _ring_plot(device: str) -> Overlay:
    """The ring explorer's figure for `device`: its axes drawn once, its bars and labels for each
    setting. All the settings' simulations run when it is made (`plots.xen.stall_limit`)."""
    figure = new_figure(ring_notifications, device, xenio.DEVICES[device].ring_size, BATCHES[0])
    return Overlay(figure, shown=figure.axes[1].get_ylim())


def ring_view(device: str, ring_size: int, batch: int) -> tuple[bytes, str]:
    """The ring explorer's plot (PNG) and summary (HTML) for one setting. Lesson 09."""
    run = xenio.simulate(device, ring_size, batch)
    cost = xenio.overhead_per_request(run.notifications_per_request)
    saved = run.notifications_saved / (2 * run.requests)
    summary = (
        f"<p>{run.requests} requests of the <b>{html.escape(device)}</b> workload, ring of "
        f"<b>{ring_size}</b> slots, batches of <b>{batch}</b>:</p><ul>"
        f"<li>{run.pushes} pushes; the backend was notified {run.notifications_to_backend} times "
        f"({run.requests_per_notification:.1f} requests per notification), the frontend "
        f"{run.notifications_to_frontend} times;</li>"
        f"<li>{run.notifications_per_request:.2f} notifications per request: "
        f"<b>{saved:.0%} saved</b> against one per request and one per response;</li>"
        f"<li>the ring was full with requests waiting during {run.stall_ticks} of {run.ticks} "
        f"ticks; at most {run.most_outstanding} requests were in the ring; a request took "
        f"{run.mean_latency:.1f} ticks on average from the guest to its response;</li>"
        f"<li>priced by the cost model ({cost.cpu} CPU): the notifications add "
        f"{cost.split_driver:,.0f} cycles per request, where an HVM guest's emulated "
        f"{_EMULATED[device]} "
        f"would add {cost.emulated:,.0f} ({xenio.EMULATED_ACCESSES_PER_REQUEST} VM exits to "
        "QEMU), "
        f"{cost.ratio:.0f} times more.</li></ul>"
    )
    plot = _ring_plot(device)
    show_ring(plot.figure, device, ring_size, batch)
    plot.show(plot.figure.axes[1].get_ylim(), lambda: None)  # a batch beyond BATCHES may raise it
    return plot.png(), summary


def ring_explorer() -> w.VBox:
    """Device, ring size and batch; notifications and ring-full stalls (Lesson 09)."""
    for name in xenio.DEVICES:
        _ring_plot(name)
    device = w.Dropdown(options=list(xenio.DEVICES), description="Device")
    size = w.SelectionSlider(
        options=xenio.RING_SIZES,
        value=xenio.DEVICES["block"].ring_size,
        description="Ring size",
        continuous_update=False,
    )
    batch = w.SelectionSlider(
        options=BATCHES, value=BATCHES[0], description="Batch", continuous_update=False
    )
    image, summary = w.Image(format="png"), w.HTML()

    def update(_=None):
        image.value, summary.value = ring_view(device.value, size.value, batch.value)

    def choose(_=None):
        if size.value == xenio.DEVICES[device.value].ring_size:
            update()
        else:
            size.value = xenio.DEVICES[device.value].ring_size  # updates through its observer

    device.observe(choose, "value")
    size.observe(update, "value")
    batch.observe(update, "value")
    update()
    note = w.HTML(
        f"<p style='font-size:85%'>Changing the device resets the ring to its real size. "
        f"<span style='color:{CHOSEN}'>Outlined</span> (left) and "
        f"<span style='color:{CHOSEN}'>&#9650;</span> (right): your setting.</p>"
    )
    return w.VBox([w.HBox([device, size, batch]), note, image, summary])
