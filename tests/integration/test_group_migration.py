"""KIP-848 consumer groups across a coordinator restart, and groups that
mix classic and consumer-protocol members (KIP-848's online migration):

- a consumer group's members, epochs and assignments are written to
  __consumer_offsets in Kafka's record formats and read back after a
  restart, so members carry on with their epochs (no UNKNOWN_MEMBER_ID,
  no rebalance), and ConsumerGroupDescribe shows them before they speak;
- a kafka-python consumer (JoinGroup/SyncGroup only) joins a group whose
  other member speaks ConsumerGroupHeartbeat: the server-side assignor
  splits the partitions between them, none owned twice;
- when the consumer-protocol member leaves, the group becomes a classic
  group again and the kafka-python consumer gets everything;
- Kafka's own record classes (kafka-group-coordinator 4.1, what its
  coordinator and offsets formatters use) parse every record brokerd wrote
  to __consumer_offsets, KIP-848 ones included.
(The Java client's mixed groups are in test_group_java.py.)"""
import time

import pytest
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from data_util import create_topics
from harness import Broker
from test_group_clients import GROUP_SETTINGS
from test_group_describe import describe, heartbeat
from test_group_java import java

TOPIC = "mig-topic"
PARTS = 4
UNKNOWN_MEMBER_ID = 25


@pytest.fixture(scope="module")
def broker():
    b = Broker(extra=GROUP_SETTINGS)
    b.start()
    try:
        create_topics(b.bootstrap, {TOPIC: (PARTS, {})})
        # FindCoordinator creates __consumer_offsets.
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="mig-init")
        c.committed(TopicPartition(TOPIC, 0))
        c.close()
        yield b
    finally:
        if b.alive():
            b.stop()
        b.cleanup()


def hb_parts(assignment):
    """Partitions of a heartbeat's {topic_id: [partitions]} (one topic)."""
    return sorted(p for ps in assignment.values() for p in ps)


def described_parts(assignment):
    return sorted(p for t in assignment for p in t["partitions"])


def settle(b, group, member, epoch, owned, rounds=6):
    """Heartbeats as a KIP-848 client does, acknowledging each assignment;
    returns (epoch, owned)."""
    for _ in range(rounds):
        err, epoch, assignment = heartbeat(
            b, group, member, epoch, topics=[TOPIC] if epoch == 0 else None,
            owned=owned)
        assert err == 0, err
        if assignment is not None:
            owned = assignment
    return epoch, owned


def test_consumer_group_survives_restart(broker):
    group = "mig-restart"
    e1, o1 = settle(broker, group, "m1", 0, {})
    e2, o2 = settle(broker, group, "m2", 0, {})
    e1, o1 = settle(broker, group, "m1", e1, o1)
    e2, o2 = settle(broker, group, "m2", e2, o2)
    assert len(hb_parts(o1)) + len(hb_parts(o2)) == PARTS
    assert not set(hb_parts(o1)) & set(hb_parts(o2))

    assert broker.stop() == 0
    broker.start()

    # Before anyone speaks, the group is there with both members.
    (g,) = describe(broker, [group])
    assert g["error"] == 0, g
    assert g["state"] == "Stable", g
    members = {m["id"]: m for m in g["members"]}
    assert set(members) == {"m1", "m2"}
    assert members["m1"]["epoch"] == e1
    assert described_parts(members["m1"]["assignment"]) == hb_parts(o1)
    # The members carry on with their epochs and keep their partitions.
    err, epoch, assignment = heartbeat(broker, group, "m1", e1, owned=o1)
    assert (err, epoch) == (0, e1)
    err, epoch, _ = heartbeat(broker, group, "m2", e2)
    assert (err, epoch) == (0, e2)
    # A member that left before the restart stays gone after it.
    err, _, _ = heartbeat(broker, group, "m2", -1)
    assert err == 0
    assert broker.stop() == 0
    broker.start()
    err, _, _ = heartbeat(broker, group, "m2", e2)
    assert err == UNKNOWN_MEMBER_ID
    e1, o1 = settle(broker, group, "m1", e1, o1)
    assert len(hb_parts(o1)) == PARTS


def parts_of(assignment):
    return sorted(tp.partition for tp in assignment)


