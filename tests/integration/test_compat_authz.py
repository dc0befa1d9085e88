"""Authorized operations (KIP-430, issue 19) in DescribeCluster, Metadata,
DescribeTopicPartitions, DescribeGroups and ConsumerGroupDescribe, sent as
raw requests, and through confluent-kafka's admin client.

brokerd has no authorizer yet, so it answers what Apache Kafka 4.1 answers
with no authorizer configured. Every expected value below was observed by
sending the same request to a single-node KRaft Kafka 4.1: the bit set of
every operation the resource type supports when the flag asks for it,
INT32_MIN when it does not (and for entries answered with an error)."""
import struct
import time

import pytest

from harness import Broker, uvarint
from test_names_raw import arr, call, cstr, s16

NOT_ASKED = -2147483648  # INT32_MIN
# Kafka 4.1's sets: bit i is AclOperation code i.
CLUSTER_OPS = 8096  # CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS
#                     ALTER_CONFIGS IDEMPOTENT_WRITE
TOPIC_OPS = 3576    # READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS
#                     ALTER_CONFIGS
GROUP_OPS = 3400    # READ DELETE DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        body = arr([s16("authz") + struct.pack(">ih", 1, 1) + arr([]) + arr([])])
        r = call(b, 19, 4, body + struct.pack(">i?", 15000, False))
        r.i32()
        assert r.arr(lambda: (r.s16(), r.i16(), r.s16())) == [(b"authz", 0, None)]
        yield b


def carr(items):
    return uvarint(len(items) + 1) + b"".join(items)


def describe_cluster(b, version, include):
    body = struct.pack(">?", include)
    if version >= 1:
        body += b"\x01"  # endpoint type: brokers
    if version >= 2:
        body += b"\x00"  # include fenced brokers
    r = call(b, 60, version, body + b"\x00", flexible=True)
    r.i32()
    assert r.i16() == 0
    r.cstr()
    if version >= 1:
        r.i8()
    r.cstr()
    r.i32()

    def node():
        r.i32(), r.cstr(), r.i32(), r.cstr()
        if version >= 2:
            r.i8()
        r.tags()

    r.carr(node)
    return r.i32()


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster(broker, version):
    assert describe_cluster(broker, version, True) == CLUSTER_OPS
    assert describe_cluster(broker, version, False) == NOT_ASKED


def metadata(b, version, topics, inc_cluster, inc_topic):
    """Metadata v8 (classic) or v9+ (flexible): ([(name, error, topic ops)],
    cluster ops or None from v11)."""
    flexible = version >= 9
    if not flexible:
        body = arr([s16(t) for t in topics])
        body += struct.pack(">???", False, inc_cluster, inc_topic)
    else:
        body = carr([(b"\0" * 16 if version >= 10 else b"") + cstr(t) + b"\0"
                     for t in topics])
        body += struct.pack(">?", False)
        if version <= 10:
            body += struct.pack(">?", inc_cluster)
        body += struct.pack(">?", inc_topic) + b"\0"
    r = call(b, 3, version, body, flexible=flexible)
    r.i32()
    s, a = (r.cstr, r.carr) if flexible else (r.s16, r.arr)

    def tags():
        if flexible:
            r.tags()

    def node():
        r.i32(), s(), r.i32(), s()
        tags()

    a(node)
    s()
    r.i32()

    def part():
        r.i16(), r.i32(), r.i32(), r.i32()
        a(r.i32), a(r.i32), a(r.i32)
        tags()

    def topic():
        err, name = r.i16(), s()
        if version >= 10:
            r.take(16)
        r.i8()
        a(part)
        ops = r.i32()
        tags()
        return name.decode(), err, ops

    out = a(topic)
    return out, (r.i32() if version <= 10 else None)


@pytest.mark.parametrize("version", [8, 9, 10, 11, 12])
def test_metadata(broker, version):
    with_cluster = CLUSTER_OPS if version <= 10 else None
    without_cluster = NOT_ASKED if version <= 10 else None
    topics = ["authz", "nosuch"]
    # Kafka 4.1: the topic flag alone decides the topics' sets, unknown
    # topics included; the cluster flag the cluster's (v8-10).
    asked = [("authz", 0, TOPIC_OPS), ("nosuch", 3, TOPIC_OPS)]
    not_asked = [("authz", 0, NOT_ASKED), ("nosuch", 3, NOT_ASKED)]
    assert metadata(broker, version, topics, True, True) == (asked, with_cluster)
    assert metadata(broker, version, topics, False, True) == (asked, without_cluster)
    assert metadata(broker, version, topics, True, False) == (not_asked, with_cluster)
    assert metadata(broker, version, topics, False, False) == \
        (not_asked, without_cluster)


def test_describe_topic_partitions(broker):
    body = carr([cstr(t) + b"\0" for t in ["authz", "nosuch"]])
    body += struct.pack(">i", 100) + b"\xff" + b"\0"
    r = call(broker, 75, 0, body, flexible=True)
    r.i32()

    def part():
        r.i16(), r.i32(), r.i32(), r.i32()
        for _ in range(5):
            r.carr(r.i32)
        r.tags()

    def topic():
        err, name = r.i16(), r.cstr()
        r.take(16), r.i8(), r.carr(part)
        ops = r.i32()
        r.tags()
        return name.decode(), err, ops

    # Kafka 4.1: no flag; always reported, for unknown topics too.
    assert r.carr(topic) == [("authz", 0, TOPIC_OPS), ("nosuch", 3, TOPIC_OPS)]


