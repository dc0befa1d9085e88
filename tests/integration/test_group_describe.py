"""ConsumerGroupDescribe (key 69), the KIP-848 describe API: on the wire
(a group joined with raw ConsumerGroupHeartbeats, v0 and v1 answers, and
Kafka's per-group errors: unknown and classic groups GROUP_ID_NOT_FOUND
with Kafka's messages, an empty id INVALID_GROUP_ID), and through the Java
Admin client (tests/java GroupDescribeCheck: describeConsumerGroups() of a
live group.protocol=consumer group, of a classic group through the
DescribeGroups fallback, and of an unknown group)."""
import struct
import time
import uuid

import pytest
from kafka import KafkaConsumer

from data_util import create_topics
from harness import Broker, api_versions, connect
from test_admin_protocol import call, carray, cstr
from test_group_clients import GROUP_SETTINGS
from test_group_java import java

TOPIC = "cgd-topic"
PARTS = 4
GROUP_NOT_FOUND = 69
INVALID_GROUP_ID = 24
# READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what Kafka
# gives for a group when no authorizer is configured.
GROUP_OPS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)


@pytest.fixture(scope="module")
def broker():
    with Broker(extra=GROUP_SETTINGS) as b:
        create_topics(b.bootstrap, {TOPIC: (PARTS, {})})
        yield b


@pytest.fixture(scope="module")
def classic_group(broker):
    """A live classic group (kafka-python's JoinGroup/SyncGroup); its
    FindCoordinator also creates __consumer_offsets."""
    c = KafkaConsumer(TOPIC, bootstrap_servers=broker.bootstrap,
                      group_id="cgd-classic", enable_auto_commit=False)
    deadline = time.monotonic() + 30
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(timeout_ms=200)
    assert len(c.assignment()) == PARTS
    yield "cgd-classic"
    c.close()


# --- raw requests ------------------------------------------------------------

def heartbeat(b, group, member_id, epoch, topics=None, owned=None,
              interval=None, instance=None, rebalance_ms=30000):
    """ConsumerGroupHeartbeat v1; returns (error, epoch, {topic_id: [p]}),
    the assignment None when the answer has none; interval, a list, gets
    the heartbeat interval appended. rebalance_ms -1 leaves it unsent."""
    body = cstr(group) + cstr(member_id) + struct.pack(">i", epoch)
    body += cstr(instance) + cstr(None) + struct.pack(">i", rebalance_ms)
    body += carray([cstr(t) for t in topics]) if topics is not None else b"\x00"
    body += cstr(None) + cstr(None)  # SubscribedTopicRegex, ServerAssignor
    if owned is None:
        body += b"\x00"
    else:
        body += carray([tid + carray([struct.pack(">i", p) for p in ps]) +
                        b"\x00" for tid, ps in owned.items()])
    body += b"\x00"
    r = call(b, 68, 1, body)
    r.i32()
    err, _msg, _mid, mepoch, hb_ms = r.i16(), r.cstr(), r.cstr(), r.i32(), r.i32()
    if interval is not None:
        interval.append(hb_ms)
    assignment = None
    if r.i8() >= 0:
        assignment = {}

        def tp():
            tid = r.take(16)
            assignment[tid] = r.carray(r.i32)
            r.tags()
        r.carray(tp)
        r.tags()
    return err, mepoch, assignment


def describe(b, groups, version=1, ops=False):
    body = carray([cstr(g) for g in groups]) + (b"\x01" if ops else b"\x00")
    r = call(b, 69, version, body + b"\x00")
    r.i32()

    def assignment():
        def tp():
            t = dict(id=r.take(16), name=r.cstr(), partitions=r.carray(r.i32))
            r.tags()
            return t
        out = r.carray(tp)
        r.tags()
        return out

    def member():
        m = dict(id=r.cstr(), instance=r.cstr(), rack=r.cstr(), epoch=r.i32(),
                 client_id=r.cstr(), client_host=r.cstr(),
                 topics=r.carray(r.cstr), regex=r.cstr(),
                 assignment=assignment(), target=assignment())
        m["type"] = r.i8() if version >= 1 else None
        r.tags()
        return m

    def group():
        g = dict(error=r.i16(), message=r.cstr(), id=r.cstr(), state=r.cstr(),
                 epoch=r.i32(), assignment_epoch=r.i32(), assignor=r.cstr())
        g["members"] = r.carray(member)
        g["ops"] = r.i32()
        r.tags()
        return g

    out = r.carray(group)
    r.tags()
    assert r.pos == len(r.buf)
    return out


def flat(assignment):
    return sorted((t["name"], p) for t in assignment for p in t["partitions"])


# --- tests -------------------------------------------------------------------

