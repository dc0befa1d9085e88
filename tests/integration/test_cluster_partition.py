"""A controller cut off from the others (issue 12): it cannot commit and
steps down, the majority elects a new active controller and carries on,
and once the links heal the cut-off node catches up.

Raft traffic between the three combined nodes goes through fault-injecting
TCP proxies started here (tcp_proxy.py): each node's controller.quorum.voters
names its peers by a proxy port (node i reaches node j through proxy
(i, j)), so cutting the proxies to and from one node isolates its raft
traffic while its Kafka listener stays reachable. Everything is on
127.0.0.1 and bounded in time."""
import os
import re
import subprocess
import time

from harness import (Broker, active_controller, brokerd_path, free_port,
                     run_brokerctl, wait_port, wait_until)
from tcp_proxy import Proxy

NODES = (1, 2, 3)
BOUND = 20.0  # seconds for anything that must happen


def brokerctl(b, *args):
    return run_brokerctl(b.bootstrap, *args)


def topics_of(b):
    res = brokerctl(b, "topic", "list")
    return res.stdout if res.returncode == 0 else ""


def start_cluster():
    raft = {i: free_port() for i in NODES}
    proxies = {(i, j): Proxy(raft[j]) for i in NODES for j in NODES if i != j}
    cid = subprocess.run([brokerd_path(), "random-uuid"], capture_output=True,
                         text=True, check=True).stdout.strip()
    nodes = {}
    for i in NODES:
        voters = ",".join(
            "%d@127.0.0.1:%d" % (j, raft[j] if j == i else proxies[(i, j)].port)
            for j in NODES)
        nodes[i] = Broker(extra={
            "node.id": str(i),
            "controller.quorum.voters": voters,
            "controller.quorum.election.timeout.ms": "500",
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "300",
            "num.shards": "1",
        })
        subprocess.run([brokerd_path(), "format", "-c", nodes[i].conf,
                        "--cluster-id", cid], check=True, capture_output=True,
                       timeout=15)
    for b in nodes.values():
        b.start(wait=False)
    for b in nodes.values():
        assert wait_port(b.port, BOUND, b.proc), b.output()
        assert b.wait_replicas(BOUND), b.output()
    return nodes, proxies


def isolate(proxies, node, cut=True):
    for (i, j), p in proxies.items():
        if node in (i, j):
            if cut:
                p.cut()
            else:
                p.heal()


def test_cut_off_controller_steps_down_and_catches_up():
    nodes, proxies = start_cluster()
    try:
        leader = wait_until(lambda: active_controller(nodes), "a controller")
        others = [i for i in NODES if i != leader]
        res = brokerctl(nodes[others[0]], "topic", "create", "before",
                        "--partitions", "3")
        assert res.returncode == 0, res.stderr

        t0 = time.monotonic()
        isolate(proxies, leader)
        # The majority elects a new active controller...
        new = wait_until(lambda: active_controller(nodes, exclude=(leader,)),
                         "a new controller on the majority side")
        assert new in others
        # ...and the cut-off one steps down: it cannot reach a quorum.
        wait_until(lambda: "no longer the active controller" in
                   nodes[leader].output(), "the old controller to step down")
        print("new controller %d after %.2f s" % (new, time.monotonic() - t0))
        # The majority carries on: admin changes through either survivor.
        for i in others:
            res = brokerctl(nodes[i], "topic", "create", "during-%d" % i)
            assert res.returncode == 0, (i, res.stderr)
        # The cut-off node's metadata is frozen: it cannot have them.
        time.sleep(1.0)
        assert "during-" not in topics_of(nodes[leader])

        isolate(proxies, leader, cut=False)
        # Healed: the old controller catches up with what it missed.
        wait_until(lambda: all("during-%d" % i in topics_of(nodes[leader])
                               for i in others),
                   "the healed node to catch up")
        res = brokerctl(nodes[leader], "topic", "create", "after")
        assert res.returncode == 0, res.stderr
        for i in NODES:
            wait_until(lambda i=i: "after" in topics_of(nodes[i]),
                       "node %d to see the topic created after healing" % i)
        # Still exactly one active controller.
        assert active_controller(nodes) in NODES
    finally:
        for b in nodes.values():
            if b.alive():
                b.stop()
            b.cleanup()
        for p in proxies.values():
            p.close()
