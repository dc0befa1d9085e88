"""Leader elections on a real 3-node cluster (issue 13): kill -9 a
partition leader and a new leader comes from the ISR once its session
lapses (broker.session.timeout.ms 2 s here); a partition whose only
in-sync replica died stays offline until an unclean election (brokerctl
partition elect-leaders --type unclean); when the old leader is back and
in sync again, a preferred election (brokerctl, and Kafka's
kafka-leader-election.sh) moves leadership back to replicas[0]; and with
auto.leader.rebalance.enable the controller does it by itself.

A restarted broker is back in the ISR once it has caught up (the data
path); where nothing does that (a build of the controller side alone)
the test puts it back with AlterPartition, as the leader would."""
import importlib.util
import os
import subprocess

import pytest

from cluster_util import Cluster, metadata as metadata_v1, wait_for
from harness import REPO, brokerctl_path
from replication_raw import (alter_partition, assert_clean_logs,
                             broker_epoch, create_topic, metadata)

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


def set_isr(c, live, tid, p, st, isr, epochs):
    """AlterPartition from p's leader (st: its Metadata state). The
    partition epoch is in no client API, so it is found from 0 upwards
    (INVALID_UPDATE_VERSION below the controller's). The ISR asked may
    already be there (the leader's own followers may have got it in sync
    first): then nothing changes."""
    ctl = controller(c, live)
    for guess in range(0, 60):
        top, ans = alter_partition(c.port(ctl), st["leader"],
                                   epochs[st["leader"]], tid, p, st["epoch"],
                                   [(b, epochs[b]) for b in isr], guess)
        assert top == 0, top
        if ans["error"] != INVALID_UPDATE_VERSION:
            assert ans["error"] == 0, ans
            return ans["partition_epoch"]
    raise AssertionError("no partition epoch accepted")


def ensure_isr(c, topic, n, p, members, epochs_of):
    """Waits for partition p's ISR to hold members, as the leader's
    followers make it when they catch up (issue 13's data path); without
    them (a controller-only build), puts them in with AlterPartition as
    the leader would. epochs_of() gives the brokers' epochs."""
    want = sorted(members)
    nodes = [i for i in c.ids() if i in members]

    def ok():
        _, parts = led(c, nodes[0], topic, n)
        return parts if sorted(parts[p]["isr"]) == want else None
    try:
        return wait_for("%s-%d in sync on %s" % (topic, p, want), ok, 5.0)
    except AssertionError:
        tid, parts = led(c, nodes[0], topic, n)
        isr = parts[p]["isr"] + [b for b in parts[p]["replicas"]
                                 if b in want and b not in parts[p]["isr"]]
        set_isr(c, nodes, tid, p, parts[p], isr, epochs_of())
        return wait_for("%s-%d in sync on %s" % (topic, p, want), ok, SETTLE)


def replicas_opened(c, topic, p, brokers):
    """Waits (5 s at most) until each broker holds its replica's directory,
    so that a broker killed next has its replica when it comes back. A
    build of the controller side alone opens replicas on first use: none
    appear, and the test goes on after the 5 s."""
    def dirs():
        return [os.path.isdir(os.path.join(c.node_dir(b), "data",
                                           "%s-%d" % (topic, p)))
                for b in brokers]
    try:
        wait_for("replicas of %s-%d opened" % (topic, p),
                 lambda: all(dirs()), 5.0)
    except AssertionError:
        pass


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


def test_failover_and_preferred(kafka_lib):
    with Cluster(3) as c:
        run_failover(c, kafka_lib)
        assert_clean_logs(c)


def test_unclean_election():
    # Two brokers die here: node 4 is a broker only, so that the three
    # controllers keep their quorum with one of them down.
    with Cluster(4, extra=("--controllers", "3")) as c:
        run_unclean(c)
        assert_clean_logs(c)


def in_sync(c, nodes, topic, n, broker):
    return shows(c, nodes, topic, n, lambda ps: all(
        broker in s["isr"] for s in ps.values()), "%d in sync" % broker)


def restarted(c, node, old):
    c.restart(node)
    wait_for("broker %d registered again" % node,
             lambda: broker_epoch(c.log(node)) not in (None, old), SETTLE)
    wait_for("broker %d unfenced" % node, lambda: node in metadata_v1(
        c.port(node))["brokers"], SETTLE)
    return epochs(c, c.ids())


