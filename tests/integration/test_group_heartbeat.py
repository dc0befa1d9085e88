"""ConsumerGroupHeartbeat (KIP-848) on the wire, with raw requests: the
assignment is sent on a join, on a full request and when it changed, and
is null otherwise; a static member that restarts with the subscription it
left with takes its old place without a new group epoch, so the other
members reconcile nothing (Kafka's consumerGroupHeartbeat)."""
import struct
import time
import uuid

import pytest

from data_util import create_topics
from harness import Broker
from test_admin_protocol import call, carray, cstr
from test_group_clients import GROUP_SETTINGS
from test_group_describe import describe, flat, heartbeat

TOPIC = "cgh-topic"
PARTS = 4


def find_coordinator(b, group):
    """FindCoordinator v4 until the group's coordinator is known; the
    first one also creates __consumer_offsets, as for any client."""
    deadline = time.monotonic() + 20
    while True:
        body = struct.pack(">b", 0) + carray([cstr(group)]) + b"\x00"
        r = call(b, 10, 4, body)
        r.i32()

        def coordinator():
            c = dict(key=r.cstr(), node=r.i32(), host=r.cstr(), port=r.i32(),
                     error=r.i16(), message=r.cstr())
            r.tags()
            return c
        (c,) = r.carray(coordinator)
        if c["error"] == 0:
            assert (c["host"], c["port"]) == ("127.0.0.1", b.port)
            return
        assert time.monotonic() < deadline, c
        time.sleep(0.1)


@pytest.fixture(scope="module")
def broker():
    with Broker(extra=GROUP_SETTINGS) as b:
        create_topics(b.bootstrap, {TOPIC: (PARTS, {})})
        yield b


def settle(b, group, members):
    """Heartbeats every member (id -> [epoch, assignment]) with what it
    owns until the group is Stable."""
    deadline = time.monotonic() + 20
    while True:
        for mid, st in members.items():
            err, st[0], asg = heartbeat(b, group, mid, st[0], owned=st[1],
                                        rebalance_ms=-1)
            assert err == 0, (mid, err)
            if asg is not None:
                st[1] = asg
        (g,) = describe(b, [group])
        if g["state"] == "Stable":
            return g
        assert time.monotonic() < deadline, g
        time.sleep(0.05)


def test_assignment_only_when_changed(broker):
    group = "cgh-changed"
    find_coordinator(broker, group)
    mid = str(uuid.uuid4())
    err, epoch, asg = heartbeat(broker, group, mid, 0, topics=[TOPIC],
                                owned={})
    assert err == 0 and asg is not None
    assert sorted(next(iter(asg.values()))) == list(range(PARTS))
    # A plain heartbeat: nothing changed, no assignment.
    err, e, none = heartbeat(broker, group, mid, epoch, rebalance_ms=-1)
    assert (err, e, none) == (0, epoch, None)
    # A full request (what a client sends after an error) gets it again.
    err, e, again = heartbeat(broker, group, mid, epoch, topics=[TOPIC],
                              owned=asg)
    assert (err, e, again) == (0, epoch, asg)
    # A second member: the first is told to give half back.
    mid2 = str(uuid.uuid4())
    err, e2, _ = heartbeat(broker, group, mid2, 0, topics=[TOPIC], owned={})
    assert err == 0 and e2 > epoch
    err, e, smaller = heartbeat(broker, group, mid, epoch, rebalance_ms=-1)
    assert err == 0 and e == epoch
    assert len(next(iter(smaller.values()))) == PARTS // 2


def test_static_member_restart_keeps_group_epoch(broker):
    group = "cgh-static"
    find_coordinator(broker, group)
    s1, d1 = str(uuid.uuid4()), str(uuid.uuid4())
    members = {}
    for mid, inst in ((s1, "inst-1"), (d1, None)):
        err, epoch, asg = heartbeat(broker, group, mid, 0, topics=[TOPIC],
                                    owned={}, instance=inst)
        assert err == 0
        members[mid] = [epoch, asg]
    g = settle(broker, group, members)
    epoch = g["epoch"]
    before = {m["id"]: flat(m["assignment"]) for m in g["members"]}
    assert len(before[s1]) == len(before[d1]) == PARTS // 2

    # The static member goes away for a while (epoch -2) and comes back
    # under a new member id, subscribed as before.
    err, e, _ = heartbeat(broker, group, s1, -2, instance="inst-1",
                          rebalance_ms=-1)
    assert (err, e) == (0, -2)
    s2 = str(uuid.uuid4())
    err, e, asg = heartbeat(broker, group, s2, 0, topics=[TOPIC], owned={},
                            instance="inst-1")
    assert err == 0 and e == epoch and asg is not None
    (g,) = describe(broker, [group])
    assert g["epoch"] == epoch and g["state"] == "Stable", g
    after = {m["id"]: flat(m["assignment"]) for m in g["members"]}
    assert set(after) == {s2, d1}
    assert after[s2] == before[s1] and after[d1] == before[d1]
    # The other member carries on at its epoch with nothing to do.
    err, e, none = heartbeat(broker, group, d1, members[d1][0],
                             rebalance_ms=-1)
    assert (err, e, none) == (0, epoch, None)
