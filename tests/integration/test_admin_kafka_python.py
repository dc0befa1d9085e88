"""Topic and config administration through kafka-python 2.0.2's admin
client (CreateTopics v3, DescribeConfigs v2, AlterConfigs v1,
CreatePartitions v1, DeleteTopics v3), the errors Kafka gives for bad
requests, live topic configs, and topics surviving a restart."""
import time

# scripts/deps installs the client: a missing one is a failure, not a skip.
import kafka
import pytest
from kafka.admin import (ConfigResource, ConfigResourceType,
                         KafkaAdminClient, NewPartitions, NewTopic)

from harness import Broker

DYNAMIC_TOPIC_CONFIG = 1
DEFAULT_CONFIG = 5


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def admin(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap,
                            request_timeout_ms=15000, api_version_auto_timeout_ms=10000)


def topic_errors(resp):
    return {t[0]: (t[1], t[2]) for t in resp.topic_errors}


def configs_of(resp):
    (res,) = [r for x in resp for r in x.resources]
    assert res[0] == 0, res
    return {c[0]: c for c in res[4]}


def wait_partitions(a, topic, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = a.describe_topics([topic])
        if md and md[0]["error_code"] == 0 and len(md[0]["partitions"]) == n:
            return md[0]
        time.sleep(0.1)
    raise AssertionError("topic %s never had %d partitions" % (topic, n))


def test_create_describe_alter_partitions_delete(broker):
    a = admin(broker)
    try:
        resp = a.create_topics([NewTopic("orders", 3, 1,
                                         topic_configs={"retention.ms": "3600000"})])
        assert topic_errors(resp) == {"orders": (0, None)}
        assert "orders" in a.list_topics()
        wait_partitions(a, "orders", 3)

        cfg = configs_of(a.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "orders")], include_synonyms=True))
        name, value, read_only, source, sensitive, synonyms = cfg["retention.ms"]
        assert (value, read_only, source, sensitive) == ("3600000", False,
                                                         DYNAMIC_TOPIC_CONFIG, False)
        assert synonyms[0] == ("retention.ms", "3600000", DYNAMIC_TOPIC_CONFIG)
        assert ("log.retention.hours", "168", DEFAULT_CONFIG) in synonyms
        assert cfg["cleanup.policy"][1:4] == ("delete", False, DEFAULT_CONFIG)
        assert cfg["max.message.bytes"][1] == "1048588"

        # AlterConfigs replaces the whole set: retention.ms goes back to
        # its default.
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "orders",
                                               configs={"cleanup.policy": "compact"})])
        assert [r[0] for r in resp.resources] == [0]
        cfg = configs_of(a.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "orders")]))
        assert cfg["cleanup.policy"][1:4] == ("compact", False, DYNAMIC_TOPIC_CONFIG)
        assert cfg["retention.ms"][1:4] == ("604800000", False, DEFAULT_CONFIG)

        resp = a.create_partitions({"orders": NewPartitions(5)})
        assert [tuple(r[1:3]) for r in resp.topic_errors] == [(0, None)]
        wait_partitions(a, "orders", 5)

        resp = a.delete_topics(["orders"])
        assert [tuple(r[:2]) for r in resp.topic_error_codes] == [("orders", 0)]
        assert "orders" not in a.list_topics()
    finally:
        a.close()


def test_broker_configs(broker):
    a = admin(broker)
    try:
        cfg = configs_of(a.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")]))
        assert cfg["num.partitions"][1:5] == ("1", True, DEFAULT_CONFIG, False)
        assert cfg["log.dirs"][1] == broker.data_dir
        assert cfg["log.dirs"][3] == 4  # STATIC_BROKER_CONFIG: set in the file
        # Static broker settings cannot change at run time.
        resp = a.alter_configs([ConfigResource(ConfigResourceType.BROKER, "1",
                                               configs={"num.partitions": "3"})])
        (res,) = resp.resources
        assert res[0] == 42  # INVALID_REQUEST
        assert "Cannot update these configs dynamically" in res[1]
        assert "num.partitions" in res[1]
    finally:
        a.close()


def refused(fn):
    """kafka-python raises on CreateTopics/CreatePartitions/DeleteTopics
    errors; the exception text carries the broker's response (and so its
    message). Returns (error code, text)."""
    from kafka.errors import KafkaError
    try:
        fn()
    except KafkaError as e:
        return e.errno, str(e)
    raise AssertionError("the request was not refused")


def test_errors_with_messages(broker):
    a = admin(broker)
    try:
        a.create_topics([NewTopic("dup", 1, 1)])
        err, msg = refused(lambda: a.create_topics([NewTopic("dup", 1, 1)]))
        assert err == 36 and "Topic 'dup' already exists." in msg
        err, msg = refused(lambda: a.create_topics([NewTopic("bad name!", 1, 1)]))
        assert err == 17 and "illegal" in msg  # INVALID_TOPIC_EXCEPTION
        err, msg = refused(lambda: a.create_topics([NewTopic("zero", 0, 1)]))
        assert err == 37  # INVALID_PARTITIONS
        err, msg = refused(lambda: a.create_topics([NewTopic("rf", 1, 3)]))
        assert err == 38 and "replication factor" in msg.lower()
        err, msg = refused(lambda: a.create_topics(
            [NewTopic("cfg", 1, 1, topic_configs={"retention.ms": "soon"})]))
        assert err == 40 and "Invalid value soon for configuration retention.ms" in msg
        err, msg = refused(lambda: a.create_topics(
            [NewTopic("cfg2", 1, 1, topic_configs={"no.such.config": "1"})]))
        assert err == 40 and "no.such.config" in msg

        err, msg = refused(lambda: a.create_partitions({"dup": NewPartitions(1)}))
        assert err == 37 and "Topic already has 1 partition(s)." in msg
        err, msg = refused(lambda: a.create_partitions({"missing": NewPartitions(2)}))
        assert err == 3  # UNKNOWN_TOPIC_OR_PARTITION

        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "dup",
                                               configs={"segment.bytes": "12"})])
        assert resp.resources[0][0] == 40 and "segment.bytes" in resp.resources[0][1]
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "missing",
                                               configs={"segment.bytes": "1048576"})])
        assert resp.resources[0][0] == 3

        resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "missing")])
        res = resp[0].resources[0]
        assert res[0] == 3 and "The topic 'missing' does not exist." == res[1]

        err, msg = refused(lambda: a.delete_topics(["missing"]))
        assert err == 3
    finally:
        a.close()


