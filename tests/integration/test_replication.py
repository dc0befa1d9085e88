"""Partition replication on a real 3-node cluster (issue 13).

An idempotent acks=all producer (librdkafka through confluent-kafka) writes
unique values to a topic of replication factor 3 and min.insync.replicas 2
while the test kills a partition leader with SIGKILL, restarts it, and stops
another leader with SIGTERM (controlled shutdown) and restarts it. After
healing, a checker (replication-notes.md section 14) reads every partition
from its start and asserts: every acknowledged record is at the offset it
was acknowledged with, no value appears twice (idempotence across leader
changes), offsets are dense, and the replicas' logs are byte-identical.
The leader's own log decides nothing here: what it acknowledged must be on
the others too, or the new leader would lack it."""
import os
import signal
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from cluster_util import Cluster, Reader, wait_for
from harness import (connect, read_uvarint, recv_frame, request,
                     run_brokerctl, uvarint)

TOPIC = "replicated"
PARTITIONS = 3


def partitions(port, topic, timeout=5.0):
    """Metadata v4 for topic from the node on port (never auto-creating
    it): {partition: (leader, replicas, isr)}."""
    body = struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic.encode()
    body += b"\x00"  # allow_auto_topic_creation
    with connect(port, timeout) as s:
        s.sendall(request(3, 4, 21, body))
        r = Reader(recv_frame(s), 4)
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):
        r.take(">i")
        r.string()
        r.take(">i")
        r.string()
    r.string()  # cluster id
    r.take(">i")  # controller
    out = {}
    for _ in range(r.take(">i")):
        r.take(">h")
        r.string()
        r.take(">b")
        for _ in range(r.take(">i")):
            r.take(">h")
            p = r.take(">i")
            leader = r.take(">i")
            replicas = [r.take(">i") for _ in range(r.take(">i"))]
            isr = [r.take(">i") for _ in range(r.take(">i"))]
            out[p] = (leader, replicas, isr)
    return out


class Load:
    """A producer thread: value i goes to partition i % PARTITIONS; the
    delivery reports say what was acknowledged, at which offset."""

    def __init__(self, bootstrap):
        self.acked = []   # (partition, offset, value)
        self.failed = []  # (value, error)
        self.stop = threading.Event()
        self.sent = 0
        self.p = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,
            "topic.metadata.refresh.interval.ms": 1000,
        })
        self.t = threading.Thread(target=self.run, daemon=True)

    def report(self, err, msg):
        if err is not None:
            self.failed.append((msg.value(), str(err)))
        else:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self):
        i = 0
        while not self.stop.is_set():
            v = b"v%07d" % i
            try:
                self.p.produce(TOPIC, v, partition=i % PARTITIONS,
                               on_delivery=self.report)
                i += 1
            except BufferError:
                pass
            self.p.poll(0.002)
        self.sent = i
        assert self.p.flush(90) == 0

    def __enter__(self):
        self.t.start()
        return self

    def finish(self):
        self.stop.set()
        self.t.join(120)
        assert not self.t.is_alive()

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(120)


def read_all(bootstrap):
    """Every record of every partition, from offset 0 to the end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker",
                  "enable.auto.commit": False})
    out = {}
    try:
        for p in range(PARTITIONS):
            _, high = c.get_watermark_offsets(TopicPartition(TOPIC, p),
                                              timeout=10)
            c.assign([TopicPartition(TOPIC, p, 0)])
            recs = []
            deadline = time.monotonic() + 30
            while len(recs) < high and time.monotonic() < deadline:
                for m in c.consume(500, 1.0):
                    assert m.error() is None, m.error()
                    recs.append((m.offset(), m.value()))
            out[p] = recs
    finally:
        c.close()
    return out


def replica_log(cluster, node, p, topic=TOPIC):
    """The bytes of one replica's segment files, in order."""
    d = os.path.join(cluster.node_dir(node), "data", "%s-%d" % (topic, p))
    data = b""
    for name in sorted(os.listdir(d)):
        if name.endswith(".log"):
            with open(os.path.join(d, name), "rb") as f:
                data += f.read()
    return data


def problems(acked, final):
    """The checker: what is wrong with final ({partition: [(offset,
    value)]}, read from offset 0) given acked ([(partition, offset,
    value)]). An empty list when nothing acknowledged was lost, moved or
    duplicated and offsets are dense."""
    out = []
    seen = {}
    for p, recs in final.items():
        for i, (off, v) in enumerate(recs):
            if off != i:
                out.append("partition %d: offset %d at position %d" % (
                    p, off, i))
            if v in seen:
                out.append("%r twice: %s and %s" % (v, seen[v], (p, off)))
            seen[v] = (p, off)
    for p, off, v in acked:
        if seen.get(v) != (p, off):
            out.append("acknowledged %r at %d/%d, read %r" % (
                v, p, off, seen.get(v)))
    return out


