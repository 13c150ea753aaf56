"""Lesson 09's models: Xen's shared ring (ring.h's arithmetic), the split-driver simulation,
the guest types and the I/O prices."""

from __future__ import annotations

import random
from collections import deque

import pytest

from vizlib.sim import costmodel, costs, xen_guests, xenio, xenring
from vizlib.sim.xenring import RingError, RingState, needs_notify

TOP = 2**32 - 1  # the largest RING_IDX


def queue(state: RingState, n: int) -> RingState:
    for _ in range(n):
        state = state.queue_request()
    return state


def consume(state: RingState, n: int) -> RingState:
    for _ in range(n):
        state = state.consume_request()
    return state


def respond(state: RingState, n: int) -> RingState:
    for _ in range(n):
        state = state.queue_response()
    return state


def take(state: RingState, n: int) -> RingState:
    for _ in range(n):
        state = state.consume_response()
    return state


@pytest.mark.parametrize(
    ("old", "new", "event", "notify"),
    [
        (0, 1, 1, True),  # a fresh ring: the first request crosses req_event = 1
        (1, 3, 1, False),  # the event was passed earlier: the other end is awake
        (1, 3, 2, True),
        (1, 3, 3, True),  # the event is the last new entry
        (1, 3, 4, False),  # the event lies beyond the new entries
        (5, 5, 5, False),  # nothing pushed
        (TOP - 1, 1, TOP, True),  # the new entries wrap past 2**32
        (TOP - 1, 1, 0, True),
        (TOP - 1, 1, 1, True),
        (TOP - 1, 1, 2, False),
        (TOP, 0, 0, True),  # one entry, pushed across the wrap
    ],
)
def test_needs_notify_iff_the_event_lies_in_the_new_entries(old, new, event, notify):
    assert needs_notify(old, new, event) is notify


def test_a_naive_comparison_misses_the_wrap_that_ring_idx_arithmetic_catches():
    old, new, event = TOP - 1, 1, TOP
    assert not old < event <= new  # what comparing plain integers would conclude
    assert needs_notify(old, new, event)


def test_hand_worked_sequence_on_a_fresh_ring_of_four():
    s = RingState.at(4, 0)
    assert (s.req_event, s.rsp_event, s.free_requests) == (1, 1, 4)
    s, notify = s.queue_request().push_requests()  # 0 -> 1 crosses req_event 1
    assert (s.req_prod, notify) == (1, True)
    s, notify = queue(s, 2).push_requests()  # 1 -> 3, req_event still 1: the backend is awake
    assert (s.req_prod, s.req_prod_pvt, notify) == (3, 3, False)
    assert s.unconsumed_requests == 3
    s = consume(s, 3)
    s, more = s.final_check_for_requests()  # nothing left: arm req_event = req_cons + 1
    assert (s.req_cons, s.req_event, more) == (3, 4, False)
    s = s.queue_request()
    assert s.outstanding == 4 and s.full and s.free_requests == 0
    with pytest.raises(RingError, match="the ring is full: 4 requests outstanding in 4 slots"):
        s.queue_request()
    s, notify = s.push_requests()  # 3 -> 4 crosses req_event 4
    assert notify and s.unconsumed_requests == 1
    s = consume(s, 1)
    assert s.unconsumed_requests == 0 and s.in_progress == 4
    s, notify = respond(s, 2).push_responses()  # 0 -> 2 crosses rsp_event 1
    assert (s.rsp_prod, notify) == (2, True)
    s = take(s, 2)
    s, more = s.final_check_for_responses()
    assert (s.rsp_cons, s.rsp_event, more, s.free_requests) == (2, 3, False, 2)
    s, notify = respond(s, 2).push_responses()  # 2 -> 4 crosses the re-armed rsp_event 3
    assert (s.rsp_prod, notify) == (4, True)


def test_a_frontend_that_did_not_rearm_gets_no_second_notification():
    s, _ = consume(queue(RingState.at(4, 0), 4).push_requests()[0], 4).final_check_for_requests()
    s, first = respond(s, 2).push_responses()
    s, second = respond(s, 2).push_responses()  # rsp_event is still 1: the frontend is awake
    assert (first, second) == (True, False)
    assert s.unconsumed_responses == 4


