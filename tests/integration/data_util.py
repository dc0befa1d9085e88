"""Shared helpers for the test_data_*.py files: topic creation through
kafka-python's admin client (CreateTopics), and a confluent-kafka reader
that reads partitions back with assign()."""
import time

from kafka.admin import KafkaAdminClient, NewTopic


def create_topics(bootstrap, topics):
    """topics: {name: (num_partitions, {config: value})}. Creates them with
    CreateTopics and waits until Metadata shows every partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap,
                             request_timeout_ms=15000)
    try:
        new = [NewTopic(name, n, 1, topic_configs=dict(cfg or {}))
               for name, (n, cfg) in topics.items()]
        res = admin.create_topics(new, timeout_ms=15000)
        for name, code, *_ in res.topic_errors:
            assert code == 0, "CreateTopics %s: error %d" % (name, code)
    finally:
        admin.close()
    wait_partitions(bootstrap, {name: n for name, (n, _) in topics.items()})


def wait_partitions(bootstrap, expected, timeout=15.0):
    """Waits until confluent-kafka's Metadata shows each topic with its
    partition count and a leader for each partition."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=10)
        ok = True
        for name, n in expected.items():
            t = md.topics.get(name)
            if t is None or t.error is not None or len(t.partitions) != n or \
                    any(p.leader < 0 for p in t.partitions.values()):
                ok = False
                last = t
        if ok:
            return
        time.sleep(0.1)
    raise AssertionError("topics not ready: %r (last %r)" % (expected, last))


def read_all(bootstrap, topic, partitions, expected, timeout=60.0,
             extra=None):
    """Reads every partition from the beginning with confluent-kafka's
    Consumer.assign() until `expected` records arrived (and then briefly
    longer, to catch extra copies). Returns the list of messages as
    (partition, offset, key, value, timestamp)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    conf = {"bootstrap.servers": bootstrap, "group.id": "data-tests",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False}
    conf.update(extra or {})
    c = Consumer(conf)
    out = []
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in partitions])
        deadline = time.monotonic() + timeout
        settle = None
        while time.monotonic() < deadline:
            if len(out) >= expected:
                settle = settle or time.monotonic() + 0.5
                if time.monotonic() > settle:
                    break
            for m in c.consume(num_messages=1000, timeout=0.2):
                assert m.error() is None, "consume error: %s" % m.error()
                out.append((m.partition(), m.offset(), m.key(), m.value(),
                            m.timestamp()[1]))
    finally:
        c.close()
    return out


def stop_cleanly(broker):
    """Stops brokerd with SIGTERM and checks it exited 0 (under ASan a
    memory error or leak found at exit makes this fail)."""
    rc = broker.stop()
    assert rc == 0, "brokerd exited %r:\n%s" % (rc, broker.output()[-4000:])
