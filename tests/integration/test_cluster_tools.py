"""Tools against a real 3-node combined cluster (issue 12): DescribeQuorum
(raw, and through Kafka 4.1's kafka-metadata-quorum.sh), brokerctl cluster
info (text and --json, with a broker fenced after kill -9), and brokerctl
produce/consume over partitions led by different brokers.

The cluster is started here by a small local helper on top of
harness.Broker: every node is a controller and a broker, formatted with
one cluster id, with short broker sessions so that fencing is quick."""
import json
import importlib.util
import os
import struct
import subprocess
import time

import pytest

from harness import (REPO, Broker, brokerctl_path, brokerd_path, connect,
                     free_port, read_uvarint, recv_frame, request, uvarint,
                     wait_port)

N = 3
SESSION_MS = 2000
METADATA_TOPIC = "__cluster_metadata"


class LocalCluster:
    """N combined nodes on 127.0.0.1, each a harness.Broker."""

    def __init__(self, n=N):
        raft_ports = [free_port() for _ in range(n)]
        voters = ",".join("%d@127.0.0.1:%d" % (i + 1, p)
                          for i, p in enumerate(raft_ports))
        cid = subprocess.run([brokerd_path(), "random-uuid"],
                             capture_output=True, text=True,
                             check=True).stdout.strip()
        self.nodes = []
        for i in range(n):
            b = Broker({"node.id": str(i + 1),
                        "controller.quorum.voters": voters,
                        "num.shards": "1",
                        "broker.session.timeout.ms": str(SESSION_MS),
                        "broker.heartbeat.interval.ms": "200"})
            r = subprocess.run([brokerd_path(), "format", "-c", b.conf,
                                "--cluster-id", cid],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
            self.nodes.append(b)

    def start(self):
        # A quorum needs a majority up: start all before waiting for any.
        for b in self.nodes:
            b.start(wait=False)
        for b in self.nodes:
            if not (wait_port(b.port, 30, b.proc) and b.wait_replicas(30)):
                out = b.output()
                self.cleanup()
                raise RuntimeError("node did not start:\n" + out)
        return self

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def cleanup(self):
        for b in self.nodes:
            b.cleanup()


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster().start()
    try:
        yield c
    finally:
        c.cleanup()


def ctl(*args, timeout=60):
    return subprocess.run([brokerctl_path()] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.2)


# --- DescribeQuorum on the wire -----------------------------------------

def cstr(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def quorum_request(topic=METADATA_TOPIC, partition=0):
    """DescribeQuorum v2 body: one topic, one partition."""
    return (uvarint(2) + cstr(topic) + uvarint(2) +
            struct.pack(">i", partition) + b"\x00" + b"\x00" + b"\x00")


class Reader:
    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def fmt(self, f):
        v = struct.unpack_from(f, self.buf, self.pos)
        self.pos += struct.calcsize(f)
        return v[0]

    def uv(self):
        v, self.pos = read_uvarint(self.buf, self.pos)
        return v

    def cstr(self):
        n = self.uv()
        if n == 0:
            return None
        s = self.buf[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def tags(self):
        for _ in range(self.uv()):
            self.uv()
            self.pos += self.uv()

    def array(self, item):
        n = self.uv()
        return None if n == 0 else [item() for _ in range(n - 1)]


def parse_quorum_v2(frame):
    r = Reader(frame)
    r.fmt(">i")  # correlation id
    r.tags()     # response header v1

    def replica():
        d = {"id": r.fmt(">i"), "dir": r.buf[r.pos:r.pos + 16]}
        r.pos += 16
        d["leo"] = r.fmt(">q")
        d["last_fetch"] = r.fmt(">q")
        d["caught_up"] = r.fmt(">q")
        r.tags()
        return d

    def partition():
        d = {"index": r.fmt(">i"), "error": r.fmt(">h"), "msg": r.cstr(),
             "leader": r.fmt(">i"), "epoch": r.fmt(">i"), "hw": r.fmt(">q"),
             "voters": r.array(replica), "observers": r.array(replica)}
        r.tags()
        return d

    def topic():
        d = {"name": r.cstr(), "partitions": r.array(partition)}
        r.tags()
        return d

    def listener():
        d = (r.cstr(), r.cstr(), r.fmt(">H"))
        r.tags()
        return d

    def node():
        d = {"id": r.fmt(">i"), "listeners": r.array(listener)}
        r.tags()
        return d

    out = {"error": r.fmt(">h"), "msg": r.cstr(), "topics": r.array(topic),
           "nodes": r.array(node)}
    r.tags()
    assert r.pos == len(frame)
    return out


def describe_quorum(b, body=None):
    with connect(b.port) as s:
        s.sendall(request(55, 2, 5, body or quorum_request(), flexible=True))
        return parse_quorum_v2(recv_frame(s))


def test_describe_quorum_raw_from_every_node(cluster):
    answers = [describe_quorum(b) for b in cluster.nodes]
    leaders = {a["topics"][0]["partitions"][0]["leader"] for a in answers}
    # Followers forward to the active controller: one view everywhere.
    assert len(leaders) == 1
    leader = leaders.pop()
    assert leader in (1, 2, 3)
    for a in answers:
        assert a["error"] == 0 and a["msg"] is None
        (t,) = a["topics"]
        assert t["name"] == METADATA_TOPIC
        (p,) = t["partitions"]
        # Bootstrapped at term 1; the first election raised it (the raft
        # io's set_term is how the term is known).
        assert p["index"] == 0 and p["error"] == 0 and p["epoch"] >= 2
        assert p["hw"] > 0
        assert sorted(v["id"] for v in p["voters"]) == [1, 2, 3]
        assert p["observers"] == []
        assert all(v["dir"] == b"\0" * 16 for v in p["voters"])
        (me,) = [v for v in p["voters"] if v["id"] == leader]
        assert me["leo"] == p["hw"] and me["last_fetch"] == -1
        assert me["caught_up"] > 0
        assert sorted(n["id"] for n in a["nodes"]) == [1, 2, 3]
        for n in a["nodes"]:
            (l,) = n["listeners"]
            assert l == ("CONTROLLER", "127.0.0.1",
                         cluster.node(n["id"]).port)

    # Every voter heartbeats its offset: all caught up shortly.
    def caught_up():
        p = describe_quorum(cluster.node(1))["topics"][0]["partitions"][0]
        return all(v["leo"] == p["hw"] and v["caught_up"] > 0
                   for v in p["voters"])
    wait_for(caught_up, 10, "every voter caught up")


def test_describe_quorum_other_partition_is_unknown(cluster):
    a = describe_quorum(cluster.node(2), quorum_request("orders", 0))
    (p,) = a["topics"][0]["partitions"]
    assert p["error"] == 3  # UNKNOWN_TOPIC_OR_PARTITION
    a = describe_quorum(cluster.node(2), quorum_request(METADATA_TOPIC, 1))
    assert a["topics"][0]["partitions"][0]["error"] == 3


# --- kafka-metadata-quorum.sh --------------------------------------------

@pytest.fixture(scope="module")
def kafka_lib():
    # scripts/bench.py is the project's own module (Kafka's jars from
    # Maven Central), loaded by path: no package installs it.
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.ensure_kafka()
    bench.write_tools_log4j()
    return bench.LIB, os.path.join(bench.DEPS, "tools-log4j2.properties")


def metadata_quorum(kafka_lib, b, what):
    lib, log4j = kafka_lib
    r = subprocess.run(["java", "-Dlog4j2.configurationFile=" + log4j,
                        "-cp", os.path.join(lib, "*"),
                        "org.apache.kafka.tools.MetadataQuorumCommand",
                        "--bootstrap-server", b.bootstrap, "describe", what],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_kafka_metadata_quorum_tool(cluster, kafka_lib):
    out = metadata_quorum(kafka_lib, cluster.node(3), "--status")
    status = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        status[k.strip()] = v.strip()
    leader = int(status["LeaderId"])
    assert leader in (1, 2, 3)
    assert int(status["LeaderEpoch"]) >= 1 and int(status["HighWatermark"]) > 0
    voters = json.loads(status["CurrentVoters"])
    assert sorted(v["id"] for v in voters) == [1, 2, 3]
    assert json.loads(status["CurrentObservers"]) == []

    def replication():
        rows = [l.split() for l in metadata_quorum(
            kafka_lib, cluster.node(1), "--replication").splitlines()[1:]]
        return rows if all(r[3] == "0" for r in rows) else None
    rows = wait_for(replication, 60, "lag 0 in kafka-metadata-quorum.sh")
    assert sorted(int(r[0]) for r in rows) == [1, 2, 3]
    assert [r[-1] for r in rows if int(r[0]) == leader] == ["Leader"]
    assert sorted(r[-1] for r in rows) == ["Follower", "Follower", "Leader"]


# --- brokerctl produce / consume over three leaders ----------------------

def test_produce_consume_routes_to_leaders(cluster):
    boot = cluster.node(1).bootstrap
    r = ctl("-b", boot, "topic", "create", "spread", "--partitions", "6")
    assert r.returncode == 0, r.stderr
    # The creation reaches this node's image a moment after the controller
    # answered (metadata propagates, as in Kafka).
    def described():
        r = ctl("-b", boot, "topic", "describe", "spread")
        return r if r.returncode == 0 else None
    r = wait_for(described, 10, "the topic on the bootstrap node")
    leaders = {int(l.split("Leader:")[1].split()[0])
               for l in r.stdout.splitlines() if "Leader:" in l}
    assert leaders == {1, 2, 3}
    lines = ["k%d\tv%d" % (i, i) for i in range(600)]
    r = subprocess.run([brokerctl_path(), "-b", boot, "produce", "spread",
                        "-K", "\t"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # Through another node: every record, from every partition.
    r = ctl("-b", cluster.node(2).bootstrap, "consume", "spread",
            "-f", "%p %k %v\\n")
    assert r.returncode == 0, r.stderr
    got = [l.split(" ") for l in r.stdout.splitlines()]
    assert sorted("%s\t%s" % (k, v) for _, k, v in got) == sorted(lines)
    assert {int(p) for p, _, _ in got} == set(range(6))
    r = ctl("-b", cluster.node(3).bootstrap, "consume", "spread", "-p", "4",
            "-o", "end")
    assert r.returncode == 0 and r.stdout == "", r.stderr


# --- brokerctl cluster info, then a broker fenced ------------------------

def info_json(b):
    r = ctl("-b", b.bootstrap, "cluster", "info", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_cluster_info_and_a_fenced_broker(cluster):
    r = ctl("-b", cluster.node(2).bootstrap, "cluster", "info")
    assert r.returncode == 0, r.stderr
    for b in cluster.nodes:
        assert "127.0.0.1:%d" % b.port in r.stdout
    assert r.stdout.count(" active\n") == 3
    assert "Quorum:" in r.stdout and "API versions" in r.stdout
    doc = info_json(cluster.node(1))
    meta = open(cluster.node(1).data_dir + "/meta.properties").read()
    assert "cluster.id=" + doc["cluster_id"] in meta
    assert [b["node_id"] for b in doc["brokers"]] == [1, 2, 3]
    assert all(b["state"] == "active" for b in doc["brokers"])
    q = doc["quorum"]
    assert q["leader_id"] == doc["controller_id"]
    assert sorted(v["id"] for v in q["voters"]) == [1, 2, 3]

    victim = next(i for i in (1, 2, 3) if i != q["leader_id"])
    cluster.node(victim).kill()

    def fenced():
        d = info_json(cluster.node(q["leader_id"]))
        states = {b["node_id"]: b["state"] for b in d["brokers"]}
        return d if states[victim] == "fenced" else None
    doc = wait_for(fenced, 5 * SESSION_MS / 1000, "the killed broker fenced")
    assert sum(b["state"] == "active" for b in doc["brokers"]) == 2
    # Its offset no longer moves while the others' do.
    (dead,) = [v for v in doc["quorum"]["voters"] if v["id"] == victim]
    assert dead["lag"] is not None and dead["lag"] > 0
    r = ctl("-b", cluster.node(q["leader_id"]).bootstrap, "cluster", "info")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" fenced\n") == 1