def test_hand_worked_sequence_across_the_wrap():
    s = RingState.at(4, TOP - 1)
    assert (s.req_prod, s.req_event) == (TOP - 1, TOP)
    s = queue(s, 3)
    assert s.req_prod_pvt == 1  # 0xfffffffe + 3 wraps to 1
    # indices 0xfffffffe, 0xffffffff, 0 sit in slots 2, 3, 0
    assert s.slot_states() == ("request (unpushed)", "free") + ("request (unpushed)",) * 2
    s, notify = s.push_requests()  # 0xfffffffe -> 1 crosses req_event 0xffffffff
    assert notify and s.unconsumed_requests == 3
    s, more = consume(s, 3).final_check_for_requests()
    assert (s.req_cons, s.req_event, more) == (1, 2, False)
    s, notify = s.queue_request().push_requests()  # 1 -> 2 crosses req_event 2
    assert notify and s.full
    s = respond(consume(s, 1), 4)
    assert s.slot_states() == ("response (unpushed)",) * 4
    s, notify = s.push_responses()  # 0xfffffffe -> 2 crosses rsp_event 0xffffffff
    assert (s.rsp_prod, notify) == (2, True)
    s, more = take(s, 4).final_check_for_responses()
    assert not more and s != RingState.at(4, 2)  # the backend has not re-armed yet
    s, more = s.final_check_for_requests()
    assert s == RingState.at(4, 2) and not more


def test_slot_states_follow_a_request_from_written_to_answered():
    s = queue(RingState.at(8, 6), 5)  # indices 6..10: slots 6, 7, 0, 1, 2
    s = s.push_requests()[0].queue_request()  # index 11 (slot 3) written, not pushed
    s = respond(consume(s, 3), 2)  # 6, 7 answered privately; 8 in progress
    s = s.push_responses()[0].consume_response()  # 6 taken; 7 waits
    assert s.slot_states() == (
        "in progress",  # index 8
        "request",  # 9
        "request",  # 10
        "request (unpushed)",  # 11
        "free",
        "free",
        "free",  # 6, answered and taken
        "response",  # 7
    )
    assert set(s.slot_states()) <= set(xenring.SLOT_STATES)


def test_the_backend_never_consumes_more_than_the_ring_can_answer():
    # An ill-behaved frontend claims 8 new requests on a ring of 4 with 2 still unanswered.
    s = RingState(4, req_prod=10, req_cons=2, rsp_prod_pvt=0, req_prod_pvt=10)
    assert s.unconsumed_requests == 2  # the room left, not the 8 claimed
    assert consume(s, 2).unconsumed_requests == 0


def test_a_final_check_with_work_waiting_leaves_the_event_alone():
    s = queue(RingState.at(4, 0), 2).push_requests()[0]
    checked, more = s.final_check_for_requests()
    assert more and checked == s


def test_impossible_operations_say_why():
    s = RingState.at(4, 0)
    with pytest.raises(RingError, match="no unconsumed request"):
        s.consume_request()
    with pytest.raises(RingError, match="no request to answer"):
        s.queue_response()
    with pytest.raises(RingError, match="no unconsumed response"):
        s.consume_response()
    assert issubclass(RingError, ValueError)


@pytest.mark.parametrize("bad", [0, 3, 12, 2**32, -4, 4.0, True])
def test_ring_sizes_must_be_powers_of_two(bad):
    with pytest.raises(ValueError, match="size must be a power of two from 1 to 2\\*\\*31"):
        RingState(bad)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, None, False])
def test_indices_must_be_32_bit_unsigned(bad):
    with pytest.raises(ValueError, match="req_prod must be an integer from 0 to 2\\*\\*32 - 1"):
        RingState(4, req_prod=bad)
    with pytest.raises(ValueError, match="event must be an integer"):
        needs_notify(0, 1, bad)


