"""Consumer groups with the Java client (kafka-clients 4.x, tests/java
GroupCheck) and Kafka's own consumer-groups tool (ConsumerGroupCommand,
the class behind kafka-consumer-groups.sh): three members (classic, and
again with group.protocol=consumer) consume a 6-partition topic exactly
once through a join and a leave; the tool describes the group and resets
its offsets."""
import os
import subprocess

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from data_util import create_topics
from harness import Broker, REPO
from test_group_clients import GROUP_SETTINGS, PARTS, produce

N = 3000
TARGET = os.path.join(REPO, "tests", "java", "target")
CP = os.path.join(TARGET, "classes") + ":" + os.path.join(TARGET, "deps", "*")
# Kafka's own tools come from tests/java/pom.xml too (scripts/deps).
TOOL_CP = CP


def java(cls, *args, timeout=180):
    cp = TOOL_CP if cls.startswith("org.apache") else CP
    res = subprocess.run(["java", "-cp", cp, cls] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout)
    return res.returncode, res.stdout + res.stderr


@pytest.fixture(scope="module")
def broker():
    with Broker(extra=GROUP_SETTINGS) as b:
        yield b


def committed(bootstrap, group, topic):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      enable_auto_commit=False)
    try:
        return [c.committed(TopicPartition(topic, p)) for p in range(PARTS)]
    finally:
        c.close()


@pytest.mark.parametrize("protocol", [
    "classic", "consumer",
    # KIP-848 migration: two classic members, a consumer-protocol one
    # joins (online upgrade), then the first classic one leaves.
    "classic,classic,consumer",
    # A consumer group, two classic members join it; the consumer member
    # leaves and the group turns classic again (online downgrade).
    "consumer,classic,classic",
])
def test_java_group(broker, protocol):
    """group.protocol=classic (JoinGroup/SyncGroup) and =consumer (KIP-848
    ConsumerGroupHeartbeat with the server-side uniform assignor), and
    groups mixing both."""
    name = protocol.replace(",", "-")
    topic = "grp-java-" + name
    group = "java-group-" + name
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, N)
    rc, out = java("brokerd.GroupCheck", "consume", broker.bootstrap, topic,
                   group, N, protocol, 120)
    assert rc == 0, out
    last = out.strip().splitlines()[-1] if out.strip() else out
    assert "consumed %d dups=0 members=3" % N in out, last
    assert sum(committed(broker.bootstrap, group, topic)) == N
    # Kafka's tool describes either kind of group through DescribeGroups.
    tool = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap, "--describe",
                   "--group", group)
    assert rc == 0, out
    rows = [l.split() for l in out.splitlines() if l.startswith(group)]
    assert len(rows) == PARTS and all(r[5] == "0" for r in rows), out


@pytest.mark.parametrize("protocol", ["consumer", "classic,consumer,classic"])
def test_java_group_pattern(broker, protocol):
    """Pattern subscriptions: consumer-protocol members use
    subscribe(SubscriptionPattern), which the broker resolves (KIP-848
    SubscribedTopicRegex) over two topics; classic members of the same group
    match a java.util.regex.Pattern client-side."""
    name = protocol.replace(",", "-")
    topics = ["pat-%s-a" % name, "pat-%s-b" % name]
    create_topics(broker.bootstrap, {t: (PARTS, {}) for t in topics})
    produce(broker.bootstrap, topics[0], 0, N // 2)
    produce(broker.bootstrap, topics[1], N // 2, N // 2)
    rc, out = java("brokerd.GroupCheck", "consume", broker.bootstrap,
                   "re:pat-%s-.*" % name, "java-pattern-" + name, N, protocol,
                   120)
    assert rc == 0, out
    assert "consumed %d dups=0 members=3" % N in out, out


def test_consumer_groups_tool(broker):
    topic = "grp-tool"
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, 600)
    c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                      group_id="tool-group", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=5000)
    n = sum(1 for _ in zip(range(600), c))
    assert n == 600
    c.commit()
    c.close()
    tool = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap, "--list")
    assert rc == 0, out
    assert "tool-group" in out.split()
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap, "--describe",
                   "--group", "tool-group")
    assert rc == 0, out
    rows = [l.split() for l in out.splitlines() if l.startswith("tool-group")]
    assert len(rows) == PARTS, out
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    assert sum(int(r[3]) for r in rows) == 600
    assert all(r[5] == "0" for r in rows), out
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap,
                   "--reset-offsets", "--group", "tool-group", "--topic",
                   topic, "--to-earliest", "--execute")
    assert rc == 0, out
    assert committed(broker.bootstrap, "tool-group", topic) == [0] * PARTS
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap,
                   "--reset-offsets", "--group", "tool-group", "--topic",
                   "%s:0" % topic, "--to-offset", "7", "--execute")
    assert rc == 0, out
    assert committed(broker.bootstrap, "tool-group", topic)[0] == 7
    rc, out = java(tool, "--bootstrap-server", broker.bootstrap, "--delete",
                   "--group", "tool-group")
    assert rc == 0, out
    assert "was successful" in out, out
