"""Partition reassignment on a real 3-node cluster (issue 13, KIP-455).

A partition of replication factor 2 moves from brokers {1, 2} to {2, 3}
with Kafka 4.1's kafka-reassign-partitions.sh --execute while an
idempotent acks=all producer writes to it: broker 3 opens the new replica
and fetches, the leader brings it into the ISR, the controller completes
the move (replicas [2, 3], leadership away from the removed broker 1),
broker 1 closes its replica and deletes its directory, and --verify says
the reassignment is complete. The checker of test_replication.py then
finds every acknowledged record at its offset, and the two replicas'
logs are byte-identical. A reassignment to a broker that is down stays
in progress (brokerctl partition reassignments, topic describe) until
brokerctl partition reassign --cancel (or kafka-reassign-partitions.sh
--cancel) puts the original replicas back.
kafka-log-dirs.sh --describe sees each broker's replicas with their
sizes on disk (DescribeLogDirs, answered by each broker for itself)."""
import importlib.util
import json
import os
import subprocess
import tempfile
import threading

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_util import Cluster, wait_for
from harness import REPO, run_brokerctl
from replication_raw import assert_clean_logs
from test_replication import partitions, problems, replica_log

TOPIC = "moved"


@pytest.fixture(scope="module")
def kafka_lib():
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.ensure_kafka()
    bench.write_tools_log4j()
    return bench.LIB, os.path.join(bench.DEPS, "tools-log4j2.properties")


