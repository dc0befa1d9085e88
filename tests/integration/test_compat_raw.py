"""Answers that must match Apache Kafka 4.1 field by field (issue 19),
driven with raw requests. The expected values were observed by sending the
same requests to a single-node Kafka 4.1 (KRaft) and are marked as Kafka
4.1's answers where they appear."""
import re
import struct
import time

from harness import (Broker, connect, read_uvarint, recv_frame, request,
                     uvarint)
from kafka_records import crc32c, encode_record, produce_v8


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def cstr(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def create_topic(sock, name, configs=()):
    """CreateTopics v4, one partition: the topic's error code."""
    cfgs = arr([s16(k) + s16(v) for k, v in configs])
    body = arr([s16(name) + struct.pack(">ih", 1, 1) + arr([]) + cfgs])
    body += struct.pack(">i?", 15000, False)
    sock.sendall(request(19, 4, 9, body))
    f = recv_frame(sock)
    pos = 4 + 4 + 4  # correlation id, throttle, topic count
    (tl,) = struct.unpack_from(">h", f, pos)
    (err,) = struct.unpack_from(">h", f, pos + 2 + tl)
    return err


def batch(records, base_ts, gzip=False):
    """One magic-2 batch: records is [(key, ts_delta)], offset deltas
    0..n-1, value b"v"."""
    body = b"".join(encode_record(i, td, k, b"v")
                    for i, (k, td) in enumerate(records))
    attributes = 0
    if gzip:
        import gzip as gz
        body = gz.compress(body)
        attributes = 1
    max_ts = base_ts + max(td for _, td in records)
    after_crc = struct.pack(">hiqqqhii", attributes, len(records) - 1,
                            base_ts, max_ts, -1, -1, -1, len(records)) + body
    return struct.pack(">qiibI", 0, 9 + len(after_crc), -1, 2,
                       crc32c(after_crc)) + after_crc


def delete_records(sock, topic, offset):
    """DeleteRecords v1 on partition 0: (error, low watermark)."""
    body = arr([s16(topic) + arr([struct.pack(">iq", 0, offset)])])
    body += struct.pack(">i", 10000)
    sock.sendall(request(21, 1, 6, body))
    f = recv_frame(sock)
    pos = 4 + 4 + 4
    (tl,) = struct.unpack_from(">h", f, pos)
    pos += 2 + tl + 4
    _, low, err = struct.unpack_from(">iqh", f, pos)
    return err, low


def list_offsets_v7(sock, topic, timestamp):
    """ListOffsets v7 (the first with -3) on partition 0:
    (error, timestamp, offset)."""
    body = struct.pack(">ib", -1, 0) + uvarint(2) + cstr(topic) + uvarint(2)
    body += struct.pack(">iiq", 0, -1, timestamp) + b"\0\0\0"
    sock.sendall(request(2, 7, 8, body, flexible=True))
    f = recv_frame(sock)
    _, pos = read_uvarint(f, 4)  # header tags
    pos += 4  # throttle
    _, pos = read_uvarint(f, pos)
    n, pos = read_uvarint(f, pos)
    pos += n - 1
    _, pos = read_uvarint(f, pos)
    _, err, ts, off = struct.unpack_from(">ihqq", f, pos)
    return err, ts, off


# --- ListOffsets -3 (max timestamp) after DeleteRecords --------------------

BASE_TS = 1700000000000


def test_max_timestamp_after_delete_records():
    with Broker() as b:
        s = connect(b.port)
        for t in ("mt1", "mt2", "mt3"):
            assert create_topic(s, t) == 0
        # mt1: the largest timestamp is offset 2, in the first batch.
        k = [b"k%d" % i for i in range(10)]
        produce_v8(s, "mt1", 0, batch(list(zip(k, [0, 10, 50, 20, 30])),
                                      BASE_TS))
        produce_v8(s, "mt1", 0, batch(list(zip(k, [1, 2, 3, 4, 5])),
                                      BASE_TS))
        top = (0, BASE_TS + 50, 2)
        assert list_offsets_v7(s, "mt1", -3) == top
        # Kafka 4.1's answers: the same record whether the new log start
        # falls before it, just after it inside its batch, in a later
        # batch, or at the log end (Kafka looks through every segment on
        # disk, not from the log start).
        for start in (1, 3, 7, 10):
            assert delete_records(s, "mt1", start) == (0, start)
            assert list_offsets_v7(s, "mt1", -3) == top
        assert list_offsets_v7(s, "mt1", -2) == (0, -1, 10)

        # mt2: the largest timestamp in the second batch (offset 4).
        produce_v8(s, "mt2", 0, batch(list(zip(k, [0, 1, 2])), BASE_TS))
        produce_v8(s, "mt2", 0, batch(list(zip(k, [5, 90, 7, 8])), BASE_TS))
        for start in (None, 4, 6):
            if start is not None:
                assert delete_records(s, "mt2", start) == (0, start)
            assert list_offsets_v7(s, "mt2", -3) == (0, BASE_TS + 90, 4)

        # mt3: inside a compressed batch (offset 1), as Kafka 4.1 answers.
        produce_v8(s, "mt3", 0, batch(list(zip(k, [0, 60, 2, 3])), BASE_TS,
                                      gzip=True))
        produce_v8(s, "mt3", 0, batch(list(zip(k, [5, 6])), BASE_TS))
        for start in (None, 2, 5):
            if start is not None:
                assert delete_records(s, "mt3", start) == (0, start)
            assert list_offsets_v7(s, "mt3", -3) == (0, BASE_TS + 60, 1)
        s.close()


# --- a transactional id's coordinator ---------------------------------------


def read_cstr(f, pos):
    n, pos = read_uvarint(f, pos)
    if n == 0:
        return None, pos
    return f[pos:pos + n - 1].decode(), pos + n - 1


def find_txn_coordinator(sock, version, key="tx1"):
    """FindCoordinator for a transactional id (key type 1):
    (error, message, node_id)."""
    if version >= 4:
        body = b"\1" + uvarint(2) + cstr(key) + b"\0"
    elif version == 3:
        body = cstr(key) + b"\1\0"
    else:
        body = s16(key) + b"\1"
    sock.sendall(request(10, version, 11, body, flexible=version >= 3))
    f = recv_frame(sock)
    pos = 4
    if version >= 3:
        _, pos = read_uvarint(f, pos)
    pos += 4  # throttle
    if version >= 4:
        _, pos = read_uvarint(f, pos)  # one coordinator
        got, pos = read_cstr(f, pos)
        assert got == key
        node, = struct.unpack_from(">i", f, pos)
        _, pos = read_cstr(f, pos + 4)  # host
        err, = struct.unpack_from(">h", f, pos + 4)
        msg, _ = read_cstr(f, pos + 6)
        return err, msg, node
    err, = struct.unpack_from(">h", f, pos)
    pos += 2
    if version >= 3:
        msg, pos = read_cstr(f, pos)
    else:
        (n,) = struct.unpack_from(">h", f, pos)
        msg = f[pos + 2:pos + 2 + n].decode() if n >= 0 else None
        pos += 2 + max(n, 0)
    node, = struct.unpack_from(">i", f, pos)
    return err, msg, node


def init_producer_id_v1(sock, txn_id, timeout_ms, corr=12):
    """InitProducerId v1: (error, producer id, epoch)."""
    body = s16(txn_id) + struct.pack(">i", timeout_ms)
    sock.sendall(request(22, 1, corr, body))
    f = recv_frame(sock)
    return struct.unpack_from(">hqh", f, 8)


def test_transactional_id_finds_its_coordinator():
    with Broker() as b:
        s = connect(b.port)
        # The first lookup creates __transaction_state; a single node
        # leads every partition of it.
        for v in (1, 2, 3, 4, 5, 6):
            err, _, node = find_txn_coordinator(s, v)
            assert (err, node) == (0, 1), v
        # A new id gets a producer id at epoch 0; the next init bumps it.
        err, pid, epoch = init_producer_id_v1(s, "tx1", 60000)
        assert (err, epoch) == (0, 0) and pid >= 0
        assert init_producer_id_v1(s, "tx1", 60000) == (0, pid, 1)
        # Kafka's refusals: an empty id, a timeout above
        # transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
        assert init_producer_id_v1(s, "", 60000)[0] == 42
        assert init_producer_id_v1(s, "tx2", 900001)[0] == 50
        # Group coordinators are unaffected.
        s.sendall(request(10, 1, 13, s16("g1") + b"\0"))
        f = recv_frame(s)
        assert struct.unpack_from(">h", f, 8)[0] == 0
        s.close()


# --- Produce v8+: every invalid record in record_errors ---------------------

NO_KEY = ("Compacted topic cannot accept message without key in topic "
          "partition %s-0")
TS_RE = (r"Timestamp (-?\d+) of message with offset (\d+) is out of range\. "
         r"The timestamp should be within \[(-?\d+), (-?\d+)\]$")
HOUR = 3600000


def test_produce_lists_every_invalid_record():
    with Broker() as b:
        s = connect(b.port)
        assert create_topic(s, "ck", [("cleanup.policy", "compact")]) == 0
        assert create_topic(s, "ts", [
            ("message.timestamp.before.max.ms", str(HOUR)),
            ("message.timestamp.after.max.ms", str(HOUR))]) == 0
        assert create_topic(s, "ckts", [
            ("cleanup.policy", "compact"),
            ("message.timestamp.before.max.ms", str(HOUR))]) == 0
        now = int(time.time() * 1000)
        k = [b"k%d" % i for i in range(12)]

        # Kafka 4.1's answer: INVALID_RECORD (87), base offset -1, the log
        # start offset, one record error per keyless record, and a message
        # naming the count and the first three.
        recs = [(None if i in (0, 10) else k[i], i) for i in range(12)]
        for gzip in (False, True):
            err, base, start, errs, msg = produce_v8(
                s, "ck", 0, batch(recs, now, gzip=gzip))
            key_msg = NO_KEY % "ck"
            assert (err, base, start) == (87, -1, 0)
            assert errs == [(0, key_msg), (10, key_msg)]
            assert msg == (
                "One or more records have been rejected due to 2 record "
                "errors in total, and only showing the first three errors "
                "at most: [RecordError(batchIndex=0, message='%s'), "
                "RecordError(batchIndex=10, message='%s')]"
                % (key_msg, key_msg))
        err, _, _, errs, msg = produce_v8(
            s, "ck", 0, batch([(None, i) for i in range(5)], now))
        assert err == 87 and [i for i, _ in errs] == [0, 1, 2, 3, 4]
        assert msg.startswith("One or more records have been rejected due "
                              "to 5 record errors in total")
        assert msg.count("RecordError(") == 3

        # Timestamps out of range, too old (1, 3) and too new (2, 4): Kafka
        # 4.1 answers INVALID_TIMESTAMP (32), every such record, with its
        # timestamp, offset and the allowed range.
        for topic, bad, delta in (("ts", (1, 3), -2 * HOUR),
                                  ("ts", (2, 4), 2 * HOUR)):
            recs = [(k[i], delta if i in bad else i) for i in range(5)]
            t0 = int(time.time() * 1000)
            err, base, start, errs, msg = produce_v8(s, topic, 0,
                                                     batch(recs, now))
            t1 = int(time.time() * 1000)
            assert (err, base, start) == (32, -1, 0)
            assert msg == ("One or more records have been rejected due to "
                           "invalid timestamp")
            assert [i for i, _ in errs] == list(bad)
            for i, text in errs:
                m = re.match(TS_RE, text)
                assert m, text
                ts, off, lo, hi = map(int, m.groups())
                assert (ts, off) == (now + delta, i)
                assert t0 - HOUR <= lo <= t1 - HOUR and hi == lo + 2 * HOUR

        # Both at once: the key is checked first, one error per record, and
        # any timestamp error makes it INVALID_TIMESTAMP (Kafka 4.1).
        recs = [(None if i == 0 else k[i], -2 * HOUR if i == 2 else i)
                for i in range(4)]
        err, _, _, errs, msg = produce_v8(s, "ckts", 0, batch(recs, now))
        assert err == 32 and [i for i, _ in errs] == [0, 2]
        assert errs[0][1] == NO_KEY % "ckts"
        assert re.match(TS_RE, errs[1][1])
        recs = [(None if i == 0 else k[i], -2 * HOUR if i == 0 else i)
                for i in range(4)]
        err, _, _, errs, msg = produce_v8(s, "ckts", 0, batch(recs, now))
        assert (err, errs) == (87, [(0, NO_KEY % "ckts")])
        s.close()