def check(load, final):
    assert load.acked, "nothing was acknowledged"
    found = problems(load.acked, final)
    assert not found, found[:10]


def leader_of(cluster, p, ask, topic=TOPIC):
    return partitions(cluster.port(ask), topic).get(p, (-1,))[0]


def test_acknowledged_records_survive_leader_failures():
    with Cluster(3) as c:
        out = run_brokerctl(c.addr(1), "topic", "create", TOPIC,
                            "--partitions", str(PARTITIONS),
                            "--replication-factor", "3",
                            "--config", "min.insync.replicas=2")
        assert out.returncode == 0, out.stderr
        wait_for("every replica in sync at creation",
                 lambda: all(len(isr) == 3 for _, _, isr in
                             partitions(c.port(1), TOPIC).values()), 10)
        with Load(c.bootstrap()) as load:
            wait_for("records acknowledged", lambda: len(load.acked) > 300, 30)
            # kill -9 the leader of partition 0: a follower takes over
            # with everything acknowledged.
            victim = leader_of(c, 0, 1)
            c.kill(victim)
            other = [i for i in c.ids() if i != victim][0]
            wait_for("a new leader", lambda: leader_of(c, 0, other) not in
                     (victim, -1), 20)
            n = len(load.acked)
            wait_for("acks after the failover",
                     lambda: len(load.acked) > n + 300, 30)
            c.restart(victim)
            # Controlled shutdown of the leader of partition 1.
            victim = leader_of(c, 1, other)
            c.kill(victim, "TERM")
            wait_for("node stopped", lambda: c.pid(victim) is None or
                     not os.path.exists("/proc/%d" % c.pid(victim)), 20)
            n = len(load.acked)
            wait_for("acks after the controlled shutdown",
                     lambda: len(load.acked) > n + 300, 30)
            c.restart(victim)
            n = len(load.acked)
            wait_for("acks after the restart",
                     lambda: len(load.acked) > n + 300, 30)
            load.finish()
        assert not load.failed, load.failed[:5]
        final = read_all(c.bootstrap())
        check(load, final)
        # Healed: every replica holds the same bytes.
        for p in range(PARTITIONS):
            wait_for("replicas of partition %d identical" % p,
                     lambda: len({replica_log(c, n, p) for n in c.ids()}) == 1,
                     30, interval=0.2)


def produce_v10(port, topic, partition):
    """Produce v10 (flexible) of a few bytes to one partition. Returns
    (error, (leader_id, leader_epoch), {node_id: port}) from the KIP-951
    tagged fields."""
    name = topic.encode()
    body = b"\x00" + struct.pack(">hi", -1, 5000)  # no transactional id
    body += uvarint(2) + uvarint(len(name) + 1) + name
    body += uvarint(2) + struct.pack(">i", partition)
    body += uvarint(9) + b"\x00" * 8 + b"\x00"  # records, partition tags
    body += b"\x00" + b"\x00"  # topic tags, request tags
    with connect(port) as s:
        s.sendall(request(0, 10, 31, body, flexible=True))
        r = Reader(recv_frame(s), 4)
    r.tags()
    leader = (-1, -1)
    n, r.pos = read_uvarint(r.buf, r.pos)
    assert n == 2
    r.compact_string()
    n, r.pos = read_uvarint(r.buf, r.pos)
    assert n == 2
    r.take(">i")
    err = r.take(">h")
    r.take(">qqq")
    n, r.pos = read_uvarint(r.buf, r.pos)  # record errors
    assert n == 1
    r.compact_string()  # error message
    ntags, r.pos = read_uvarint(r.buf, r.pos)
    for _ in range(ntags):
        tag, r.pos = read_uvarint(r.buf, r.pos)
        size, r.pos = read_uvarint(r.buf, r.pos)
        if tag == 0:
            leader = struct.unpack_from(">ii", r.buf, r.pos)
        r.pos += size
    r.tags()  # topic
    r.take(">i")  # throttle
    nodes = {}
    ntags, r.pos = read_uvarint(r.buf, r.pos)
    for _ in range(ntags):
        tag, r.pos = read_uvarint(r.buf, r.pos)
        size, r.pos = read_uvarint(r.buf, r.pos)
        end = r.pos + size
        if tag == 0:
            n, r.pos = read_uvarint(r.buf, r.pos)
            for _ in range(n - 1):
                node = r.take(">i")
                r.compact_string()
                nodes[node] = r.take(">i")
                r.compact_string()
                r.tags()
        r.pos = end
    return err, leader, nodes


