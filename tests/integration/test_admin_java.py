"""Topic and config administration with Apache Kafka's own Java code: the
Admin client (tests/java AdminCheck), and the classes behind kafka-topics.sh
(org.apache.kafka.tools.TopicCommand) and kafka-configs.sh
(kafka.admin.ConfigCommand), from Kafka's artifacts on Maven Central, run
with java -cp. Also: topics, partitions, topic ids and configs unchanged
after a restart."""
import os
import subprocess

import pytest

from harness import REPO, Broker

TARGET = os.path.join(REPO, "tests", "java", "target")
CP = os.path.join(TARGET, "classes") + ":" + os.path.join(TARGET, "deps", "*")
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def java(*args, timeout=180):
    return subprocess.run(["java", "-cp", CP] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def facts(out):
    """AdminCheck's "key=value" lines as a dict (repeated keys: a list)."""
    d = {}
    for line in out.splitlines():
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        if k in d:
            d[k] = d[k] + [v] if isinstance(d[k], list) else [d[k], v]
        else:
            d[k] = v
    return d


def admin_check(b, *args):
    r = java("brokerd.AdminCheck", b.bootstrap, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return facts(r.stdout)


def tool(b, cls, *args):
    return java(cls, "--bootstrap-server", b.bootstrap, *args)


def test_java_admin_lifecycle(broker):
    f = admin_check(broker, "lifecycle", "orders")
    assert f["created.partitions"] == "5"
    assert f["created.config.retention.ms"] == "3600000"
    # Described by name through DescribeTopicPartitions, two partitions per
    # answer (the client follows the cursor).
    assert f["topic.id"] == f["created.id"]
    assert f["partitions"] == "5"
    for p in range(5):
        assert f["partition.%d" % p] == "leader:1 replicas:[1] isr:[1]"
    assert f["listed"] == "true"
    assert f["describe.retention.ms"] == "3600000 DYNAMIC_TOPIC_CONFIG LONG synonyms:2 doc:true"
    assert f["describe.cleanup.policy"] == "delete DEFAULT_CONFIG LIST"
    # APPEND to a list, DELETE back to the default, SET.
    assert f["altered.cleanup.policy"] == "delete,compact DYNAMIC_TOPIC_CONFIG"
    assert f["altered.retention.ms"] == "604800000 DEFAULT_CONFIG"
    assert f["altered.max.message.bytes"] == "65536"
    assert f["grown.partitions"] == "7"
    meta = open(os.path.join(broker.data_dir, "meta.properties")).read()
    assert "cluster.id=" + f["cluster.id"] in meta
    assert f["cluster.controller"] == "1"
    assert f["cluster.node"] == "1 127.0.0.1:%d" % broker.port
    assert f["broker.num.partitions"] == "1 DEFAULT_CONFIG readOnly:true"
    assert f["error.exists"] == "TopicExistsException: Topic 'orders' already exists."
    assert f["error.name"].startswith("InvalidTopicException: Topic name \"bad/name\" is illegal")
    assert f["error.rf"].startswith("InvalidReplicationFactorException: ")
    assert f["error.config"] == ("InvalidConfigurationException: Invalid value later for "
                                 "configuration retention.ms: Not a number of type LONG")
    assert f["error.partitions"] == ("InvalidPartitionsException: The topic orders "
                                     "currently has 7 partition(s); 2 would not be an "
                                     "increase.")
    assert f["error.unknown"] == ("UnknownTopicOrPartitionException: The topic "
                                  "'no-such-topic' does not exist.")
    # Kafka 4.1's answer.
    assert f["error.broker.static"] == (
        "InvalidRequestException: Cannot update these configs dynamically: "
        "Set(num.partitions)")
    assert f["deleted"] == "true"


def test_java_admin_describe_by_topic_id(broker):
    f = admin_check(broker, "lifecycle", "byid")
    assert f["by.id.name"] == "byid"


def test_kafka_topics_tool(broker):
    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "tools", "--partitions", "3",
             "--replication-factor", "1", "--config", "retention.ms=12345")
    assert r.returncode == 0 and "Created topic tools." in r.stdout, r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--list")
    assert r.returncode == 0 and r.stdout.split() == ["tools"], r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--describe", "--topic", "tools")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PartitionCount: 3" in r.stdout and "Configs: retention.ms=12345" in r.stdout
    assert "\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1" in r.stdout
    r = tool(broker, TOPIC_COMMAND, "--alter", "--topic", "tools", "--partitions", "5")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--describe", "--topic", "tools")
    assert "PartitionCount: 5" in r.stdout

    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "tools", "--partitions", "1",
             "--replication-factor", "1")
    assert r.returncode != 0 and "Topic 'tools' already exists." in r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--alter", "--topic", "tools", "--partitions", "2")
    assert r.returncode != 0
    assert "The topic tools currently has 5 partition(s); 2 would not be an increase." \
        in r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "rf", "--partitions", "1",
             "--replication-factor", "3")
    assert r.returncode != 0 and "replication factor of 3 cannot be reached" in r.stdout + r.stderr

    r = tool(broker, TOPIC_COMMAND, "--delete", "--topic", "tools")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--list")
    assert r.stdout.split() == []


