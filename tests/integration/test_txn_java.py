"""Transactions with the Java client (kafka-clients 4.x, tests/java
TxnCheck), which uses transactions v2 (KIP-890 part 2) because brokerd
finalizes transaction.version 2: no AddPartitionsToTxn (Produce v12 adds
the partitions), EndTxn v5 bumping the epoch per transaction, and
TxnOffsetCommit v5 with no AddOffsetsToTxn. read_committed readers see
the committed transactions only, each transaction's batches carry their
own epoch, and the group's offset is the last committed one."""
import os
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

from data_util import create_topics
from harness import REPO, Broker, connect
from kafka_records import fetch_all

TOPIC = "tj"
PARTS = 3
N = 6
TARGET = os.path.join(REPO, "tests", "java", "target")
CP = os.path.join(TARGET, "classes") + ":" + os.path.join(TARGET, "deps", "*")


def txn_check(bootstrap, txn_id, group, n):
    res = subprocess.run(["java", "-cp", CP, "brokerd.TxnCheck", bootstrap,
                          TOPIC, str(PARTS), txn_id, group, str(n)],
                         capture_output=True, text=True, timeout=180)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    return res.stdout.strip().splitlines()[-1]


def consume(bootstrap, isolation, want, bound=20.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "r-" + isolation,
                  "isolation.level": isolation, "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTS)])
    got = []
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and len(got) < want:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    return sorted(got)


def test_java_transactions_v2():
    with Broker() as b:
        create_topics(b.bootstrap, {TOPIC: (PARTS, {})})
        assert txn_check(b.bootstrap, "tx-java", "g-java", N) == \
            "transactions %d committed %d aborted %d" % (N, 4, 2)
        committed = sorted("txn-%d-%d" % (i, p) for i in range(N)
                           for p in range(PARTS) if i % 3 != 2)
        assert consume(b.bootstrap, "read_committed", len(committed)) == \
            committed
        # read_uncommitted sees the aborted records too, those that were
        # sent: Java's abortTransaction drops batches not yet sent.
        every = consume(b.bootstrap, "read_uncommitted", N * PARTS, bound=5)
        assert set(committed) <= set(every), every
        assert len(every) == len(set(every))
        # Transactions v2: every transaction at its own epoch, bumped by
        # each EndTxn (under v1 they would all share epoch 0).
        s = connect(b.port)
        batches, _ = fetch_all(s, TOPIC, 0)
        s.close()
        data = [x["producer_epoch"] for x in batches
                if not x["attributes"] & 0x20]
        assert len(data) >= 4  # the committed ones, and aborted if sent
        assert data == sorted(set(data)), data
        # The offset of the last committed transaction (4), not the
        # aborted one after it.
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-java",
                      "isolation.level": "read_committed"})
        got = c.committed([TopicPartition(TOPIC, 0)], timeout=10)
        c.close()
        assert got[0].offset == 5
        # The coordinator reads its state back (TransactionLogValue v1 for
        # these transactions) after a restart, and the producer goes on.
        b.stop()
        b.start()
        assert txn_check(b.bootstrap, "tx-java", "g-java", 2) == \
            "transactions 2 committed 2 aborted 0"
        want = len(committed) + 2 * PARTS
        assert len(consume(b.bootstrap, "read_committed", want)) == want
