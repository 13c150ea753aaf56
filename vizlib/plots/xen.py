"""A split driver's notifications and ring-full stalls, as batch and ring size vary. Lesson 09."""

from __future__ import annotations

from functools import lru_cache

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vizlib.diagrams.style import EDGES, LAYERS
from vizlib.sim import xenio

BATCHES = (1, 2, 4, 8, 16, 32, 64)  # the batch sizes the left panel draws
TO_BACKEND = EDGES["call"]["color"]  # a notification is an event-channel hypercall
TO_FRONTEND = EDGES["trap"]["color"]  # the other end receives it as an upcall
OTHER = LAYERS["hardware"]  # the ring sizes not chosen
CHOSEN = "#EE3377"  # the chosen setting, as vizlib.diagrams.xen.FOCUS_COLOR
TICK_COLOR = "black"  # the other ring sizes' tick labels, as matplotlib draws them


# Simulations are deterministic: the widget's redraws reuse them.
_simulate = lru_cache(maxsize=1024)(xenio.simulate)


def ring_notifications(device: str, ring_size: int, batch: int, *, seed: int = 0) -> Figure:
    """Left: notifications per request, stacked by direction, against the batch size at
    `ring_size`; right: ring-full stalls against the ring size at `batch`. The chosen setting is
    outlined. Lesson 09."""
    _simulate(device, ring_size, batch, seed=seed)  # a bad setting fails before any drawing
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    ticks = [str(b) for b in BATCHES]
    zeros = [0] * len(BATCHES)
    left.bar(ticks, zeros, color=TO_BACKEND, label="to the backend (DomU -> Dom0)")
    left.bar(ticks, zeros, color=TO_FRONTEND, label="to the frontend (Dom0 -> DomU)")
    left.axhline(2, color="#888888", linestyle=":", linewidth=1, label="one per request and reply")
    left.set_ylim(0, 2.4)
    left.set_xlabel("batch: requests written before each push")
    left.set_ylabel("notifications per request")
    left.legend(fontsize=7, frameon=False, loc="upper right")
    right.bar([str(s) for s in xenio.RING_SIZES], [0] * len(xenio.RING_SIZES), edgecolor="#333333")
    right.set_xlabel("ring size (slots)")
    right.set_ylabel("ticks with requests waiting")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    show_ring(fig, device, ring_size, batch, seed=seed)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_ring(fig: Figure, device: str, ring_size: int, batch: int, *, seed: int = 0) -> None:
    """Draw the setting (`device`, `ring_size`, `batch`) on a `ring_notifications` figure, in
    place of what it showed. Lesson 09."""
    runs = [_simulate(device, ring_size, b, seed=seed) for b in BATCHES]
    chosen = _simulate(device, ring_size, batch, seed=seed)
    sizes = [_simulate(device, s, batch, seed=seed) for s in xenio.RING_SIZES]
    left, right = fig.axes
    for old in [*left.containers[2:], *left.texts, *right.texts]:  # outline and labels
        old.remove()
    to_backend = [r.notifications_to_backend / r.requests for r in runs]
    to_frontend = [r.notifications_to_frontend / r.requests for r in runs]
    totals = [a + b for a, b in zip(to_backend, to_frontend, strict=True)]
    below, above = left.containers
    for bar, bottom, top in zip(below, to_backend, above, strict=True):
        bar.set_height(bottom)
        top.set_y(bottom)
    for bar, height in zip(above, to_frontend, strict=True):
        bar.set_height(height)
    for x, (b, total) in enumerate(zip(BATCHES, totals, strict=True)):
        left.annotate(f"{total:.2f}", (x, total), ha="center", va="bottom", fontsize=7)
        if b == batch:
            left.bar([x], [total], fill=False, edgecolor=CHOSEN, linewidth=2.5)
    left.set_title(f"Ring of {ring_size} slots", fontsize=9)
    bars = right.containers[0]
    for bar, size, run in zip(bars, xenio.RING_SIZES, sizes, strict=True):
        bar.set_height(run.stall_ticks)
        bar.set_facecolor(CHOSEN if size == ring_size else OTHER)
    right.bar_label(bars, labels=[f"{r.stall_ticks:g}" for r in sizes], fontsize=7, padding=2)
    for size, label in zip(xenio.RING_SIZES, right.get_xticklabels(), strict=True):
        chosen_size = size == ring_size
        label.set(
            color=CHOSEN if chosen_size else TICK_COLOR,
            fontweight="bold" if chosen_size else "normal",
        )
    right.set_title(f"Ring-full stalls with batches of {batch}", fontsize=9)
    right.set_ylim(0, max(max(r.stall_ticks for r in sizes), 1) * 1.18)
    fig.suptitle(
        f"{device}: {chosen.requests} requests, {xenio.DEVICES[device].description}", fontsize=10
    )
