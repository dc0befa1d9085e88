#!/usr/bin/env python3
"""Records the corpus of the differential tester (tests/diff/corpus/).

Starts a fresh brokerd (BROKERD, or build/release/bin/brokerd) whose
advertised listener is a recording proxy (record.py), runs each session
below through the proxy with a real client, and writes what each session
sent and got to corpus/<NN>-<name>.jsonl. The sessions run in order on the
same broker, as replay.py replays them: each uses its own topics and
groups, so no session depends on what an earlier one left.

The broker is configured as replay.py configures both brokers (no topic
auto-creation, no initial rebalance delay), so that the recorded requests
are the ones a client sends to Kafka set up the same way.

  python3 tests/diff/record_sessions.py [SESSION ...]   (default: all)

To add a session: write a function below taking the bootstrap address,
add it to SESSIONS (at the end, so earlier files keep their names), run
this script for it, and run test_diff.py; list each new difference in
tests/diff/known_differences or fix it.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import record  # noqa: E402
from harness import Broker, free_port  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")

# Settings shared with replay.py's brokerd and Kafka.
BROKER_SETTINGS = {
    "auto.create.topics.enable": "false",
    "group.initial.rebalance.delay.ms": "0",
    "num.partitions": "1",
}


# --- confluent-kafka (librdkafka) ---------------------------------------------

def ck_conf(bootstrap, **extra):
    c = {"bootstrap.servers": bootstrap, "client.id": "diff-ck",
         # Fewer background requests: only the ones the session needs.
         "topic.metadata.refresh.interval.ms": 600000}
    c.update(extra)
    return c


def ck_admin(bootstrap):
    from confluent_kafka.admin import (AdminClient, ConfigResource,
                                       ConfigEntry, AlterConfigOpType,
                                       NewPartitions, NewTopic)
    a = AdminClient(ck_conf(bootstrap))
    fs = a.create_topics([NewTopic("ck-adm", 2, 1,
                                   config={"retention.ms": "3600000"})],
                         operation_timeout=10)
    wait_all(fs)
    time.sleep(1)
    # Error paths: an existing topic, a bad name, a bad config value, a
    # replication factor larger than the cluster.
    for t in (NewTopic("ck-adm", 1, 1), NewTopic("bad name!", 1, 1),
              NewTopic("ck-bad-cfg", 1, 1, config={"retention.ms": "soon"}),
              NewTopic("ck-rf", 1, 3)):
        wait_all(a.create_topics([t], operation_timeout=10))
    wait_all(a.describe_configs([ConfigResource("topic", "ck-adm")]))
    wait_all(a.describe_configs([ConfigResource("topic", "ck-missing")]))
    wait_all(a.incremental_alter_configs([ConfigResource(
        "topic", "ck-adm", incremental_configs=[ConfigEntry(
            "retention.ms", "7200000",
            incremental_operation=AlterConfigOpType.SET)])]))
    wait_all(a.create_partitions([NewPartitions("ck-adm", 3)]))
    wait_all(a.create_partitions([NewPartitions("ck-missing", 3)]))
    time.sleep(1)
    wait_all(a.delete_topics(["ck-adm"], operation_timeout=10))
    wait_all(a.delete_topics(["ck-missing"], operation_timeout=10))


def wait_all(fs):
    for f in fs.values():
        try:
            f.result(timeout=15)
        except Exception:   # the error paths are the point
            pass


def ck_create(bootstrap, topics):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient(ck_conf(bootstrap))
    wait_all(a.create_topics([NewTopic(n, p, 1, config=c) for n, p, c in topics],
                             operation_timeout=10))
    time.sleep(1)


def ck_produce(bootstrap):
    from confluent_kafka import Producer
    ck_create(bootstrap, [("ck-data", 2, {}),
                          ("ck-small", 1, {"max.message.bytes": "1000"})])
    p = Producer(ck_conf(bootstrap, **{"enable.idempotence": True,
                                       "linger.ms": 20, "acks": "all"}))
    for i in range(6):
        p.produce("ck-data", key=b"k%d" % i, value=b"v%d" % i, partition=i % 2,
                  timestamp=1700000000000 + i)
    p.flush(15)
    # A record larger than the topic's max.message.bytes.
    p.produce("ck-small", value=b"x" * 2000, timestamp=1700000000100)
    p.flush(15)
    p2 = Producer(ck_conf(bootstrap, **{"acks": "1", "message.timeout.ms": 2000,
                                        "compression.type": "lz4"}))
    p2.produce("ck-data", value=b"lz4" * 50, partition=0, timestamp=1700000000200)
    # A topic that does not exist (no auto-creation).
    p2.produce("ck-nope", value=b"lost", timestamp=1700000000300)
    p2.flush(5)


def ck_consume(bootstrap):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(ck_conf(bootstrap, **{
        "group.id": "ck-group", "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.wait.max.ms": 100,
        "session.timeout.ms": 10000}))
    c.subscribe(["ck-data"])
    got = 0
    deadline = time.monotonic() + 20
    while got < 7 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    c.committed([TopicPartition("ck-data", 0), TopicPartition("ck-data", 1)],
                timeout=10)
    c.close()
    # assign() with an offset past the end and no reset policy: the
    # OFFSET_OUT_OF_RANGE path.
    c = Consumer(ck_conf(bootstrap, **{
        "group.id": "ck-assign", "auto.offset.reset": "error",
        "enable.auto.commit": False, "fetch.wait.max.ms": 100}))
    c.assign([TopicPartition("ck-data", 0, 1000)])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        c.poll(0.2)
    c.commit(offsets=[TopicPartition("ck-data", 1, 2)], asynchronous=False)
    c.close()


# --- kafka-python -------------------------------------------------------------

def kp_admin(bootstrap):
    from kafka.admin import (ConfigResource, ConfigResourceType,
                             KafkaAdminClient, NewTopic)
    a = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="diff-kp",
                         request_timeout_ms=10000)
    try:
        a.create_topics([NewTopic("kp-adm", 1, 1)], timeout_ms=10000)
        time.sleep(1)
        for t in (NewTopic("kp-adm", 1, 1), NewTopic("kp-zero", 0, 1),
                  NewTopic("kp-cfg", 1, 1, topic_configs={"no.such.config": "1"})):
            try:
                a.create_topics([t], timeout_ms=10000)
            except Exception:
                pass
        a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-adm",
                                           {"cleanup.policy": None,
                                            "retention.ms": None})])
        a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-adm",
                                        {"retention.ms": "600000"})])
        a.list_consumer_groups()
        a.describe_consumer_groups(["kp-none"])
        try:
            a.delete_topics(["kp-adm", "kp-missing"], timeout_ms=10000)
        except Exception:
            pass
    finally:
        a.close()


def kp_clients(bootstrap):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    ck_create(bootstrap, [("kp-data", 1, {})])
    p = KafkaProducer(bootstrap_servers=bootstrap, client_id="diff-kp",
                      acks="all", linger_ms=10)
    for i in range(4):
        p.send("kp-data", key=b"k%d" % i, value=b"v%d" % i, partition=0,
               timestamp_ms=1700000001000 + i)
    p.flush(10)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, client_id="diff-kp",
                      group_id="kp-group", auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100,
                      consumer_timeout_ms=3000)
    c.subscribe(["kp-data"])
    n = 0
    for _ in c:
        n += 1
        if n == 4:
            break
    c.commit()
    # A commit whose metadata keeps a NUL byte, read back.
    c.commit({TopicPartition("kp-data", 0): OffsetAndMetadata(2, "Hello\0world!")})
    c.committed(TopicPartition("kp-data", 0))
    c.close()


# --- raw requests, encoded with kafka_codec ------------------------------------

def raw_edges(bootstrap):
    """Requests no client here sends in this shape: batched FindCoordinator
    (v4+, KIP-699) and a fetch past the end at the oldest Fetch version."""
    import socket
    import struct
    import kafka_codec
    schema = kafka_codec.Schema()
    host, port = bootstrap.split(":")
    s = socket.create_connection((host, int(port)), timeout=15)
    corr = [0]

    def call(api, version, body):
        corr[0] += 1
        frame = schema.encode_request(
            {"RequestApiKey": api, "RequestApiVersion": version,
             "CorrelationId": corr[0], "ClientId": "diff-raw"}, body)
        s.sendall(struct.pack(">i", len(frame)) + frame)
        return record.read_frame(s)

    ck_create(bootstrap, [("raw-data", 1, {})])
    call(10, 4, {"KeyType": 0, "CoordinatorKeys": ["raw-g1", "raw-g2"]})
    call(10, 6, {"KeyType": 0, "CoordinatorKeys": ["raw-g3"]})
    call(10, 4, {"KeyType": 5, "CoordinatorKeys": ["raw-g4"]})
    call(1, 4, {"ReplicaId": -1, "MaxWaitMs": 10, "MinBytes": 1,
                "MaxBytes": 1 << 20, "IsolationLevel": 0, "Topics": [
                    {"Topic": "raw-data", "Partitions": [
                        {"Partition": 0, "FetchOffset": 50,
                         "PartitionMaxBytes": 1 << 20}]}]})
    s.close()


# --- the Java client, through Kafka's own command-line tools ---------------------

def java_tool(bootstrap, cls, *args, stdin=None):
    """Runs one of Kafka 4.1's tools (Java client) from .deps/kafka/lib,
    installed by scripts/bench.py; its failures are part of the session."""
    import subprocess
    lib = os.path.join(HERE, "..", "..", ".deps", "kafka", "lib")
    log4j = os.path.join(HERE, "..", "..", ".deps", "kafka", "tools-log4j2.properties")
    subprocess.run(["java", "-Xmx256M", "-Dlog4j2.configurationFile=" + log4j,
                    "-cp", os.path.join(lib, "*"), cls,
                    "--bootstrap-server", bootstrap] + list(args),
                   input=stdin, capture_output=True, text=True, timeout=120)


def java_tools(bootstrap):
    from test_diff import load_bench
    bench = load_bench()
    bench.ensure_kafka()
    bench.write_tools_log4j()
    topic = "org.apache.kafka.tools.TopicCommand"
    java_tool(bootstrap, topic, "--create", "--topic", "jv-data",
              "--partitions", "2", "--replication-factor", "1")
    time.sleep(1)
    java_tool(bootstrap, topic, "--create", "--topic", "jv-data",
              "--partitions", "1", "--replication-factor", "1")
    java_tool(bootstrap, topic, "--describe", "--topic", "jv-data")
    java_tool(bootstrap, "org.apache.kafka.tools.ConsoleProducer",
              "--topic", "jv-data", "--property", "parse.key=true",
              stdin="a\t1\nb\t2\nc\t3\n")
    java_tool(bootstrap, "org.apache.kafka.tools.consumer.ConsoleConsumer",
              "--topic", "jv-data", "--group", "jv-group", "--from-beginning",
              "--max-messages", "3", "--timeout-ms", "15000")
    group = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
    java_tool(bootstrap, group, "--describe", "--group", "jv-group")
    java_tool(bootstrap, group, "--describe", "--group", "jv-none")
    java_tool(bootstrap, "kafka.admin.ConfigCommand", "--describe",
              "--entity-type", "topics", "--entity-name", "jv-data")
    java_tool(bootstrap, topic, "--delete", "--topic", "jv-data")


SESSIONS = [
    ("ck-admin", ck_admin),
    ("ck-produce", ck_produce),
    ("ck-consume", ck_consume),
    ("kp-admin", kp_admin),
    ("kp-clients", kp_clients),
    ("raw-edges", raw_edges),
    ("java-tools", java_tools),
]


def main(names):
    os.makedirs(CORPUS, exist_ok=True)
    port = free_port()
    rec = record.Recorder(port)
    settings = dict(BROKER_SETTINGS)
    settings["listeners"] = "PLAINTEXT://127.0.0.1:%d" % port
    settings["advertised.listeners"] = "PLAINTEXT://127.0.0.1:%d" % rec.port
    b = Broker(extra=settings, port=port)
    b.start()
    try:
        for i, (name, fn) in enumerate(SESSIONS):
            if names and name not in names:
                continue
            rec.take()
            t0 = time.monotonic()
            fn("127.0.0.1:%d" % rec.port)
            time.sleep(0.5)
            entries = rec.take()
            path = os.path.join(CORPUS, "%02d-%s.jsonl" % (i + 1, name))
            record.write(path, entries)
            print("%s: %d requests, %d bytes, %.1fs" % (
                path, len(entries), os.path.getsize(path), time.monotonic() - t0))
    finally:
        rec.close()
        b.stop()
        b.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
