"""Leader elections on a real 3-node cluster (issue 13): kill -9 a
partition leader and a new leader comes from the ISR once its session
lapses (broker.session.timeout.ms 2 s here); a partition whose only
in-sync replica died stays offline until an unclean election (brokerctl
partition elect-leaders --type unclean); when the old leader is back and
in sync again, a preferred election (brokerctl, and Kafka's
kafka-leader-election.sh) moves leadership back to replicas[0]; and with
auto.leader.rebalance.enable the controller does it by itself.

The ISR is grown with AlterPartition as the leader would, since the
followers that will do it (issue 13's data path) are not part of this
test."""
import importlib.util
import os
import subprocess

import pytest

from cluster_util import Cluster, metadata as metadata_v1, wait_for
from harness import REPO, brokerctl_path
from replication_raw import (alter_partition, broker_epoch, create_topic,
                             metadata)

SETTLE = 20.0
INVALID_UPDATE_VERSION = 95


def led(c, node, topic, n):
    """{partition: state} once node shows all n partitions of topic."""
    def get():
        err, tid, parts = metadata(c.port(node), topic)
        return (tid, parts) if err == 0 and len(parts) == n else None
    return wait_for("%s on node %d" % (topic, node), get, SETTLE)


def controller(c, live):
    def get():
        seen = {metadata_v1(c.port(i))["controller"] for i in live}
        x = seen.pop() if len(seen) == 1 else -1
        return x if x in live else None
    return wait_for("an agreed live controller", get, SETTLE)


def epochs(c, ids):
    return {i: wait_for("node %d registered" % i,
                        lambda i=i: broker_epoch(c.log(i)), SETTLE)
            for i in ids}


def set_isr(c, live, tid, p, st, isr, epochs, pepoch):
    """AlterPartition from p's leader; the partition epoch is not in any
    client API, so it is found from pepoch upwards (INVALID_UPDATE_VERSION
    below the controller's). Returns the new partition epoch."""
    ctl = controller(c, live)
    for guess in range(pepoch, pepoch + 20):
        top, ans = alter_partition(c.port(ctl), st["leader"],
                                   epochs[st["leader"]], tid, p, st["epoch"],
                                   [(b, epochs[b]) for b in isr], guess)
        assert top == 0, top
        if ans["error"] != INVALID_UPDATE_VERSION:
            assert ans["error"] == 0, ans
            return ans["partition_epoch"]
    raise AssertionError("no partition epoch accepted")


def shows(c, nodes, topic, n, pred, what):
    for i in nodes:
        wait_for("node %d: %s" % (i, what),
                 lambda i=i: (lambda r: r if pred(r[1]) else None)(
                     led(c, i, topic, n)), SETTLE)
    return led(c, nodes[0], topic, n)[1]


