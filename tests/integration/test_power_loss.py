"""Durable by default (issue 13): every record acknowledged to an acks=all
producer survives the power loss of every replica at once.

A real 3-node cluster runs with a preloaded shim (power_loss.c) that
journals what each fdatasync made durable. While producers write, the test
kills all three brokers with SIGKILL, then does what a power loss would do
to the page cache: it cuts every partition file back to the size its last
sync vouched for (a file never synced loses everything). The brokers
restart on what is left, and a checker reads every partition: each record
acknowledged with acks=all is at the offset it was acknowledged with, and
no value appears twice.

The same run writes a second topic with acks=1, which nothing syncs before
the answer. Bytes were cut from its files: the simulation takes something
away. With the leader's wait for its fdatasync removed and followers
acknowledging from memory (replica.fsync.before.ack=false), the checker
found all but about 50 of some 150,000 acknowledged records gone (tried
by hand on 2026-12-07), so the check can fail.

The partition.metadata file is part of what is checked: written without a
sync, a power loss left it empty, and the next start retired every
partition directory as a deleted topic's."""
import os
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from cluster_util import Cluster, wait_for
from test_replication import partitions, problems

DURABLE, LOOSE = "durable", "loose"
PARTITIONS = 3


def shim_env(journal):
    shim = os.environ.get("BK_POWER_LOSS_SHIM")
    assert shim and os.path.exists(shim), \
        "BK_POWER_LOSS_SHIM must name the built libbk_power_loss.so " \
        "(ctest sets it)"
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": shim,
        "BK_POWER_LOSS_JOURNAL": journal,
        # The shim comes ahead of the sanitizer runtime in ASan builds.
        "ASAN_OPTIONS": (asan + ":" if asan else "") +
                        "verify_asan_link_order=0",
    }


def durable_sizes(journal):
    """path -> bytes the disk vouches for, from the shim's journal."""
    sizes = {}
    with open(journal, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            kind, rest = line[0], line[2:]
            if kind == "S":
                size, path = rest.split(" ", 1)
                sizes[path] = int(size)
            elif kind == "T":
                size, path = rest.split(" ", 1)
                if path in sizes:
                    sizes[path] = min(sizes[path], int(size))
            elif kind == "R":
                src, dst = rest.split("\t", 1)
                if src in sizes:
                    sizes[dst] = sizes.pop(src)
                else:
                    sizes.pop(dst, None)
    return sizes


def lose_power(cluster, journal):
    """Cuts every partition file of every node back to its durable size;
    returns the bytes taken per topic."""
    sizes = durable_sizes(journal)
    taken = {}
    for i in cluster.ids():
        data = os.path.realpath(os.path.join(cluster.node_dir(i), "data"))
        for d in os.listdir(data):
            pdir = os.path.join(data, d)
            topic, _, part = d.rpartition("-")
            # The metadata log is raft's (its own writes and syncs); only
            # partition logs are cut.
            if not os.path.isdir(pdir) or not part.isdigit() or \
                    topic == "__cluster_metadata":
                continue
            for name in os.listdir(pdir):
                path = os.path.join(pdir, name)
                size = os.path.getsize(path)
                keep = min(size, sizes.get(path, 0))
                if keep < size:
                    os.truncate(path, keep)
                    taken[topic] = taken.get(topic, 0) + size - keep
    return taken


class Writer:
    """A producer thread with acks as given: value i to partition
    i % PARTITIONS; what the delivery reports acknowledged."""

    def __init__(self, bootstrap, topic, acks):
        self.topic = topic
        self.acked = []
        self.stop = threading.Event()
        self.p = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": acks == "all",
            "acks": acks,
            "linger.ms": 2,
            "message.timeout.ms": 10000,
        })
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def report(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.p.produce(self.topic, b"%s-%07d" % (
                    self.topic.encode(), i), partition=i % PARTITIONS,
                    on_delivery=self.report)
                i += 1
            except BufferError:
                pass
            self.p.poll(0.001 if i % 50 == 0 else 0)

    def halt(self):
        """Stops producing; what is acknowledged by now is final (the
        brokers are dead, so nothing else will be)."""
        self.stop.set()
        self.t.join(30)
        self.p.flush(0)
        return list(self.acked)


def read_all(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker",
                  "enable.auto.commit": False})
    out = {}
    try:
        for p in range(PARTITIONS):
            _, high = c.get_watermark_offsets(TopicPartition(topic, p),
                                              timeout=20)
            c.assign([TopicPartition(topic, p, 0)])
            recs = []
            deadline = time.monotonic() + 60
            while (not recs or recs[-1][0] < high - 1) and \
                    time.monotonic() < deadline:
                for m in c.consume(500, 1.0):
                    assert m.error() is None, m.error()
                    recs.append((m.offset(), m.value()))
            out[p] = recs
    finally:
        c.close()
    return out


def test_acknowledged_records_survive_the_power_loss_of_every_replica():
    journal = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                           "bk-power-loss-%d.journal" % os.getpid())
    if os.path.exists(journal):
        os.unlink(journal)
    from confluent_kafka.admin import AdminClient, NewTopic
    with Cluster(3, env=shim_env(journal)) as c:
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        futs = admin.create_topics([
            NewTopic(t, num_partitions=PARTITIONS, replication_factor=3,
                     config={"min.insync.replicas": "2"})
            for t in (DURABLE, LOOSE)])
        for f in futs.values():
            f.result(20)
        for t in (DURABLE, LOOSE):
            wait_for("%s fully in sync" % t, lambda: (lambda m: len(m) ==
                     PARTITIONS and all(len(v[2]) == 3 for v in m.values()))(
                         partitions(c.port(1), t)), 20)
        writers = [Writer(c.bootstrap(), DURABLE, "all"),
                   Writer(c.bootstrap(), LOOSE, "1")]
        time.sleep(4)
        for i in c.ids():
            os.kill(c.pid(i), 9)
        acked = {w.topic: w.halt() for w in writers}
        assert len(acked[DURABLE]) > 1000, len(acked[DURABLE])
        taken = lose_power(c, journal)
        assert taken.get(LOOSE, 0) > 0, taken
        # Together: no node can start without a metadata quorum.
        restarts = [threading.Thread(target=c.restart, args=(i,))
                    for i in c.ids()]
        for t in restarts:
            t.start()
        for t in restarts:
            t.join(120)
        final = read_all(c.bootstrap(), DURABLE)
        found = problems(acked[DURABLE], final)
        assert not found, found[:10]
    os.unlink(journal)
