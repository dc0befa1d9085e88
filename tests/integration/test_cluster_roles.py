"""Three dedicated controllers and two broker-only nodes (issue 12): the
brokers are not raft members, they pull the metadata log from the
controllers (controller.quorum.bootstrap.servers) and register with the
active controller; clients see the two brokers only, topics created
through either broker are visible from both, data flows through a real
client, and both keep working across the loss of the active controller.
Everything on 127.0.0.1, bounded in time."""
import re
import subprocess
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import (Broker, active_controller, brokerd_path, free_port,
                     run_brokerctl, wait_port, wait_until)

CONTROLLERS = (1, 2, 3)
BROKERS = (4, 5)
BOUND = 20.0


def brokerctl(b, *args):
    return run_brokerctl(b.bootstrap, *args)


def start(nodes, ids):
    for i in ids:
        nodes[i].start(wait=False)
    for i in ids:
        b = nodes[i]
        assert wait_port(b.port, BOUND, b.proc), b.output()
        assert b.wait_replicas(BOUND), b.output()


def make_cluster():
    raft = {i: free_port() for i in CONTROLLERS}
    client = {i: free_port() for i in CONTROLLERS + BROKERS}
    voters = ",".join("%d@127.0.0.1:%d" % (i, raft[i]) for i in CONTROLLERS)
    bootstrap = ",".join("127.0.0.1:%d" % client[i] for i in CONTROLLERS)
    cid = subprocess.run([brokerd_path(), "random-uuid"], capture_output=True,
                         text=True, check=True).stdout.strip()
    nodes = {}
    for i in CONTROLLERS + BROKERS:
        nodes[i] = Broker(port=client[i], extra={
            "node.id": str(i),
            "process.roles": "controller" if i in CONTROLLERS else "broker",
            "controller.quorum.voters": voters,
            "controller.quorum.bootstrap.servers": bootstrap,
            "controller.quorum.election.timeout.ms": "500",
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "300",
            "num.shards": "1",
        })
        subprocess.run([brokerd_path(), "format", "-c", nodes[i].conf,
                        "--cluster-id", cid], check=True, capture_output=True,
                       timeout=15)
    return nodes


def brokers_seen(b):
    """The broker ids b lists (brokerctl cluster info --json)."""
    res = brokerctl(b, "topic", "describe")
    assert res.returncode == 0, res.stderr
    ids = set()
    for line in res.stdout.splitlines():
        m = re.search(r"Leader: (-?\d+)", line)
        if m:
            ids.add(int(m.group(1)))
    return ids


def produce_consume(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for k in range(n):
        p.produce(topic, key=b"%d" % k, value=b"v%d" % k)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + topic,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = set()
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.add(m.key())
    c.close()
    assert len(got) == n


def test_dedicated_controllers_and_pulling_brokers():
    nodes = make_cluster()
    try:
        start(nodes, CONTROLLERS + BROKERS)
        for i in BROKERS:
            assert "pulling metadata from the controllers" in nodes[i].output()
        # Topics created through each broker, seen from the other; the
        # partitions are led by the two brokers, never by a controller.
        for i, j in ((4, 5), (5, 4)):
            res = brokerctl(nodes[i], "topic", "create", "via-%d" % i,
                            "--partitions", "6")
            assert res.returncode == 0, res.stderr
            wait_until(lambda j=j, i=i: "via-%d" % i in brokerctl(
                nodes[j], "topic", "list").stdout, "topic on node %d" % j)
        assert brokers_seen(nodes[4]) == {4, 5}
        bootstrap = ",".join(nodes[i].bootstrap for i in BROKERS)
        # Clients are told a live broker as the controller (KIP-590; the
        # controllers are no brokers here), so an admin client's
        # controller requests reach a node that forwards them.
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=10)
        assert sorted(md.brokers) == [4, 5]
        assert md.controller_id in BROKERS
        fs = admin.create_topics([NewTopic("via-admin", 3, 1)])
        fs["via-admin"].result(timeout=20)
        produce_consume(bootstrap, "via-4", 200)

        # The active controller dies: the brokers find the next one, and
        # admin changes through a broker succeed again.
        leader = wait_until(
            lambda: active_controller({i: nodes[i] for i in CONTROLLERS}),
            "a controller")
        nodes[leader].kill()
        t0 = time.monotonic()
        wait_until(lambda: brokerctl(nodes[4], "topic", "create",
                                     "after-failover").returncode == 0,
                   "an admin change after the failover")
        print("admin change %.2f s after kill -9 of controller %d"
              % (time.monotonic() - t0, leader))
        wait_until(lambda: "after-failover" in brokerctl(
            nodes[5], "topic", "list").stdout, "broker 5 to pull the change")
        produce_consume(bootstrap, "after-failover", 50)

        # A restarted broker has nothing on disk for metadata: it pulls
        # again, registers and leads its partitions again.
        nodes[5].stop()
        nodes[5].log.close()
        start(nodes, (5,))
        wait_until(lambda: brokers_seen(nodes[4]) == {4, 5},
                   "broker 5 leading again")
    finally:
        for b in nodes.values():
            if b.alive():
                b.stop()
            b.cleanup()
