"""Adding and removing a controller, one change at a time (issue 12).

A running 3-node cluster (scripts/cluster) gets a fourth controller that was
formatted with --no-initial-controllers: brokerctl quorum add-controller
makes it a voter once it has caught up, DescribeQuorum then lists four
voters, and it counts: after one old voter is removed and another killed,
the leader and the new voter are the majority that commits. Bad requests
get one line. Everything on 127.0.0.1, bounded in time."""
import json
import os
import subprocess

from cluster_util import Cluster
from harness import (Broker, brokerd_path, free_port, run_brokerctl,
                     wait_port, wait_until)


def quorum(c, node):
    res = run_brokerctl(c.addr(node), "cluster", "info", "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["quorum"]


def voters(c, node):
    return sorted(v["id"] for v in quorum(c, node)["voters"])


def joiner(c, raft_port):
    """Node 4: a controller (and broker) for the running cluster, formatted
    to join it: its voters list the cluster's voters and itself."""
    st = c.state()
    voters_text = ",".join("%d@127.0.0.1:%d" % (n["id"], n["raft_port"])
                           for n in st["nodes"])
    voters_text += ",4@127.0.0.1:%d" % raft_port
    b = Broker(extra={
        "node.id": "4",
        "controller.quorum.voters": voters_text,
        "controller.quorum.election.timeout.ms": "500",
        "broker.session.timeout.ms": "2000",
        "broker.heartbeat.interval.ms": "200",
        "num.shards": "1",
    })
    res = subprocess.run([brokerd_path(), "format", "-c", b.conf,
                          "--cluster-id", st["cluster_id"],
                          "--no-initial-controllers"],
                         capture_output=True, text=True, timeout=15)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(b.data_dir, "meta.properties")) as f:
        meta = f.read()
    assert "brokerd.join.quorum=true" in meta
    assert "controller.quorum.voters" not in meta
    return b


def test_add_and_remove_a_controller():
    with Cluster(3) as c:
        raft = free_port()
        b = joiner(c, raft)
        try:
            # Until it is added it has no metadata (it is nobody's peer
            # yet), so its broker side cannot register: it is not started.
            b.start(wait=False)
            assert wait_port(b.port, 15, b.proc), b.output()
            assert voters(c, 1) == [1, 2, 3]
            res = run_brokerctl(c.addr(2), "quorum", "add-controller", "4",
                                "127.0.0.1:%d" % raft, timeout=60)
            assert res.returncode == 0, res.stdout + res.stderr
            assert "is a voter" in res.stdout
            assert b.wait_replicas(30), b.output()
            wait_until(lambda: voters(c, 3) == [1, 2, 3, 4], "four voters")
            # The same change again: refused, one line, exit 1.
            res = run_brokerctl(c.addr(1), "quorum", "add-controller", "4",
                                "127.0.0.1:%d" % raft, timeout=60)
            assert res.returncode == 1
            assert "DUPLICATE_VOTER" in res.stderr
            assert len(res.stderr.strip().splitlines()) == 1

            # One old voter leaves, another dies: the leader and node 4
            # are a majority of the three voters left.
            leader = wait_until(lambda: quorum(c, 1)["leader_id"], "a leader")
            others = [i for i in (1, 2, 3) if i != leader]
            res = run_brokerctl(c.addr(leader), "quorum", "remove-controller",
                                str(others[0]), timeout=60)
            assert res.returncode == 0, res.stderr
            wait_until(lambda: voters(c, leader) == sorted(
                [leader, others[1], 4]), "three voters")
            res = run_brokerctl(c.addr(leader), "quorum", "remove-controller",
                                str(others[0]))
            assert res.returncode == 1 and "VOTER_NOT_FOUND" in res.stderr
            res = run_brokerctl(c.addr(leader), "quorum", "remove-controller",
                                str(leader))
            assert res.returncode == 1 and "INVALID_REQUEST" in res.stderr
            c.kill(others[0])
            c.kill(others[1])
            res = run_brokerctl(b.bootstrap, "topic", "create", "after",
                                timeout=60)
            assert res.returncode == 0, res.stderr
            wait_until(lambda: "after" in run_brokerctl(
                c.addr(leader), "topic", "list").stdout,
                "the leader to list the topic")

            # Node 4 restarts: it joined, so it bootstraps nothing of its
            # own and finds the quorum again.
            b.stop()
            b.log.close()
            b.start(wait=False)
            assert wait_port(b.port, 15, b.proc) and b.wait_replicas(30), \
                b.output()
            res = run_brokerctl(b.bootstrap, "topic", "create", "after-restart",
                                timeout=60)
            assert res.returncode == 0, res.stderr
        finally:
            if b.alive():
                b.stop()
            b.cleanup()


def test_bad_quorum_commands():
    with Cluster(1) as c:
        for args, needle in (
                (["quorum", "add-controller", "x", "h:1"], "not a node id"),
                (["quorum", "add-controller", "4", "nohost"], "HOST:PORT"),
                (["quorum", "remove-controller"], "usage"),
                (["quorum", "frob", "1"], "usage")):
            res = run_brokerctl(c.addr(1), *args)
            assert res.returncode != 0
            assert needle in res.stderr, (args, res.stderr)
            assert len(res.stderr.strip().splitlines()) == 1
