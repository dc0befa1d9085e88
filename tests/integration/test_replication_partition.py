"""A partition leader cut off from the other brokers while clients still
reach it (issue 13): the network partition Jepsen found brokers losing
acknowledged writes in.

Every connection from one node to another goes through a fault-injecting
proxy the test starts (tcp_proxy.py): a preloaded shim
(connect_redirect.c) sends node i's connections to node j's listener and
raft port to the proxy (i, j) instead. Clients connect to the nodes
directly. Cutting every proxy to and from the leader isolates it from the
controllers and from its followers, but not from its producers.

An idempotent acks=all producer (confluent-kafka) writes a topic of
replication factor 3 and min.insync.replicas 2 throughout. While cut off,
the old leader cannot commit anything (its followers cannot fetch, its
ISR change cannot reach the controller), so it acknowledges nothing; the
controller fences it, the others elect a new leader and the producer
moves there. After healing, the old leader learns the new epoch,
truncates what it appended alone, and rejoins the ISR. The checker of
test_replication.py then finds every acknowledged record once, at the
offset it was acknowledged with, on byte-identical replicas. With acks=1
and no idempotence instead, the same run reports the records the old
leader acknowledged alone and then truncated (tried by hand on
2026-12-07), so the check can fail."""
import os
import socket
import tempfile
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_util import Cluster, wait_for
from tcp_proxy import Proxy
from test_replication import partitions, problems, replica_log
from confluent_kafka import Consumer, TopicPartition

TOPIC = "cut"
NODES = (1, 2, 3)


def pick_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Writer:
    """acks=all, idempotent: value i to partition 0; what was acked."""

    def __init__(self, bootstrap):
        self.acked, self.failed = [], 0
        self.stop = threading.Event()
        self.p = Producer({"bootstrap.servers": bootstrap,
                           "enable.idempotence": True, "acks": "all",
                           "linger.ms": 5, "message.timeout.ms": 60000,
                           "topic.metadata.refresh.interval.ms": 500})
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def report(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.p.produce(TOPIC, b"v-%07d" % i, partition=0,
                               on_delivery=self.report)
                i += 1
            except BufferError:
                pass
            self.p.poll(0.002)

    def finish(self):
        self.stop.set()
        self.t.join(30)
        assert self.p.flush(90) == 0
        return list(self.acked)


def read_all(bootstrap):
    """Every record of partition 0: [(offset, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker",
                  "enable.auto.commit": False})
    try:
        _, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0),
                                          timeout=20)
        c.assign([TopicPartition(TOPIC, 0, 0)])
        recs, deadline = [], time.monotonic() + 60
        while (not recs or recs[-1][0] < high - 1) and \
                time.monotonic() < deadline:
            for m in c.consume(500, 1.0):
                assert m.error() is None, m.error()
                recs.append((m.offset(), m.value()))
        return recs
    finally:
        c.close()


def leader_seen_by(c, node):
    return partitions(c.port(node), TOPIC).get(0, (-1, [], []))[0]


def test_a_leader_cut_off_from_the_cluster_loses_nothing():
    shim = os.environ.get("BK_CONNECT_REDIRECT_SHIM")
    assert shim and os.path.exists(shim), \
        "BK_CONNECT_REDIRECT_SHIM must name libbk_connect_redirect.so " \
        "(ctest sets it)"
    ports = pick_ports(2 * len(NODES))
    kafka = {i: ports[i - 1] for i in NODES}
    raft = {i: ports[len(NODES) + i - 1] for i in NODES}
    proxies = {}
    lines = []
    for i in NODES:
        for j in NODES:
            if i == j:
                continue
            for kind, port in (("kafka", kafka[j]), ("raft", raft[j])):
                p = Proxy(port)
                proxies[(i, j, kind)] = p
                lines.append("%d %d %d\n" % (i, port, p.port))
    mapf = tempfile.NamedTemporaryFile("w", suffix=".map", delete=False)
    mapf.writelines(lines)
    mapf.close()
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"LD_PRELOAD": shim, "BK_CONNECT_MAP": mapf.name,
           "ASAN_OPTIONS": (asan + ":" if asan else "") +
           "verify_asan_link_order=0"}
    try:
        with Cluster(3, env=env, extra=[
                "--ports", ",".join(map(str, ports))]) as c:
            active = wait_for("an active controller", c.active_controller, 15)
            leader = next(i for i in NODES if i != active)
            others = [i for i in NODES if i != leader]
            admin = AdminClient({"bootstrap.servers": c.addr(active)})
            admin.create_topics([NewTopic(
                TOPIC, num_partitions=1, replication_factor=-1,
                replica_assignment=[[leader] + others],
                config={"min.insync.replicas": "2"})])[TOPIC].result(20)
            wait_for("all in sync", lambda: sorted(partitions(
                c.port(active), TOPIC).get(0, (0, [], []))[2]) ==
                list(NODES), 15)
            w = Writer(c.bootstrap())
            time.sleep(2)
            for (i, j, _), p in proxies.items():
                if leader in (i, j):
                    p.cut()
            new = wait_for("a new leader", lambda: (lambda l: l if l in
                           others else None)(leader_seen_by(c, others[0])),
                           20)
            time.sleep(3)  # the producer moves and writes on
            for p in proxies.values():
                p.heal()
            wait_for("the old leader back in the ISR", lambda: leader in
                     partitions(c.port(new), TOPIC).get(0, (0, [], []))[2],
                     40)
            time.sleep(1)
            acked = w.finish()
            assert len(acked) > 100, len(acked)
            found = problems(acked, {0: read_all(c.bootstrap())})
            assert not found, found[:10]
            wait_for("replicas identical", lambda: len({
                replica_log(c, i, 0, TOPIC) for i in NODES}) == 1, 30)
    finally:
        for p in proxies.values():
            p.close()
        os.unlink(mapf.name)