def test_classic_client_in_consumer_group(broker):
    group = "mig-mixed"
    ek, ok = settle(broker, group, "k1", 0, {})
    assert len(hb_parts(ok)) == PARTS
    c = KafkaConsumer(TOPIC, bootstrap_servers=broker.bootstrap,
                      group_id=group, enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=300,
                      client_id="kp-classic")
    try:
        # Both sides keep polling / heartbeating until the split settles:
        # the consumer member gives up half, the classic one rejoins
        # (REBALANCE_IN_PROGRESS on its Heartbeat) until it has them.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            c.poll(timeout_ms=200)
            ek, ok = settle(broker, group, "k1", ek, ok, rounds=1)
            mine = parts_of(c.assignment())
            if len(mine) + len(hb_parts(ok)) == PARTS and len(mine) == PARTS // 2:
                break
        mine = parts_of(c.assignment())
        assert len(mine) == PARTS // 2, (mine, ok)
        assert not set(mine) & set(hb_parts(ok))
        assert len(mine) + len(hb_parts(ok)) == PARTS
        (g,) = describe(broker, [group])
        assert g["error"] == 0 and len(g["members"]) == 2, g
        types = {m["id"]: m["type"] for m in g["members"]}
        assert sorted(types.values()) == [0, 1], g  # classic, consumer
        # The classic member commits with its generation (= member epoch).
        c.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(7, "")
                  for p in mine})
        assert c.committed(TopicPartition(TOPIC, mine[0])) == 7

        # The consumer member leaves: only a classic member is left, the
        # group turns classic and rebalances; kafka-python gets it all.
        err, _, _ = heartbeat(broker, group, "k1", -1)
        assert err == 0
        deadline = time.monotonic() + 60
        while (len(c.assignment()) < PARTS and
               time.monotonic() < deadline):
            c.poll(timeout_ms=200)
        assert parts_of(c.assignment()) == list(range(PARTS))
        (g,) = describe(broker, [group])
        assert g["error"] == 69, g  # a classic group now
    finally:
        c.close()


def test_consumer_group_settings():
    """group.consumer.session.timeout.ms and .heartbeat.interval.ms reach
    the members; group.consumer.migration.policy=disabled keeps a classic
    group with members classic (GROUP_ID_NOT_FOUND to a consumer member,
    as Kafka answers)."""
    settings = dict(GROUP_SETTINGS)
    settings.update({"group.consumer.session.timeout.ms": "1500",
                     "group.consumer.heartbeat.interval.ms": "700",
                     "group.consumer.migration.policy": "disabled"})
    with Broker(extra=settings) as b:
        create_topics(b.bootstrap, {TOPIC: (PARTS, {})})
        c = KafkaConsumer(TOPIC, bootstrap_servers=b.bootstrap,
                          group_id="mig-classic", enable_auto_commit=False)
        try:
            deadline = time.monotonic() + 30
            while len(c.assignment()) < PARTS and time.monotonic() < deadline:
                c.poll(timeout_ms=200)
            assert len(c.assignment()) == PARTS
            err, _, _ = heartbeat(b, "mig-classic", "k1", 0, topics=[TOPIC])
            assert err == 69  # GROUP_ID_NOT_FOUND: no upgrade
        finally:
            c.close()
        interval = []
        err, epoch, _ = heartbeat(b, "mig-cfg", "m1", 0, topics=[TOPIC],
                                  interval=interval)
        assert err == 0 and interval == [700]
        time.sleep(2.5)  # past the 1.5 s session, checked every 100 ms
        err, _, _ = heartbeat(b, "mig-cfg", "m1", epoch)
        assert err == UNKNOWN_MEMBER_ID


def test_offsets_topic_readable_by_kafka(broker):
    """Runs last in this module: by now __consumer_offsets holds KIP-848
    records (members, targets, assignments, epochs, a classic member's
    ClassicMemberMetadata, tombstones), a classic GroupMetadata after the
    downgrade and offset commits."""
    rc, out = java("brokerd.OffsetsTopicCheck", broker.bootstrap)
    assert rc == 0, out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("records="), out[-2000:]
    types = {l.split(" ", 1)[0] for l in lines[:-1]}
    for t in ("CONSUMER_GROUP_METADATA", "CONSUMER_GROUP_MEMBER_METADATA",
              "CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA",
              "CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER",
              "CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT", "GROUP_METADATA",
              "OFFSET_COMMIT"):
        assert t in types, (t, sorted(types))
    # What Kafka reads is what was written: m1's subscription, a classic
    # member's protocols, the commit of the mixed group.
    members = [l for l in lines if l.startswith(
        "CONSUMER_GROUP_MEMBER_METADATA") and "memberId='m1'" in l]
    assert members and "subscribedTopicNames=[mig-topic]" in members[-1], \
        members
    assert any("classicMemberMetadata=ClassicMemberMetadata" in l and
               "kp-classic" in l for l in lines), out[-3000:]
    assert any(l.startswith("OFFSET_COMMIT") and "mig-mixed" in l and
               "(offset=7," in l for l in lines), out[-3000:]