def ctl(c, node, *args):
    r = subprocess.run([brokerctl_path(), "-b", c.addr(node), "partition",
                        "elect-leaders"] + list(args), capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def kafka_lib():
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.ensure_kafka()
    bench.write_tools_log4j()
    return bench.LIB, os.path.join(bench.DEPS, "tools-log4j2.properties")


def kafka_leader_election(kafka_lib, bootstrap, *args):
    lib, log4j = kafka_lib
    r = subprocess.run(["java", "-Dlog4j2.configurationFile=" + log4j,
                        "-cp", os.path.join(lib, "*"),
                        "org.apache.kafka.tools.LeaderElectionCommand",
                        "--bootstrap-server", bootstrap] + list(args),
                       capture_output=True, text=True, timeout=180)
    return r.returncode, r.stdout + r.stderr


def test_failover_unclean_and_preferred(kafka_lib):
    with Cluster(3) as c:
        run_failover(c, kafka_lib)


def run_failover(c, kafka_lib):
    ids = c.ids()
    assert ids == [1, 2, 3]
    assert create_topic(c.port(2), "fo", 0, 0,
                        assignment=[[1, 2, 3], [1, 3, 2]]) == 0
    assert create_topic(c.port(2), "solo", 0, 0,
                        assignment=[[1, 2]]) == 0
    tid, parts = led(c, 2, "fo", 2)
    ep = epochs(c, ids)
    pe = {}
    for p, reps in ((0, [1, 2, 3]), (1, [1, 3, 2])):
        assert parts[p]["leader"] == 1
        pe[p] = set_isr(c, ids, tid, p, parts[p], reps, ep, 0)
    shows(c, ids, "fo", 2, lambda ps: all(len(s["isr"]) == 3
                                          for s in ps.values()), "full ISR")
    old_epoch = parts[0]["epoch"]

    # kill -9 the leader: after its session lapses, leadership moves to
    # the next in-sync replica and it leaves the ISR.
    c.kill(1)
    live = [2, 3]
    parts = shows(c, live, "fo", 2, lambda ps: ps[0]["leader"] == 2 and
                  ps[1]["leader"] == 3 and
                  all(1 not in s["isr"] for s in ps.values()),
                  "new leaders from the ISR")
    assert parts[0]["epoch"] > old_epoch
    # "solo" had broker 1 alone in sync: offline, never led by 2 without
    # an unclean election.
    _, solo = led(c, 2, "solo", 1)
    assert solo[0]["leader"] == -1 and solo[0]["isr"] == [1]
    rc, out, err = ctl(c, 3, "--type", "preferred", "--topic", "solo")
    assert rc == 1 and "solo-0: PREFERRED_LEADER_NOT_AVAILABLE" in out, out
    rc, out, err = ctl(c, 3, "--type", "unclean", "--topic", "solo")
    assert rc == 0 and out == "solo-0: unclean leader elected\n", out + err
    shows(c, live, "solo", 1, lambda ps: ps[0]["leader"] == 2 and
          ps[0]["isr"] == [2], "unclean leader 2")
    rc, out, _ = ctl(c, 2, "--type", "unclean", "--topic", "solo",
                     "--partition", "0")
    assert rc == 0 and out.startswith("solo-0: ELECTION_NOT_NEEDED"), out

    # Broker 1 comes back under a new epoch; until it is in sync again a
    # preferred election cannot pick it.
    c.restart(1)
    wait_for("broker 1 registered again",
             lambda: broker_epoch(c.log(1)) not in (None, ep[1]), SETTLE)
    ep = epochs(c, ids)
    wait_for("broker 1 unfenced", lambda: 1 in metadata_v1(c.port(2))[
        "brokers"], SETTLE)
    rc, out, _ = ctl(c, 2, "--topic", "fo", "--partition", "0")
    assert rc == 1 and "fo-0: PREFERRED_LEADER_NOT_AVAILABLE" in out, out
    for p, reps in ((0, [2, 3, 1]), (1, [3, 2, 1])):
        set_isr(c, ids, tid, p, parts[p], reps, ep, pe[p] + 1)
    shows(c, ids, "fo", 2, lambda ps: all(1 in s["isr"]
                                          for s in ps.values()), "1 in sync")

    # Preferred elections: brokerctl for partition 0, Kafka's tool for the
    # rest; then nothing is left to do.
    rc, out, err = ctl(c, 3, "--topic", "fo", "--partition", "0")
    assert rc == 0 and out == "fo-0: preferred leader elected\n", out + err
    shows(c, ids, "fo", 2, lambda ps: ps[0]["leader"] == 1, "fo-0 led by 1")
    rc, out = kafka_leader_election(kafka_lib, c.addr(2), "--election-type",
                                    "PREFERRED", "--topic", "fo",
                                    "--partition", "1")
    assert rc == 0, out
    assert "Successfully completed leader election (PREFERRED) for " \
        "partitions fo-1" in out, out
    parts = shows(c, ids, "fo", 2, lambda ps: ps[1]["leader"] == 1,
                  "fo-1 led by 1")
    assert parts[1]["isr"] == [3, 2, 1]
    rc, out = kafka_leader_election(kafka_lib, c.addr(3), "--election-type",
                                    "PREFERRED", "--topic", "fo",
                                    "--partition", "1")
    assert rc == 0 and "Valid replica already elected for partitions fo-1" \
        in out, out
    # Every partition (the null list): only "solo" answers, its preferred
    # replica 1 being out of its ISR; Kafka's tool fails the same way.
    rc, out, _ = ctl(c, 1)
    assert rc == 1 and out.startswith(
        "solo-0: PREFERRED_LEADER_NOT_AVAILABLE: Failed to elect leader for "
        "partition solo-0") and out.count("\n") == 1, out
    rc, out = kafka_leader_election(kafka_lib, c.addr(1), "--election-type",
                                    "PREFERRED", "--all-topic-partitions")
    assert rc != 0 and "Error completing leader election (PREFERRED) for " \
        "partition: solo-0" in out and "fo-" not in out, out


def test_auto_leader_rebalance():
    with Cluster(3, extra=("--set", "leader.imbalance.check.interval.seconds=1",
                           "--set", "leader.imbalance.per.broker.percentage=0")
                 ) as c:
        ids = c.ids()
        assert create_topic(c.port(1), "bal", 0, 0,
                            assignment=[[3, 1, 2]]) == 0
        tid, parts = led(c, 1, "bal", 1)
        ep = epochs(c, ids)
        set_isr(c, ids, tid, 0, parts[0], [3, 1, 2], ep, 0)
        c.kill(3)
        shows(c, [1, 2], "bal", 1, lambda ps: ps[0]["leader"] == 1,
              "failed over to 1")
        c.restart(3)
        wait_for("broker 3 registered again",
                 lambda: broker_epoch(c.log(3)) not in (None, ep[3]), SETTLE)
        ep = epochs(c, ids)
        _, parts = led(c, 1, "bal", 1)
        set_isr(c, ids, tid, 0, parts[0], [1, 2, 3], ep, 2)
        # No election asked: the controller's check moves it back.
        shows(c, ids, "bal", 1, lambda ps: ps[0]["leader"] == 3,
              "leadership back on 3")
