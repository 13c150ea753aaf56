"""A split driver under load: notifications, batching and ring-full stalls, simulated. Lesson 09.

`simulate(device, ring_size, batch)` runs a seeded workload through `xenring.RingState`, one tick
at a time; a tick is the time the frontend takes to write one request. Each tick:

1. the frontend, if an event reached it, consumes every waiting response and re-arms
   `rsp_event` (RING_FINAL_CHECK_FOR_RESPONSES);
2. the guest may issue a burst of requests;
3. the frontend writes one waiting request into a free slot, and pushes once `batch` requests
   are written, or the burst is all written, or the ring is full; a push notifies the backend only
   when the new requests cross `req_event`. A request that finds the ring full waits in the
   guest: that tick is a ring-full stall;
4. the backend, once an event reached it, consumes every pushed request and starts its I/O, then
   re-arms `req_event` and sleeps (RING_FINAL_CHECK_FOR_REQUESTS);
5. finished I/O gets its responses, pushed together; the push notifies the frontend only when
   the new responses cross `rsp_event`.

An event reaches the other end `wake_ticks` after it is sent: Xen must deliver it and schedule
the other domain's vCPU. Until then the sender's later pushes find the event index already passed
and send nothing more. The devices' numbers are illustrative (assumptions): a disk's slow I/O keeps
requests in the ring, a network card answers at once. The ring sizes are the real ones.
`overhead_per_request` prices the notifications with the course's cost model.
"""

from __future__ import annotations

import functools
import random
from collections import deque
from dataclasses import dataclass
from numbers import Integral
from types import MappingProxyType

from vizlib.i18n import N_, _
from vizlib.sim import costmodel
from vizlib.sim.errors import not_an_integer, not_one_of
from vizlib.sim.xenring import BLOCK_RING_SIZE, NETWORK_RING_SIZE

RING_SIZES = tuple(1 << k for k in range(9))  # 1 to 256: a network ring's 256 is the largest
MAX_BATCH = 64  # assumption: a frontend hands over at most 64 requests per push in this model
MAX_REQUESTS = 20_000  # keeps one simulation well under a second
# assumption, as the cost model's io-heavy workload (vizlib.sim.costmodel.WORKLOADS): an emulated
# device needs 5 register accesses, each a VM exit to the device model, per request.
EMULATED_ACCESSES_PER_REQUEST = 5