def reassign_tool(kafka_lib, bootstrap, plan, *args):
    lib, log4j = kafka_lib
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(plan, f)
        f.flush()
        r = subprocess.run(
            ["java", "-Dlog4j2.configurationFile=" + log4j,
             "-cp", os.path.join(lib, "*"),
             "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
             "--bootstrap-server", bootstrap,
             "--reassignment-json-file", f.name] + list(args),
            capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def log_dirs_tool(kafka_lib, bootstrap):
    """kafka-log-dirs.sh --describe: the JSON line of its answer."""
    lib, log4j = kafka_lib
    r = subprocess.run(["java", "-Dlog4j2.configurationFile=" + log4j,
                        "-cp", os.path.join(lib, "*"),
                        "org.apache.kafka.tools.LogDirsCommand",
                        "--bootstrap-server", bootstrap, "--describe"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return [l for l in r.stdout.splitlines() if l.startswith("{")][0]


def create(c, topic, replicas):
    admin = AdminClient({"bootstrap.servers": c.addr(1)})
    fut = admin.create_topics([NewTopic(topic, num_partitions=1,
                                        replication_factor=-1,
                                        replica_assignment=[replicas])])
    fut[topic].result(20)
    wait_for("both in sync", lambda: sorted(partitions(c.port(1), topic).get(
        0, (0, 0, []))[2]) == sorted(replicas), 15)


class Load:
    """An idempotent acks=all producer to partition 0 of TOPIC."""

    def __init__(self, bootstrap):
        self.acked, self.failed = [], []
        self.stop = threading.Event()
        self.p = Producer({"bootstrap.servers": bootstrap,
                           "enable.idempotence": True, "acks": "all",
                           "linger.ms": 5, "message.timeout.ms": 60000,
                           "topic.metadata.refresh.interval.ms": 1000})
        self.t = threading.Thread(target=self.run, daemon=True)

    def report(self, err, msg):
        if err is not None:
            self.failed.append((msg.value(), str(err)))
        else:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.p.produce(TOPIC, b"v%07d" % i, partition=0,
                               on_delivery=self.report)
                i += 1
            except BufferError:
                pass
            self.p.poll(0.002)
        assert self.p.flush(60) == 0

    def finish(self):
        self.stop.set()
        self.t.join(90)
        assert not self.t.is_alive()


def read_partition(c, node, topic):
    out = run_brokerctl(c.addr(node), "consume", topic, "-p", "0", "-o",
                        "beginning", "-f", "%o %v\\n", timeout=60)
    assert out.returncode == 0, out.stderr
    recs = []
    for line in out.stdout.splitlines():
        off, v = line.split(" ", 1)
        recs.append((int(off), v.encode()))
    return {0: recs}


def dirs_of(c, node, topic):
    d = os.path.join(c.node_dir(node), "data")
    return [n for n in os.listdir(d) if n.startswith(topic + "-0")]


def test_move_under_load(kafka_lib):
    with Cluster(3) as c:
        create(c, TOPIC, [1, 2])
        plan = {"version": 1, "partitions": [
            {"topic": TOPIC, "partition": 0, "replicas": [2, 3]}]}
        load = Load(c.bootstrap())
        load.t.start()
        try:
            wait_for("records acknowledged", lambda: len(load.acked) > 500, 30)
            out = reassign_tool(kafka_lib, c.bootstrap(), plan, "--execute")
            assert "Successfully started partition reassignment" in out, out
            wait_for("the move complete", lambda: partitions(
                c.port(3), TOPIC).get(0, (0, [], []))[1:] == ([2, 3], [2, 3])
                or None, 30)
            n = len(load.acked)
            wait_for("acks after the move", lambda: len(load.acked) > n + 500,
                     30)
            load.finish()
        finally:
            load.stop.set()
        assert not load.failed, load.failed[:5]
        leader = partitions(c.port(1), TOPIC)[0][0]
        assert leader in (2, 3)
        found = problems(load.acked, read_partition(c, leader, TOPIC))
        assert not found, found[:10]
        wait_for("replicas on 2 and 3 identical", lambda: replica_log(
            c, 2, 0, TOPIC) == replica_log(c, 3, 0, TOPIC), 30, interval=0.2)
        wait_for("broker 1's directory gone",
                 lambda: dirs_of(c, 1, TOPIC) == [], 15)
        out = reassign_tool(kafka_lib, c.bootstrap(), plan, "--verify")
        assert "Reassignment of partition %s-0 is completed" % TOPIC in out, \
            out
        listed = run_brokerctl(c.addr(2), "partition", "reassignments")
        assert listed.returncode == 0 and listed.stdout == "", listed
        # DescribeLogDirs: each broker answers for its own replicas, with
        # their size on disk; none is left on broker 1.
        def sizes():
            out = json.loads(log_dirs_tool(kafka_lib, c.bootstrap()))
            got = {}
            for b in out["brokers"]:
                (d,) = b["logDirs"]
                assert d["error"] is None and d["logDir"].startswith(
                    c.node_dir(b["broker"])), d
                for p in d["partitions"]:
                    if p["partition"] == TOPIC + "-0":
                        assert not p["isFuture"]
                        got[b["broker"]] = (p["size"], p["offsetLag"])
            want = {n: (len(replica_log(c, n, 0, TOPIC)), 0) for n in (2, 3)}
            return got if got == want else None
        wait_for("log dirs with the replicas' sizes", sizes, 15, interval=0.5)
        assert_clean_logs(c)


def test_cancel(kafka_lib):
    with Cluster(3) as c:
        create(c, TOPIC, [1, 2])
        c.kill(3)
        # Broker 3 is registered but down: the move cannot complete.
        out = run_brokerctl(c.addr(1), "partition", "reassign", "--topic",
                            TOPIC, "--partition", "0", "--replicas", "1,3")
        assert out.returncode == 0, out.stderr
        listed = run_brokerctl(c.addr(2), "--json", "partition",
                               "reassignments")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["reassignments"] == [{
            "topic": TOPIC, "partition": 0, "replicas": [1, 3, 2],
            "adding": [3], "removing": [2]}]
        # Metadata comes from node 1's image, which may lag a moment.
        desc = wait_for("node 1 sees the reassignment", lambda: (
            lambda d: d if "Replicas: 1,3,2" in d.stdout else None)(
                run_brokerctl(c.addr(1), "topic", "describe", TOPIC)), 10)
        assert "\tAdding Replicas: 3\tRemoving Replicas: 2" in desc.stdout, \
            desc.stdout
        assert "UnderReplicated: true" in desc.stdout, desc.stdout
        out = run_brokerctl(c.addr(2), "partition", "reassign", "--topic",
                            TOPIC, "--partition", "0", "--cancel")
        assert out.returncode == 0, out.stderr
        wait_for("the original replicas", lambda: partitions(
            c.port(1), TOPIC).get(0, (0, [], []))[1] == [1, 2], 10)
        listed = run_brokerctl(c.addr(1), "partition", "reassignments")
        assert listed.stdout == "", listed.stdout
        again = run_brokerctl(c.addr(1), "partition", "reassign", "--topic",
                              TOPIC, "--partition", "0", "--cancel")
        assert again.returncode == 1
        assert "NO_REASSIGNMENT_IN_PROGRESS" in again.stderr, again.stderr
        bad = run_brokerctl(c.addr(1), "partition", "reassign", "--topic",
                            TOPIC, "--partition", "0", "--replicas", "1,1")
        assert bad.returncode == 1
        assert "INVALID_REPLICA_ASSIGNMENT" in bad.stderr, bad.stderr
        # Kafka's tool cancels too (its --execute refuses a dead broker).
        out = run_brokerctl(c.addr(1), "partition", "reassign", "--topic",
                            TOPIC, "--partition", "0", "--replicas", "1,3")
        assert out.returncode == 0, out.stderr
        plan = {"version": 1, "partitions": [
            {"topic": TOPIC, "partition": 0, "replicas": [1, 3]}]}
        # Broker 3 is down: its throttles cannot be cleared (nor on Kafka).
        out = reassign_tool(kafka_lib, c.bootstrap(), plan, "--cancel",
                            "--preserve-throttles")
        assert "Successfully cancelled partition reassignment for: %s-0" % \
            TOPIC in out, out
        wait_for("the original replicas again", lambda: partitions(
            c.port(1), TOPIC).get(0, (0, [], []))[1] == [1, 2], 10)
        assert_clean_logs(c)
