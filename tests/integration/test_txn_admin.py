"""The transaction admin APIs (KIP-664, KIP-994) with Kafka's own
kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand, Kafka
4.1): list (ListTransactions), describe (DescribeTransactions),
describe-producers (DescribeProducers), find-hanging, and abort of a
hanging transaction (DescribeProducers, then WriteTxnMarkers with
coordinator epoch -1), which unsticks the last stable offset."""
import os
import struct
import subprocess

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import (REPO, Broker, connect, read_uvarint, recv_frame, request,
                     uvarint, wait_until)
from test_txn_errors import create_topic, init_pid
from test_txn_verify import TOPIC, latest, produce

CP = os.path.join(REPO, "tests", "java", "target", "deps", "*")


def tool(bootstrap, *args):
    """kafka-transactions.sh: (exit code, rows of the table it prints
    split on tabs and stripped, stderr)."""
    res = subprocess.run(["java", "-cp", CP,
                          "org.apache.kafka.tools.TransactionsCommand",
                          "--bootstrap-server", bootstrap] + list(args),
                         capture_output=True, text=True, timeout=120)
    rows = [[c.strip() for c in line.split("\t") if c.strip()]
            for line in res.stdout.splitlines()]
    return res.returncode, rows, res.stderr


def cstr(v):
    b = v.encode()
    return uvarint(len(b) + 1) + b


def list_raw(port, states):
    """ListTransactions v0 with state filters: (unknown filters,
    [(id, producer id, state)])."""
    body = uvarint(len(states) + 1) + b"".join(cstr(x) for x in states)
    body += uvarint(1) + b"\0"  # no producer id filter, tags
    s = connect(port)
    s.sendall(request(66, 0, 5, body, flexible=True))
    f = recv_frame(s)
    s.close()
    pos = 4
    _, pos = read_uvarint(f, pos)  # header tags
    pos += 4  # throttle
    assert struct.unpack_from(">h", f, pos)[0] == 0
    pos += 2

    def string(pos):
        n, pos = read_uvarint(f, pos)
        return f[pos:pos + n - 1].decode(), pos + n - 1

    n, pos = read_uvarint(f, pos)
    unknown = []
    for _ in range(n - 1):
        v, pos = string(pos)
        unknown.append(v)
    n, pos = read_uvarint(f, pos)
    out = []
    for _ in range(n - 1):
        tid, pos = string(pos)
        pid, = struct.unpack_from(">q", f, pos)
        state, pos = string(pos + 8)
        _, pos = read_uvarint(f, pos)  # tags
        out.append((tid, pid, state))
    return unknown, out


def test_list_describe_and_producers():
    with Broker() as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("ta", 2, 1)])["ta"].result(15)
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "transactional.id": "tx-admin"})
        p.init_transactions(20)
        p.begin_transaction()
        p.produce("ta", b"x", partition=1)
        p.flush(10)
        rc, rows, err = tool(b.bootstrap, "list")
        assert rc == 0, err
        assert rows[0][:4] == ["TransactionalId", "Coordinator",
                               "ProducerId", "TransactionState"]
        assert rows[1:] == [["tx-admin", "1", rows[1][2], "Ongoing"]]
        pid = rows[1][2]
        # KIP-994: only transactions running for an hour or more.
        rc, rows, err = tool(b.bootstrap, "list", "--duration-filter",
                             "3600000")
        assert rc == 0 and rows[1:] == [], (rows, err)
        rc, rows, err = tool(b.bootstrap, "describe", "--transactional-id",
                             "tx-admin")
        assert rc == 0, err
        got = dict(zip(rows[0], rows[1]))
        assert got["ProducerId"] == pid
        assert got["TransactionState"] == "Ongoing"
        assert got["TransactionTimeoutMs"] == "60000"
        assert got["TopicPartitions"] == "ta-1"
        rc, rows, err = tool(b.bootstrap, "describe-producers", "--topic",
                             "ta", "--partition", "1")
        assert rc == 0, err
        got = dict(zip(rows[0], rows[1]))
        assert got["ProducerId"] == pid
        assert got["CurrentTransactionStartOffset"] == "0"
        # The coordinator knows the transaction: nothing hangs.
        rc, rows, err = tool(b.bootstrap, "find-hanging", "--broker-id", "1")
        assert rc == 0 and rows[1:] == [], (rows, err)
        rc, _, err = tool(b.bootstrap, "describe", "--transactional-id",
                          "unknown")
        assert rc != 0 and "could not be found" in err, err
        p.commit_transaction(20)
        # Complete once the markers are written, after the answer.
        wait_until(lambda: list_raw(b.port, ["CompleteCommit"]) ==
                   ([], [("tx-admin", int(pid), "CompleteCommit")]),
                   "tx-admin listed as CompleteCommit")
        assert list_raw(b.port, ["Ongoing", "Bogus"]) == (["Bogus"], [])
        rc, rows, err = tool(b.bootstrap, "describe", "--transactional-id",
                             "tx-admin")
        assert dict(zip(rows[0], rows[1]))["TransactionState"] == \
            "CompleteCommit"


def test_abort_hanging_transaction():
    """A stray batch with verification off hangs the partition, as before
    KIP-890; kafka-transactions.sh abort ends it."""
    off = {"transaction.partition.verification.enable": "false"}
    with Broker(extra=off) as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        err, pid, _ = init_pid(s, "tx-hang")
        assert err == 0
        assert produce(s, pid, 0, 0, b"stray") == 0
        assert latest(s, True) == 0
        rc, rows, err = tool(b.bootstrap, "abort", "--topic", TOPIC,
                             "--partition", "0", "--start-offset", "0")
        assert rc == 0, (rows, err)
        assert latest(s, False) == 2  # the record and the ABORT marker
        assert latest(s, True) == 2
        s.close()