def _integer(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise not_an_integer(name, value, low, high)
    return int(value)


@dataclass(frozen=True)
class Device:
    """The workload a device sees (assumptions) and its real ring size. Lesson 09."""

    name: str
    description: str
    ring_size: int  # slots in one shared page (vizlib.sim.xenring)
    burst_probability: float  # chance that the guest issues a burst in a tick
    burst_mean: float  # mean requests in a burst (geometric: 1, 2, 3, ...)
    io_ticks: int  # ticks from starting a request's I/O to its response
    wake_ticks: int  # ticks from sending an event to the other end running

    def __post_init__(self):
        if self.ring_size not in RING_SIZES:
            raise not_one_of("ring_size", self.ring_size, RING_SIZES)
        p, mean = self.burst_probability, self.burst_mean
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
            raise ValueError(
                _(
                    "burst_probability must be a number above 0, at most 1; got {value}",
                    value=repr(p),
                )
            )
        if isinstance(mean, bool) or not isinstance(mean, int | float) or not 1 <= mean <= 1000:
            raise ValueError(
                _("burst_mean must be a number from 1 to 1000; got {value}", value=repr(mean))
            )
        _integer("io_ticks", self.io_ticks, 0, 1000)
        _integer("wake_ticks", self.wake_ticks, 0, 1000)


DEVICES = MappingProxyType(
    {
        N_("block"): Device(
            "block",
            N_("a disk: bursts of reads and writes, each answered 6 ticks after it starts"),
            ring_size=BLOCK_RING_SIZE,  # derived from blkif.h: 32 slots
            burst_probability=0.05,  # assumption: a burst every 20 ticks on average
            burst_mean=8.0,  # assumption: read-ahead or write-back clusters of ~8 requests
            io_ticks=6,  # assumption: a disk answers in 6 ticks
            wake_ticks=1,  # assumption: an event is handled a tick after it is sent
        ),
        N_("network"): Device(
            "network",
            N_("a network card sending packets: long bursts, answered at once"),
            ring_size=NETWORK_RING_SIZE,  # derived from netif.h: 256 slots
            burst_probability=0.04,  # assumption: a burst every 25 ticks on average
            burst_mean=16.0,  # assumption: a TCP window's worth of packets
            io_ticks=0,  # assumption: a sent packet is answered in the tick it leaves
            wake_ticks=1,  # assumption: as for the disk
        ),
    }
)


@dataclass(frozen=True)
class RingRun:
    """What one simulated run counted. Lesson 09."""

    device: str
    ring_size: int
    batch: int
    requests: int
    ticks: int
    pushes: int  # times the frontend published requests
    notifications_to_backend: int  # event-channel sends DomU -> Dom0
    notifications_to_frontend: int  # event-channel sends Dom0 -> DomU
    stall_ticks: int  # ticks in which requests waited because the ring was full
    most_outstanding: int  # the most requests in the ring at once
    mean_latency: float  # mean ticks from the guest issuing a request to its response taken

    @property
    def notifications(self) -> int:
        """Event-channel sends in both directions."""
        return self.notifications_to_backend + self.notifications_to_frontend

    @property
    def requests_per_notification(self) -> float:
        """Requests the backend received per notification it got."""
        return self.requests / self.notifications_to_backend

    @property
    def notifications_per_request(self) -> float:
        """Notifications, both directions, per request; 2.0 if every request and every response
        sent one."""
        return self.notifications / self.requests

    @property
    def notifications_saved(self) -> int:
        """Notifications avoided against one per request and one per response."""
        return 2 * self.requests - self.notifications

    def row(self) -> tuple:
        """The run as a table row under RUN_COLUMNS."""
        return (
            self.ring_size,
            self.batch,
            self.pushes,
            self.notifications_to_backend,
            self.notifications_to_frontend,
            f"{self.notifications_per_request:.2f}",
            self.stall_ticks,
            f"{self.mean_latency:.1f}",
        )


RUN_COLUMNS = (
    N_("Ring slots"),
    N_("Batch"),
    N_("Pushes"),
    N_("Notifications to Dom0"),
    N_("Notifications to DomU"),
    N_("Notifications per request"),
    N_("Ring-full stall ticks"),
    N_("Mean latency (ticks)"),
)


def _device(device: str | Device) -> Device:
    if isinstance(device, Device):
        return device
    if device not in DEVICES:
        raise ValueError(
            _(
                "device must be one of {allowed} or a Device; got {value}",
                allowed=", ".join(DEVICES),
                value=repr(device),
            )
        )
    return DEVICES[device]


def _burst(rng: random.Random, mean: float) -> int:
    """A geometric number of requests >= 1 with the given mean."""
    n = 1
    while rng.random() > 1 / mean:
        n += 1
    return n


@functools.lru_cache(maxsize=64)
def _arrivals(device: Device, requests: int, seed: int) -> tuple[tuple[int, int], ...]:
    """(tick, requests) of each burst the guest issues: step 2 of every tick, drawn from the
    seeded generator alone, so one schedule serves every ring size and batch."""
    rng = random.Random(seed)
    bursts, to_issue, tick = [], requests, 0
    while to_issue:
        if rng.random() < device.burst_probability:
            n = min(to_issue, _burst(rng, device.burst_mean))
            to_issue -= n
            bursts.append((tick, n))
        tick += 1
    return tuple(bursts)


def simulate(
    device: str | Device,
    ring_size: int | None = None,
    batch: int = 1,
    *,
    requests: int = 1000,
    seed: int = 0,
) -> RingRun:
    """Run `requests` requests of a device's workload through a split driver. Lesson 09.

    `device` is a name of DEVICES or a Device of your own. `ring_size` (a power of two from 1 to
    256) defaults to the device's ring; `batch` (1 to 64) is the most requests the frontend writes
    before each push.

    The ring's indices follow `xenring.RingState`'s operations (ring.h), kept here as plain
    integers: they start at 0 and stay far below 2**32, so RING_IDX arithmetic is ordinary
    arithmetic and "the new entries cross the event index" is `old < event <= new`. Ticks in
    which nothing can happen (no request waiting, no event or I/O due) are skipped at once.
    """
    dev = _device(device)
    size = dev.ring_size if ring_size is None else ring_size
    if size not in RING_SIZES:
        raise not_one_of("ring_size", size, RING_SIZES)
    batch = _integer("batch", batch, 1, MAX_BATCH)
    requests = _integer("requests", requests, 1, MAX_REQUESTS)
    seed = _integer("seed", seed, 0, 2**32 - 1)
    bursts = _arrivals(dev, requests, seed)
    wake, io_ticks = dev.wake_ticks, dev.io_ticks
    # The shared page, then each end's private indices (ring.h; xenring.RingState.at(size, 0)).
    req_prod, req_event, rsp_prod, rsp_event = 0, 1, 0, 1
    req_prod_pvt = rsp_cons = req_cons = rsp_prod_pvt = 0
    waiting = answered = answer_ticks = 0  # answer_ticks: the ticks responses were taken, summed
    backend_at = frontend_at = None  # tick an event reaches that end; None: none on its way
    in_flight: deque[tuple[int, int]] = deque()  # (tick the I/O completes, requests)
    pushes = to_backend = to_frontend = stalls = most = 0
    next_burst, tick = 0, 0
    while answered < requests:
        # 1. An event reached the frontend: it takes every response and re-arms rsp_event.
        if frontend_at is not None and frontend_at <= tick:
            frontend_at = None
            taken = rsp_prod - rsp_cons
            answered += taken
            answer_ticks += taken * tick
            rsp_cons = rsp_prod
            rsp_event = rsp_cons + 1  # RING_FINAL_CHECK_FOR_RESPONSES: nothing more waits
        # 2. The guest issues a burst.
        if next_burst < len(bursts) and bursts[next_burst][0] == tick:
            waiting += bursts[next_burst][1]
            next_burst += 1
        # 3. The frontend writes one request and pushes a full batch, a burst's end, a full ring.
        if waiting:
            if req_prod_pvt - rsp_cons == size:
                stalls += 1
            else:
                req_prod_pvt += 1
                waiting -= 1
                full = req_prod_pvt - rsp_cons == size
                if req_prod_pvt - req_prod == batch or not waiting or full:
                    notify = req_prod < req_event <= req_prod_pvt
                    req_prod = req_prod_pvt
                    pushes += 1
                    if notify:
                        to_backend += 1
                        backend_at = tick + wake if backend_at is None else backend_at
        most = max(most, req_prod_pvt - rsp_cons)
        # 4. An event reached the backend: it consumes what it may, starts the I/O, re-arms.
        if backend_at is not None and backend_at <= tick:
            backend_at = None
            # XEN_RING_NR_UNCONSUMED_REQUESTS: no more than the slots left for the responses.
            started = min(req_prod - req_cons, size - (req_cons - rsp_prod_pvt))
            if started:
                req_cons += started
                in_flight.append((tick + io_ticks, started))
            req_event = req_cons + 1  # RING_FINAL_CHECK_FOR_REQUESTS: nothing more it may take
        # 5. Finished I/O: responses, pushed together.
        done = 0
        while in_flight and in_flight[0][0] <= tick:
            done += in_flight.popleft()[1]
        if done:
            rsp_prod_pvt += done
            notify = rsp_prod < rsp_event <= rsp_prod_pvt
            rsp_prod = rsp_prod_pvt
            if notify:
                to_frontend += 1
                frontend_at = tick + wake if frontend_at is None else frontend_at
        tick += 1
        # Skip to the next tick where something can happen: a burst, an event, finished I/O. A
        # request still waiting acts every tick, unless the ring is full: then only the
        # frontend's next event can free a slot, and each tick until then is a stall.
        full = req_prod_pvt - rsp_cons == size
        if answered < requests and (not waiting or full):
            due = [t for t in (frontend_at, backend_at) if t is not None]
            if in_flight:
                due.append(in_flight[0][0])
            if next_burst < len(bursts):
                due.append(bursts[next_burst][0])
            if due and min(due) > tick:
                if waiting:
                    stalls += min(due) - tick
                tick = min(due)
    issue_ticks = sum(t * n for t, n in bursts)
    return RingRun(
        device=dev.name,
        ring_size=size,
        batch=batch,
        requests=requests,
        ticks=tick,
        pushes=pushes,
        notifications_to_backend=to_backend,
        notifications_to_frontend=to_frontend,
        stall_ticks=stalls,
        most_outstanding=most,
        mean_latency=(answer_ticks - issue_ticks) / requests,
    )


@dataclass(frozen=True)
class IoOverhead:
    """Cycles virtualization adds to one I/O request, by how the guest reaches its device.

    Lesson 09. Counts only the crossings: VM exits for an emulated device, event-channel
    notifications for a split driver. It leaves out the work of the device model and of the
    backend themselves and the mapping of granted pages, so it flatters both, the split driver
    more.
    """

    cpu: str
    emulated: float  # an HVM guest's emulated device: register accesses x (VM exit + device model)
    split_driver: float  # a PV, PVH or PVHVM guest: notifications x hypercall
    notifications_per_request: float

    @property
    def ratio(self) -> float:
        """How many times more the emulated device costs."""
        return self.emulated / self.split_driver

    def row(self) -> tuple:
        """The prices as a table row under OVERHEAD_COLUMNS."""
        return (
            self.cpu,
            f"{self.notifications_per_request:.2f}",
            f"{self.split_driver:,.0f}",
            f"{self.emulated:,.0f}",
            f"{self.ratio:.0f}x",
        )


OVERHEAD_COLUMNS = (
    N_("CPU"),
    N_("Notifications per request"),
    N_("Split driver (cycles)"),
    N_("Emulated device (cycles)"),
    N_("Emulated / split"),
)


def overhead_per_request(notifications_per_request: float, cpu: str = "modern") -> IoOverhead:
    """Price an emulated device's register accesses and a split driver's notifications with the
    cost model (`vizlib.sim.costmodel.event_costs`). Lesson 09."""
    if not isinstance(notifications_per_request, int | float) or not (
        0 < notifications_per_request <= 2
    ):
        raise ValueError(
            _(
                "notifications_per_request must be a number above 0 and at most 2; got {value}",
                value=repr(notifications_per_request),
            )
        )
    native = costmodel.event_costs("native", cpu)["io_operations"]
    # derived: what an emulated register access adds (VM exit, device model) to a native one.
    exit_and_model = costmodel.event_costs("hardware-assisted-ept", cpu)["io_operations"] - native
    # derived: what a paravirtualized guest's device access adds: one hypercall.
    hypercall = costmodel.event_costs("paravirtualization", cpu)["io_operations"] - native
    return IoOverhead(
        cpu=cpu,
        emulated=EMULATED_ACCESSES_PER_REQUEST * exit_and_model,
        split_driver=notifications_per_request * hypercall,
        notifications_per_request=notifications_per_request,
    )
