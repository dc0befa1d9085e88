"""Eligible leader replicas (KIP-966 part 1, issue 13) on a real cluster:
three controllers and two broker-only nodes, so that the quorum outlives
the three replicas that stop. A topic on 4, 5, 1 with
min.insync.replicas 2 takes acks=all records while its ISR is full, then
its followers stop one after the other (controlled shutdowns): the one
that takes the ISR below 2 joins the ELR, as DescribeTopicPartitions
shows. Then the leader is killed: the ISR empties and the leader joins
the ELR too. The ELR follower comes back and leads at once, cleanly (the
ISR of itself, the ELR kept: an unclean election would empty it), and
every acknowledged record is there."""
import json
import struct
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from cluster_util import Cluster, wait_for
from harness import brokerctl_path
from replication_raw import (assert_clean_logs, call, compact_array,
                             compact_str, create_topic)

SETTLE = 30.0
N = 200


def describe(port, topic):
    """DescribeTopicPartitions v0 for one topic: {partition: {"leader",
    "isr", "elr", "last_known_elr"}}, or None on a topic error."""
    body = compact_array([compact_str(topic) + b"\x00"])
    body += struct.pack(">i", 100) + b"\xff" + b"\x00"
    r = call(port, 75, 0, body)
    r.take(">i")  # throttle

    def ints():
        n = r.take("B") - 1  # lists this short have a one-byte length
        return [r.take(">i") for _ in range(max(n, 0))]
    out = None
    for _ in range(r.take("B") - 1):
        err = r.take(">h")
        r.compact_string()
        r.pos += 16 + 1  # topic id, is_internal
        parts = {}
        for _ in range(r.take("B") - 1):
            r.take(">h")
            p = r.take(">i")
            st = {"leader": r.take(">i"), "epoch": r.take(">i")}
            st["replicas"] = ints()
            st["isr"] = ints()
            st["elr"] = ints()
            st["last_known_elr"] = ints()
            ints()  # offline
            r.tags()
            parts[p] = st
        r.take(">i")  # authorized operations
        r.tags()
        out = parts if err == 0 else None
    return out


def shows(c, node, pred, what):
    def get():
        d = describe(c.port(node), "elr")
        return d[0] if d is not None and pred(d[0]) else None
    return wait_for("node %d: %s" % (node, what), get, SETTLE)


def produce(c, alive):
    p = Producer({"bootstrap.servers": c.bootstrap(alive), "acks": "all",
                  "enable.idempotence": True, "message.timeout.ms": 20000})
    acked = []

    def done(err, msg):
        if err is None:
            acked.append(msg.value())
    for i in range(N):
        p.produce("elr", value=b"v%05d" % i, partition=0, on_delivery=done)
    p.flush(30)
    return acked


def consume(c, alive, want):
    cons = Consumer({"bootstrap.servers": c.bootstrap(alive),
                     "group.id": "elr-check", "enable.auto.commit": False})
    try:
        cons.assign([TopicPartition("elr", 0, 0)])
        seen = []
        for _ in range(60):
            for m in cons.consume(500, timeout=1.0):
                if m.error() is None:
                    seen.append(m.value())
            if len(seen) >= len(want):
                break
        return seen
    finally:
        cons.close()


def topic_describe(c, node, *flags):
    r = subprocess.run([brokerctl_path(), "-b", c.addr(node)] + list(flags) +
                       ["topic", "describe", "elr"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_elr_member_leads_after_leader_dies():
    with Cluster(5, extra=("--controllers", "3")) as c:
        assert c.ids() == [1, 2, 3, 4, 5]
        assert create_topic(c.port(2), "elr", 0, 0,
                            configs=[("min.insync.replicas", "2")],
                            assignment=[[4, 5, 1]]) == 0
        shows(c, 2, lambda s: s["leader"] == 4 and sorted(s["isr"]) ==
              [1, 4, 5], "full ISR")
        acked = produce(c, [1, 2, 3, 4, 5])
        assert len(acked) == N
        # The followers learn the high watermark on their next fetch
        # (replica.fetch.wait.max.ms 500).
        time.sleep(2)

        # 1 stops: the ISR {4, 5} is still at min ISR, no ELR.
        assert c.kill(1, "TERM").returncode == 0
        st = shows(c, 2, lambda s: sorted(s["isr"]) == [4, 5], "ISR 4, 5")
        assert st["elr"] == []
        assert "Elr:" not in topic_describe(c, 2)
        # 5 stops: the ISR falls below min ISR; 5 is eligible.
        assert c.kill(5, "TERM").returncode == 0
        st = shows(c, 2, lambda s: s["isr"] == [4], "ISR 4 alone")
        assert st["elr"] == [5] and st["leader"] == 4, st
        # brokerctl shows a non-empty ELR, as kafka-topics.sh does.
        assert "\tIsr: 4\tElr: 5\t" in topic_describe(c, 2) + "\t"
        part = json.loads(topic_describe(c, 3, "--json"))[0]["partitions"][0]
        assert part["elr"] == [5] and part["last_known_elr"] == [], part

        # The leader dies: no ISR left, and no leader with 5 away.
        c.kill(4)
        st = shows(c, 3, lambda s: s["isr"] == [] and s["leader"] == -1,
                   "empty ISR")
        assert st["elr"] == [4, 5], st

        # 5 returns and leads cleanly: the ISR of itself, 4 still eligible
        # (an unclean election would have emptied the ELR).
        c.restart(5)
        st = shows(c, 3, lambda s: s["leader"] == 5, "5 leads")
        assert st["isr"] == [5] and st["elr"] == [4], st
        assert st["last_known_elr"] == [], st

        seen = consume(c, [2, 3, 5], acked)
        assert set(acked) <= set(seen), (len(acked), len(seen))
        assert_clean_logs(c)