def test_live_max_message_bytes(broker):
    """max.message.bytes applies to a partition that is already open."""
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError
    a = admin(broker)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0,
                      api_version_auto_timeout_ms=10000)
    try:
        a.create_topics([NewTopic("live", 1, 1)])
        wait_partitions(a, "live", 1)
        p.send("live", b"x" * 5000).get(timeout=15)  # opens the partition
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "live",
                                               configs={"max.message.bytes": "1000"})])
        assert resp.resources[0][0] == 0
        deadline = time.monotonic() + 10
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                p.send("live", b"y" * 5000).get(timeout=15)
                time.sleep(0.2)
            except MessageSizeTooLargeError:
                refused = True
        assert refused, "max.message.bytes=1000 was not applied live"
        p.send("live", b"z" * 100).get(timeout=15)
    finally:
        p.close()
        a.close()


def test_topics_and_configs_survive_restart():
    b = Broker()
    try:
        b.start()
        a = admin(b)
        a.create_topics([NewTopic("keep", 4, 1, topic_configs={"retention.bytes": "123456789"})])
        before = wait_partitions(a, "keep", 4)
        a.close()
        assert b.stop() == 0
        b.start()
        a = admin(b)
        after = wait_partitions(a, "keep", 4)
        assert sorted(p["partition"] for p in after["partitions"]) == [0, 1, 2, 3]
        assert before["partitions"] == after["partitions"] or \
            sorted((p["partition"], p["replicas"]) for p in before["partitions"]) == \
            sorted((p["partition"], p["replicas"]) for p in after["partitions"])
        cfg = configs_of(a.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "keep")]))
        assert cfg["retention.bytes"][1:4] == ("123456789", False, DYNAMIC_TOPIC_CONFIG)
        a.close()
    finally:
        if b.alive():
            b.stop()
        b.cleanup()


def test_live_retention_and_timestamp_type(broker):
    """retention.bytes and message.timestamp.type apply to open partitions."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    a = admin(broker)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0,
                      batch_size=200000, api_version_auto_timeout_ms=10000)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap,
                      api_version_auto_timeout_ms=10000)
    tp = TopicPartition("roll", 0)
    try:
        a.create_topics([NewTopic("roll", 1, 1,
                                  topic_configs={"segment.bytes": "1048576"})])
        wait_partitions(a, "roll", 1)
        for _ in range(40):  # 4 MB: several 1 MiB segments
            p.send("roll", b"r" * 100000).get(timeout=15)
        assert c.beginning_offsets([tp])[tp] == 0
        resp = a.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, "roll",
            configs={"segment.bytes": "1048576", "retention.bytes": "1048576"})])
        assert resp.resources[0][0] == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and c.beginning_offsets([tp])[tp] == 0:
            time.sleep(0.2)
        start = c.beginning_offsets([tp])[tp]
        assert start > 0, "retention.bytes was not applied live"
        assert c.end_offsets([tp])[tp] == 40

        resp = a.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, "roll",
            configs={"message.timestamp.type": "LogAppendTime"})])
        assert resp.resources[0][0] == 0
        # The shards apply the new image at their next tick (100 ms).
        deadline = time.monotonic() + 10
        while True:
            md = p.send("roll", b"late", timestamp_ms=1000).get(timeout=15)
            if md.timestamp > 1000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert md.timestamp > 1000  # the broker's append time, not ours
    finally:
        c.close()
        p.close()
        a.close()
