"""AlterPartition (api 56) against a real 3-node cluster (issue 13): a
partition leader's ISR change, sent as brokerd's leaders send it, reaches
every node's Metadata; the controller's refusals (a stale partition epoch,
a stale broker epoch, a node that is not the active controller) carry
Kafka's codes."""
import pytest

from cluster_util import Cluster, metadata as metadata_v1, wait_for
from replication_raw import (alter_partition, broker_epoch, create_topic,
                             metadata)

SETTLE = 15.0
NOT_CONTROLLER = 41
STALE_BROKER_EPOCH = 77
INVALID_UPDATE_VERSION = 95


@pytest.fixture
def cluster():
    with Cluster(3) as c:
        yield c


def isr_everywhere(c, topic, want):
    def same():
        for i in c.ids():
            err, _, parts = metadata(c.port(i), topic)
            if err != 0 or sorted(parts[0]["isr"]) != sorted(want):
                return None
        return True
    wait_for("every node shows ISR %s" % want, same, SETTLE)


def test_alter_partition_changes_isr_everywhere(cluster):
    c = cluster
    ids = c.ids()
    assert create_topic(c.port(ids[0]), "isr", 1, 3) == 0

    def led():
        err, tid, parts = metadata(c.port(ids[0]), "isr")
        return (tid, parts[0]) if err == 0 and parts and \
            parts[0]["leader"] >= 0 else None
    tid, p = wait_for("topic isr has a leader", led, SETTLE)
    assert sorted(p["replicas"]) == sorted(ids)
    leader = p["leader"]
    epochs = {i: wait_for("node %d registered" % i,
                          lambda i=i: broker_epoch(c.log(i)), SETTLE)
              for i in ids}
    ctl = wait_for("a controller", lambda: (lambda x: x if x >= 0 else None)(
        metadata_v1(c.port(ids[0]))["controller"]), SETTLE)
    others = [i for i in p["replicas"] if i != leader]

    def send(isr, pepoch, port=None, bepoch=None):
        return alter_partition(
            port or c.port(ctl), leader,
            epochs[leader] if bepoch is None else bepoch, tid, 0, p["epoch"],
            [(b, epochs[b]) for b in isr], pepoch)

    # A new topic's partition is at partition epoch 0. Its ISR grows to
    # all three replicas (or already holds them: then nothing changes).
    full = [leader] + others
    top, ans = send(full, 0)
    assert top == 0 and ans["error"] == 0, (top, ans)
    assert ans["leader"] == leader and ans["leader_epoch"] == p["epoch"]
    assert sorted(ans["isr"]) == sorted(full)
    isr_everywhere(c, "isr", full)
    pepoch = ans["partition_epoch"]

    # The leader drops a follower: every node sees the smaller ISR.
    top, ans = send([leader, others[0]], pepoch)
    assert top == 0 and ans["error"] == 0, (top, ans)
    assert ans["partition_epoch"] == pepoch + 1
    assert ans["leader_epoch"] == p["epoch"]  # KAFKA-15021
    isr_everywhere(c, "isr", [leader, others[0]])

    # The same proposal again: its partition epoch is stale now.
    top, ans = send([leader, others[0]], pepoch)
    assert top == 0 and ans["error"] == INVALID_UPDATE_VERSION, (top, ans)

    # A broker epoch that is not the sender's registration.
    top, ans = send([leader], pepoch + 1, bepoch=epochs[leader] + 12345)
    assert top == STALE_BROKER_EPOCH and ans is None, (top, ans)

    # A node that is not the active controller refuses.
    for i in ids:
        if i != ctl:
            top, _ = send([leader], pepoch + 1, port=c.port(i))
            assert top == NOT_CONTROLLER
    isr_everywhere(c, "isr", [leader, others[0]])