def retrying(fn, ok, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        out = fn()
        if ok(out) or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def find_coordinator(b, group):
    """FindCoordinator v1 for a group: the error code (the first lookup
    creates the offsets topic; until then NOT_COORDINATOR-like errors)."""
    r = call(b, 10, 1, s16(group) + b"\x00")
    r.i32()
    return r.i16()


def coordinated(b, group):
    assert retrying(lambda: find_coordinator(b, group), lambda e: e == 0) == 0


def describe_groups(b, version, groups, include):
    """DescribeGroups v3/v4: {group: (error, state, ops)}."""
    r = call(b, 15, version, arr([s16(g) for g in groups]) +
             struct.pack(">?", include))
    r.i32()

    def member():
        r.s16()
        if version >= 4:
            r.s16()
        r.s16(), r.s16()
        r.take(r.i32()), r.take(r.i32())

    def group():
        err, gid, state = r.i16(), r.s16(), r.s16()
        r.s16(), r.s16(), r.arr(member)
        return gid.decode(), (err, state.decode(), r.i32())

    return dict(r.arr(group))


def simple_commit(b, group, topic):
    """OffsetCommit v2 outside any generation: the partition's error."""
    body = s16(group) + struct.pack(">i", -1) + s16("") + struct.pack(">q", -1)
    body += arr([s16(topic) + arr([struct.pack(">iq", 0, 0) + s16("")])])
    r = call(b, 8, 2, body)
    ((_, ((_, err),)),) = r.arr(lambda: (r.s16(), r.arr(lambda: (r.i32(), r.i16()))))
    return err


@pytest.mark.parametrize("version", [3, 4])
def test_describe_groups(broker, version):
    coordinated(broker, "simple")
    coordinated(broker, "nogroup")
    assert retrying(lambda: simple_commit(broker, "simple", "authz"),
                    lambda e: e == 0) == 0
    groups = ["simple", "nogroup"]
    # Kafka 4.1: the set for every group answered without an error, an
    # unknown (Dead) one included.
    assert describe_groups(broker, version, groups, True) == {
        "simple": (0, "Empty", GROUP_OPS), "nogroup": (0, "Dead", GROUP_OPS)}
    assert describe_groups(broker, version, groups, False) == {
        "simple": (0, "Empty", NOT_ASKED), "nogroup": (0, "Dead", NOT_ASKED)}


def consumer_heartbeat(b, group, topic):
    """ConsumerGroupHeartbeat v0, joining: the error code."""
    body = cstr(group) + cstr("") + struct.pack(">i", 0) + cstr(None) + cstr(None)
    body += struct.pack(">i", 30000) + carr([cstr(topic)]) + cstr(None)
    body += carr([]) + b"\0"
    r = call(b, 68, 0, body, flexible=True)
    r.i32()
    return r.i16()


def consumer_group_describe(b, groups, include):
    """ConsumerGroupDescribe v0: {group: (error, ops)}."""
    body = carr([cstr(g) for g in groups]) + struct.pack(">?", include) + b"\0"
    r = call(b, 69, 0, body, flexible=True)
    r.i32()

    def assignment():
        def tp():
            r.take(16), r.cstr(), r.carr(r.i32)
            r.tags()
        r.carr(tp)
        r.tags()

    def member():
        r.cstr(), r.cstr(), r.cstr(), r.i32(), r.cstr(), r.cstr()
        r.carr(r.cstr), r.cstr()
        assignment(), assignment()
        r.tags()

    def group():
        err, _msg, gid = r.i16(), r.cstr(), r.cstr()
        r.cstr(), r.i32(), r.i32(), r.cstr(), r.carr(member)
        ops = r.i32()
        r.tags()
        return gid.decode(), (err, ops)

    return dict(r.carr(group))


def test_consumer_group_describe(broker):
    coordinated(broker, "cg")
    coordinated(broker, "nogroup")
    assert retrying(lambda: consumer_heartbeat(broker, "cg", "authz"),
                    lambda e: e == 0) == 0
    groups = ["cg", "nogroup"]
    # Kafka 4.1: the set for the consumer group; INT32_MIN for the unknown
    # one, answered GROUP_ID_NOT_FOUND (69).
    assert consumer_group_describe(broker, groups, True) == {
        "cg": (0, GROUP_OPS), "nogroup": (69, NOT_ASKED)}
    assert consumer_group_describe(broker, groups, False) == {
        "cg": (0, NOT_ASKED), "nogroup": (69, NOT_ASKED)}


def test_confluent_admin(broker):
    ck = pytest.importorskip("confluent_kafka")
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient, AclOperation
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = a.describe_cluster(include_authorized_operations=True) \
        .result(timeout=30)
    assert sorted(op.name for op in cluster.authorized_operations) == sorted(
        ["CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS",
         "ALTER_CONFIGS", "IDEMPOTENT_WRITE"])
    assert a.describe_cluster().result(timeout=30).authorized_operations is None
    futs = a.describe_topics(TopicCollection(["authz"]),
                             include_authorized_operations=True)
    desc = futs["authz"].result(timeout=30)
    assert sorted(op.name for op in desc.authorized_operations) == sorted(
        ["READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
         "DESCRIBE_CONFIGS", "ALTER_CONFIGS"])
    assert AclOperation.READ in desc.authorized_operations