def test_advertised(broker):
    s = connect(broker.port)
    try:
        _, err, keys = api_versions(s)
    finally:
        s.close()
    assert err == 0 and keys[69] == (0, 1)


@pytest.mark.parametrize("version", [0, 1])
def test_errors(broker, classic_group, version):
    """Kafka's GroupMetadataManager / GroupCoordinatorService answers: an
    unknown group and a classic group are GROUP_ID_NOT_FOUND (the Admin
    client then falls back to DescribeGroups), an empty id
    INVALID_GROUP_ID; the order of the request is kept."""
    out = describe(broker, ["cgd-nope", "", classic_group], version, ops=True)
    assert [g["id"] for g in out] == ["cgd-nope", "", classic_group]
    nope, empty, classic = out
    assert nope["error"] == GROUP_NOT_FOUND
    assert nope["message"] == "Group cgd-nope not found."
    assert empty["error"] == INVALID_GROUP_ID
    assert classic["error"] == GROUP_NOT_FOUND
    assert classic["message"] == "Group cgd-classic is not a consumer group."
    for g in out:
        assert g["members"] == [] and g["ops"] == -2**31


def test_describe_consumer_group(broker, classic_group):
    """A member joined with raw heartbeats, described at v0 and v1 while it
    reconciles and once it is Stable."""
    group = "cgd-raw"
    mid = str(uuid.uuid4())
    err, epoch, asg = heartbeat(broker, group, mid, 0, topics=[TOPIC], owned={})
    assert err == 0 and epoch >= 1 and asg is not None
    tid = next(iter(asg))
    assert sorted(asg[tid]) == list(range(PARTS))
    # Acknowledge the assignment until the group is Stable.
    deadline = time.monotonic() + 20
    while True:
        (g,) = describe(broker, [group])
        if g["state"] == "Stable" or time.monotonic() > deadline:
            break
        err, epoch, new = heartbeat(broker, group, mid, epoch, owned=asg)
        assert err == 0
        asg = new or asg
        time.sleep(0.1)
    assert g["error"] == 0 and g["message"] is None, g
    assert g["id"] == group and g["state"] == "Stable"
    assert g["epoch"] == epoch and g["assignment_epoch"] == epoch
    assert g["assignor"] == "uniform"
    assert g["ops"] == -2**31
    (m,) = g["members"]
    assert m["id"] == mid and m["epoch"] == epoch
    assert m["instance"] is None and m["rack"] is None and m["regex"] is None
    assert m["client_id"] == "test" and m["client_host"] == "/127.0.0.1"
    assert m["topics"] == [TOPIC]
    expected = [(TOPIC, p) for p in range(PARTS)]
    assert flat(m["assignment"]) == expected
    assert flat(m["target"]) == expected
    assert m["assignment"][0]["id"] == tid
    assert m["type"] == 1
    # v0 has no MemberType; IncludeAuthorizedOperations gives the bitfield.
    (g0,) = describe(broker, [group], version=0, ops=True)
    assert g0["members"][0]["type"] is None and g0["ops"] == GROUP_OPS
    assert g0["members"][0]["assignment"] == m["assignment"]

    # A second member: the target moves before the current assignment does.
    mid2 = str(uuid.uuid4())
    err, epoch2, _ = heartbeat(broker, group, mid2, 0, topics=[TOPIC], owned={})
    assert err == 0 and epoch2 > epoch
    (g,) = describe(broker, [group])
    assert g["epoch"] == epoch2 and g["assignment_epoch"] == epoch2
    assert g["state"] in ("Assigning", "Reconciling")
    by_id = {x["id"]: x for x in g["members"]}
    assert set(by_id) == {mid, mid2}
    first = by_id[mid]
    assert flat(first["assignment"]) == expected  # not yet revoked
    assert len(flat(first["target"])) < PARTS
    targets = flat(first["target"]) + flat(by_id[mid2]["target"])
    assert sorted(targets) == expected

    # Several groups in one request, in request order.
    out = describe(broker, [classic_group, group, "cgd-nope"])
    assert [(x["id"], x["error"]) for x in out] == [
        (classic_group, GROUP_NOT_FOUND), (group, 0),
        ("cgd-nope", GROUP_NOT_FOUND)]


def test_admin_describe_consumer_groups(broker):
    """Kafka's Admin.describeConsumerGroups() uses ConsumerGroupDescribe for
    a KIP-848 group and falls back to DescribeGroups for a classic one."""
    topic = "cgd-java"
    create_topics(broker.bootstrap, {topic: (6, {})})
    rc, out = java("brokerd.GroupDescribeCheck", broker.bootstrap, topic, 6,
                   "cgd-java-group", "cgd-java-classic", timeout=150)
    assert rc == 0, out
    assert "describe ok" in out, out