def test_slots_wrap_with_the_mask_and_rings_fill_a_page():
    assert [xenring.slot(i, 32) for i in (0, 31, 32, TOP)] == [0, 31, 0, 31]
    assert xenring.HEADER_BYTES == 64
    assert (xenring.BLKIF_SLOT_BYTES, xenring.BLOCK_RING_SIZE) == (112, 32)  # 36 fit -> 32
    assert (xenring.NETIF_TX_SLOT_BYTES, xenring.NETWORK_RING_SIZE) == (12, 256)  # 336 -> 256
    assert [xenring.slots_per_page(b) for b in (2016, 2017, 4032)] == [2, 1, 1]
    with pytest.raises(ValueError, match="slot_bytes must leave room for one slot"):
        xenring.slots_per_page(4033)
    with pytest.raises(ValueError, match="slot_bytes must be a positive integer"):
        xenring.slots_per_page(0)


@pytest.mark.parametrize("start", [0, 41, TOP])
def test_one_request_leaves_the_ring_idle_one_index_further(start):
    steps = xenring.one_request(size=32, start=start)
    assert len(steps) == 12
    assert steps[-1].state == RingState.at(32, xenring.wrap(start + 1))
    assert [s.notify for s in steps if s.notify is not None] == [True, True]
    actors = [s.actor for s in steps]
    assert actors.index("xen") < actors.index("backend") < actors.index("disk")
    assert actors[-1] == "frontend" and actors.count("xen") == 2
    assert all(s.state.size == 32 for s in steps)


def test_one_request_explains_the_wrap_in_its_arithmetic():
    check = xenring.one_request(size=32, start=TOP)[3]
    assert check.action == "check whether to notify"
    assert f"new - old = 0 - {TOP} = 1 (mod 2**32)" in check.detail
    assert "slot 31 = 4294967295 & 31" in xenring.one_request(size=32, start=TOP)[1].detail


# A device of our own: exactly one request a tick, answered at once, events felt a tick later.
STEADY = xenio.Device("steady", "one request a tick", 4, 1.0, 1.0, io_ticks=0, wake_ticks=1)


def test_hand_worked_simulation_of_one_request_a_tick():
    # tick 0: write 1, push, notify. tick 1: write 2, push, no notify (req_event 1 passed);
    # the backend wakes, takes 1-2, re-arms req_event 3; responses 1-2 notify. tick 2: the
    # frontend takes them and re-arms; request 3 notifies. tick 3: as tick 1. tick 4: done.
    run = xenio.simulate(STEADY, 4, 1, requests=4)
    assert (run.ticks, run.pushes, run.stall_ticks, run.most_outstanding) == (5, 4, 0, 2)
    assert (run.notifications_to_backend, run.notifications_to_frontend) == (2, 2)
    assert run.mean_latency == (2 + 1 + 2 + 1) / 4
    assert run.notifications_per_request == 1.0 and run.notifications_saved == 4


def test_hand_worked_simulation_of_a_one_slot_ring():
    # tick 1: request 2 finds the one slot taken (a stall); it goes in at tick 2.
    run = xenio.simulate(STEADY, 1, 1, requests=2)
    assert (run.ticks, run.stall_ticks, run.most_outstanding) == (5, 1, 1)
    assert (run.notifications_to_backend, run.notifications_to_frontend) == (2, 2)
    assert run.mean_latency == (2 + 3) / 2


