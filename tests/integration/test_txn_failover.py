"""Transaction coordinator failover on a 3-node cluster (scripts/cluster)
with __transaction_state replicated 3 ways: the broker leading the
transactional id's partition is killed with -9 in the middle of a
transaction, and once with the transaction decided (PrepareCommit
committed) but its markers held up. The new leader of the partition
loads it, completes the prepared transaction, and serves the producer
(confluent-kafka), which finds it through FindCoordinator; read_committed
readers see each committed record once and nothing aborted."""
import os
import re
import signal
import time

import pytest
from confluent_kafka import (Consumer, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_util import Cluster, metadata, wait_for

TXN_TOPIC = "__transaction_state"
TXN_PARTS = 50
PARTS = 6


def java_partition(key, n):
    """Kafka's partitionFor: abs(String.hashCode()) % n."""
    h = 0
    units = key.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xffffffff
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % n


def leader_of(c, topic, partition, alive):
    """The leader of topic/partition as a live node sees it, when it is
    one of alive."""
    for node in alive:
        md = metadata(c.port(node), [topic])
        err, parts = md["topics"].get(topic, (-1, {}))
        if err == 0 and parts.get(partition, -1) in alive:
            return parts[partition]
    return None


def coordinator(c, txn_id, alive):
    return leader_of(c, TXN_TOPIC, java_partition(txn_id, TXN_PARTS), alive)


def create(c, topic):
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    admin.create_topics([NewTopic(topic, PARTS, 3)])[topic].result(20)
    wait_for("leaders of " + topic,
             lambda: all(leader_of(c, topic, p, c.ids()) is not None
                         for p in range(PARTS)), 20)


def read(bootstrap, topic, isolation, want, bound=30.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": isolation,
                  "isolation.level": isolation, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTS)])
    got = []
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and len(got) < want:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value())
    # Anything beyond `want` would be a duplicate or an aborted record.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return sorted(got)


def producer(c, txn_id):
    p = Producer({"bootstrap.servers": c.bootstrap(),
                  "transactional.id": txn_id,
                  "transaction.timeout.ms": 60000,
                  "message.timeout.ms": 60000})
    p.init_transactions(60)
    return p


def commit_or_abort(p, timeout=90):
    """Commits; on an abortable error aborts instead. Returns whether the
    transaction committed."""
    try:
        p.commit_transaction(timeout)
        return True
    except KafkaException as e:
        err = e.args[0]
        assert err.txn_requires_abort(), err
        p.abort_transaction(timeout)
        return False


def ensure_up(c, node):
    """Restarts node (killed by a test) so that the next test has three."""
    if c.pid(node) is None or not os.path.exists("/proc/%d" % c.pid(node)):
        c.restart(node)


@pytest.fixture(scope="module")
def cluster():
    with Cluster(3) as c:
        yield c


def test_coordinator_killed_mid_transaction(cluster):
    c = cluster
    topic = "txf-mid"
    create(c, topic)
    txn_id = "tx-failover-mid"
    p = producer(c, txn_id)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(topic, value=b"first-%d" % i, partition=i)
    p.commit_transaction(60)
    coord = wait_for("coordinator", lambda: coordinator(c, txn_id, c.ids()),
                     20)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(topic, value=b"mid-%d" % i, partition=i)
    p.flush(30)
    c.kill(coord)
    alive = [n for n in c.ids() if n != coord]
    # The partition moves; the new leader loads the Ongoing transaction.
    wait_for("new coordinator",
             lambda: coordinator(c, txn_id, alive), 30)
    committed = commit_or_abort(p)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(topic, value=b"after-%d" % i, partition=i)
    p.commit_transaction(60)
    want = [b"first-%d" % i for i in range(PARTS)]
    want += [b"after-%d" % i for i in range(PARTS)]
    if committed:
        want += [b"mid-%d" % i for i in range(PARTS)]
    boot = c.bootstrap(alive)
    assert read(boot, topic, "read_committed", len(want)) == sorted(want)
    ensure_up(c, coord)


def test_coordinator_killed_in_prepare_commit(cluster):
    c = cluster
    topic = "txf-prep"
    create(c, topic)
    txn_id = "tx-failover-prepare"
    coord = wait_for("coordinator", lambda: coordinator(c, txn_id, c.ids()),
                     20)
    others = [n for n in c.ids() if n != coord]
    # Every partition led by a broker other than the coordinator: markers
    # to it are held up while it is stopped.
    blocked = others[0]
    assert any(leader_of(c, topic, i, c.ids()) == blocked
               for i in range(PARTS))
    p = producer(c, txn_id)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(topic, value=b"decided-%d" % i, partition=i)
    p.flush(30)
    os.kill(c.pid(blocked), signal.SIGSTOP)
    try:
        # EndTxn is answered once PrepareCommit is committed in
        # __transaction_state (the coordinator and the third broker); the
        # markers to the stopped broker's partitions cannot land.
        p.commit_transaction(60)
        c.kill(coord)
    finally:
        os.kill(c.pid(blocked), signal.SIGCONT)
    alive = others
    new = wait_for("new coordinator", lambda: coordinator(c, txn_id, alive),
                   30)
    assert new in alive
    # It read the partition back on taking it over.
    loaded = re.compile(r"partition=%d batches=\d+ objects=\d+ "
                        r"msg=\"loaded %s\"" % (
                            java_partition(txn_id, TXN_PARTS), TXN_TOPIC))
    wait_for("load on node %d" % new, lambda: loaded.search(c.log(new)), 30)
    boot = c.bootstrap(alive)
    want = sorted(b"decided-%d" % i for i in range(PARTS))
    # The new coordinator found PrepareCommit and wrote every marker.
    assert read(boot, topic, "read_committed", PARTS, bound=60) == want
    # And the producer goes on with the new coordinator.
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(topic, value=b"next-%d" % i, partition=i)
    p.commit_transaction(60)
    want = sorted(want + [b"next-%d" % i for i in range(PARTS)])
    assert read(boot, topic, "read_committed", 2 * PARTS, bound=60) == want
    ensure_up(c, coord)
