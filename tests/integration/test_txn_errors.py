"""The transaction coordinator's error paths with raw requests: fencing
answered as INVALID_PRODUCER_EPOCH before KIP-588's versions and
PRODUCER_FENCED from them, an unknown producer id mapping, unknown
partitions refused all or nothing, EndTxn without a transaction, and an
end retried while it completes."""
import struct
import time

from harness import Broker, connect, recv_frame, request
from kafka_records import Reader, _str


def create_topic(sock, name):
    body = struct.pack(">i", 1) + _str(name)
    body += struct.pack(">ihii", 1, 1, 0, 0) + struct.pack(">ib", 15000, 0)
    sock.sendall(request(19, 4, 9, body))
    r = Reader(recv_frame(sock), 4)
    r.i32()
    r.i32()
    r.string()
    return r.i16()


def init_pid(sock, txn_id):
    """FindCoordinator v1 (which creates __transaction_state), then
    InitProducerId v1: (error, producer id, epoch)."""
    sock.sendall(request(10, 1, 4, _str(txn_id) + b"\1"))
    assert struct.unpack_from(">h", recv_frame(sock), 8)[0] == 0
    for _ in range(100):
        body = _str(txn_id) + struct.pack(">i", 60000)
        sock.sendall(request(22, 1, 1, body))
        err, pid, epoch = struct.unpack_from(">hqh", recv_frame(sock), 8)
        if err not in (14, 15, 16, 51):  # retriable: try again
            return err, pid, epoch
        time.sleep(0.05)
    return err, pid, epoch


def add_partitions(sock, version, txn_id, pid, epoch, topic, parts):
    """AddPartitionsToTxn v0-2: {partition: error}."""
    body = _str(txn_id) + struct.pack(">qh", pid, epoch)
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", len(parts))
    body += b"".join(struct.pack(">i", p) for p in parts)
    sock.sendall(request(24, version, 2, body))
    r = Reader(recv_frame(sock), 4)
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p = r.i32()
            out[p] = r.i16()
    return out


def end_txn(sock, version, txn_id, pid, epoch, commit):
    """EndTxn v0-2: the error code."""
    body = _str(txn_id) + struct.pack(">qh?", pid, epoch, commit)
    sock.sendall(request(26, version, 3, body))
    return struct.unpack_from(">h", recv_frame(sock), 8)[0]


def test_error_paths():
    with Broker() as b:
        s = connect(b.port)
        assert create_topic(s, "te") == 0
        err, pid, epoch = init_pid(s, "tx-err")
        assert (err, epoch) == (0, 0)
        # Nothing to end yet.
        assert end_txn(s, 1, "tx-err", pid, 0, True) == 48
        # Another producer id, an old or future epoch per version.
        assert add_partitions(s, 1, "tx-err", pid + 1, 0, "te", [0]) == \
            {0: 49}
        assert add_partitions(s, 1, "tx-err", pid, 3, "te", [0]) == {0: 47}
        assert add_partitions(s, 2, "tx-err", pid, 3, "te", [0]) == {0: 90}
        assert end_txn(s, 1, "tx-err", pid, 3, True) == 47
        assert end_txn(s, 2, "tx-err", pid, 3, True) == 90
        # An unknown partition: refused, the known one not attempted.
        assert add_partitions(s, 2, "tx-err", pid, 0, "te", [0, 7]) == \
            {0: 55, 7: 3}
        assert add_partitions(s, 2, "tx-err", pid, 0, "te", [0]) == {0: 0}
        # Commit; a retry answers NONE once complete (or
        # CONCURRENT_TRANSACTIONS while the markers are on their way),
        # the opposite end is INVALID_TXN_STATE.
        assert end_txn(s, 1, "tx-err", pid, 0, True) == 0
        deadline = time.monotonic() + 10
        while end_txn(s, 1, "tx-err", pid, 0, True) == 51:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert end_txn(s, 1, "tx-err", pid, 0, True) == 0
        assert end_txn(s, 1, "tx-err", pid, 0, False) == 48
        # A second producer bumps the epoch: the first is fenced.
        err, pid2, epoch2 = init_pid(s, "tx-err")
        assert (err, pid2, epoch2) == (0, pid, 1)
        assert add_partitions(s, 2, "tx-err", pid, 0, "te", [0]) == {0: 90}
        s.close()