def replay_through_ring_state(device: xenio.Device, size: int, batch: int, requests: int):
    """The simulation of `xenio`'s docstring done the slow way, one RingState operation at a
    time and every tick visited: (ticks, pushes, to Dom0, to DomU, stalls, most, latency)."""
    rng, ring = random.Random(0), xenring.RingState.at(size, 0)
    to_issue, waiting, answered, waited, tick = requests, 0, 0, 0, 0
    issued, in_flight = deque(), deque()
    backend_at = frontend_at = None
    pushes = to_backend = to_frontend = stalls = most = 0
    while answered < requests:
        if frontend_at is not None and frontend_at <= tick:
            frontend_at, more = None, True
            while more:
                while ring.unconsumed_responses:
                    ring, answered, waited = ring.consume_response(), answered + 1, waited + tick
                    waited -= issued.popleft()
                ring, more = ring.final_check_for_responses()
        if to_issue and rng.random() < device.burst_probability:
            n = 1
            while rng.random() > 1 / device.burst_mean:
                n += 1
            n = min(n, to_issue)
            to_issue, waiting = to_issue - n, waiting + n
            issued.extend([tick] * n)
        if waiting:
            if ring.full:
                stalls += 1
            else:
                ring, waiting = ring.queue_request(), waiting - 1
                if ring.unpushed_requests == batch or not waiting or ring.full:
                    ring, notify = ring.push_requests()
                    pushes += 1
                    if notify:
                        to_backend += 1
                        backend_at = tick + device.wake_ticks if backend_at is None else backend_at
        most = max(most, ring.outstanding)
        if backend_at is not None and backend_at <= tick:
            backend_at, more = None, True
            while more:
                started = 0
                while ring.unconsumed_requests:
                    ring, started = ring.consume_request(), started + 1
                if started:
                    in_flight.append((tick + device.io_ticks, started))
                ring, more = ring.final_check_for_requests()
        done = 0
        while in_flight and in_flight[0][0] <= tick:
            done += in_flight.popleft()[1]
        if done:
            for _ in range(done):
                ring = ring.queue_response()
            ring, notify = ring.push_responses()
            if notify:
                to_frontend += 1
                frontend_at = tick + device.wake_ticks if frontend_at is None else frontend_at
        tick += 1
    return tick, pushes, to_backend, to_frontend, stalls, most, waited / requests


@pytest.mark.parametrize(
    "device",
    [*xenio.DEVICES.values(), xenio.Device("slow", "x", 8, 0.3, 3.0, io_ticks=5, wake_ticks=3)],
    ids=lambda d: d.name,
)
def test_the_simulation_skips_idle_ticks_yet_agrees_with_a_replay_of_every_tick(device):
    for size, batch in ((1, 1), (4, 3), (32, 8), (256, 64)):
        run = xenio.simulate(device, size, batch, requests=300)
        assert (
            run.ticks,
            run.pushes,
            run.notifications_to_backend,
            run.notifications_to_frontend,
            run.stall_ticks,
            run.most_outstanding,
            run.mean_latency,
        ) == replay_through_ring_state(device, size, batch, 300)


def test_simulations_are_seeded():
    assert xenio.simulate("block", 32, 4) == xenio.simulate("block", 32, 4)
    assert xenio.simulate("block", 32, 4, seed=1) != xenio.simulate("block", 32, 4)


@pytest.mark.parametrize("device", xenio.DEVICES)
def test_batching_saves_notifications_and_small_rings_stall(device):
    runs = [xenio.simulate(device, 256, b) for b in (1, 4, 16, 64)]
    sent = [r.notifications_to_backend for r in runs]
    assert sent == sorted(sent, reverse=True) and sent[0] > 3 * sent[-1]
    for r in runs:
        assert r.notifications_to_backend <= r.pushes <= r.requests
        assert r.most_outstanding <= r.ring_size
    stalls = [xenio.simulate(device, size, 1).stall_ticks for size in xenio.RING_SIZES]
    assert stalls == sorted(stalls, reverse=True) and stalls[0] > 0
    assert xenio.simulate(device, None, 1).stall_ticks == 0  # the real ring is big enough
    one_slot = xenio.simulate(device, 1, 64)
    assert one_slot.notifications_to_backend == one_slot.notifications_to_frontend == 1000


def test_simulate_rejects_bad_settings_by_name():
    with pytest.raises(ValueError, match="device must be one of block, network"):
        xenio.simulate("floppy")
    with pytest.raises(ValueError, match="ring_size must be one of 1, 2, 4"):
        xenio.simulate("block", 3)
    with pytest.raises(ValueError, match="batch must be an integer from 1 to 64"):
        xenio.simulate("block", 32, 0)
    with pytest.raises(ValueError, match="requests must be an integer from 1 to 20000"):
        xenio.simulate("block", 32, 1, requests=10**6)
    with pytest.raises(ValueError, match="burst_probability must be a number above 0"):
        xenio.Device("x", "x", 4, 0.0, 1.0, 0, 1)


