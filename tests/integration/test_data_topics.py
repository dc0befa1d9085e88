"""The data path across topic changes: a deleted topic's records never come
back (not in a topic re-created with the same name, not after a restart);
DeleteRecords moves the log start for fetches, ListOffsets and consumers,
and keeps it across restarts; partitions added by CreatePartitions take
records."""
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from data_util import create_topics, read_all, stop_cleanly
from harness import Broker, connect
from kafka_records import (build_batch, fetch_all, fetch_v4, list_offsets_v1,
                           produce_v8)

UNKNOWN_TOPIC_OR_PARTITION = 3


@pytest.fixture(scope="module")
def broker():
    # Without auto-creation, so that looking at a deleted topic does not
    # create it again.
    with Broker({"auto.create.topics.enable": "false"}) as b:
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


def delete_topic(bootstrap, name):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.delete_topics([name], operation_timeout=15).values():
        f.result(20)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if name not in admin.list_topics(timeout=10).topics:
            return
        time.sleep(0.1)
    raise AssertionError("%s still listed after DeleteTopics" % name)


def fill(port, topic, partition, n, tag):
    s = connect(port)
    try:
        for i in range(n):
            err = produce_v8(s, topic, partition,
                             build_batch([(b"k", b"%s-%d" % (tag, i))]))[0]
            assert err == 0
    finally:
        s.close()


def values(port, topic, partition=0):
    s = connect(port)
    try:
        batches, _ = fetch_all(s, topic, partition)
    finally:
        s.close()
    return [r["value"] for b in batches for r in b["records"]]


def test_recreated_topic_starts_empty(broker):
    create_topics(broker.bootstrap, {"again": (2, {})})
    fill(broker.port, "again", 0, 5, b"old")
    fill(broker.port, "again", 1, 3, b"old")
    delete_topic(broker.bootstrap, "again")
    s = connect(broker.port)
    try:
        assert list_offsets_v1(s, "again", 0, -1)[0] == UNKNOWN_TOPIC_OR_PARTITION
    finally:
        s.close()
    create_topics(broker.bootstrap, {"again": (2, {})})
    s = connect(broker.port)
    try:
        for p in (0, 1):
            assert list_offsets_v1(s, "again", p, -1) == (0, -1, 0), \
                "re-created topic's partition %d starts at the old end" % p
            err, hw, _, data = fetch_v4(s, "again", p, 0)
            assert (err, hw, data) == (0, 0, b""), \
                "re-created topic serves %d bytes of the deleted one" % len(data)
        assert produce_v8(s, "again", 0, build_batch([(b"k", b"new-0")]))[:2] == (0, 0)
    finally:
        s.close()
    assert values(broker.port, "again") == [b"new-0"]
    stop_cleanly(broker)
    broker.start()
    assert values(broker.port, "again") == [b"new-0"]
    assert values(broker.port, "again", 1) == []


def test_deleted_topic_stays_deleted_after_restart(broker):
    create_topics(broker.bootstrap, {"gone": (1, {})})
    fill(broker.port, "gone", 0, 3, b"x")
    delete_topic(broker.bootstrap, "gone")
    stop_cleanly(broker)
    broker.start()
    s = connect(broker.port)
    try:
        assert list_offsets_v1(s, "gone", 0, -1)[0] == UNKNOWN_TOPIC_OR_PARTITION
        assert fetch_v4(s, "gone", 0, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION
    finally:
        s.close()


def test_delete_records_moves_the_log_start(broker):
    create_topics(broker.bootstrap, {"trim": (1, {})})
    s = connect(broker.port)
    try:
        for i in range(10):
            batch = build_batch([(b"k", b"v%d-%d" % (i, j)) for j in range(10)])
            assert produce_v8(s, "trim", 0, batch)[0] == 0
    finally:
        s.close()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.delete_records([TopicPartition("trim", 0, 45)]).values():
        assert f.result(20).low_watermark == 45

    def check():
        s = connect(broker.port)
        try:
            assert list_offsets_v1(s, "trim", 0, -2) == (0, -1, 45)
            assert list_offsets_v1(s, "trim", 0, -1) == (0, -1, 100)
            # Out of range, with no high watermark as Kafka 4.1 answers.
            assert fetch_v4(s, "trim", 0, 10)[:2] == (1, -1)
        finally:
            s.close()
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "trim",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition("trim", 0, 5)])
            m = None
            deadline = time.monotonic() + 15
            while m is None and time.monotonic() < deadline:
                m = c.poll(0.2)
            assert m is not None and m.error() is None, m and m.error()
            assert (m.offset(), m.value()) == (45, b"v4-5")
        finally:
            c.close()

    check()
    stop_cleanly(broker)
    broker.start()
    check()


def test_added_partitions_take_records(broker):
    create_topics(broker.bootstrap, {"grow": (1, {})})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_partitions([NewPartitions("grow", 3)]).values():
        f.result(20)
    deadline = time.monotonic() + 15
    while len(admin.list_topics("grow", timeout=10).topics["grow"].partitions) != 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(30):
        p.produce("grow", value=b"v%d" % i, partition=i % 3)
    assert p.flush(30) == 0
    got = read_all(broker.bootstrap, "grow", range(3), 30)
    assert sorted((q, off) for q, off, *_ in got) == \
        [(q, off) for q in range(3) for off in range(10)]
