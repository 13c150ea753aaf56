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


# Simulations are deterministic: the widget's redraws reuse them.
_simulate = lru_cache(maxsize=1024)(xenio.simulate)


def ring_notifications(device: str, ring_size: int, batch: int, *, seed: int = 0) -> Figure:
    """Left: notifications per request, stacked by direction, against the batch size at
    `ring_size`; right: ring-full stalls against the ring size at `batch`. The chosen setting is
    outlined. Lesson 09."""
    runs = [_simulate(device, ring_size, b, seed=seed) for b in BATCHES]
    chosen = _simulate(device, ring_size, batch, seed=seed)
    sizes = [_simulate(device, s, batch, seed=seed) for s in xenio.RING_SIZES]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    ticks = [str(b) for b in BATCHES]
    to_backend = [r.notifications_to_backend / r.requests for r in runs]
    to_frontend = [r.notifications_to_frontend / r.requests for r in runs]
    left.bar(ticks, to_backend, color=TO_BACKEND, label="to the backend (DomU -> Dom0)")
    left.bar(
        ticks,
        to_frontend,
        bottom=to_backend,
        color=TO_FRONTEND,
        label="to the frontend (Dom0 -> DomU)",
    )
    totals = [a + b for a, b in zip(to_backend, to_frontend, strict=True)]
    for x, (b, total) in enumerate(zip(BATCHES, totals, strict=True)):
        left.annotate(f"{total:.2f}", (x, total), ha="center", va="bottom", fontsize=7)
        if b == batch:
            left.bar([x], [total], fill=False, edgecolor=CHOSEN, linewidth=2.5)
    left.axhline(2, color="#888888", linestyle=":", linewidth=1, label="one per request and reply")
    left.set_ylim(0, 2.4)
    left.set_xlabel("batch: requests written before each push")
    left.set_ylabel("notifications per request")
    left.set_title(f"Ring of {ring_size} slots", fontsize=9)
    left.legend(fontsize=7, frameon=False, loc="upper right")
    bars = right.bar(
        [str(s) for s in xenio.RING_SIZES],
        [r.stall_ticks for r in sizes],
        color=[CHOSEN if s == ring_size else OTHER for s in xenio.RING_SIZES],
        edgecolor="#333333",
    )
    right.bar_label(bars, fontsize=7, padding=2)
    label = right.get_xticklabels()[xenio.RING_SIZES.index(ring_size)]
    label.set(color=CHOSEN, fontweight="bold")
    right.set_xlabel("ring size (slots)")
    right.set_ylabel("ticks with requests waiting")
    right.set_title(f"Ring-full stalls with batches of {batch}", fontsize=9)
    right.set_ylim(0, max(max(r.stall_ticks for r in sizes), 1) * 1.18)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(
        f"{device}: {chosen.requests} requests, {xenio.DEVICES[device].description}", fontsize=10
    )
    fig.tight_layout()
    plt.close(fig)
    return fig
