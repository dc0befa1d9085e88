"""Consumer groups with real clients (kafka-python 2.0.2, confluent-kafka):
three consumers in one group over a 6-partition topic consume every record
exactly once, a member joining and one leaving mid-stream rebalance the
group without losing anything, and a group that commits, stops and comes
back after a broker restart resumes from its commit. Also the admin side:
ListGroups, DescribeGroups, DeleteGroups and OffsetDelete."""
import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartition

from data_util import create_topics
from harness import Broker

PARTS = 6
N = 600
GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture(scope="module")
def broker():
    b = Broker(extra=GROUP_SETTINGS)
    b.start()
    try:
        yield b
    finally:
        if b.alive():
            b.stop()
        b.cleanup()


def produce(bootstrap, topic, start, n, parts=PARTS):
    prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for i in range(start, start + n):
            prod.send(topic, key=b"k%05d" % i, value=b"v%05d" % i,
                      partition=i % parts)
        prod.flush(30)
    finally:
        prod.close(10)


def kp_consumer(bootstrap, topic, group, **kw):
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         auto_offset_reset="earliest",
                         enable_auto_commit=True,
                         auto_commit_interval_ms=200,
                         session_timeout_ms=6000, heartbeat_interval_ms=500,
                         request_timeout_ms=20000, client_id=kw.pop(
                             "client_id", "kp"), **kw)


def poll_round(consumers, seen):
    for c in consumers:
        for tp, msgs in c.poll(timeout_ms=100).items():
            for m in msgs:
                seen.append(m.value)


class Member(threading.Thread):
    """One kafka-python consumer in its own thread: its poll() blocks in
    JoinGroup during a rebalance, so members cannot share a thread."""

    def __init__(self, bootstrap, topic, group, name, seen, lock):
        super().__init__(daemon=True)
        self.c = kp_consumer(bootstrap, topic, group, client_id=name)
        self.seen, self.lock = seen, lock
        self.stop_flag = threading.Event()
        self.assigned = set()

    def run(self):
        try:
            while not self.stop_flag.is_set():
                for tp, msgs in self.c.poll(timeout_ms=100).items():
                    with self.lock:
                        self.seen.extend(m.value for m in msgs)
                self.assigned = self.c.assignment()
        finally:
            self.c.close()  # commits what it consumed, then LeaveGroup

    def stop(self):
        self.stop_flag.set()
        self.join(30)


def wait_seen(seen, lock, n, deadline):
    while time.monotonic() < deadline:
        with lock:
            if len(set(seen)) >= n:
                return
        time.sleep(0.1)


