"""Follow one request through a split driver; batch requests on a shared ring. Lesson 09."""

from __future__ import annotations

import html

import ipywidgets as w

from vizlib import diagrams
from vizlib.diagrams.style import LAYERS
from vizlib.display import to_html
from vizlib.i18n import N_, _
from vizlib.plots.xen import BATCHES, CHOSEN, ring_notifications, show_ring
from vizlib.sim import xenio, xenring
from vizlib.widgets.render import Overlay, new_figure, per_language

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
# What an HVM guest gets instead of each device's split driver.
_EMULATED = {"block": N_("disk"), "network": N_("network card")}
# Where the request stepper may start its indices: a fresh ring, or one about to wrap.
STARTS = {N_("0 (a fresh ring)"): 0, N_("4294967295 (about to wrap)"): xenring.MAX_INDEX}
_OWNER = {
    **dict.fromkeys(xenring.SHARED_INDICES, N_("shared page")),
    **dict.fromkeys(xenring.FRONTEND_INDICES, N_("frontend (DomU)")),
    **dict.fromkeys(xenring.BACKEND_INDICES, N_("backend (Dom0)")),
}


def _slots(state: xenring.RingState) -> str:
    """The ring's slots as a row of coloured cells, and a legend."""
    cells = "".join(
        f"<td title='{_('slot {k}: {state}', k=k, state=_(state_))}' "
        "style='border:1px solid #333;width:1.6em;height:1.6em;"
        f"text-align:center;font-size:75%;background:{_SLOT_FILL[state_]}'>{k}</td>"
        for k, state_ in enumerate(state.slot_states())
    )
    legend = " ".join(
        f"<span style='background:{fill};border:1px solid #333;padding:0 6px'>&nbsp;</span> "
        + _(name)
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
        f"<td style='{_CELL}'>{_(_OWNER[name])}</td>"
        f"<td style='{_CELL}'>{getattr(before, name)}</td>"
        f"<td style='{_CELL}'>{getattr(state, name)}</td></tr>"
        for name in _OWNER
    )
    header = (_("index"), _("kept by"), _("before"), _("after"))
    head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in header)
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
        title = _(
            "<b>Step 0 of {count}</b>: an idle ring of {size} slots. Both ends sleep with their "
            "event index armed one past what they consumed. Move the slider.",
            count=count,
            size=idle.size,
        )
        title = f"<p>{title}</p>"
        figure = diagrams.split_driver()
    else:
        current = steps[step - 1]
        state = current.state
        before = steps[step - 2].state if step > 1 else idle
        where = {
            "step": step,
            "count": count,
            "action": html.escape(current.action),
            "actor": html.escape(_(current.actor)),
            "domain": html.escape(_(current.domain)),
        }
        if current.notify is None:
            heading = _("<b>Step {step} of {count}: {action}</b> ({actor} in {domain})", **where)
        elif current.notify:
            heading = _(
                "<b>Step {step} of {count}: {action}</b> ({actor} in {domain}) → notify", **where
            )
        else:
            heading = _(
                "<b>Step {step} of {count}: {action}</b> ({actor} in {domain}) → no notification",
                **where,
            )
        title = f"<p>{heading}</p><p>{html.escape(current.detail)}</p>"
        figure = diagrams.split_driver(focus=(current.actor,), edges=current.edges)
    parts = [
        title,
        to_html(figure),
        "<p>" + _("<b>The ring's slots</b> (slot = index &amp; size - 1)") + "</p>",
        _slots(state),
        "<p>" + _("<b>The indices</b> (changed ones tinted)") + "</p>",
        _indices(state, before),
    ]
    return f"<div style='{_TEXT}'>{''.join(parts)}</div>", count


def request_stepper() -> w.VBox:
    """A step slider over the events of one disk read through a split driver (Lesson 09)."""
    count = len(xenring.one_request())
    start = w.Dropdown(
        options=[(_(label), index) for label, index in STARTS.items()],
        description=_("Indices at"),
        layout=w.Layout(width="22em"),
    )
    step = w.IntSlider(value=0, min=0, max=count, description=_("Step"))
    play = w.Play(value=0, min=0, max=count, interval=2000, description=_("Play"))
    w.jslink((play, "value"), (step, "value"))
    out = w.HTML()

    def update(_=None):
        out.value = request_step_view(step.value, start.value)[0]

    step.observe(update, "value")
    start.observe(update, "value")
    update()
    return w.VBox([w.HBox([play, step, start]), out])


@per_language
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
    items = [
        _(
            "{pushes} pushes; the backend was notified {to_backend} times ({per} requests per "
            "notification), the frontend {to_frontend} times;",
            pushes=run.pushes,
            to_backend=run.notifications_to_backend,
            per=f"{run.requests_per_notification:.1f}",
            to_frontend=run.notifications_to_frontend,
        ),
        _(
            "{per} notifications per request: <b>{saved} saved</b> against one per request and "
            "one per response;",
            per=f"{run.notifications_per_request:.2f}",
            saved=f"{saved:.0%}",
        ),
        _(
            "the ring was full with requests waiting during {stalls} of {ticks} ticks; at most "
            "{most} requests were in the ring; a request took {latency} ticks on average from "
            "the guest to its response;",
            stalls=run.stall_ticks,
            ticks=run.ticks,
            most=run.most_outstanding,
            latency=f"{run.mean_latency:.1f}",
        ),
        _(
            "priced by the cost model ({cpu} CPU): the notifications add {split} cycles per "
            "request, where an HVM guest's emulated {device} would add {emulated} ({exits} VM "
            "exits to QEMU), {ratio} times more.",
            cpu=cost.cpu,
            split=f"{cost.split_driver:,.0f}",
            device=_(_EMULATED[device]),
            emulated=f"{cost.emulated:,.0f}",
            exits=xenio.EMULATED_ACCESSES_PER_REQUEST,
            ratio=f"{cost.ratio:.0f}",
        ),
    ]
    heading = _(
        "{requests} requests of the <b>{device}</b> workload, ring of <b>{size}</b> slots, "
        "batches of <b>{batch}</b>:",
        requests=run.requests,
        device=html.escape(_(device)),
        size=ring_size,
        batch=batch,
    )
    summary = f"<p>{heading}</p><ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
    plot = _ring_plot(device)
    show_ring(plot.figure, device, ring_size, batch)
    plot.show(plot.figure.axes[1].get_ylim(), lambda: None)  # a batch beyond BATCHES may raise it
    return plot.png(), summary


def ring_explorer() -> w.VBox:
    """Device, ring size and batch; notifications and ring-full stalls (Lesson 09)."""
    for name in xenio.DEVICES:
        _ring_plot(name)
    device = w.Dropdown(
        options=[(_(name), name) for name in xenio.DEVICES], description=_("Device")
    )
    size = w.SelectionSlider(
        options=xenio.RING_SIZES,
        value=xenio.DEVICES["block"].ring_size,
        description=_("Ring size"),
        continuous_update=False,
    )
    batch = w.SelectionSlider(
        options=BATCHES, value=BATCHES[0], description=_("Batch"), continuous_update=False
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
    said = _(
        "Changing the device resets the ring to its real size. <span style='color:{color}'>"
        "Outlined</span> (left) and <span style='color:{color}'>&#9650;</span> (right): your "
        "setting.",
        color=CHOSEN,
    )
    note = w.HTML(f"<p style='font-size:85%'>{said}</p>")
    return w.VBox([w.HBox([device, size, batch]), note, image, summary])
