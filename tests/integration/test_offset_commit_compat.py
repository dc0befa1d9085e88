"""OffsetCommit answers that must be Kafka's, sent as raw requests (v2, the
last version before flexible ones, and v9, the first that consumer-protocol
members may use). Every expected value below is what Apache Kafka 4.1
answered to the same request (single-node KRaft, scripts/bench.py's
Kafka): partitions of unknown topics, commits from consumers outside group
management (assign(), which librdkafka sends with generation -1 and its own
member id), and commits into classic and consumer-protocol groups."""
import struct
import time
import uuid

import pytest

from harness import Broker
from test_admin_protocol import call as fcall, carray, cstr
from test_group_describe import heartbeat
from test_names_raw import arr, call as ncall, create_topics, s16

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
UNSUPPORTED_VERSION = 35
GROUP_ID_NOT_FOUND = 69
STALE_MEMBER_EPOCH = 113


@pytest.fixture(scope="module")
def broker():
    with Broker(extra={"group.initial.rebalance.delay.ms": "0"}) as b:
        assert create_topics(b, ["oc"], partitions=2)[0][1] == 0
        deadline = time.monotonic() + 30
        while ncall(b, 10, 0, s16("warm")).i16() != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield b


def commit(b, version, group, gen, member, parts):
    """OffsetCommit v2 or v9; parts [(topic, partition)], each committed at
    offset 5. Returns {(topic, partition): error}."""
    topics = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)
    out = {}
    if version >= 8:
        body = cstr(group) + struct.pack(">i", gen) + cstr(member) + cstr(None)
        body += carray([cstr(t) + carray([struct.pack(">iqi", p, 5, -1) +
                                          cstr(None) + b"\0" for p in ps]) +
                        b"\0" for t, ps in topics.items()]) + b"\0"
        r = fcall(b, 8, version, body)
        r.i32()

        def part(t):
            p = r.i32()
            out[(t, p)] = r.i16()
            r.tags()

        def topic():
            t = r.cstr()
            r.carray(lambda: part(t))
            r.tags()
        r.carray(topic)
        return out
    body = s16(group) + struct.pack(">i", gen) + s16(member)
    body += struct.pack(">q", -1)
    body += arr([s16(t) + arr([struct.pack(">iq", p, 5) + s16(None)
                               for p in ps]) for t, ps in topics.items()])
    r = ncall(b, 8, version, body)
    for _ in range(r.i32()):
        t = r.s16().decode()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


def list_groups(b):
    r = ncall(b, 16, 0, b"")
    assert r.i16() == 0
    return [g.decode() for g, _ in r.arr(lambda: (r.s16(), r.s16()))]


def classic_member(b, group):
    """A one-member classic group (JoinGroup v5, SyncGroup v3): (generation,
    member id)."""
    meta = struct.pack(">h", 0) + arr([s16("oc")]) + struct.pack(">i", -1)
    member = ""
    for _ in range(2):
        body = s16(group) + struct.pack(">ii", 10000, 30000) + s16(member)
        body += s16(None) + s16("consumer")
        body += arr([s16("range") + struct.pack(">i", len(meta)) + meta])
        r = ncall(b, 11, 5, body)
        r.i32()
        err, gen = r.i16(), r.i32()
        r.s16()
        r.s16()
        member = r.s16().decode()
        if err != 79:  # MEMBER_ID_REQUIRED: join again with the id
            break
    assert err == 0
    body = s16(group) + struct.pack(">i", gen) + s16(member) + s16(None)
    body += arr([s16(member) + struct.pack(">i", 0)])
    r = ncall(b, 14, 3, body)
    r.i32()
    assert r.i16() == 0
    return gen, member


def consumer_member(b, group):
    """A member of a consumer-protocol group (ConsumerGroupHeartbeat v1):
    (member id, epoch)."""
    mid = str(uuid.uuid4())
    err, epoch, _ = heartbeat(b, group, mid, 0, topics=["oc"], owned={})
    assert err == 0
    return mid, epoch


