"""Transactions on a partition leader, driven with raw requests (the
coordinator's part is left out): transactional batches open a
transaction, WriteTxnMarkers v1 ends it, read_committed Fetch stops at
the last stable offset and lists aborted transactions, ListOffsets
latest in read_committed is the last stable offset, and all of it
survives a kill -9."""
import struct

from harness import Broker, connect, read_uvarint, recv_frame, request, uvarint
from kafka_records import Reader, _str, build_batch, produce_v8

TOPIC = "txp"
# These batches have no coordinator behind them: KIP-890's verification,
# which would refuse them, is test_txn_verify.py's.
NO_VERIFY = {"transaction.partition.verification.enable": "false"}


def create_topic(sock, name):
    """CreateTopics v4, one partition, replication factor 1."""
    body = struct.pack(">i", 1) + _str(name)
    body += struct.pack(">ihii", 1, 1, 0, 0)
    body += struct.pack(">ib", 15000, 0)
    sock.sendall(request(19, 4, 9, body))
    r = Reader(recv_frame(sock), 4)
    r.i32()
    assert r.i32() == 1
    r.string()
    return r.i16()


def txn_batch(pid, epoch, seq, values, transactional=True):
    return build_batch([(None, v) for v in values], producer_id=pid,
                       producer_epoch=epoch, base_sequence=seq,
                       attributes=0x10 if transactional else 0)


def cstr(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def write_marker(sock, pid, epoch, commit, coordinator_epoch=0, corr=50):
    """WriteTxnMarkers v1 for partition 0 of TOPIC: the partition's
    error code."""
    topic = cstr(TOPIC) + uvarint(2) + struct.pack(">i", 0) + b"\0"
    marker = struct.pack(">qh?", pid, epoch, commit) + uvarint(2) + topic
    marker += struct.pack(">i", coordinator_epoch) + b"\0"
    body = uvarint(2) + marker + b"\0"
    sock.sendall(request(27, 1, corr, body, flexible=True))
    f = recv_frame(sock)
    pos = 4
    _, pos = read_uvarint(f, pos)  # header tags
    n, pos = read_uvarint(f, pos)
    assert n - 1 == 1
    got_pid, = struct.unpack_from(">q", f, pos)
    assert got_pid == pid
    pos += 8
    n, pos = read_uvarint(f, pos)
    assert n - 1 == 1
    ln, pos = read_uvarint(f, pos)
    assert f[pos:pos + ln - 1].decode() == TOPIC
    pos += ln - 1
    n, pos = read_uvarint(f, pos)
    assert n - 1 == 1
    idx, err = struct.unpack_from(">ih", f, pos)
    assert idx == 0
    return err


def fetch(sock, offset, read_committed, corr=60):
    """Fetch v4 of partition 0: (error, high watermark, last stable
    offset, aborted [(pid, first offset)] or None, record bytes)."""
    iso = 1 if read_committed else 0
    body = struct.pack(">iiiib", -1, 0, 0, 1 << 20, iso)
    body += struct.pack(">i", 1) + _str(TOPIC)
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
    sock.sendall(request(1, 4, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    r.i32()
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    assert r.i32() == 0
    err, hw, lso = r.i16(), r.i64(), r.i64()
    n = r.i32()
    aborted = None if n < 0 else [(r.i64(), r.i64()) for _ in range(n)]
    return err, hw, lso, aborted, r.bytes_() or b""


def latest(sock, read_committed, corr=70):
    """ListOffsets v2 latest offset of partition 0."""
    body = struct.pack(">ib", -1, 1 if read_committed else 0)
    body += struct.pack(">i", 1) + _str(TOPIC)
    body += struct.pack(">i", 1) + struct.pack(">iq", 0, -1)
    sock.sendall(request(2, 2, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    r.i32()
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    assert r.i32() == 0
    err = r.i16()
    r.i64()
    return err, r.i64()


def test_abort_commit_and_read_committed():
    with Broker(extra=NO_VERIFY) as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        # pid 7000 opens a transaction at 0; a plain batch lands at 2.
        first = txn_batch(7000, 0, 0, [b"a0", b"a1"])
        assert produce_v8(s, TOPIC, 0, first)[:2] == (0, 0)
        plain = build_batch([(None, b"p")])
        assert produce_v8(s, TOPIC, 0, plain)[:2] == (0, 2)
        # Outside its open transaction, pid 7000 may not write.
        err = produce_v8(s, TOPIC, 0,
                         txn_batch(7000, 0, 2, [b"x"], transactional=False))[0]
        assert err == 48  # INVALID_TXN_STATE
        err, hw, lso, aborted, data = fetch(s, 0, True)
        assert (err, hw, lso, aborted, data) == (0, 3, 0, [], b"")
        assert latest(s, True) == (0, 0)
        assert latest(s, False) == (0, 3)
        # read_uncommitted sees everything, with no aborted list.
        err, hw, lso, aborted, data = fetch(s, 0, False)
        assert (err, lso, aborted) == (0, 0, None) and len(data) > 0
        # The abort marker at 3 ends it: stable up to 4.
        assert write_marker(s, 7000, 0, False, coordinator_epoch=5) == 0
        err, hw, lso, aborted, data = fetch(s, 0, True)
        assert (err, hw, lso, aborted) == (0, 4, 4, [(7000, 0)])
        assert latest(s, True) == (0, 4)
        # A zombie coordinator's marker and an old producer epoch.
        assert write_marker(s, 7000, 0, True, coordinator_epoch=4) == 52
        # A second transaction of the same producer, committed.
        second = txn_batch(7000, 0, 2, [b"c0"])
        assert produce_v8(s, TOPIC, 0, second)[:2] == (0, 4)
        assert fetch(s, 4, True)[2] == 4
        assert write_marker(s, 7000, 0, True, coordinator_epoch=5) == 0
        err, hw, lso, aborted, data = fetch(s, 4, True)
        assert (err, hw, lso, aborted) == (0, 6, 6, [])
        # The abort is still listed for a read from the start.
        assert fetch(s, 0, True)[3] == [(7000, 0)]
        # An admin's abort (KIP-664: coordinator epoch -1) with nothing
        # open is accepted and changes nothing.
        assert write_marker(s, 7000, 0, False, coordinator_epoch=-1) == 0
        assert fetch(s, 0, True)[3] == [(7000, 0)]
        s.close()


def test_open_transaction_survives_kill():
    with Broker(extra=NO_VERIFY) as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        assert produce_v8(s, TOPIC, 0, txn_batch(8000, 1, 0, [b"a"]))[0] == 0
        assert write_marker(s, 8000, 1, False, coordinator_epoch=1) == 0
        other = txn_batch(9000, 0, 0, [b"b"])
        assert produce_v8(s, TOPIC, 0, other)[:2] == (0, 2)
        s.close()
        b.kill()
        b.start()
        s = connect(b.port)
        # pid 9000's transaction is open again after the replay, and the
        # abort of pid 8000 is still listed.
        err, hw, lso, aborted, _ = fetch(s, 0, True)
        assert (err, hw, lso, aborted) == (0, 3, 2, [(8000, 0)])
        # A marker ends it.
        assert write_marker(s, 9000, 0, True, coordinator_epoch=1) == 0
        err, hw, lso, aborted, _ = fetch(s, 0, True)
        assert (err, hw, lso, aborted) == (0, 4, 4, [(8000, 0)])
        s.close()
