"""KIP-890 part 1 with raw requests: a transactional batch for a
partition the coordinator does not have in the producer's transaction is
refused with INVALID_TXN_STATE (Produce v8) instead of opening a
transaction nobody will end, so read_committed readers are not held up;
a partition added first is verified once and written; a batch from a
fenced epoch gets INVALID_PRODUCER_EPOCH; and a batch without a
transactional id is refused."""
import struct
import time

from harness import Broker, connect, recv_frame, request
from kafka_records import Reader, _str, build_batch, produce_v8
from test_txn_errors import add_partitions, create_topic, end_txn, init_pid

TOPIC = "tv"
TXN = "tx-verify"


def batch(pid, epoch, seq, value):
    return build_batch([(None, value)], producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq, attributes=0x10)


def latest(sock, committed):
    """ListOffsets v2 latest of partition 0: the high watermark, or in
    read_committed the last stable offset."""
    body = struct.pack(">ib", -1, 1 if committed else 0)
    body += struct.pack(">i", 1) + _str(TOPIC)
    body += struct.pack(">i", 1) + struct.pack(">iq", 0, -1)
    sock.sendall(request(2, 2, 7, body))
    r = Reader(recv_frame(sock), 4)
    r.i32()  # throttle
    r.i32()
    r.string()
    r.i32()
    r.i32()
    assert r.i16() == 0
    r.i64()  # timestamp
    return r.i64()


def produce(sock, pid, epoch, seq, value, txn_id=TXN):
    return produce_v8(sock, TOPIC, 0, batch(pid, epoch, seq, value),
                      transactional_id=txn_id)[0]


def test_stray_batches_refused():
    with Broker() as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        err, pid, epoch = init_pid(s, TXN)
        assert (err, epoch) == (0, 0)
        # Never added: the coordinator says no, nothing is written.
        assert produce(s, pid, 0, 0, b"stray") == 48
        assert latest(s, False) == 0
        # No transactional id to ask about.
        assert produce(s, pid, 0, 0, b"anon", txn_id=None) == 53
        # Added: verified and written; the next batch finds the
        # transaction open.
        assert add_partitions(s, 1, TXN, pid, 0, TOPIC, [0]) == {0: 0}
        assert produce(s, pid, 0, 0, b"a") == 0
        assert produce(s, pid, 0, 1, b"b") == 0
        assert latest(s, False) == 2
        assert latest(s, True) == 0  # open
        assert end_txn(s, 1, TXN, pid, 0, True) == 0
        deadline = time.monotonic() + 10
        while end_txn(s, 1, TXN, pid, 0, True) == 51:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert latest(s, True) == 3  # two records and the marker
        # A late batch of the ended transaction (KAFKA-12671): refused,
        # and the last stable offset keeps up with the high watermark.
        assert produce(s, pid, 0, 2, b"late") == 48
        assert latest(s, False) == 3
        assert latest(s, True) == 3
        # An epoch the coordinator does not have: fenced.
        assert produce(s, pid, 4, 0, b"zombie") == 47
        s.close()


def test_verification_disabled():
    """With the check off the stray batch is written and holds the last
    stable offset, the behaviour KIP-890 removes."""
    off = {"transaction.partition.verification.enable": "false"}
    with Broker(extra=off) as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        err, pid, _ = init_pid(s, TXN)
        assert err == 0
        assert produce(s, pid, 0, 0, b"stray") == 0
        assert latest(s, False) == 1
        assert latest(s, True) == 0
        s.close()