@pytest.mark.parametrize("version", [2, 9])
def test_unknown_topic_or_partition(broker, version):
    """Kafka 4.1: UNKNOWN_TOPIC_OR_PARTITION for a topic that does not
    exist and for a partition beyond the topic's count, whatever the
    group's own answer is for the other partitions."""
    b, v = broker, version
    u = ("nope", 0)
    assert commit(b, v, "ut-%d" % v, -1, "", [u]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION}
    # Nothing else in the request: the group is not even created.
    assert "ut-%d" % v not in list_groups(b)
    assert commit(b, v, "ut2-%d" % v, -1, "", [("oc", 0), u, ("oc", 7)]) == {
        ("oc", 0): NONE, u: UNKNOWN_TOPIC_OR_PARTITION,
        ("oc", 7): UNKNOWN_TOPIC_OR_PARTITION}
    gen, mid = classic_member(b, "utc-%d" % v)
    assert commit(b, v, "utc-%d" % v, gen, mid, [u, ("oc", 0)]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION, ("oc", 0): NONE}
    assert commit(b, v, "utc-%d" % v, gen + 5, mid, [u, ("oc", 0)]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION, ("oc", 0): ILLEGAL_GENERATION}
    assert commit(b, v, "utc-%d" % v, -1, "", [u]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION}
    # A consumer-protocol group: the member's own answer for the known
    # partition (below v9 it must not commit), never for the unknown one.
    mid, epoch = consumer_member(b, "utk-%d" % v)
    assert commit(b, v, "utk-%d" % v, epoch, mid, [u]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION}
    assert commit(b, v, "utk-%d" % v, epoch, mid, [u, ("oc", 0)]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION,
        ("oc", 0): NONE if v >= 9 else UNSUPPORTED_VERSION}
    assert commit(b, v, "utk-%d" % v, epoch + 7, mid, [u, ("oc", 0)]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION,
        ("oc", 0): STALE_MEMBER_EPOCH if v >= 9 else UNSUPPORTED_VERSION}
    assert commit(b, v, "utk-%d" % v, -1, "", [u]) == {
        u: UNKNOWN_TOPIC_OR_PARTITION}


@pytest.mark.parametrize("version", [2, 9])
def test_commits_outside_group_management(broker, version):
    """Generation -1 commits (assign(), admin resets) as Kafka 4.1 answers
    them, with an empty member id or librdkafka's own."""
    b, v = broker, version
    p = [("oc", 0)]

    def one(group, gen, member):
        return commit(b, v, group, gen, member, p)[("oc", 0)]

    # No such group: a simple group is made for any member id; a member's
    # commit (generation >= 0) finds no group.
    assert one("sn-%d" % v, -1, "rdkafka-1234") == NONE
    assert one("sn2-%d" % v, -1, "") == NONE
    missing = GROUP_ID_NOT_FOUND if v >= 9 else ILLEGAL_GENERATION
    assert one("sn3-%d" % v, 3, "x") == missing
    assert one("sn3-%d" % v, 0, "") == missing
    # The simple (Empty) group takes more simple commits only.
    assert one("sn-%d" % v, -1, "") == NONE
    assert one("sn-%d" % v, -1, "y") == NONE
    assert one("sn-%d" % v, 2, "y") == UNKNOWN_MEMBER_ID
    # A classic group with a member.
    gen, mid = classic_member(b, "sc-%d" % v)
    assert one("sc-%d" % v, -1, "") == UNKNOWN_MEMBER_ID
    assert one("sc-%d" % v, -1, "x") == UNKNOWN_MEMBER_ID
    assert one("sc-%d" % v, -1, mid) == ILLEGAL_GENERATION
    # A consumer-protocol group with a member.
    g = "sk-%d" % v
    mid, epoch = consumer_member(b, g)
    assert one(g, -1, "") == UNKNOWN_MEMBER_ID
    assert one(g, -1, "x") == UNKNOWN_MEMBER_ID
    assert one(g, 0, "") == UNKNOWN_MEMBER_ID
    assert one(g, -1, mid) == (STALE_MEMBER_EPOCH if v >= 9
                               else UNSUPPORTED_VERSION)
    # Once it left, the group is empty: simple commits again.
    assert heartbeat(b, g, mid, -1)[0] == NONE
    assert one(g, -1, "") == NONE
    assert one(g, -1, "x") == NONE
    assert one(g, -1, mid) == NONE
    assert one(g, 3, mid) == UNKNOWN_MEMBER_ID
    assert one(g, 0, "") == UNKNOWN_MEMBER_ID