def test_kafka_python_group(broker):
    topic = "grp-kp"
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, N)
    seen, lock = [], threading.Lock()
    ms = [Member(broker.bootstrap, topic, "kp-group", "kp-%d" % i, seen, lock)
          for i in range(2)]
    for m in ms:
        m.start()
    try:
        deadline = time.monotonic() + 90
        wait_seen(seen, lock, N // 3, deadline)
        # A third member joins mid-stream.
        ms.append(Member(broker.bootstrap, topic, "kp-group", "kp-2", seen,
                         lock))
        ms[-1].start()
        wait_seen(seen, lock, 2 * N // 3, deadline)
        # And one leaves (commits what it consumed, then LeaveGroup).
        ms.pop(0).stop()
        wait_seen(seen, lock, N, deadline)
        with lock:
            assert len(set(seen)) == N, "consumed %d of %d" % (
                len(set(seen)), N)
            assert len(seen) == N, "duplicates: %d" % (len(seen) - N)
    finally:
        for m in ms:
            m.stop()

    # Commit, stop, restart: the group resumes from its commits.
    produce(broker.bootstrap, topic, N, 60)
    broker.stop()
    broker.start()
    # The group came back from __consumer_offsets (GroupMetadata records).
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                             request_timeout_ms=15000)
    try:
        assert dict(admin.list_consumer_groups()).get("kp-group") == \
            "consumer"
        [desc] = admin.describe_consumer_groups(["kp-group"])
        assert desc.state == "Empty" and desc.protocol_type == "consumer"
    finally:
        admin.close()
    c = kp_consumer(broker.bootstrap, topic, "kp-group")
    try:
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 60 and time.monotonic() < deadline:
            poll_round([c], got)
        time.sleep(1)
        poll_round([c], got)
        assert sorted(got) == [b"v%05d" % i for i in range(N, N + 60)]
    finally:
        c.close()
    probe = KafkaConsumer(bootstrap_servers=broker.bootstrap,
                          group_id="kp-group", enable_auto_commit=False)
    try:
        total = sum(probe.committed(TopicPartition(topic, p)) or 0
                    for p in range(PARTS))
        assert total == N + 60
    finally:
        probe.close()


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_confluent_group(broker, protocol):
    """librdkafka's classic protocol, and its KIP-848 implementation
    (group.protocol=consumer: ConsumerGroupHeartbeat, server-side
    assignment)."""
    from confluent_kafka import Consumer
    topic = "grp-ck-" + protocol
    group = "ck-group-" + protocol
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, N)

    def consumer(name):
        conf = {"bootstrap.servers": broker.bootstrap,
                "group.id": group, "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "group.protocol": protocol}
        if protocol == "classic":
            # The consumer protocol takes these from the broker instead.
            conf.update({"session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
        c = Consumer(conf)
        c.subscribe([topic])
        return c

    seen = []

    def rounds(cs, until, deadline):
        while len(set(seen)) < until and time.monotonic() < deadline:
            for c in cs:
                m = c.poll(0.1)
                if m is not None and m.error() is None:
                    seen.append(m.value())
                    c.commit(message=m, asynchronous=False)

    cs = [consumer("ck-%d" % i) for i in range(3)]
    try:
        deadline = time.monotonic() + 90
        rounds(cs, N // 2, deadline)
        cs.pop().close()
        rounds(cs, N, deadline)
        assert len(set(seen)) == N
        assert len(seen) == N, "duplicates: %d" % (len(seen) - N)
    finally:
        for c in cs:
            c.close()
    # The commits are what a new member of the group resumes from.
    c = consumer("ck-late")
    try:
        from confluent_kafka import TopicPartition as CTP
        committed = c.committed([CTP(topic, p) for p in range(PARTS)],
                                timeout=20)
        assert sum(tp.offset for tp in committed) == N
    finally:
        c.close()


def test_admin_groups(broker):
    topic = "grp-admin"
    create_topics(broker.bootstrap, {topic: (2, {})})
    produce(broker.bootstrap, topic, 0, 20, parts=2)
    c = kp_consumer(broker.bootstrap, topic, "admin-group",
                    client_id="admin-c")
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 20 and time.monotonic() < deadline:
        poll_round([c], got)
    c.commit()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                             request_timeout_ms=15000)
    try:
        groups = dict(admin.list_consumer_groups())
        assert groups.get("admin-group") == "consumer"
        [desc] = admin.describe_consumer_groups(["admin-group"])
        assert desc.state == "Stable"
        assert desc.protocol_type == "consumer"
        assert len(desc.members) == 1
        assert desc.members[0].client_id == "admin-c"
        offsets = admin.list_consumer_group_offsets("admin-group")
        assert sum(o.offset for o in offsets.values()) == 20
        # Not while a member is in it: NON_EMPTY_GROUP.
        res = admin.delete_consumer_groups(["admin-group"])
        assert [(g, e.errno) for g, e in res] == [("admin-group", 68)]
        c.close()
        c = None
        res = admin.delete_consumer_groups(["admin-group"])
        assert [(g, e.errno) for g, e in res] == [("admin-group", 0)]
        assert "admin-group" not in dict(admin.list_consumer_groups())
    finally:
        if c is not None:
            c.close()
        admin.close()