def run_failover(c, kafka_lib):
    ids = c.ids()
    assert ids == [1, 2, 3]
    reps = {0: [1, 2, 3], 1: [1, 3, 2]}
    assert create_topic(c.port(2), "fo", 0, 0,
                        assignment=[reps[0], reps[1]]) == 0
    tid, parts = led(c, 2, "fo", 2)
    ep = epochs(c, ids)
    for p in (0, 1):
        assert parts[p]["leader"] == 1
        replicas_opened(c, "fo", p, ids)
        ensure_isr(c, "fo", 2, p, ids, lambda: ep)
    shows(c, ids, "fo", 2, lambda ps: all(len(s["isr"]) == 3
                                          for s in ps.values()), "full ISR")
    old_epoch = parts[0]["epoch"]

    # kill -9 the leader: after its session lapses, leadership moves to
    # the next in-sync replica and it leaves the ISR.
    c.kill(1)
    parts = shows(c, [2, 3], "fo", 2, lambda ps: ps[0]["leader"] == 2 and
                  ps[1]["leader"] == 3 and
                  all(1 not in s["isr"] for s in ps.values()),
                  "new leaders from the ISR")
    assert parts[0]["epoch"] > old_epoch

    # Broker 1 comes back under a new epoch and gets back in sync.
    ep = restarted(c, 1, ep[1])
    for p in (0, 1):
        ensure_isr(c, "fo", 2, p, ids, lambda: ep)
    in_sync(c, ids, "fo", 2, 1)

    # Preferred elections: brokerctl for partition 0, Kafka's tool for
    # partition 1; then nothing is left to do anywhere.
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
    assert sorted(parts[1]["isr"]) == [1, 2, 3]
    rc, out = kafka_leader_election(kafka_lib, c.addr(3), "--election-type",
                                    "PREFERRED", "--topic", "fo",
                                    "--partition", "1")
    assert rc == 0 and "Valid replica already elected for partitions fo-1" \
        in out, out
    rc, out, _ = ctl(c, 1)  # every partition: none needed an election
    assert rc == 0 and out == "", out
    rc, out, _ = ctl(c, 2, "--topic", "fo")
    assert rc == 0 and out.count("ELECTION_NOT_NEEDED") == 2, out


def run_unclean(c):
    """A partition whose only in-sync replica died stays offline: neither
    a preferred election nor broker 2's return gives it a leader, until an
    unclean election makes 2 its leader, alone in the ISR. With ELR on (a
    new cluster, KIP-966) the ISR empties when 4 dies and 4 becomes its
    eligible leader replica; 2, out of the ISR before, is not eligible."""
    ids = c.ids()
    assert create_topic(c.port(1), "solo", 0, 0, assignment=[[4, 2]]) == 0
    led(c, 1, "solo", 1)
    replicas_opened(c, "solo", 0, [4, 2])
    ep = epochs(c, ids)
    c.kill(2)  # fenced: 4 alone in the ISR
    shows(c, [1, 3], "solo", 1, lambda ps: ps[0]["isr"] == [4],
          "solo in sync on 4 alone")
    c.kill(4)
    shows(c, [1, 3], "solo", 1, lambda ps: ps[0]["leader"] == -1 and
          ps[0]["isr"] == [], "solo offline")
    restarted(c, 2, ep[2])
    _, solo = led(c, 3, "solo", 1)
    assert solo[0]["leader"] == -1 and solo[0]["isr"] == [], solo
    rc, out, _ = ctl(c, 3, "--topic", "solo")
    assert rc == 1 and out.startswith(
        "solo-0: PREFERRED_LEADER_NOT_AVAILABLE: Failed to elect leader for "
        "partition solo-0"), out
    rc, out, err = ctl(c, 2, "--type", "unclean", "--topic", "solo")
    assert rc == 0 and out == "solo-0: unclean leader elected\n", out + err
    shows(c, [1, 2, 3], "solo", 1, lambda ps: ps[0]["leader"] == 2 and
          ps[0]["isr"] == [2], "unclean leader 2")
    rc, out, _ = ctl(c, 3, "--type", "unclean", "--topic", "solo",
                     "--partition", "0")
    assert rc == 0 and out.startswith("solo-0: ELECTION_NOT_NEEDED"), out


def test_auto_leader_rebalance():
    with Cluster(3, extra=("--set", "leader.imbalance.check.interval.seconds=1",
                           "--set", "leader.imbalance.per.broker.percentage=0")
                 ) as c:
        ids = c.ids()
        assert create_topic(c.port(1), "bal", 0, 0,
                            assignment=[[3, 1, 2]]) == 0
        tid, parts = led(c, 1, "bal", 1)
        replicas_opened(c, "bal", 0, ids)
        ep = epochs(c, ids)
        ensure_isr(c, "bal", 1, 0, ids, lambda: ep)
        c.kill(3)
        shows(c, [1, 2], "bal", 1, lambda ps: ps[0]["leader"] == 1,
              "failed over to 1")
        ep = restarted(c, 3, ep[3])
        ensure_isr(c, "bal", 1, 0, ids, lambda: ep)
        # No election asked: the controller's check moves it back.
        shows(c, ids, "bal", 1, lambda ps: ps[0]["leader"] == 3,
              "leadership back on 3")
        assert_clean_logs(c)
