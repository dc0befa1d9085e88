"""Members expire at their session deadline, as Kafka's per-member timers
fire, not at the next housekeeping tick after it: DeleteGroups sent a few
milliseconds after the deadline of the only member, which stopped
heartbeating, deletes the group. Kafka 4.1 answered NONE (0) to DeleteGroups
6.05 s after the last SyncGroup of a member with a 6 s session; the same
request used to get NON_EMPTY_GROUP (68) from brokerd until its 100 ms tick
came. Each case runs three times: with a tick, one of them in a 5 ms window
would be luck."""
import struct
import time
import uuid

import pytest

from harness import Broker
from test_admin_protocol import call as fcall, carray, cstr
from test_group_describe import heartbeat
from test_names_raw import arr, call as ncall, create_topics, s16

SESSION_MS = 1000
LATE_S = 0.005  # after the deadline, well inside a 100 ms tick


@pytest.fixture(scope="module")
def broker():
    with Broker(extra={"group.initial.rebalance.delay.ms": "0",
                       "group.min.session.timeout.ms": str(SESSION_MS),
                       "group.consumer.session.timeout.ms": str(SESSION_MS),
                       "group.consumer.heartbeat.interval.ms": "500"}) as b:
        assert create_topics(b, ["ex"])[0][1] == 0
        deadline = time.monotonic() + 30
        while ncall(b, 10, 0, s16("warm")).i16() != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield b


def delete_group(b, group):
    """DeleteGroups v2: the group's error."""
    r = fcall(b, 42, 2, carray([cstr(group)]) + b"\0")
    r.i32()
    out = []

    def result():
        out.append((r.cstr(), r.i16()))
        r.tags()
    r.carray(result)
    ((name, err),) = out
    assert name == group
    return err


def classic_member(b, group):
    """Joins (JoinGroup v5) and syncs (SyncGroup v3) one classic member;
    returns the monotonic time after the last answer."""
    meta = struct.pack(">h", 0) + arr([s16("ex")]) + struct.pack(">i", -1)
    member = ""
    for _ in range(2):
        body = s16(group) + struct.pack(">ii", SESSION_MS, 30000)
        body += s16(member) + s16(None) + s16("consumer")
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
    return time.monotonic()


def consumer_member(b, group):
    """One ConsumerGroupHeartbeat v1 member; returns the monotonic time
    after its last heartbeat's answer."""
    mid = str(uuid.uuid4())
    err, epoch, _ = heartbeat(b, group, mid, 0, topics=["ex"], owned={})
    assert err == 0
    return time.monotonic()


@pytest.mark.parametrize("join", [classic_member, consumer_member],
                         ids=["classic", "consumer"])
def test_delete_group_just_after_session_expiry(broker, join):
    for n in range(3):
        group = "exp-%s-%d" % (join.__name__, n)
        last = join(broker, group)
        # Still alive just before: the group is not deleted.
        time.sleep(max(0.0, last + SESSION_MS / 1000 - 0.3 - time.monotonic()))
        assert delete_group(broker, group) == 68  # NON_EMPTY_GROUP
        time.sleep(max(0.0, last + SESSION_MS / 1000 + LATE_S -
                       time.monotonic()))
        assert delete_group(broker, group) == 0, group
