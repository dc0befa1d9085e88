"""brokerctl topic create|list|describe|delete|alter and config
get|set|delete against a real brokerd: human tables, --json, and refusals
printed as one line with Kafka's error name and message, exit code 1
(2 for bad usage)."""
import json
import subprocess

import pytest

from harness import Broker, brokerctl_path


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def ctl(b, *args):
    return subprocess.run([brokerctl_path(), "-b", b.bootstrap] + list(args),
                          capture_output=True, text=True, timeout=30)


def ok(b, *args):
    r = ctl(b, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def refused(b, *args):
    r = ctl(b, *args)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_topic_lifecycle(broker):
    out = json.loads(ok(broker, "topic", "create", "orders", "--partitions", "3",
                        "--config", "retention.ms=3600000", "--json"))
    assert out["name"] == "orders" and out["partitions"] == 3
    assert out["replication_factor"] == 1 and len(out["topic_id"]) == 22

    listed = json.loads(ok(broker, "topic", "list", "--json"))
    assert {"name": "orders", "topic_id": out["topic_id"], "partitions": 3,
            "replication_factor": 1, "internal": False} in listed
    assert "orders" in ok(broker, "topic", "list")

    (d,) = json.loads(ok(broker, "topic", "describe", "orders", "--json"))
    assert d["topic_id"] == out["topic_id"]
    assert d["configs"] == {"retention.ms": "3600000"}
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1]
               for p in d["partitions"])
    text = ok(broker, "topic", "describe", "orders")
    assert "TopicId: %s" % out["topic_id"] in text
    assert "PartitionCount: 3" in text and "retention.ms=3600000" in text

    ok(broker, "topic", "alter", "orders", "--partitions", "4",
       "--config", "cleanup.policy=compact", "--delete-config", "retention.ms")
    (d,) = json.loads(ok(broker, "topic", "describe", "orders", "--json"))
    assert len(d["partitions"]) == 4
    assert d["configs"] == {"cleanup.policy": "compact"}

    assert json.loads(ok(broker, "topic", "delete", "orders", "--json")) == \
        {"deleted": ["orders"]}
    assert "orders" not in [t["name"] for t in
                            json.loads(ok(broker, "topic", "list", "--json"))]


def test_topic_errors(broker):
    ok(broker, "topic", "create", "x")
    assert refused(broker, "topic", "create", "x") == \
        "brokerctl: TOPIC_ALREADY_EXISTS: Topic 'x' already exists."
    assert refused(broker, "topic", "create", "no way").startswith(
        "brokerctl: INVALID_TOPIC_EXCEPTION: ")
    assert refused(broker, "topic", "create", "p0", "--partitions", "0").startswith(
        "brokerctl: INVALID_PARTITIONS: ")
    assert refused(broker, "topic", "create", "rf", "--replication-factor", "2") \
        .startswith("brokerctl: INVALID_REPLICATION_FACTOR: ")
    assert refused(broker, "topic", "create", "c", "--config", "segment.bytes=1") \
        .startswith("brokerctl: INVALID_CONFIG: Invalid value 1 for configuration "
                    "segment.bytes")
    assert refused(broker, "topic", "alter", "x", "--partitions", "1") == \
        "brokerctl: INVALID_PARTITIONS: Topic already has 1 partition(s)."
    assert refused(broker, "topic", "describe", "ghost") == \
        "brokerctl: UNKNOWN_TOPIC_OR_PARTITION: Topic 'ghost' does not exist."
    assert refused(broker, "topic", "delete", "ghost").startswith(
        "brokerctl: UNKNOWN_TOPIC_OR_PARTITION: ")
    assert ctl(broker, "topic", "create", "y", "--config", "novalue").returncode == 2
    assert ctl(broker, "topic", "frobnicate").returncode == 2


def test_config_commands(broker):
    ok(broker, "topic", "create", "cfg")
    ok(broker, "config", "set", "--topic", "cfg", "retention.ms=1000",
       "max.message.bytes=2000")
    got = {e["name"]: e for e in json.loads(
        ok(broker, "config", "get", "--topic", "cfg", "--json"))}
    assert got["retention.ms"]["value"] == "1000"
    assert got["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert got["segment.bytes"]["source"] == "DEFAULT_CONFIG"
    assert "retention.ms" in ok(broker, "config", "get", "--topic", "cfg",
                                "retention.ms")
    ok(broker, "config", "delete", "--topic", "cfg", "retention.ms")
    (e,) = json.loads(ok(broker, "config", "get", "--topic", "cfg",
                         "retention.ms", "--json"))
    assert (e["value"], e["source"]) == ("604800000", "DEFAULT_CONFIG")

    assert refused(broker, "config", "set", "--topic", "cfg", "retention.ms=x") \
        .startswith("brokerctl: INVALID_CONFIG: Invalid value x for configuration "
                    "retention.ms")
    assert refused(broker, "config", "set", "--topic", "cfg", "bogus=1") == \
        "brokerctl: INVALID_CONFIG: Unknown topic config name: bogus"
    assert refused(broker, "config", "get", "--topic", "ghost") == \
        "brokerctl: UNKNOWN_TOPIC_OR_PARTITION: The topic 'ghost' does not exist."

    brokers = {e["name"]: e for e in json.loads(
        ok(broker, "config", "get", "--broker", "1", "--json"))}
    assert brokers["log.dirs"]["value"] == broker.data_dir
    assert brokers["log.dirs"]["read_only"] is True
    assert brokers["num.partitions"]["source"] == "DEFAULT_CONFIG"
    assert refused(broker, "config", "set", "--broker", "1", "log.dirs=/tmp") \
        .startswith("brokerctl: INVALID_REQUEST: ")
    assert refused(broker, "config", "get", "--broker", "7").startswith(
        "brokerctl: INVALID_REQUEST: Unexpected broker id")
    assert ctl(broker, "config", "get").returncode == 2
    assert ctl(broker, "config", "set", "--topic", "cfg").returncode == 2