def test_kafka_topics_replica_assignment(broker):
    # kafka-topics --replica-assignment sends CreateTopics with Assignments;
    # --alter --partitions with one sends CreatePartitions with them.
    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "placed",
             "--replica-assignment", "1,1")
    assert r.returncode == 0 and "Created topic placed." in r.stdout, r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--alter", "--topic", "placed", "--partitions", "3",
             "--replica-assignment", "1,1,1")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(broker, TOPIC_COMMAND, "--describe", "--topic", "placed")
    assert "PartitionCount: 3" in r.stdout, r.stdout + r.stderr
    assert "\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1" in r.stdout
    # Kafka 4.1's answer for a broker that is not registered.
    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "nowhere",
             "--replica-assignment", "7")
    assert r.returncode != 0
    assert ("The manual partition assignment includes broker 7, but no such "
            "broker is registered.") in r.stdout + r.stderr


def test_kafka_configs_tool(broker):
    r = tool(broker, TOPIC_COMMAND, "--create", "--topic", "cfg", "--partitions", "1",
             "--replication-factor", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(broker, CONFIG_COMMAND, "--alter", "--entity-type", "topics", "--entity-name",
             "cfg", "--add-config", "cleanup.policy=compact,max.message.bytes=5000")
    assert r.returncode == 0 and "Completed updating config for topic cfg." in r.stdout, \
        r.stdout + r.stderr
    r = tool(broker, CONFIG_COMMAND, "--describe", "--entity-type", "topics",
             "--entity-name", "cfg")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
            "cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}") in r.stdout
    assert "max.message.bytes=5000 sensitive=false" in r.stdout
    r = tool(broker, CONFIG_COMMAND, "--alter", "--entity-type", "topics", "--entity-name",
             "cfg", "--delete-config", "cleanup.policy")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(broker, CONFIG_COMMAND, "--describe", "--entity-type", "topics",
             "--entity-name", "cfg", "--all")
    assert "cleanup.policy=delete sensitive=false synonyms={DEFAULT_CONFIG:" \
        "log.cleanup.policy=delete}" in r.stdout
    assert "segment.bytes=1073741824" in r.stdout

    r = tool(broker, CONFIG_COMMAND, "--describe", "--entity-type", "brokers",
             "--entity-name", "1", "--all")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "log.dirs=%s sensitive=false synonyms={STATIC_BROKER_CONFIG:log.dirs=%s}" % (
        broker.data_dir, broker.data_dir) in r.stdout

    r = tool(broker, CONFIG_COMMAND, "--alter", "--entity-type", "topics", "--entity-name",
             "cfg", "--add-config", "retention.ms=abc")
    assert r.returncode != 0
    assert "InvalidConfigurationException: Invalid value abc for configuration " \
        "retention.ms: Not a number of type LONG" in r.stdout + r.stderr
    r = tool(broker, CONFIG_COMMAND, "--alter", "--entity-type", "brokers", "--entity-name",
             "1", "--add-config", "log.dirs=/elsewhere")
    assert r.returncode != 0
    assert "Cannot update these configs dynamically: Set(log.dirs)" in r.stdout + r.stderr


def test_kafka_configs_tool_broker_overrides(broker):
    def ok(*args):
        r = tool(broker, CONFIG_COMMAND, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    assert "Completed updating default config for brokers in the cluster." in ok(
        "--alter", "--entity-type", "brokers", "--entity-default", "--add-config",
        "log.segment.bytes=20000000,message.max.bytes=3000")
    assert "Completed updating config for broker 1." in ok(
        "--alter", "--entity-type", "brokers", "--entity-name", "1", "--add-config",
        "message.max.bytes=2000000")
    ok("--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "bogus.key=1")
    # Kafka 4.1's output for the same commands (it also lists the
    # min.insync.replicas it sets for all brokers when formatted with ELR).
    out = ok("--describe", "--entity-type", "brokers", "--entity-default")
    assert out[out.index("Default configs"):] == (
        "Default configs for brokers in the cluster are:\n"
        "  bogus.key=null sensitive=true "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:bogus.key=null}\n"
        "  log.segment.bytes=20000000 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=20000000}\n"
        "  message.max.bytes=3000 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=3000}\n")
    out = ok("--describe", "--entity-type", "brokers", "--entity-name", "1")
    assert out[out.index("Dynamic configs"):] == (
        "Dynamic configs for broker 1 are:\n"
        "  message.max.bytes=2000000 sensitive=false "
        "synonyms={DYNAMIC_BROKER_CONFIG:message.max.bytes=2000000, "
        "DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=3000, "
        "DEFAULT_CONFIG:message.max.bytes=1048588}\n")
    r = tool(broker, CONFIG_COMMAND, "--alter", "--entity-type", "brokers", "--entity-name",
             "1", "--add-config", "log.segment.bytes=abc")
    assert r.returncode != 0
    assert "InvalidRequestException: Invalid value abc for configuration " \
        "log.segment.bytes: Not a number of type INT" in r.stdout + r.stderr


def test_restart_keeps_topics_ids_and_configs():
    b = Broker()
    try:
        b.start()
        created = admin_check(b, "create", "durable", "6", "retention.ms=86400000",
                              "cleanup.policy=compact")
        before = admin_check(b, "describe", "durable")
        assert before["topic.id"] == created["created.id"]
        assert b.stop() == 0
        b.start()
        after = admin_check(b, "describe", "durable")
        assert after == before
        assert after["partitions"] == "6"
        assert after["config.retention.ms"] == "86400000"
        assert after["config.cleanup.policy"] == "compact"
    finally:
        if b.alive():
            b.stop()
        b.cleanup()
