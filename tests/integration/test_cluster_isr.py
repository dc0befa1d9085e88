"""AlterPartition (api 56) against a real 3-node cluster (issue 13): the
ISR changes a partition leader sends, as brokerd's leaders send them,
reach every node's Metadata; the controller's refusals (a stale partition
epoch, a stale broker epoch, a member at another broker epoch, a node that
is not the active controller) carry Kafka's codes.

The leader is a broker of the test's own (FakeBroker: registered and
heartbeating over the protocol, serving nothing), so that no real
leader's replication proposes ISR changes of its own meanwhile."""
import pytest

from cluster_util import Cluster, metadata as metadata_v1, wait_for
from harness import free_port
from replication_raw import (FakeBroker, alter_partition,
                             assert_clean_logs, broker_epoch, create_topic,
                             metadata)

SETTLE = 15.0
NOT_CONTROLLER = 41
STALE_BROKER_EPOCH = 77
INVALID_UPDATE_VERSION = 95
INELIGIBLE_REPLICA = 107
LEADER = 4


@pytest.fixture
def cluster():
    with Cluster(3) as c:
        fake = FakeBroker(c, LEADER, free_port()).start()
        try:
            yield c, fake
        finally:
            fake.stop()


def isr_everywhere(c, topic, want):
    def same():
        for i in c.ids():
            err, _, parts = metadata(c.port(i), topic)
            if err != 0 or parts[0]["isr"] != want:
                return None
        return True
    wait_for("every node shows ISR %s" % want, same, SETTLE)


def test_alter_partition_changes_isr_everywhere(cluster):
    c, fake = cluster
    ids = c.ids()
    wait_for("broker 4 unfenced", lambda: LEADER in metadata_v1(
        c.port(ids[0]))["brokers"], SETTLE)
    assert create_topic(c.port(ids[0]), "isr", 0, 0,
                        assignment=[[LEADER, 1, 2]]) == 0

    def led():
        err, tid, parts = metadata(c.port(ids[0]), "isr")
        return (tid, parts[0]) if err == 0 and parts and \
            parts[0]["leader"] == LEADER else None
    tid, p = wait_for("topic isr led by broker 4", led, SETTLE)
    epochs = {i: wait_for("node %d registered" % i,
                          lambda i=i: broker_epoch(c.log(i)), SETTLE)
              for i in ids}
    epochs[LEADER] = fake.epoch
    ctl = wait_for("a controller", lambda: (lambda x: x if x >= 0 else None)(
        metadata_v1(c.port(ids[0]))["controller"]), SETTLE)

    def send(isr, pepoch, port=None, bepoch=None, member_epochs=None):
        e = member_epochs or epochs
        return alter_partition(
            port or c.port(ctl), LEADER,
            fake.epoch if bepoch is None else bepoch, tid, 0, p["epoch"],
            [(b, e[b]) for b in isr], pepoch)

    # A new partition is at partition epoch 0. Its ISR grows to all three
    # replicas (or already holds every live one: then nothing changes).
    full = [LEADER, 1, 2]
    top, ans = send(full, 0)
    assert top == 0 and ans["error"] == 0, (top, ans)
    assert ans["leader"] == LEADER and ans["leader_epoch"] == p["epoch"]
    assert ans["isr"] == full
    isr_everywhere(c, "isr", full)
    pepoch = ans["partition_epoch"]

    # The leader drops a follower: every node sees the smaller ISR.
    top, ans = send([LEADER, 1], pepoch)
    assert top == 0 and ans["error"] == 0, (top, ans)
    assert ans["partition_epoch"] == pepoch + 1
    assert ans["leader_epoch"] == p["epoch"]  # KAFKA-15021
    isr_everywhere(c, "isr", [LEADER, 1])

    # The same proposal again (a retry after a lost answer): its partition
    # epoch is stale now.
    top, ans = send([LEADER, 1], pepoch)
    assert top == 0 and ans["error"] == INVALID_UPDATE_VERSION, (top, ans)

    # A member at a broker epoch that is not its registration (KIP-903).
    wrong = dict(epochs)
    wrong[2] = epochs[2] + 1
    top, ans = send(full, pepoch + 1, member_epochs=wrong)
    assert top == 0 and ans["error"] == INELIGIBLE_REPLICA, (top, ans)

    # A broker epoch that is not the sender's registration.
    top, ans = send([LEADER], pepoch + 1, bepoch=fake.epoch + 12345)
    assert top == STALE_BROKER_EPOCH and ans is None, (top, ans)

    # A node that is not the active controller refuses.
    for i in ids:
        if i != ctl:
            top, _ = send([LEADER], pepoch + 1, port=c.port(i))
            assert top == NOT_CONTROLLER
    isr_everywhere(c, "isr", [LEADER, 1])
    assert_clean_logs(c)
