"""Failover under load on a real 3-broker cluster (issue 13).

The default Java producer (idempotent, acks=all) writes for 45 s to a
topic of replication factor 3 and min.insync.replicas 2, and a consumer
group (librdkafka) reads it meanwhile, while the test, in turn:
  - kills a partition leader with SIGKILL and restarts it;
  - stops a leader with SIGSTOP for longer than the broker session
    timeout (the controller fences it and elects another), then SIGCONTs
    it: it comes back as a follower and truncates what it wrote alone;
  - restarts every broker, one by one, with controlled shutdown (SIGTERM).
Afterwards, the checker (replication-notes.md section 14):
  - the producer saw every record acknowledged at the next offset of its
    partition in send order (no loss, no duplicate, no gap: DataCheck);
  - a fresh consumer reads each record exactly once at that offset;
  - every offset the consumer group read holds the same record as the
    final read (no offset ever held two records);
  - the replicas' logs are byte-identical."""
import os
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer

from cluster_util import Cluster, wait_for
from harness import REPO, run_brokerctl
from test_replication import leader_of, partitions, replica_log

TOPIC = "chaos"
PARTS = 3
SECONDS = 45
RATE = 1500

CP = (os.path.join(REPO, "tests", "java", "target", "classes") + ":" +
      os.path.join(REPO, "tests", "java", "target", "deps", "*"))


def data_check(*args, timeout=180):
    res = subprocess.run(["java", "-cp", CP, "brokerd.DataCheck"] +
                         [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip().splitlines()[-1]


class GroupReader:
    """A consumer group member reading the topic while the brokers fail;
    keeps every (partition, offset, value) it was given."""

    def __init__(self, bootstrap):
        self.seen = []
        self.stop = threading.Event()
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": "chaos-readers",
                           "auto.offset.reset": "earliest",
                           "enable.auto.commit": True,
                           "auto.commit.interval.ms": 500,
                           "session.timeout.ms": 10000})
        self.c.subscribe([TOPIC])
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            for m in self.c.consume(200, 0.2):
                if m.error() is None:
                    self.seen.append((m.partition(), m.offset(), m.value()))

    def close(self):
        self.stop.set()
        self.t.join(30)
        self.c.close()


def leader_somewhere(c, p, alive):
    for n in alive:
        try:
            leader = leader_of(c, p, n, TOPIC)
            if leader in alive:
                return leader
        except OSError:
            pass
    return None


def wait_stopped(c, node):
    pid = c.pid(node)
    wait_for("node %d stopped" % node,
             lambda: pid is None or not os.path.exists("/proc/%d" % pid), 30)


def test_no_acknowledged_record_is_lost_through_failures():
    with Cluster(3) as c:
        ids = c.ids()
        out = run_brokerctl(c.addr(1), "topic", "create", TOPIC,
                            "--partitions", str(PARTS),
                            "--replication-factor", "3",
                            "--config", "min.insync.replicas=2")
        assert out.returncode == 0, out.stderr
        wait_for("replicas in sync", lambda: all(
            len(isr) == 3 for _, _, isr in partitions(c.port(1),
                                                      TOPIC).values()), 10)
        producer = subprocess.Popen(
            ["java", "-cp", CP, "brokerd.DataCheck", "produce-for",
             c.bootstrap(), TOPIC, str(SECONDS), str(RATE)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = GroupReader(c.bootstrap())
        try:
            assert producer.stdout.readline().strip() == "started"
            # 1. SIGKILL the leader of partition 0, then restart it.
            victim = leader_somewhere(c, 0, ids)
            c.kill(victim)
            alive = [i for i in ids if i != victim]
            wait_for("partition 0 led elsewhere",
                     lambda: leader_somewhere(c, 0, alive), 60)
            time.sleep(2)
            c.restart(victim)
            # Back in every ISR before the next fault: pausing a second
            # node while the first still catches up would leave the
            # metadata quorum, and the ISR, one node short.
            wait_for("node %d back in sync" % victim, lambda: all(
                victim in isr for _, _, isr in partitions(
                    c.port(victim), TOPIC).values()), 60)
            # 2. SIGSTOP the leader of partition 1 past its session.
            victim = leader_somewhere(c, 1, ids)
            os.kill(c.pid(victim), signal.SIGSTOP)
            try:
                alive = [i for i in ids if i != victim]
                wait_for("partition 1 led elsewhere",
                         lambda: leader_somewhere(c, 1, alive), 60)
                time.sleep(1)
            finally:
                os.kill(c.pid(victim), signal.SIGCONT)
            wait_for("every replica back in sync", lambda: all(
                len(isr) == 3 for _, _, isr in partitions(
                    c.port(victim), TOPIC).values()), 30)
            # 3. A rolling restart with controlled shutdown.
            for node in ids:
                c.kill(node, "TERM")
                wait_stopped(c, node)
                c.restart(node)
                wait_for("node %d back in sync" % node, lambda: all(
                    node in isr for _, _, isr in partitions(
                        c.port(node), TOPIC).values()), 30)
            out, _ = producer.communicate(timeout=SECONDS + 150)
        finally:
            if producer.poll() is None:
                producer.kill()
                producer.wait()
            reader.close()
        assert producer.returncode == 0, out
        produced = out.strip().splitlines()[-1]
        assert produced.startswith("produced "), out
        n = int(produced.split()[1])
        consumed = data_check("consume", c.bootstrap(), TOPIC, n, 120)
        assert consumed.startswith("consumed %d " % n), consumed
        assert consumed.split("partitions=")[1] == \
            produced.split("partitions=")[1]
        # What the group read during the failures agrees with the final
        # read: no offset ever held another record.
        final = {}
        for p in range(PARTS):
            data = run_brokerctl(c.addr(ids[0]), "consume", TOPIC, "-p",
                                 str(p), "-o", "beginning", "-c", "1000000",
                                 "-f", "%o %v\\n", timeout=60)
            assert data.returncode == 0, data.stderr
            for line in data.stdout.splitlines():
                off, v = line.split(" ", 1)
                final[(p, int(off))] = v.encode()
        assert reader.seen, "the group read nothing"
        for p, off, v in reader.seen:
            assert final.get((p, off)) == v, (p, off, v, final.get((p, off)))
        # Replicas agree byte for byte once healed.
        for p in range(PARTS):
            wait_for("replicas of partition %d identical" % p,
                     lambda: len({replica_log(c, i, p, TOPIC)
                                  for i in ids}) == 1, 30, interval=0.2)
