"""The group coordinator answers only once its writes are on disk: a
KIP-848 membership change, a classic rebalance (the leader's SyncGroup
and the members' SyncGroups parked until it came), an offset commit and a
group deletion whose __consumer_offsets records could not be synced are
answered with NOT_COORDINATOR (Kafka's answer to a failed coordinator
write), never with success. The disk is made to refuse syncs by
fsync_fail.c, preloaded into a real broker; a heartbeat that changes
nothing writes nothing and still succeeds, until a write has failed: the
coordinator then stops coordinating the groups of that partition."""
import os
import struct
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from data_util import create_topics
from harness import Broker, connect, recv_frame, request
from test_admin_protocol import call, carray, cstr
from test_group_clients import GROUP_SETTINGS
from test_group_describe import describe, heartbeat
from test_group_heartbeat import find_coordinator

TOPIC = "dur-topic"
NOT_COORDINATOR = 16
MEMBER_ID_REQUIRED = 79
REBALANCE_IN_PROGRESS = 27


def s16(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def b32(b):
    return struct.pack(">i", len(b)) + b


class Frame:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def str(self):
        n = self.take(">h")
        v = self.buf[self.pos:self.pos + max(n, 0)].decode()
        self.pos += max(n, 0)
        return v


def classic(b, key, version, body):
    """One non-flexible request on its own connection; a parked JoinGroup
    or SyncGroup may take a while to be answered."""
    s = connect(b.port, timeout=30)
    try:
        s.sendall(request(key, version, 1, body))
        f = Frame(recv_frame(s))
    finally:
        s.close()
    assert f.take(">i") == 1
    return f


def join(b, group, member):
    """JoinGroup v5; returns (error, generation, leader, member id)."""
    body = s16(group) + struct.pack(">ii", 10000, 30000) + s16(member)
    body += s16(None) + s16("consumer")
    body += struct.pack(">i", 1) + s16("range") + b32(b"m")
    f = classic(b, 11, 5, body)
    f.take(">i")
    err, gen = f.take(">h"), f.take(">i")
    f.str()
    leader, mid = f.str(), f.str()
    return err, gen, leader, mid


def sync(b, group, member, gen, assignments=()):
    """SyncGroup v3; returns (error, assignment)."""
    body = s16(group) + struct.pack(">i", gen) + s16(member) + s16(None)
    body += struct.pack(">i", len(assignments))
    for m, a in assignments:
        body += s16(m) + b32(a)
    f = classic(b, 14, 3, body)
    f.take(">i")
    err, n = f.take(">h"), f.take(">i")
    return err, f.buf[f.pos:f.pos + max(n, 0)]


def heartbeat_classic(b, group, member, gen):
    f = classic(b, 12, 3, s16(group) + struct.pack(">i", gen) + s16(member) +
                s16(None))
    f.take(">i")
    return f.take(">h")


def shim_env(flag):
    shim = os.environ.get("BK_FSYNC_FAIL_SHIM")
    assert shim and os.path.exists(shim), \
        "BK_FSYNC_FAIL_SHIM must name the built libbk_fsync_fail.so (ctest sets it)"
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": shim,
        "BK_FSYNC_FAIL_FLAG": str(flag),
        # The shim comes ahead of the sanitizer runtime in ASan builds.
        "ASAN_OPTIONS": (asan + ":" if asan else "") +
                        "verify_asan_link_order=0",
    }


def commit(b, group, offset):
    """OffsetCommit v8 from outside the group; returns the error."""
    part = struct.pack(">iqi", 0, offset, -1) + cstr(None) + b"\x00"
    topic = cstr(TOPIC) + carray([part]) + b"\x00"
    body = cstr(group) + struct.pack(">i", -1) + cstr("") + cstr(None)
    body += carray([topic]) + b"\x00"
    r = call(b, 8, 8, body)
    r.i32()
    errs = []

    def p():
        r.i32()
        errs.append(r.i16())
        r.tags()

    def t():
        r.cstr()
        r.carray(p)
        r.tags()
    r.carray(t)
    (err,) = errs
    return err


def delete_group(b, group):
    """DeleteGroups v2; returns the group's error."""
    r = call(b, 42, 2, carray([cstr(group)]) + b"\x00")
    r.i32()
    errs = []

    def g():
        r.cstr()
        errs.append(r.i16())
        r.tags()
    r.carray(g)
    (err,) = errs
    return err


@pytest.fixture
def broker(tmp_path):
    flag = tmp_path / "refuse-syncs"
    # One shard: every group below shares its coordinator's registry.
    # KIP-848 sessions of 1.5 s let a test see a member expire.
    extra = dict(GROUP_SETTINGS, **{
        "num.shards": "1",
        "group.consumer.session.timeout.ms": "1500",
        "group.consumer.heartbeat.interval.ms": "500",
    })
    with Broker(extra=extra, env=shim_env(flag)) as b:
        create_topics(b.bootstrap, {TOPIC: (2, {})})
        b.refuse_syncs = flag.touch
        b.allow_syncs = flag.unlink
        yield b


