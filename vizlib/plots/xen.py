"""A split driver's notifications and ring-full stalls, as batch and ring size vary. Lesson 09."""

from __future__ import annotations

from functools import lru_cache

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vizlib.diagrams.style import EDGES, LAYERS
from vizlib.i18n import _
from vizlib.plots.marks import MOVING, label_bars, moving_labels
from vizlib.sim import xenio

BATCHES = (1, 2, 4, 8, 16, 32, 64)  # the batch sizes the left panel draws
TO_BACKEND = EDGES["call"]["color"]  # a notification is an event-channel hypercall
TO_FRONTEND = EDGES["trap"]["color"]  # the other end receives it as an upcall
OTHER = LAYERS["hardware"]  # the ring sizes not chosen
CHOSEN = "#EE3377"  # the chosen setting, as vizlib.diagrams.xen.FOCUS_COLOR


# Simulations are deterministic: the widget's redraws reuse them.
_simulate = lru_cache(maxsize=1024)(xenio.simulate)


@lru_cache(maxsize=16)
def stall_limit(device: str, *, seed: int = 0) -> int:
    """The most ring-full stall ticks of `device` at any ring size and batch of BATCHES: the
    height of the right panel, the same for every setting so that they compare. Lesson 09."""
    return max(
        _simulate(device, size, b, seed=seed).stall_ticks
        for size in xenio.RING_SIZES
        for b in BATCHES
    )


def ring_notifications(device: str, ring_size: int, batch: int, *, seed: int = 0) -> Figure:
    """Left: notifications per request, stacked by direction, against the batch size at
    `ring_size`; right: ring-full stalls against the ring size at `batch`. The chosen setting is
    outlined. Everything that changes with the setting is tagged MOVING (`vizlib.plots.marks`).
    Lesson 09."""
    _simulate(device, ring_size, batch, seed=seed)  # a bad setting fails before any drawing
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    ticks = [str(b) for b in BATCHES]
    zeros = [0] * len(BATCHES)
    to_backend, to_frontend = (
        _("to the backend (DomU -> Dom0)"),
        _("to the frontend (Dom0 -> DomU)"),
    )
    left.bar(ticks, zeros, color=TO_BACKEND, label=to_backend, gid=MOVING)
    left.bar(ticks, zeros, color=TO_FRONTEND, label=to_frontend, gid=MOVING)
    left.bar([0], [0], fill=False, edgecolor=CHOSEN, linewidth=2.5, gid=MOVING)  # the outline
    moving_labels(left, len(BATCHES), padding=0)
    once = _("one per request and reply")
    left.axhline(2, color="#888888", linestyle=":", linewidth=1, label=once)
    left.set_ylim(0, 2.4)
    left.set_xlabel(_("batch: requests written before each push"))
    left.set_ylabel(_("notifications per request"))
    left.legend(fontsize=7, frameon=False, loc="upper right")
    sizes = [str(s) for s in xenio.RING_SIZES]
    right.bar(sizes, [0] * len(sizes), edgecolor="#333333", gid=MOVING)
    moving_labels(right, len(sizes))
    right.plot([0], [0], "^", color=CHOSEN, markersize=9, clip_on=False, gid=MOVING)
    right.set_xlabel(_("ring size (slots)"))
    right.set_ylabel(_("ticks with requests waiting"))
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.title.set_gid(MOVING)
    fig.suptitle(" ", fontsize=10).set_gid(MOVING)
    show_ring(fig, device, ring_size, batch, seed=seed)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_ring(fig: Figure, device: str, ring_size: int, batch: int, *, seed: int = 0) -> None:
    """Show the setting (`device`, `ring_size`, `batch`) on a `ring_notifications` figure, in
    place of what it showed: only its MOVING artists change, and the right panel's height when
    the device changes. Lesson 09."""
    runs = [_simulate(device, ring_size, b, seed=seed) for b in BATCHES]
    chosen = _simulate(device, ring_size, batch, seed=seed)
    sizes = [_simulate(device, s, batch, seed=seed) for s in xenio.RING_SIZES]
    left, right = fig.axes
    to_backend = [r.notifications_to_backend / r.requests for r in runs]
    to_frontend = [r.notifications_to_frontend / r.requests for r in runs]
    below, above, (outline,) = left.containers
    totals = [a + b for a, b in zip(to_backend, to_frontend, strict=True)]
    label_bars(left, totals, [f"{total:.2f}" for total in totals])
    for x, (b, bottom, top) in enumerate(zip(BATCHES, to_backend, to_frontend, strict=True)):
        below[x].set_height(bottom)
        above[x].set(y=bottom, height=top)
        if b == batch:
            outline.set(x=below[x].get_x(), height=bottom + top)
    outline.set_visible(batch in BATCHES)
    left.set_title(_("Ring of {slots} slots", slots=ring_size), fontsize=9)
    (bars,) = right.containers
    for x, (bar, size, run) in enumerate(zip(bars, xenio.RING_SIZES, sizes, strict=True)):
        bar.set_height(run.stall_ticks)
        bar.set_facecolor(CHOSEN if size == ring_size else OTHER)
        if size == ring_size:
            right.lines[0].set_xdata([x])  # a triangle on the axis: seen even with no stall
    label_bars(right, [r.stall_ticks for r in sizes], [f"{r.stall_ticks:g}" for r in sizes])
    right.set_title(_("Ring-full stalls with batches of {batch}", batch=batch), fontsize=9)
    highest = max(stall_limit(device, seed=seed), *(r.stall_ticks for r in sizes), 1)
    right.set_ylim(0, highest * 1.18)
    fig.suptitle(
        _(
            "{device}: {requests} requests, {description}",
            device=_(device),
            requests=chosen.requests,
            description=_(xenio.DEVICES[device].description),
        ),
        fontsize=10,
    )