def test_overhead_prices_exits_and_hypercalls_with_the_cost_model():
    modern = costs.MODERN
    priced = xenio.overhead_per_request(0.5, "modern")
    assert priced.split_driver == pytest.approx(0.5 * modern.pv_hypercall)
    per_exit = modern.hw_io_access + modern.device_model - modern.io_access
    assert priced.emulated == pytest.approx(5 * per_exit)
    assert priced.ratio == pytest.approx(priced.emulated / priced.split_driver)
    # the same 5 accesses per request as the cost model's io-heavy workload
    heavy = costmodel.WORKLOADS["io-heavy"]
    assert heavy.io_operations / heavy.syscalls == xenio.EMULATED_ACCESSES_PER_REQUEST
    with pytest.raises(ValueError, match="notifications_per_request must be a number above 0"):
        xenio.overhead_per_request(0)
    with pytest.raises(ValueError, match="cpu must be one of"):
        xenio.overhead_per_request(1, "z80")


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        ((True, False, True, True), ("PV",)),  # Linux on a CPU without VT-x
        ((True, True, False, True), ("PV", "PVH")),  # Linux, VT-x, no QEMU allowed
        ((False, True, True, True), ("PVHVM",)),  # Windows, fast disk and network
        ((False, True, True, False), ("PVHVM", "HVM")),  # Windows
        ((False, True, False, False), ()),  # Windows without a device model: no way
        ((False, False, True, False), ()),  # Windows without VT-x: no way either
        ((True, True, True, False), ("PV", "PVH", "PVHVM", "HVM")),
    ],
)
def test_suitable_guest_types(constraints, expected):
    names = ("kernel_can_change", "has_vtx", "device_model_allowed", "needs_fast_io")
    assert xen_guests.suitable(**dict(zip(names, constraints, strict=True))) == expected


def test_guest_type_facts():
    by = {g.name: g for g in xen_guests.GUEST_TYPES}
    assert xen_guests.NAMES == ("PV", "PVH", "PVHVM", "HVM")
    assert {g.xl_type for g in xen_guests.GUEST_TYPES} == {"pv", "pvh", "hvm"}
    assert by["PVHVM"].xl_type == "hvm"  # an HVM guest with PV drivers, not a type of its own
    assert [g.name for g in xen_guests.GUEST_TYPES if not g.needs_vtx] == ["PV"]
    assert [g.name for g in xen_guests.GUEST_TYPES if g.device_model is None] == ["PV", "PVH"]
    assert "stub domain" in by["HVM"].device_model
    with pytest.raises(ValueError, match="has_vtx must be True or False"):
        xen_guests.suitable(
            kernel_can_change=True, has_vtx=1, device_model_allowed=True, needs_fast_io=True
        )


def test_table_rows_match_their_columns():
    run = xenio.simulate("network", 8, 4)
    assert len(run.row()) == len(xenio.RUN_COLUMNS)
    assert run.row()[:5] == (8, 4, run.pushes, run.notifications_to_backend, 255)
    price = xenio.overhead_per_request(0.5, "p4")
    assert len(price.row()) == len(xenio.OVERHEAD_COLUMNS) and price.row()[0] == "p4"
    for g in xen_guests.GUEST_TYPES:
        assert len(g.row()) == len(xen_guests.GUEST_COLUMNS) and g.row()[0] == g.name
    assert [len(row) for row in xen_guests.XEN_AND_KVM] == [3] * len(xen_guests.XEN_AND_KVM)
    fits = {k: xen_guests.suitable(**c) for k, c in xen_guests.EXAMPLES.items()}
    assert fits["Windows, no QEMU allowed"] == () and fits["Linux on an old CPU without VT-x"] == (
        "PV",
    )
