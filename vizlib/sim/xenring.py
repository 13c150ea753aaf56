"""Xen's shared I/O ring, index by index, as `xen/include/public/io/ring.h` defines it. Lesson 09.

A split driver's frontend (in a DomU) and backend (in Dom0) share one page: a ring of slots that
holds requests on their way to the backend and responses on their way back, and four indices
(`req_prod`, `req_event`, `rsp_prod`, `rsp_event`). Each end also keeps two private indices:
the frontend `req_prod_pvt` and `rsp_cons`, the backend `req_cons` and `rsp_prod_pvt`.

Indices are free-running unsigned 32-bit counters (ring.h's `RING_IDX`): they are never reduced
to the ring's size, only masked when a slot is addressed (`index & (size - 1)`, so the size is a
power of two), and they wrap from 2**32 - 1 to 0. Every difference is taken modulo 2**32, which
keeps the arithmetic right across the wrap.

Notification hold-off: after pushing, a producer notifies the other end (an event channel) only
if the new entries cross that end's `*_event` index, `(new - event) < (new - old)` modulo 2**32.
An end that has run out of work arms its event index at `cons + 1` before sleeping
(`RING_FINAL_CHECK_FOR_*`), so the very next entry wakes it; while it is busy, the producer
keeps adding entries without notifying.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from numbers import Integral

from vizlib.i18n import N_, _
from vizlib.sim.errors import not_an_integer

INDEX_BITS = 32  # ring.h: typedef unsigned int RING_IDX
INDEX_MODULUS = 1 << INDEX_BITS
MAX_INDEX = INDEX_MODULUS - 1
# derived: entries ahead of a consumer are told apart from entries behind it only while the ring
# holds at most half the index space.
MAX_RING_SIZE = 1 << (INDEX_BITS - 1)

PAGE_BYTES = 4096  # ring.h: XEN_PAGE_SHIFT 12; a classic ring is one shared 4 KiB page
# derived: ring.h's shared page starts with req_prod, req_event, rsp_prod, rsp_event (4 bytes
# each), a 4-byte `pvt` union and 44 bytes of padding before the first slot.
HEADER_BYTES = 4 * 4 + 4 + 44
# derived: blkif.h's struct blkif_request on x86-64: operation, nr_segments, handle, padding, id
# and sector_number (24 bytes), then 11 segments (BLKIF_MAX_SEGMENTS_PER_REQUEST) of a 4-byte
# grant reference, two sector bytes and padding (8 bytes each). Its response is smaller.
BLKIF_SLOT_BYTES = 24 + 11 * 8
# derived: netif.h's struct netif_tx_request: a 4-byte grant reference and four 16-bit fields
# (offset, flags, id, size). Its response (id, status) is smaller.
NETIF_TX_SLOT_BYTES = 4 + 4 * 2


class RingError(ValueError):
    """An operation the ring protocol forbids in this state (e.g. queueing on a full ring)."""


def wrap(index: int) -> int:
    """An index reduced modulo 2**32, as a RING_IDX stores it. Lesson 09."""
    return index % INDEX_MODULUS


def distance(later: int, earlier: int) -> int:
    """`later - earlier` in RING_IDX arithmetic (modulo 2**32): entries between two indices."""
    return (later - earlier) % INDEX_MODULUS


def needs_notify(old: int, new: int, event: int) -> bool:
    """Whether pushing the producer index from `old` to `new` must notify the other end.

    ring.h's RING_PUSH_*_AND_CHECK_NOTIFY: true iff `event` lies in (old, new], computed as
    `(new - event) < (new - old)` modulo 2**32 so that it stays right across the wrap. Lesson 09.
    """
    for name, value in (("old", old), ("new", new), ("event", event)):
        _index(name, value)
    return _crosses(old, new, event)


def _crosses(old: int, new: int, event: int) -> bool:
    return distance(new, event) < distance(new, old)


def slot(index: int, size: int) -> int:
    """The ring slot an index addresses: `index & (size - 1)` (ring.h's RING_GET_REQUEST)."""
    return _index("index", index) & (_size(size) - 1)


def slots_per_page(slot_bytes: int, page_bytes: int = PAGE_BYTES) -> int:
    """Ring size that fits a page: as many slots as fit, rounded down to a power of two.

    ring.h's __CONST_RING_SIZE; a block ring holds 32 requests, a network transmit ring 256.
    Lesson 09.
    """
    for name, value in (("slot_bytes", slot_bytes), ("page_bytes", page_bytes)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
            raise ValueError(
                _(
                    "{parameter} must be a positive integer; got {value}",
                    parameter=name,
                    value=repr(value),
                )
            )
    fit = (page_bytes - HEADER_BYTES) // slot_bytes
    if fit < 1:
        raise ValueError(
            _(
                "slot_bytes must leave room for one slot after the {header}-byte header of a "
                "{page}-byte page; got {value}",
                header=HEADER_BYTES,
                page=page_bytes,
                value=slot_bytes,
            )
        )
    return 1 << (fit.bit_length() - 1)


def _index(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_INDEX:
        raise not_an_integer(name, value, 0, "2**32 - 1")
    return int(value)


def _size(size) -> int:
    valid = isinstance(size, Integral) and not isinstance(size, bool)
    if not valid or not 1 <= size <= MAX_RING_SIZE or size & (size - 1):
        raise ValueError(
            _("size must be a power of two from 1 to 2**31; got {value}", value=repr(size))
        )
    return int(size)


@dataclass(frozen=True)
class RingState:
    """Both ends' view of one ring: the shared page's indices and each end's private ones.

    Every operation returns a new state (the dataclass is frozen); those that push also say
    whether the other end must be notified. Lesson 09.
    """

    size: int
    # The shared page.
    req_prod: int = 0
    req_event: int = 1  # ring.h's SHARED_RING_INIT: the first request notifies
    rsp_prod: int = 0
    rsp_event: int = 1
    # The frontend's private indices.
    req_prod_pvt: int = 0
    rsp_cons: int = 0
    # The backend's private indices.
    req_cons: int = 0
    rsp_prod_pvt: int = 0

    def __post_init__(self):
        _size(self.size)
        for f in fields(self)[1:]:
            _index(f.name, getattr(self, f.name))

    @classmethod
    def at(cls, size: int, index: int) -> RingState:
        """An idle ring whose indices all stand at `index`, both ends asleep and armed.

        `at(size, 0)` is a freshly initialised ring (SHARED_RING_INIT, FRONT_RING_INIT,
        BACK_RING_INIT); an index near 2**32 shows the wrap.
        """
        i = _index("index", index)
        armed = wrap(i + 1)
        return cls(size, i, armed, i, armed, i, i, i, i)

    # The frontend.
    @property
    def outstanding(self) -> int:
        """Requests the frontend has queued whose responses it has not consumed."""
        return distance(self.req_prod_pvt, self.rsp_cons)

    @property
    def free_requests(self) -> int:
        """Slots the frontend may still fill (ring.h's RING_FREE_REQUESTS)."""
        return self.size - self.outstanding

    @property
    def full(self) -> bool:
        """No free slot for another request (ring.h's RING_FULL)."""
        return self.free_requests == 0

    @property
    def unpushed_requests(self) -> int:
        """Requests written into slots but not yet visible to the backend."""
        return distance(self.req_prod_pvt, self.req_prod)

    @property
    def unconsumed_responses(self) -> int:
        """Responses pushed by the backend that the frontend has not taken yet."""
        return distance(self.rsp_prod, self.rsp_cons)

    def queue_request(self) -> RingState:
        """The frontend writes one request into the next slot; the backend cannot see it yet."""
        if self.full:
            raise RingError(
                _(
                    "the ring is full: {outstanding} requests outstanding in {size} slots; "
                    "consume responses first",
                    outstanding=self.outstanding,
                    size=self.size,
                )
            )
        return self._with(req_prod_pvt=wrap(self.req_prod_pvt + 1))

    def push_requests(self) -> tuple[RingState, bool]:
        """Publish the queued requests (req_prod := req_prod_pvt); True if the backend must be
        notified (ring.h's RING_PUSH_REQUESTS_AND_CHECK_NOTIFY)."""
        notify = _crosses(self.req_prod, self.req_prod_pvt, self.req_event)
        return self._with(req_prod=self.req_prod_pvt), notify

    def consume_response(self) -> RingState:
        """The frontend takes the next response; its request's slot becomes free."""
        if not self.unconsumed_responses:
            raise RingError(_("no unconsumed response: rsp_cons has reached rsp_prod"))
        return self._with(rsp_cons=wrap(self.rsp_cons + 1))

    def final_check_for_responses(self) -> tuple[RingState, bool]:
        """Before sleeping: arm rsp_event := rsp_cons + 1 unless responses wait; True if some do.

        ring.h's RING_FINAL_CHECK_FOR_RESPONSES.
        """
        if self.unconsumed_responses:
            return self, True
        armed = self._with(rsp_event=wrap(self.rsp_cons + 1))
        return armed, armed.unconsumed_responses > 0

    # The backend.
    @property
    def unconsumed_requests(self) -> int:
        """Requests the backend may take now (ring.h's XEN_RING_NR_UNCONSUMED_REQUESTS).

        The smaller of the requests pushed and not consumed, and the slots left for their
        responses: a misbehaving frontend cannot make the backend overrun the ring.
        """
        pushed = distance(self.req_prod, self.req_cons)
        room = self.size - distance(self.req_cons, self.rsp_prod_pvt)
        return min(pushed, room)

    @property
    def in_progress(self) -> int:
        """Requests the backend has consumed and not yet answered."""
        return distance(self.req_cons, self.rsp_prod_pvt)

    def consume_request(self) -> RingState:
        """The backend takes the next request (req_cons + 1)."""
        if not self.unconsumed_requests:
            raise RingError(_("no unconsumed request: req_cons has reached req_prod"))
        return self._with(req_cons=wrap(self.req_cons + 1))

    def queue_response(self) -> RingState:
        """The backend writes the response to its oldest unanswered request into that slot."""
        if not self.in_progress:
            raise RingError(_("no request to answer: rsp_prod_pvt has reached req_cons"))
        return self._with(rsp_prod_pvt=wrap(self.rsp_prod_pvt + 1))

    def push_responses(self) -> tuple[RingState, bool]:
        """Publish the queued responses (rsp_prod := rsp_prod_pvt); True if the frontend must be
        notified (ring.h's RING_PUSH_RESPONSES_AND_CHECK_NOTIFY)."""
        notify = _crosses(self.rsp_prod, self.rsp_prod_pvt, self.rsp_event)
        return self._with(rsp_prod=self.rsp_prod_pvt), notify

    def final_check_for_requests(self) -> tuple[RingState, bool]:
        """Before sleeping: arm req_event := req_cons + 1 unless requests wait; True if some do.

        ring.h's RING_FINAL_CHECK_FOR_REQUESTS.
        """
        if self.unconsumed_requests:
            return self, True
        armed = self._with(req_event=wrap(self.req_cons + 1))
        return armed, armed.unconsumed_requests > 0

    def slot_states(self) -> tuple[str, ...]:
        """What each slot holds, by slot number: one of SLOT_STATES."""
        states = ["free"] * self.size
        for ahead in range(self.outstanding):
            states[wrap(self.rsp_cons + ahead) & (self.size - 1)] = self._holds(ahead)
        return tuple(states)

    def _holds(self, ahead: int) -> str:
        """The state of the entry `ahead` places past the oldest outstanding one (rsp_cons)."""
        for state, index in (
            ("response", self.rsp_prod),
            ("response (unpushed)", self.rsp_prod_pvt),
            ("in progress", self.req_cons),
            ("request", self.req_prod),
        ):
            if ahead < distance(index, self.rsp_cons):
                return state
        return "request (unpushed)"

    def _with(self, **indices: int) -> RingState:
        """A copy with some indices changed. Operations compute them with `wrap`, so the copy
        skips validation: simulations make tens of thousands of these."""
        new = object.__new__(RingState)
        new.__dict__.update(self.__dict__, **indices)
        return new

    def changed(self, other: RingState) -> tuple[str, ...]:
        """Names of the indices whose values differ between this state and `other`."""
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)
        )


# What a slot can hold, from the frontend writing a request to it taking the response back.
SLOT_STATES = (
    N_("free"),
    N_("request (unpushed)"),
    N_("request"),
    N_("in progress"),
    N_("response (unpushed)"),
    N_("response"),
)
SHARED_INDICES = ("req_prod", "req_event", "rsp_prod", "rsp_event")
FRONTEND_INDICES = ("req_prod_pvt", "rsp_cons")
BACKEND_INDICES = ("req_cons", "rsp_prod_pvt")
BLOCK_RING_SIZE = slots_per_page(BLKIF_SLOT_BYTES)  # derived: 4032 // 112 = 36, rounded to 32
NETWORK_RING_SIZE = slots_per_page(NETIF_TX_SLOT_BYTES)  # derived: 4032 // 12 = 336 -> 256


@dataclass(frozen=True)
class RequestStep:
    """One event in a request's trip through a split driver. Lesson 09.

    `actor` and the (tail, head) pairs of `edges` name nodes of `vizlib.diagrams.split_driver`
    ("frontend", "ring", "grant", "xen", "backend", "driver", "disk"); `state` is the ring after
    the step; `notify` is the verdict of a notification check, None for other steps.
    """

    actor: str
    domain: str
    action: str
    detail: str
    state: RingState
    edges: tuple[tuple[str, str], ...] = ()
    notify: bool | None = None

    @property
    def who(self) -> str:
        """The actor in the course's language."""
        return _(self.actor)

    @property
    def where(self) -> str:
        """The domain, or the hardware, in the course's language."""
        return _(self.domain)


def _minus(later: int, earlier: int) -> str:
    """`later - earlier = d`, saying "mod 2**32" when the subtraction wraps."""
    wrapped = _(" (mod 2**32)") if later < earlier else ""
    return f"{later} - {earlier} = {distance(later, earlier)}{wrapped}"


# Who acts in each step of a request (nodes of `vizlib.diagrams.split_driver`), and where: its
# domain, or the hardware.
ACTORS = (N_("frontend"), N_("backend"), N_("xen"), N_("disk"))
DOMAINS = (N_("DomU"), N_("Dom0"), N_("Xen"), N_("hardware"))


def one_request(
    size: int = BLOCK_RING_SIZE, start: int = 0, grant_ref: int = 8
) -> tuple[RequestStep, ...]:
    """The events of one disk read through an idle split driver, step by step. Lesson 09.

    Starts from `RingState.at(size, start)`; a `start` near 2**32 shows the indices wrapping.
    `grant_ref` is the grant reference the frontend puts in its request. The actions and details
    are in the course's language; `actor` and `domain` stay keys (ACTORS, DOMAINS).
    """
    _index("grant_ref", grant_ref)
    s0 = RingState.at(size, start)
    i = s0.req_prod
    where = slot(i, size)
    steps = []

    def add(actor, domain, action, detail, state, edges=(), notify=None):
        steps.append(RequestStep(actor, domain, action, detail, state, edges, notify))

    add(
        "frontend",
        "DomU",
        _("grant the data page"),
        _(
            "blkfront writes an entry of its own grant table: grant reference {grant} lets Dom0 "
            "write one page of the guest's memory, the buffer the disk will fill. No hypercall.",
            grant=grant_ref,
        ),
        s0,
        (("frontend", "grant"),),
    )
    s1 = s0.queue_request()
    add(
        "frontend",
        "DomU",
        _("write the request"),
        _(
            "blkfront writes request {{id 0, read, sector 2048, grant {grant}}} into slot "
            "{slot} = {index} & {mask}; req_prod_pvt {index} -> {after}. Dom0 cannot see it "
            "yet.",
            grant=grant_ref,
            slot=where,
            index=i,
            mask=size - 1,
            after=s1.req_prod_pvt,
        ),
        s1,
        (("frontend", "ring"),),
    )
    s2, notify = s1.push_requests()
    add(
        "frontend",
        "DomU",
        _("push"),
        _(
            "After a write barrier, req_prod {index} -> {after}: the request is now visible in "
            "the shared page.",
            index=i,
            after=s2.req_prod,
        ),
        s2,
        (("frontend", "ring"),),
    )
    verdict = (
        _("the backend is asleep and asked to be woken by this request, so notify.")
        if notify
        else _("the backend is busy and will find the request by itself, so stay quiet.")
    )
    add(
        "frontend",
        "DomU",
        _("check whether to notify"),
        _(
            "new - req_event = {to_event} < new - old = {pushed}: {verdict}",
            to_event=_minus(s2.req_prod, s2.req_event),
            pushed=_minus(s2.req_prod, i),
            verdict=verdict,
        ),
        s2,
        notify=notify,
    )
    add(
        "xen",
        "Xen",
        _("event channel"),
        _(
            "blkfront's EVTCHNOP_send hypercall: Xen marks the event channel's port pending in "
            "Dom0 and delivers it as a virtual interrupt (an upcall) to Dom0's kernel."
        ),
        s2,
        (("frontend", "xen"), ("xen", "backend")),
    )
    s3 = s2.consume_request()
    add(
        "backend",
        "Dom0",
        _("consume the request"),
        _(
            "blkback copies the request out of slot {slot} (a guest must not change it under "
            "Dom0's feet); req_cons {index} -> {after}.",
            slot=where,
            index=i,
            after=s3.req_cons,
        ),
        s3,
        (("ring", "backend"),),
    )
    s4, more = s3.final_check_for_requests()
    add(
        "backend",
        "Dom0",
        _("final check, then sleep"),
        (
            _(
                "No more requests: blkback arms req_event := req_cons + 1 = {event}, so the "
                "next request will wake it, and finds more work.",
                event=s4.req_event,
            )
            if more
            else _(
                "No more requests: blkback arms req_event := req_cons + 1 = {event}, so the "
                "next request will wake it, and sleeps until an event arrives.",
                event=s4.req_event,
            )
        ),
        s4,
        (("backend", "ring"),),
    )
    add(
        "backend",
        "Dom0",
        _("map the grant, do the I/O"),
        _(
            "blkback maps grant reference {grant} of the DomU (GNTTABOP_map_grant_ref "
            "hypercall) and hands a read of sector 2048 into that page to Dom0's real disk "
            "driver.",
            grant=grant_ref,
        ),
        s4,
        (("backend", "grant"), ("backend", "driver")),
    )
    add(
        "disk",
        "hardware",
        _("the disk completes"),
        _("The disk writes the data by DMA straight into the guest's page and interrupts Dom0."),
        s4,
        (("driver", "disk"),),
    )
    s5, notify = s4.queue_response().push_responses()
    add(
        "backend",
        "Dom0",
        _("push the response"),
        _(
            "blkback unmaps the page (GNTTABOP_unmap_grant_ref hypercall), writes response "
            "{{id 0, OK}} into slot {slot} and pushes: rsp_prod {before} -> {after}. new - "
            "rsp_event = {to_event} < new - old = {pushed}: {verdict}",
            slot=where,
            before=s4.rsp_prod,
            after=s5.rsp_prod,
            to_event=_minus(s5.rsp_prod, s5.rsp_event),
            pushed=_minus(s5.rsp_prod, s4.rsp_prod),
            verdict=_("notify the frontend.") if notify else _("no notification needed."),
        ),
        s5,
        (("backend", "ring"),),
        notify,
    )
    add(
        "xen",
        "Xen",
        _("event channel"),
        _(
            "blkback's EVTCHNOP_send hypercall: Xen marks the port pending in the DomU and "
            "upcalls its kernel."
        ),
        s5,
        (("backend", "xen"), ("xen", "frontend")),
    )
    s6 = s5.consume_response()
    s7, more = s6.final_check_for_responses()
    add(
        "frontend",
        "DomU",
        _("consume the response"),
        _(
            "blkfront takes the response (rsp_cons {before} -> {after}), ends the grant, "
            "completes the read, and arms rsp_event := rsp_cons + 1 = {event}. The slot is "
            "free again: {free} of {size} free.",
            before=s5.rsp_cons,
            after=s6.rsp_cons,
            event=s7.rsp_event,
            free=s7.free_requests,
            size=size,
        ),
        s7,
        (("ring", "frontend"),),
    )
    return tuple(steps)
