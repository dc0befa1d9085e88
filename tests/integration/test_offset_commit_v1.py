"""OffsetCommit v1, which Kafka 4 removed (KIP-896) but sarama <= 1.40 and
kafka-python's api_version=(0, 8, 2) mode still send: raw v1 requests read
back with OffsetFetch v1 and v5, the v1 commit timestamp as stored in
__consumer_offsets (-1 = the broker's time), v1's generation and member
checks (sarama commits with v1 as a group member), and kafka-python 2.0.2
in its 0.8.2 mode."""
import contextlib
import re
import signal
import struct
import time

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from data_util import create_topics, stop_cleanly
from harness import Broker, api_versions, connect, recv_frame, request
from kafka_records import Reader, fetch_all

# One __consumer_offsets partition, so every group's records are in
# partition 0; trace logging shows each request's API and version.
SETTINGS = {"offsets.topic.num.partitions": "1", "logger.level": "trace",
            "group.initial.rebalance.delay.ms": "0"}
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25


@contextlib.contextmanager
def deadline(seconds):
    """Fails the block after seconds: kafka-python retries a commit it gets
    no answer to (a closed connection) for ever."""
    def expired(signum, frame):
        raise TimeoutError("no answer within %d s" % seconds)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def s16(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def find_coordinator_v0(sock, group, timeout=15.0):
    """Waits until the group has a coordinator (which creates
    __consumer_offsets)."""
    deadline = time.monotonic() + timeout
    while True:
        sock.sendall(request(10, 0, 1, s16(group)))
        r = Reader(recv_frame(sock))
        assert r.i32() == 1
        err = r.i16()
        if err == 0:
            return
        assert time.monotonic() < deadline, "no coordinator: %d" % err
        time.sleep(0.1)


def offset_commit_v1(sock, group, parts, generation=-1, member="", corr=2):
    """parts: [(topic, partition, offset, commit_timestamp, metadata)].
    Returns {(topic, partition): error_code}."""
    body = s16(group) + struct.pack(">i", generation) + s16(member)
    topics = {}
    for t, p, off, ts, md in parts:
        topics.setdefault(t, []).append((p, off, ts, md))
    body += struct.pack(">i", len(topics))
    for t, ps in topics.items():
        body += s16(t) + struct.pack(">i", len(ps))
        for p, off, ts, md in ps:
            body += struct.pack(">iqq", p, off, ts) + s16(md)
    sock.sendall(request(8, 1, corr, body))
    # The v1 response is v0's: no throttle time.
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    assert r.pos == len(r.buf)
    return out


def offset_fetch(sock, version, group, topic, partitions, corr=3):
    """OffsetFetch v1 or v5: returns {partition: (offset, metadata,
    error)}."""
    body = s16(group) + struct.pack(">i", 1) + s16(topic)
    body += struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    sock.sendall(request(9, version, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    if version >= 3:
        r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        assert r.string() == topic
        for _ in range(r.i32()):
            p = r.i32()
            off = r.i64()
            if version >= 5:
                assert r.i32() == -1  # leader epoch: v1 has none
            out[p] = (off, r.string(), r.i16())
    if version >= 2:
        assert r.i16() == 0
    assert r.pos == len(r.buf)
    return out


def commit_timestamps(sock, group):
    """The OffsetCommit records of group in __consumer_offsets, in log
    order: [(topic, partition, offset, metadata, commit_timestamp)]."""
    batches, _ = fetch_all(sock, "__consumer_offsets", 0)
    out = []
    for b in batches:
        for rec in b["records"]:
            k = Reader(rec["key"])
            if k.i16() not in (0, 1) or k.string() != group:
                continue
            topic, part = k.string(), k.i32()
            if rec["value"] is None:
                continue
            v = Reader(rec["value"])
            ver = v.i16()
            off = v.i64()
            if ver >= 3:
                v.i32()  # leader epoch
            md = v.string()
            out.append((topic, part, off, md, v.i64()))
    return out


def test_offset_commit_v1_raw():
    with Broker(extra=SETTINGS) as b:
        create_topics(b.bootstrap, {"v1t": (3, None)})
        s = connect(b.port)
        _, err, keys = api_versions(s)
        assert err == 0 and keys[8] == (1, 9)
        find_coordinator_v0(s, "g1")

        explicit = 1_500_000_000_000  # a commit time in the past
        before = int(time.time() * 1000)
        res = offset_commit_v1(s, "g1", [
            ("v1t", 0, 42, explicit, "meta-0"),
            ("v1t", 1, 7, -1, None),
            ("v1t", 2, 1000, -1, ""),
        ])
        after = int(time.time() * 1000)
        assert res == {("v1t", 0): 0, ("v1t", 1): 0, ("v1t", 2): 0}

        # Both the v1 layout (no throttle, no top-level error) and a newer
        # one read the same offsets; null metadata reads back as "".
        want = {0: (42, "meta-0", 0), 1: (7, "", 0), 2: (1000, "", 0)}
        assert offset_fetch(s, 1, "g1", "v1t", [0, 1, 2]) == want
        assert offset_fetch(s, 5, "g1", "v1t", [0, 1, 2]) == want

        # The commit timestamp as stored: the explicit one, or the
        # broker's wall clock for -1.
        recs = {(t, p): (off, md, ts) for t, p, off, md, ts in
                commit_timestamps(s, "g1")}
        assert recs[("v1t", 0)] == (42, "meta-0", explicit)
        off, md, ts = recs[("v1t", 1)]
        assert (off, md) == (7, "")
        assert before - 1000 <= ts <= after + 1000, (before, ts, after)
        assert recs[("v1t", 2)][2] >= before - 1000

        # v1 carries the generation and member id: a member of a group the
        # coordinator does not know must rejoin.
        res = offset_commit_v1(s, "g-unknown", [("v1t", 0, 5, -1, None)],
                               generation=3, member="ghost")
        assert res == {("v1t", 0): ILLEGAL_GENERATION}
        assert offset_fetch(s, 1, "g-unknown", "v1t", [0]) == {
            0: (-1, "", 0)}
        s.close()

        # The offsets (and the explicit commit time) survive a restart.
        assert b.stop() == 0
        b.start()
        s = connect(b.port)
        find_coordinator_v0(s, "g1")
        assert offset_fetch(s, 1, "g1", "v1t", [0, 1, 2]) == want
        s.close()
        stop_cleanly(b)


def join_and_sync_v0(sock, group, topic):
    """A one-member classic group through JoinGroup v0 and SyncGroup v0, as
    old sarama joins. Returns (generation, member_id)."""
    meta = struct.pack(">hi", 0, 1) + s16(topic) + struct.pack(">i", -1)
    body = s16(group) + struct.pack(">i", 10000) + s16("")
    body += s16("consumer") + struct.pack(">i", 1) + s16("range")
    body += struct.pack(">i", len(meta)) + meta
    sock.sendall(request(11, 0, 20, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == 20
    assert r.i16() == 0
    generation = r.i32()
    assert r.string() == "range"
    leader, member = r.string(), r.string()
    assert leader == member
    body = s16(group) + struct.pack(">i", generation) + s16(member)
    body += struct.pack(">i", 1) + s16(member) + struct.pack(">i", 0)
    sock.sendall(request(14, 0, 21, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == 21
    assert r.i16() == 0
    return generation, member


def test_offset_commit_v1_group_member():
    with Broker(extra=SETTINGS) as b:
        create_topics(b.bootstrap, {"v1m": (1, None)})
        s = connect(b.port)
        find_coordinator_v0(s, "gm")
        gen, member = join_and_sync_v0(s, "gm", "v1m")
        part = [("v1m", 0, 9, -1, "x")]
        assert offset_commit_v1(s, "gm", part, gen, member) == {
            ("v1m", 0): 0}
        assert offset_commit_v1(s, "gm", part, gen + 1, member) == {
            ("v1m", 0): ILLEGAL_GENERATION}
        assert offset_commit_v1(s, "gm", part, gen, "stranger") == {
            ("v1m", 0): UNKNOWN_MEMBER_ID}
        # A simple commit (-1, "") into a group with a live member is
        # refused as well.
        assert offset_commit_v1(s, "gm", part) == {
            ("v1m", 0): UNKNOWN_MEMBER_ID}
        assert offset_fetch(s, 1, "gm", "v1m", [0]) == {0: (9, "x", 0)}
        s.close()
        stop_cleanly(b)


def test_kafka_python_0_8_2_commits_with_v1():
    with Broker(extra=SETTINGS) as b:
        create_topics(b.bootstrap, {"kp-v1": (2, None)})
        tp0, tp1 = TopicPartition("kp-v1", 0), TopicPartition("kp-v1", 1)
        common = dict(bootstrap_servers=b.bootstrap, api_version=(0, 8, 2),
                      group_id="kp-v1-group", enable_auto_commit=False,
                      request_timeout_ms=40000)
        with deadline(60):
            c = KafkaConsumer(client_id="kp-v1-commit", **common)
            try:
                c.assign([tp0, tp1])
                c.commit({tp0: OffsetAndMetadata(11, "m0"),
                          tp1: OffsetAndMetadata(22, None)})
                assert c.committed(tp0) == 11
            finally:
                c.close()
            # A second consumer has nothing cached: committed() asks the
            # broker (OffsetFetch v1).
            c = KafkaConsumer(client_id="kp-v1-read", **common)
            try:
                got = c.committed(tp0, metadata=True)
                assert (got.offset, got.metadata) == (11, "m0")
                assert c.committed(tp1) == 22
            finally:
                c.close()
        # kafka-python's 0.8.2 mode sent OffsetCommit v1 and OffsetFetch v1
        # (the broker's trace log names each request).
        out = b.output()
        sent = set(re.findall(r'client="(kp-v1-\w+)" api=(\w+) version=(\d+)',
                              out))
        assert ("kp-v1-commit", "OffsetCommit", "1") in sent, sorted(sent)
        assert ("kp-v1-read", "OffsetFetch", "1") in sent, sorted(sent)
        assert not [x for x in sent if x[1] == "OffsetCommit" and
                    x[2] != "1"], sorted(sent)
        stop_cleanly(b)
