"""Consumers fetching from followers (KIP-392) on a real 3-node cluster
whose brokers are in racks rack-1..rack-3, with replica.selector.class
set to Kafka's RackAwareReplicaSelector.

A raw Fetch v11 to the leader from a consumer in another broker's rack
is answered with that broker as preferred read replica and no records;
from the leader's own rack, or without a rack, the leader serves. A
follower serves a consumer's Fetch v11 up to its high watermark, answers
OFFSET_OUT_OF_RANGE beyond its log end, and refuses a Fetch v10 (no
client metadata) with NOT_LEADER_OR_FOLLOWER. A confluent-kafka consumer
with client.rack reads every record through its rack's follower (its log
says it moved to broker 3 as preferred replica)."""
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_util import Cluster, Reader, wait_for
from harness import connect, recv_frame, request
from replication_raw import assert_clean_logs
from test_replication import partitions

TOPIC = "racked"
N = 100
SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


def fetch(port, offset, rack, version=11, wait_ms=100):
    """Fetch (v10 or v11) of partition 0 of TOPIC from offset: (error,
    high watermark, preferred read replica, record bytes)."""
    t = TOPIC.encode()
    body = struct.pack(">iiiibii", -1, wait_ms, 1, 1 << 20, 0, 0, -1)
    body += struct.pack(">ih", 1, len(t)) + t
    body += struct.pack(">iiiqqi", 1, 0, -1, offset, -1, 1 << 20)
    body += struct.pack(">i", 0)  # forgotten topics
    if version >= 11:
        r = rack.encode()
        body += struct.pack(">h", len(r)) + r
    with connect(port, timeout=wait_ms / 1000.0 + 5) as s:
        s.sendall(request(1, version, 7, body))
        rd = Reader(recv_frame(s), 4)
    rd.take(">ihi")  # throttle, error, session
    assert rd.take(">i") == 1
    rd.string()
    assert rd.take(">i") == 1
    rd.take(">i")
    err = rd.take(">h")
    hw = rd.take(">q")
    rd.take(">qq")  # last stable, log start
    aborted = rd.take(">i")
    for _ in range(max(aborted, 0)):
        rd.take(">qq")
    pref = rd.take(">i") if version >= 11 else -1
    n = rd.take(">i")
    return err, hw, pref, max(n, 0)


def test_fetch_from_followers():
    with Cluster(3, extra=["--set", "broker.rack=rack-{id}",
                           "--set", "replica.selector.class=" + SELECTOR]) as c:
        admin = AdminClient({"bootstrap.servers": c.addr(1)})
        fut = admin.create_topics([NewTopic(TOPIC, num_partitions=1,
                                            replication_factor=-1,
                                            replica_assignment=[[1, 2, 3]])])
        fut[TOPIC].result(20)
        wait_for("all in sync", lambda: sorted(partitions(c.port(1), TOPIC).get(
            0, (0, 0, []))[2]) == [1, 2, 3], 15)
        p = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all"})
        for i in range(N):
            p.produce(TOPIC, b"r%03d" % i, partition=0)
        assert p.flush(20) == 0
        leader = partitions(c.port(1), TOPIC)[0][0]
        assert leader == 1
        # The followers learn the high watermark with their next fetch.
        for f in (2, 3):
            wait_for("follower %d at the high watermark" % f, lambda f=f: (
                lambda a: a if a[0] == 0 and a[1] == N else None)(
                    fetch(c.port(f), 0, "rack-%d" % f)), 10)

        err, hw, pref, size = fetch(c.port(1), 0, "rack-2")
        assert (err, hw, pref, size) == (0, N, 2, 0)
        err, hw, pref, size = fetch(c.port(1), 0, "rack-1")
        assert (err, hw, pref) == (0, N, -1) and size > 0
        err, hw, pref, size = fetch(c.port(1), 0, "")
        assert (err, hw, pref) == (0, N, -1) and size > 0
        # Past what the follower in that rack holds: the leader serves.
        err, hw, pref, size = fetch(c.port(1), N + 5, "rack-3")
        assert (err, pref) == (1, -1)  # OFFSET_OUT_OF_RANGE from the leader

        err, hw, pref, size = fetch(c.port(2), 0, "rack-2")
        assert (err, hw, pref) == (0, N, -1) and size > 0
        err, _, _, size = fetch(c.port(2), N + 5, "rack-2")
        assert (err, size) == (1, 0)  # OFFSET_OUT_OF_RANGE
        err, _, _, _ = fetch(c.port(2), 0, "", version=10)
        assert err == 6  # NOT_LEADER_OR_FOLLOWER

        # A long poll on the follower ends when its high watermark moves.
        threading.Timer(0.5, lambda: (p.produce(TOPIC, b"late", partition=0),
                                      p.flush(10))).start()
        t0 = time.monotonic()
        err, hw, _, size = fetch(c.port(2), N, "rack-2", wait_ms=8000)
        assert (err, hw) == (0, N + 1) and size > 0, (err, hw, size)
        assert time.monotonic() - t0 < 6

        logs = []

        class Log:
            def log(self, level, fmt, *args):
                logs.append(fmt % args if args else fmt)

        cons = Consumer({"bootstrap.servers": c.bootstrap(),
                         "group.id": "racked", "client.rack": "rack-3",
                         "enable.auto.commit": False, "debug": "fetch"},
                        logger=Log())
        try:
            cons.assign([TopicPartition(TOPIC, 0, 0)])
            got = []
            end = time.monotonic() + 30
            while len(got) < N + 1 and time.monotonic() < end:
                for m in cons.consume(100, 1.0):
                    assert m.error() is None, m.error()
                    got.append(m.value())
        finally:
            cons.close()
        assert got == [b"r%03d" % i for i in range(N)] + [b"late"]
        # librdkafka followed the leader's preferred read replica.
        assert any("migrating from broker 1 to 3" in l and
                   "preferred replica" in l for l in logs), logs[-20:]
        assert_clean_logs(c)
