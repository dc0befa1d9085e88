"""brokerctl group list, describe, reset-offsets and delete against a live
consumer group (kafka-python members)."""
import json
import subprocess
import time

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from data_util import create_topics
from harness import Broker, brokerctl_path
from test_group_clients import GROUP_SETTINGS, produce

PARTS = 3


@pytest.fixture(scope="module")
def broker():
    with Broker(extra=GROUP_SETTINGS) as b:
        yield b


def ctl(broker, *args, ok=True):
    res = subprocess.run([brokerctl_path(), "-b", broker.bootstrap] +
                         list(args), capture_output=True, text=True,
                         timeout=60)
    if ok:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def committed(broker, group, topic):
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                      enable_auto_commit=False)
    try:
        return [c.committed(TopicPartition(topic, p)) for p in range(PARTS)]
    finally:
        c.close()


def test_brokerctl_group(broker):
    topic = "ctl-grp"
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, 90, parts=PARTS)
    c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                      group_id="ctl-group", client_id="ctl-client",
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=6000, heartbeat_interval_ms=500)
    got = 0
    deadline = time.monotonic() + 30
    while got < 60 and time.monotonic() < deadline:
        for msgs in c.poll(timeout_ms=200, max_records=10).values():
            got += len(msgs)
    c.commit()

    out = ctl(broker, "group", "list").stdout
    assert any(l.split()[:3] == ["ctl-group", "Stable", "consumer"]
               for l in out.splitlines()), out
    lst = json.loads(ctl(broker, "group", "list", "--json").stdout)
    assert {"group": "ctl-group", "protocol_type": "consumer",
            "state": "Stable"} in lst

    desc = json.loads(ctl(broker, "group", "describe", "ctl-group",
                          "--json").stdout)
    assert desc["state"] == "Stable" and desc["members"] == 1
    rows = desc["partitions"]
    assert [r["partition"] for r in rows] == list(range(PARTS))
    assert all(r["log_end"] == 30 for r in rows)
    assert sum(r["committed"] for r in rows) == got
    assert sum(r["lag"] for r in rows) == 90 - got
    assert all(r["client"] == "ctl-client" for r in rows)
    text = ctl(broker, "group", "describe", "ctl-group").stdout
    assert "LOG-END-OFFSET" in text and "ctl-client" in text

    # Not while the member is there.
    res = ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
              "--to-earliest", ok=False)
    assert res.returncode != 0 and "empty" in res.stderr
    res = ctl(broker, "group", "delete", "ctl-group", ok=False)
    assert res.returncode != 0 and "NON_EMPTY_GROUP" in res.stderr
    c.close()

    before = committed(broker, "ctl-group", topic)
    out = ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
              "--to-earliest", "--dry-run").stdout
    assert "dry run" in out
    assert committed(broker, "ctl-group", topic) == before
    ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
        "--to-earliest", "--execute")
    assert committed(broker, "ctl-group", topic) == [0] * PARTS
    ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
        "--shift-by", "5")
    assert committed(broker, "ctl-group", topic) == [5] * PARTS
    ctl(broker, "group", "reset-offsets", "ctl-group", "--topic",
        topic + ":1", "--to-offset", "1000")
    assert committed(broker, "ctl-group", topic) == [5, 30, 5]
    ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
        "--to-latest")
    assert committed(broker, "ctl-group", topic) == [30] * PARTS
    ctl(broker, "group", "reset-offsets", "ctl-group", "--topic", topic,
        "--to-datetime", "2000-01-01T00:00:00")
    assert committed(broker, "ctl-group", topic) == [0] * PARTS

    out = ctl(broker, "group", "delete", "ctl-group").stdout
    assert "Deleted group ctl-group" in out
    assert "ctl-group" not in ctl(broker, "group", "list").stdout
    res = ctl(broker, "group", "delete", "ctl-group", ok=False)
    assert res.returncode != 0 and "GROUP_ID_NOT_FOUND" in res.stderr
