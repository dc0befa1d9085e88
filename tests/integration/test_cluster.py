"""A real multi-node cluster (issue 12): three combined nodes started by
scripts/cluster on 127.0.0.1 with short timeouts (election 500 ms, broker
session 2 s, heartbeat 200 ms), driven by raw requests to one node at a
time, confluent-kafka, the Java Admin client, Kafka's TopicCommand and
kcat. Each test has a cluster of its own and purges it in the end."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from cluster_util import (Cluster, create_topic, describe_cluster, metadata,
                          wait_for)
from data_util import read_all
from harness import REPO, brokerd_path, free_port

SETTLE = 15.0      # bound on metadata reaching every node
FENCE_WAIT = 15.0  # bound on fencing: session 2 s plus the controller's scan
FAILOVER_BOUND = 5.0  # issue 12 asks for 2 s; generous against slow hosts

JAVA_TARGET = os.path.join(REPO, "tests", "java", "target")
JAVA_CP = os.path.join(JAVA_TARGET, "classes") + ":" + \
    os.path.join(JAVA_TARGET, "deps", "*")


@pytest.fixture
def cluster():
    # Kafka's session rules alone: a broker is fenced when its session
    # lapses, not when its heartbeat connection closes (that brokerd
    # addition, broker.fence.on.disconnect.ms, is tested in
    # test_replication.py), so that a kill -9 and an immediate restart
    # meet the old incarnation's live session however slow the host.
    with Cluster(3, extra=["--set", "broker.fence.on.disconnect.ms=0"]) as c:
        yield c
        # Every node still running stops cleanly on SIGTERM (under ASan
        # that includes no leak report).
        res = c.cli("down")
        bad = [l for l in res.stdout.splitlines()
               if not l.endswith(": exit 0")]
        assert not bad, res.stdout + c.logs_tail()


def controller_of(c, node_id):
    return metadata(c.port(node_id))["controller"]


def agreed_controller(c, ids):
    """The controller id every node in ids reports, once they agree on a
    live one."""
    def agree():
        seen = {controller_of(c, i) for i in ids}
        return seen.pop() if len(seen) == 1 and seen != {-1} else None
    return wait_for("nodes %s agree on a controller" % ids, agree, SETTLE)


def leaders(c, node_id, topic):
    md = metadata(c.port(node_id), [topic])
    err, parts = md["topics"][topic]
    return parts if err == 0 else None


def wait_topic_everywhere(c, topic, partitions, ids=None):
    """Waits until every node lists topic with all its partitions, each
    with a leader; returns {partition: leader} as node 1 sees it."""
    out = {}
    for i in ids or c.ids():
        out[i] = wait_for(
            "node %d shows %s with %d led partitions" % (i, topic, partitions),
            lambda: (lambda p: p if p and len(p) == partitions and
                     min(p.values()) >= 0 else None)(leaders(c, i, topic)),
            SETTLE)
    first = list(out.values())[0]
    assert all(v == first for v in out.values()), out
    return first


def assert_no_crash(c):
    for i in c.ids():
        log = c.log(i)
        for bad in ("Assertion", "AddressSanitizer", "runtime error",
                    "Segmentation"):
            assert bad not in log, "node %d:\n%s" % (i, log[-3000:])


def test_three_nodes_form_one_cluster(cluster):
    c = cluster
    controllers = set()
    for i in c.ids():
        md = metadata(c.port(i))
        assert md["brokers"] == {j: c.port(j) for j in c.ids()}, (i, md)
        controllers.add(md["controller"])
        err, cid, ctl, brokers = describe_cluster(c.port(i))
        assert err == 0 and cid == c.cluster_id
        assert brokers == md["brokers"]
        controllers.add(ctl)
    assert len(controllers) == 1 and controllers.pop() in c.ids()
    st = c.cli("status").stdout
    assert st.count(" alive ") == 3, st
    assert "Controller:" in st and "API versions" not in st, st
    assert c.cli("bootstrap").stdout.strip() == c.bootstrap()
    assert_no_crash(c)


def test_topics_created_through_each_node(cluster):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    c = cluster
    topics = {}
    for i in c.ids():
        # Bootstrapped on this node alone: CreateTopics goes to it (or to
        # a node it names), and non-controllers forward it (KIP-590).
        admin = AdminClient({"bootstrap.servers": c.addr(i)})
        name = "through-%d" % i
        fs = admin.create_topics([NewTopic(name, 6, 1)], request_timeout=15)
        fs[name].result(timeout=20)
        topics[name] = 6
        # librdkafka sends CreateTopics to the controller it learned from
        # Metadata, so the request above may never have been forwarded:
        # this one is sent to node i itself and answered by it.
        name = "raw-through-%d" % i
        assert create_topic(c.port(i), name, 6) == 0
        topics[name] = 6
    placed = {}
    for name, n in topics.items():
        placed[name] = wait_topic_everywhere(c, name, n)
        # Six partitions over three brokers: every broker leads some.
        assert set(placed[name].values()) == set(c.ids()), placed[name]

    # Data through every leader with a real client.
    p = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all",
                  "enable.idempotence": True})
    per_topic = 300
    errors = []
    for name in topics:
        for k in range(per_topic):
            p.produce(name, key=b"k%d" % k, value=b"v%d" % k,
                      partition=k % 6,
                      on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0 and not errors, errors
    for name in topics:
        got = read_all(c.bootstrap(), name, range(6), per_topic)
        assert len(got) == per_topic, (name, len(got))
        assert sorted(int(v[1:]) for _, _, _, v, _ in got) == \
            list(range(per_topic))
        for part, _, key, _, _ in got:
            assert int(key[1:]) % 6 == part
    assert_no_crash(c)


def java(*args, timeout=180):
    return subprocess.run(["java", "-cp", JAVA_CP] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def kv_lines(out, key):
    return [l.split("=", 1)[1] for l in out.splitlines()
            if l.startswith(key + "=")]


def test_kafka_tools_see_every_broker(cluster):
    c = cluster
    want_nodes = sorted("%d 127.0.0.1:%d" % (i, c.port(i)) for i in c.ids())
    ctl = agreed_controller(c, c.ids())
    # The Java Admin client's DescribeCluster, bootstrapped on each node.
    for i in c.ids():
        r = java("brokerd.AdminCheck", c.addr(i), "cluster", "-")
        assert r.returncode == 0, r.stdout + r.stderr
        assert sorted(kv_lines(r.stdout, "cluster.node")) == want_nodes
        assert kv_lines(r.stdout, "cluster.controller") == [str(ctl)]
        assert kv_lines(r.stdout, "cluster.id") == [c.cluster_id]

    # Kafka's TopicCommand (kafka-topics.sh): created through node 2,
    # described through node 3, leaders on all three brokers.
    tc = "org.apache.kafka.tools.TopicCommand"
    r = java(tc, "--bootstrap-server", c.addr(2), "--create", "--topic",
             "tools", "--partitions", "6", "--replication-factor", "1")
    assert r.returncode == 0 and "Created topic tools." in r.stdout, \
        r.stdout + r.stderr
    wait_topic_everywhere(c, "tools", 6)
    r = java(tc, "--bootstrap-server", c.addr(3), "--describe", "--topic",
             "tools")
    assert r.returncode == 0 and "PartitionCount: 6" in r.stdout, \
        r.stdout + r.stderr
    seen = {int(l.split("Leader: ")[1].split("\t")[0])
            for l in r.stdout.splitlines() if "\tLeader: " in l}
    assert seen == set(c.ids()), r.stdout

    # kcat (librdkafka) lists the three brokers from any one of them.
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is installed by scripts/deps test"
    for i in c.ids():
        r = subprocess.run([kcat, "-b", c.addr(i), "-L", "-t", "tools"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert " 3 brokers:" in r.stdout, r.stdout
        for j in c.ids():
            assert "broker %d at %s" % (j, c.addr(j)) in r.stdout, r.stdout
        assert "(controller)" in r.stdout
    assert_no_crash(c)


def test_kill_the_active_controller(cluster):
    c = cluster
    old = agreed_controller(c, c.ids())
    survivors = [i for i in c.ids() if i != old]
    assert create_topic(c.port(survivors[0]), "before", 3) == 0

    t0 = time.monotonic()
    os.kill(c.pid(old), signal.SIGKILL)
    # From kill -9 to the first CreateTopics answered without error by a
    # survivor (the next committed admin change), alternating survivors.
    attempts = []
    k = 0
    while True:
        target = survivors[k % 2]
        k += 1
        try:
            err = create_topic(c.port(target), "after", 3, timeout=2.0)
        except OSError as e:
            err = repr(e)
        attempts.append(err)
        if err == 0:
            break
        elapsed = time.monotonic() - t0
        assert elapsed < FAILOVER_BOUND, (
            "no admin change %.1f s after kill -9 of controller %d: %s\n%s" % (
                elapsed, old, attempts[-5:], c.logs_tail()))
        time.sleep(0.02)
    failover = time.monotonic() - t0
    print("failover: kill -9 of controller %d to the first committed "
          "CreateTopics: %.3f s (attempts: %s)" % (old, failover, attempts))
    new = agreed_controller(c, survivors)
    assert new in survivors

    # Admin operations sent to either survivor succeed.
    for i in survivors:
        assert create_topic(c.port(i), "via-%d" % i, 2) == 0
    for name, n in (("after", 3), ("via-%d" % survivors[0], 2),
                    ("via-%d" % survivors[1], 2)):
        wait_topic_everywhere(c, name, n, survivors)

    # The old controller restarts and catches up on what it missed.
    c.restart(old)
    for name, n in (("before", 3), ("after", 3), ("via-%d" % survivors[0], 2),
                    ("via-%d" % survivors[1], 2)):
        wait_topic_everywhere(c, name, n)
    for i in c.ids():
        assert set(metadata(c.port(i))["brokers"]) == set(c.ids())
    assert create_topic(c.port(old), "via-old", 2) == 0
    wait_topic_everywhere(c, "via-old", 2)
    assert_no_crash(c)


def test_killed_broker_is_fenced_then_back(cluster):
    c = cluster
    ctl = agreed_controller(c, c.ids())
    victim = [i for i in c.ids() if i != ctl][0]
    others = [i for i in c.ids() if i != victim]
    assert create_topic(c.port(ctl), "spread", 6) == 0
    before = wait_topic_everywhere(c, "spread", 6)
    mine = sorted(p for p, l in before.items() if l == victim)
    assert mine, before

    r = c.kill(victim)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    for i in others:
        wait_for("node %d drops broker %d" % (i, victim),
                 lambda: victim not in metadata(c.port(i))["brokers"],
                 FENCE_WAIT)
        parts = wait_for(
            "node %d reports %d's partitions offline" % (i, victim),
            lambda: (lambda p: p if p and all(p[x] == -1 for x in mine)
                     else None)(leaders(c, i, "spread")), FENCE_WAIT)
        # The other brokers keep theirs.
        assert {p: l for p, l in parts.items() if p not in mine} == \
            {p: l for p, l in before.items() if p not in mine}
    print("fenced %.2f s after kill -9 (session 2 s)" % (time.monotonic() - t0))
    assert "fencing broker: its session ended" in c.log(ctl), c.log(ctl)[-3000:]

    c.restart(victim)
    for i in c.ids():
        wait_for("node %d lists broker %d again" % (i, victim),
                 lambda: victim in metadata(c.port(i))["brokers"], SETTLE)
    assert wait_topic_everywhere(c, "spread", 6) == before
    assert_no_crash(c)


def run_brokerd(args, timeout=60):
    return subprocess.run([brokerd_path()] + args, capture_output=True,
                          text=True, timeout=timeout)


def one_reason(out, *needles):
    """brokerd's log goes to stderr too; the reason it stops is the one
    line that starts with "brokerd: ". Returns that line."""
    lines = [l for l in out.splitlines() if l.startswith("brokerd: ")]
    assert len(lines) == 1, out
    for n in needles:
        assert n in lines[0], out
    return lines[0]


def test_node_of_another_cluster_is_refused(cluster):
    c = cluster
    # Node 3 loses its data and is formatted for another cluster, as an
    # operator mixing up ids would do; it must not join this one.
    r = c.kill(3)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(os.path.join(c.node_dir(3), "data"))
    other = run_brokerd(["random-uuid"]).stdout.strip()
    assert other and other != c.cluster_id
    r = run_brokerd(["format", "-c", c.config(3), "--cluster-id", other])
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    r = run_brokerd(["-c", c.config(3)], timeout=60)
    print("refused after %.2f s" % (time.monotonic() - t0))
    assert r.returncode == 1, r.stdout + r.stderr
    assert one_reason(r.stderr, other, "INCONSISTENT_CLUSTER_ID")
    # The others carry on.
    assert create_topic(c.port(1), "still-here", 2) == 0
    wait_topic_everywhere(c, "still-here", 2, [1, 2])
    # The old node 3 stopped heartbeating when it was killed: fenced.
    for i in (1, 2):
        wait_for("node %d drops broker 3" % i,
                 lambda: set(metadata(c.port(i))["brokers"]) == {1, 2},
                 FENCE_WAIT)


def test_duplicate_node_id_does_not_take_over(cluster):
    c = cluster
    # A copy of node 3's config on other client listeners and another
    # data directory, formatted for the same cluster. Its voter entry (and
    # so its raft address) is node 3's: the node id is the same.
    d = os.path.join(c.dir, "copy-of-3")
    os.makedirs(d)
    copy_port = free_port()
    conf = os.path.join(d, "brokerd.conf")
    with open(c.config(3)) as f:
        lines = f.read().splitlines()
    with open(conf, "w") as f:
        for l in lines:
            if l.startswith("listeners="):
                l = "listeners=PLAINTEXT://127.0.0.1:%d" % copy_port
            elif l.startswith("log.dirs="):
                l = "log.dirs=" + os.path.join(d, "data")
            f.write(l + "\n")
    r = run_brokerd(["format", "-c", conf, "--cluster-id", c.cluster_id])
    assert r.returncode == 0, r.stderr
    log_path = os.path.join(d, "brokerd.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([brokerd_path(), "-c", conf], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        # Watch for well over a session timeout: node 3 keeps its
        # registration and address, whatever the copy does.
        deadline = time.monotonic() + 3 * 2.0
        while time.monotonic() < deadline:
            for i in c.ids():
                md = metadata(c.port(i))
                assert md["brokers"].get(3) == c.port(3), (i, md)
            time.sleep(0.2)
        with open(log_path, errors="replace") as f:
            out = f.read()
        print("copy of node 3: %s" % (
            "exited %d" % proc.returncode if proc.poll() is not None
            else "still running"))
        print(out[-2000:])
        assert 'msg="started"' not in out, out
        if proc.poll() is None:
            # Still trying: it must say it waits for the live node.
            assert "another live broker is registered with this node.id" \
                in out, out
        else:
            # Or it refused to start at all, with one line saying why.
            # With combined nodes it does: node 3's voter entry names the
            # raft address node 3 already listens on.
            assert proc.returncode == 1, out
            one_reason(out, "Address already in use")
        assert c.pid(3) and os.path.exists("/proc/%d" % c.pid(3))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
    # The live node 3 still serves as part of the cluster.
    assert create_topic(c.port(3), "after-copy", 3) == 0
    wait_topic_everywhere(c, "after-copy", 3)
    assert_no_crash(c)


@pytest.mark.parametrize("which", ["broker", "controller"])
def test_sigterm_is_a_controlled_shutdown(cluster, which):
    c = cluster
    ctl = agreed_controller(c, c.ids())
    victim = ctl if which == "controller" else \
        [i for i in c.ids() if i != ctl][0]
    others = [i for i in c.ids() if i != victim]
    t0 = time.monotonic()
    r = c.kill(victim, "TERM")
    took = time.monotonic() - t0
    print("node %d (%s) stopped in %.2f s: %s" % (victim, which, took,
                                                  r.stdout.strip()))
    # scripts/cluster waits at most 30 s, then SIGKILLs and says so.
    assert r.returncode == 0 and "exit 0" in r.stdout, \
        r.stdout + r.stderr + c.log(victim)[-3000:]
    with open(os.path.join(c.node_dir(victim), "exit")) as f:
        assert f.read().strip() == "0"
    # The others carry on without it.
    for i in others:
        wait_for("node %d drops broker %d" % (i, victim),
                 lambda: set(metadata(c.port(i))["brokers"]) == set(others),
                 FENCE_WAIT)
    assert agreed_controller(c, others) in others
    assert create_topic(c.port(others[0]), "after-term", 4) == 0
    parts = wait_topic_everywhere(c, "after-term", 4, others)
    assert set(parts.values()) == set(others)
    assert_no_crash(c)


def test_restart_within_the_session_waits_for_the_old_one(cluster):
    c = cluster
    # kill -9 and restart at once: the controller still holds the old
    # incarnation's session, so the new one is refused
    # (DUPLICATE_BROKER_REGISTRATION), retries, says so, and registers
    # once the old session has ended.
    ctl = agreed_controller(c, c.ids())
    victim = [i for i in c.ids() if i != ctl][0]
    before = len(c.log(victim))
    t0 = time.monotonic()
    assert c.kill(victim).returncode == 0
    c.restart(victim)
    took = time.monotonic() - t0
    print("kill -9 then restart of node %d: started again after %.2f s" % (
        victim, took))
    out = c.log(victim)[before:]
    waiting = out.find("another live broker is registered with this node.id")
    assert waiting >= 0, out
    assert out.find('msg="started"', waiting) > waiting, out
    for i in c.ids():
        wait_for("node %d lists broker %d" % (i, victim),
                 lambda: victim in metadata(c.port(i))["brokers"], SETTLE)
    assert_no_crash(c)