def test_refusals_name_the_leader():
    """KIP-951: a Produce to a broker that does not lead the partition
    says who does, at which epoch, and where it listens."""
    with Cluster(3) as c:
        out = run_brokerctl(c.addr(1), "topic", "create", TOPIC,
                            "--partitions", "1", "--replication-factor", "3")
        assert out.returncode == 0, out.stderr
        leader = wait_for("a leader",
                          lambda: max(leader_of(c, 0, 1), 0), 10)
        follower = [i for i in c.ids() if i != leader][0]
        err, hint, nodes = wait_for(
            "the follower knows the topic",
            lambda: (lambda a: a if a[0] == 6 else None)(
                produce_v10(c.port(follower), TOPIC, 0)), 10)
        assert hint == (leader, 0)
        assert nodes == {leader: c.port(leader)}


def test_a_killed_leader_is_fenced_when_its_connection_closes():
    """broker.fence.on.disconnect.ms: kill -9 closes the dead broker's
    heartbeat connection at once, so its partitions move long before a
    30 s session would lapse."""
    with Cluster(3, session_ms=30000, heartbeat_ms=500) as c:
        out = run_brokerctl(c.addr(1), "topic", "create", TOPIC,
                            "--partitions", "3", "--replication-factor", "3")
        assert out.returncode == 0, out.stderr
        active = wait_for("an active controller", c.active_controller, 10)
        # A partition led by another node: the active controller's own
        # heartbeats take no connection, and its death is a raft election.
        parts = wait_for("leaders", lambda: (lambda m: m if len(m) == 3 and
                         all(v[0] >= 0 for v in m.values()) else None)(
                             partitions(c.port(active), TOPIC)), 10)
        p, (leader, _, _) = next((p, v) for p, v in parts.items()
                                 if v[0] != active)
        t0 = time.monotonic()
        c.kill(leader)
        wait_for("a new leader", lambda: leader_of(c, p, active) not in
                 (leader, -1), 15)
        assert time.monotonic() - t0 < 15
        assert "connection closed: fenced unless it heartbeats again" in \
            c.log(active)


def test_the_checker_sees_loss_after_an_unclean_election():
    """The checker can fail: with acks=1 and unclean.leader.election.enable,
    records acknowledged by a leader whose follower had fallen out of the
    ISR are gone once that follower takes over and the old leader
    truncates to it. The same checker finds nothing wrong above. Four
    nodes (three controllers and a broker) so that the quorum survives a
    paused follower and a killed leader."""
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = "lossy"
    with Cluster(4) as c:
        leader, follower = 4, 3  # the broker-only node leads
        admin = AdminClient({"bootstrap.servers": c.addr(1)})
        fut = admin.create_topics([NewTopic(
            topic, num_partitions=1, replication_factor=-1,
            replica_assignment=[[leader, follower]],
            config={"unclean.leader.election.enable": "true"})])
        fut[topic].result(20)
        wait_for("both in sync", lambda: partitions(c.port(1), topic).get(
            0, (0, 0, []))[2] == [leader, follower], 10)
        os.kill(c.pid(follower), signal.SIGSTOP)
        try:
            wait_for("the follower out of the ISR", lambda: partitions(
                c.port(leader), topic).get(0, (0, 0, []))[2] == [leader], 20)
            acked = []
            prod = Producer({"bootstrap.servers": c.addr(leader), "acks": 1})
            for i in range(100):
                prod.produce(topic, b"lost-%03d" % i, partition=0,
                             on_delivery=lambda e, m: acked.append(
                                 (m.partition(), m.offset(), m.value()))
                             if e is None else None)
            assert prod.flush(20) == 0
            assert len(acked) == 100
            c.kill(leader)
        finally:
            os.kill(c.pid(follower), signal.SIGCONT)
        wait_for("an unclean leader", lambda: leader_of(
            c, 0, 1, topic) == follower, 30)
        c.restart(leader)
        wait_for("the old leader back in the ISR", lambda: leader in
                 partitions(c.port(1), topic).get(0, (0, 0, []))[2], 30)
        final = {0: []}
        data = run_brokerctl(c.addr(follower), "consume", topic, "-p", "0",
                             "-o", "beginning", "-c", "1000", "-f",
                             "%o %v\\n")
        assert data.returncode == 0, data.stderr
        for line in data.stdout.splitlines():
            off, v = line.split(" ", 1)
            final[0].append((int(off), v.encode()))
        found = problems(acked, final)
        assert len(found) == 100, found[:5]
        # The replicas agree on what is left.
        wait_for("replicas identical", lambda: len({
            replica_log(c, i, 0, topic) for i in (leader, follower)}) == 1,
            30)