def java_partition(group, partitions=50):
    """The __consumer_offsets partition of a group, as Kafka computes it."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    if h >= 2**31:
        h -= 2**32
    return abs(h) % partitions


def test_unsynced_membership_change_is_not_acknowledged(broker):
    group = "dur-members"
    find_coordinator(broker, group)
    m1 = str(uuid.uuid4())
    err, epoch, asg = heartbeat(broker, group, m1, 0, topics=[TOPIC],
                                owned={})
    assert err == 0 and asg is not None
    broker.refuse_syncs()
    # Nothing changes: nothing to write, and the answer is as before.
    err, e, _ = heartbeat(broker, group, m1, epoch, rebalance_ms=-1)
    assert (err, e) == (0, epoch)
    # A new member is a change that must be written first.
    m2 = str(uuid.uuid4())
    err, _, _ = heartbeat(broker, group, m2, 0, topics=[TOPIC], owned={})
    assert err == NOT_COORDINATOR
    # After a failed write the coordinator's memory may be ahead of its
    # log: it stops coordinating the groups there, as Kafka does when the
    # log directory goes offline.
    err, _, _ = heartbeat(broker, group, m1, epoch, rebalance_ms=-1)
    assert err == NOT_COORDINATOR
    # Reads too: nothing is answered from that memory.
    (g,) = describe(broker, [group])
    assert g["error"] == NOT_COORDINATOR


def test_unsynced_classic_rebalance_is_not_acknowledged(broker):
    """A second member joins a stable classic group; its SyncGroup parks
    until the leader's brings the assignment. That assignment cannot be
    written, so neither SyncGroup is answered with success."""
    group = "dur-classic"
    find_coordinator(broker, group)
    err, _, _, a = join(broker, group, "")
    assert err == MEMBER_ID_REQUIRED
    err, gen, leader, _ = join(broker, group, a)
    assert err == 0 and leader == a
    assert sync(broker, group, a, gen, [(a, b"all")]) == (0, b"all")
    err, _, _, m = join(broker, group, "")
    assert err == MEMBER_ID_REQUIRED
    with ThreadPoolExecutor(2) as pool:
        joined = pool.submit(join, broker, group, m)  # parks: a rebalance
        # The leader learns of it from its heartbeats, as a client does.
        deadline = time.monotonic() + 20
        while heartbeat_classic(broker, group, a, gen) != \
                REBALANCE_IN_PROGRESS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        err, gen2, leader, _ = join(broker, group, a)
        assert err == 0 and leader == a
        assert joined.result(timeout=30)[:2] == (0, gen2)
        parked = pool.submit(sync, broker, group, m, gen2)
        # Give the member's SyncGroup time to reach the coordinator and
        # park there (nothing on the wire tells; it takes milliseconds),
        # then break the disk.
        time.sleep(1.0)
        assert not parked.done()
        broker.refuse_syncs()
        err, _ = sync(broker, group, a, gen2, [(a, b"half"), (m, b"other")])
        assert err == NOT_COORDINATOR
        assert parked.result(timeout=30)[0] == NOT_COORDINATOR


def test_unsynced_commit_is_not_acknowledged(broker):
    group = "dur-commit"
    find_coordinator(broker, group)
    assert commit(broker, group, 5) == 0
    broker.refuse_syncs()
    assert commit(broker, group, 6) == NOT_COORDINATOR


def test_unsynced_group_deletion_is_not_acknowledged(broker):
    group = "dur-delete"
    find_coordinator(broker, group)
    assert commit(broker, group, 5) == 0
    broker.refuse_syncs()
    assert delete_group(broker, group) == NOT_COORDINATOR


def test_failed_partition_leaves_the_others_alone(broker):
    """Once a write to one __consumer_offsets partition has failed, its
    groups get NOT_COORDINATOR for everything, reads included, and a
    group on another partition of the same shard is served as before."""
    broken, healthy = "dur-broken", "dur-healthy"
    assert java_partition(broken) != java_partition(healthy)
    find_coordinator(broker, broken)
    find_coordinator(broker, healthy)
    # Served before the fault: its partition is open and loaded (replicas
    # of a new topic open in the background, and one opening while syncs
    # are refused would fail to open, which is not what this tests).
    assert commit(broker, healthy, 6) == 0
    m1 = str(uuid.uuid4())
    err, epoch, _ = heartbeat(broker, broken, m1, 0, topics=[TOPIC],
                              owned={})
    assert err == 0
    broker.refuse_syncs()
    err, _, _ = heartbeat(broker, broken, str(uuid.uuid4()), 0,
                          topics=[TOPIC], owned={})
    assert err == NOT_COORDINATOR
    broker.allow_syncs()
    (g,) = describe(broker, [broken])
    assert g["error"] == NOT_COORDINATOR
    # m1's session expires meanwhile: the coordinator's timer changes the
    # broken group, whose records can no longer be appended. They are not
    # retried on behalf of the healthy group, whose answers stay good.
    time.sleep(2.5)
    assert commit(broker, healthy, 7) == 0
    mh = str(uuid.uuid4())
    err, _, asg = heartbeat(broker, healthy, mh, 0, topics=[TOPIC], owned={})
    assert err == 0 and asg is not None
