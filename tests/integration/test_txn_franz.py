"""franz-go (Go, tests/go/txncheck): a GroupTransactSession
consume-transform-produce loop, the issue's Go client. franz-go uses
transaction version 2 when brokerd finalizes it (Produce v12, EndTxn v5,
TxnOffsetCommit v5). One transaction is aborted on purpose and its
records consumed again: read_committed readers of the output see every
input exactly once, read_uncommitted ones the aborted copies too, and
the group's committed offsets cover the input."""
import os
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from data_util import create_topics
from harness import REPO, Broker, connect
from kafka_records import fetch_all

IN, OUT, PARTS, N = "fin", "fout", 3, 30
SRC = os.path.join(REPO, "tests", "go", "txncheck")
BIN = os.path.join(REPO, "tests", "go", "bin", "txncheck")


def txncheck():
    """The Go program, built unless it is newer than its sources."""
    newest = max(os.path.getmtime(os.path.join(SRC, f))
                 for f in os.listdir(SRC))
    if not os.path.exists(BIN) or os.path.getmtime(BIN) < newest:
        res = subprocess.run(["go", "build", "-o", BIN, "."], cwd=SRC,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
    return BIN


def read(bootstrap, isolation, want, bound=20.0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "r-" + isolation,
                  "isolation.level": isolation, "enable.auto.commit": False})
    c.assign([TopicPartition(OUT, p, 0) for p in range(PARTS)])
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


def test_group_transact_session():
    binary = txncheck()
    with Broker() as b:
        create_topics(b.bootstrap, {IN: (PARTS, {}), OUT: (PARTS, {})})
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(N):
            p.produce(IN, value=b"v%02d" % i, partition=i % PARTS)
        assert p.flush(20) == 0
        res = subprocess.run([binary, b.bootstrap, IN, OUT, "g-franz",
                              "tx-franz", str(N)],
                             capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.strip().splitlines()[-1] == \
            "transformed %d aborted 1" % N, res.stdout + res.stderr
        want = sorted("out-v%02d" % i for i in range(N))
        assert read(b.bootstrap, "read_committed", N) == want
        every = read(b.bootstrap, "read_uncommitted", N + 1, bound=5)
        assert len(every) > N and set(every) == set(want)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-franz"})
        got = c.committed([TopicPartition(IN, p) for p in range(PARTS)],
                          timeout=10)
        c.close()
        assert sum(tp.offset for tp in got) == N
        # Transaction version 2: the aborted transaction and the ones
        # after it wrote at different epochs (version 1 keeps one).
        s = connect(b.port)
        epochs = set()
        for part in range(PARTS):
            batches, _ = fetch_all(s, OUT, part)
            epochs |= {x["producer_epoch"] for x in batches}
        s.close()
        assert len(epochs) >= 2, epochs