def delete_records_v0(port, topic, partition, offset):
    """DeleteRecords v0 for one partition: (low watermark, error)."""
    body = struct.pack(">i", 1) + struct.pack(">h", len(topic))
    body += topic.encode() + struct.pack(">iiqi", 1, partition, offset, 10000)
    with connect(port, 15) as s:
        s.sendall(request(21, 0, 31, body))
        r = Reader(recv_frame(s), 4)
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    r.take(">i")
    return r.take(">q"), r.take(">h")


def fetch_v11(port, topic, offset):
    """A consumer's Fetch v11 (with a rack: followers serve it) of
    partition 0 from offset: (error, log start (-1 with an error, as
    Kafka answers), record bytes)."""
    t = topic.encode()
    body = struct.pack(">iiiibii", -1, 100, 1, 1 << 20, 0, 0, -1)
    body += struct.pack(">ih", 1, len(t)) + t
    body += struct.pack(">iiiqqi", 1, 0, -1, offset, -1, 1 << 20)
    body += struct.pack(">i", 0) + struct.pack(">h", 1) + b"r"
    with connect(port, 5) as s:
        s.sendall(request(1, 11, 9, body))
        rd = Reader(recv_frame(s), 4)
    rd.take(">ihi")  # throttle, error, session
    assert rd.take(">i") == 1
    rd.string()
    assert rd.take(">i") == 1
    rd.take(">i")
    err = rd.take(">h")
    rd.take(">qq")  # high watermark, last stable
    log_start = rd.take(">q")
    for _ in range(max(rd.take(">i"), 0)):
        rd.take(">qq")
    rd.take(">i")  # preferred read replica
    return err, log_start, max(rd.take(">i"), 0)


def test_a_follower_behind_the_leaders_log_start_starts_again_there():
    """Kafka's truncateFullyAndStartAt: a follower that was away while the
    leader's log start moved past its end (DeleteRecords here; retention
    does the same) cannot fetch what it lacks. It starts again, empty, at
    the leader's log start, catches up, and rejoins the ISR, and its own
    log start follows the leader's, so that records deleted on the leader
    cannot come back from it. Four nodes, so that the quorum survives the
    paused follower."""
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = "restarted"
    with Cluster(4) as c:
        leader, follower = 4, 3
        admin = AdminClient({"bootstrap.servers": c.addr(1)})
        admin.create_topics([NewTopic(
            topic, num_partitions=1, replication_factor=-1,
            replica_assignment=[[leader, follower]])])[topic].result(20)
        wait_for("both in sync", lambda: partitions(c.port(1), topic).get(
            0, (0, 0, []))[2] == [leader, follower], 10)
        prod = Producer({"bootstrap.servers": c.addr(leader), "acks": "all"})
        for i in range(50):
            prod.produce(topic, b"before-%03d" % i, partition=0)
        assert prod.flush(20) == 0
        os.kill(c.pid(follower), signal.SIGSTOP)
        try:
            wait_for("the follower out of the ISR", lambda: partitions(
                c.port(leader), topic).get(0, (0, 0, []))[2] == [leader], 20)
            for i in range(100):
                prod.produce(topic, b"after-%03d" % i, partition=0)
            assert prod.flush(20) == 0
            # Straight to the leader: a client could pick the paused node
            # for its metadata and wait on it.
            assert delete_records_v0(c.port(leader), topic, 0, 120) == \
                (120, 0)
        finally:
            os.kill(c.pid(follower), signal.SIGCONT)
        wait_for("the follower back in the ISR", lambda: partitions(
            c.port(1), topic).get(0, (0, 0, []))[2] == [leader, follower],
            30)
        # Whether it restarted its log (the leader's answer said its log
        # starts past the follower's end) or took the batch holding 120
        # from a fetch answered before the pause took hold, its log start
        # must now be the leader's.
        # A consumer fetch (v11, which followers serve) below 120 is out
        # of range on the follower, and one at 120 gets records: the
        # records the leader deleted cannot come back from it (without the
        # follower following the leader's log start, it starts at 50).
        err, _, _ = wait_for("the follower's log start", lambda: (
            lambda r: r if r[0] == 1 else None)(
                fetch_v11(c.port(follower), topic, 100)), 10)
        err, _, size = fetch_v11(c.port(follower), topic, 120)
        assert err == 0 and size > 0
