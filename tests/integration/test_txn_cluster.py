"""Transactions on a 3-node cluster (scripts/cluster): the transaction
coordinator writes markers to partitions led by the other brokers over
the network (WriteTxnMarkers), and read_committed consumers see the
committed transaction on every partition and nothing of the aborted
one; and the Java client's transaction version 2, whose partitions are
added by their leaders on other brokers."""
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_util import Cluster, metadata, wait_for

TOPIC = "txc"
PARTS = 6


@pytest.fixture(scope="module")
def cluster():
    with Cluster(3) as c:
        yield c


def leaders(c):
    md = metadata(c.port(c.ids()[0]), [TOPIC])
    err, parts = md["topics"].get(TOPIC, (-1, {}))
    return parts if err == 0 and len(parts) == PARTS and \
        all(v >= 0 for v in parts.values()) else None


def read(bootstrap, isolation, want, bound=20.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": isolation,
                  "isolation.level": isolation, "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTS)])
    got = []
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and len(got) < want:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append((m.partition(), m.value()))
    c.close()
    return sorted(got)


def stable_end(bootstrap, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso",
                  "isolation.level": "read_committed"})
    _, high = c.get_watermark_offsets(TopicPartition(TOPIC, partition),
                                      timeout=10)
    c.close()
    return high


def test_markers_reach_other_leaders(cluster):
    c = cluster
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    admin.create_topics([NewTopic(TOPIC, PARTS, 3)])[TOPIC].result(20)
    placed = wait_for("leaders of " + TOPIC, lambda: leaders(c), 20)
    # Six partitions over three brokers: the coordinator, wherever it is,
    # has partitions led by the two others.
    assert set(placed.values()) == set(c.ids()), placed
    p = Producer({"bootstrap.servers": c.bootstrap(),
                  "transactional.id": "tx-cluster"})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(TOPIC, value=b"c%d" % i, partition=i)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(PARTS):
        p.produce(TOPIC, value=b"a%d" % i, partition=i)
    p.flush(20)
    p.abort_transaction(30)
    want = sorted((i, b"c%d" % i) for i in range(PARTS))
    assert read(c.bootstrap(), "read_committed", PARTS) == want
    # Every partition: data, commit marker, data, abort marker, all
    # stable.
    for i in range(PARTS):
        wait_for("partition %d stable" % i,
                 lambda: stable_end(c.bootstrap(), i) == 4, 20)
    got = read(c.bootstrap(), "read_uncommitted", 2 * PARTS)
    assert len(got) == 2 * PARTS


def test_java_transactions_v2_across_brokers(cluster):
    """The Java client on transaction version 2: partition leaders on
    other brokers add their partitions with the coordinator (Produce
    v12), and the group coordinator adds the offsets partition
    (TxnOffsetCommit v5), over the network."""
    from test_txn_java import PARTS as JPARTS, TOPIC as JTOPIC, txn_check
    c = cluster
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    admin.create_topics([NewTopic(JTOPIC, JPARTS, 3)])[JTOPIC].result(20)
    assert txn_check(c.bootstrap(), "tx-java-cluster", "g-java-cluster",
                     6) == "transactions 6 committed 4 aborted 2"
    want = sorted("txn-%d-%d" % (i, p) for i in range(6)
                  for p in range(JPARTS) if i % 3 != 2)
    cons = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "jc",
                     "isolation.level": "read_committed",
                     "enable.auto.commit": False})
    cons.assign([TopicPartition(JTOPIC, p, 0) for p in range(JPARTS)])
    got = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(got) < len(want):
        m = cons.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    cons.close()
    assert sorted(got) == want
