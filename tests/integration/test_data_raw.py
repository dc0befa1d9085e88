"""The data path on the raw wire: hand-built magic-2 record batches sent
with Produce v8, checked with ListOffsets v1 and Fetch v4.

Idempotence: the same batch twice gives one copy at the original offset; a
sequence gap gives 45 OUT_OF_ORDER_SEQUENCE_NUMBER. Bad input (wrong CRC,
batch over max.message.bytes, truncated batch, unknown topic) gets Kafka's
error code and writes nothing."""
import struct
import threading
import time

import pytest

from data_util import create_topics, stop_cleanly
from harness import Broker, connect, recv_frame, request
from kafka_records import (OFF_BATCH_LENGTH, OFF_CRC, build_batch, fetch_all,
                           fetch_v4, list_offsets_v1, metadata_v1,
                           parse_batches, produce_v8)

NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_RECORD = 87

PID = 1234


def recs(prefix, n, size=8):
    return [(b"%s-k%d" % (prefix, i), (b"%s-v%d-" % (prefix, i)).ljust(size, b"x"))
            for i in range(n)]


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        create_topics(b.bootstrap, {
            "idem": (1, {}),
            "idem-restart": (1, {}),
            "epoch": (1, {}),
            "bad-crc": (1, {}),
            "too-large": (1, {"max.message.bytes": "1000"}),
            "truncated": (1, {}),
            "plain": (2, {}),
            "longpoll": (1, {}),
            "big": (1, {}),
            "mixed": (2, {}),
            "limits": (3, {}),
            "wake": (4, {}),
            "ts-bounds": (1, {"message.timestamp.before.max.ms": "60000"}),
        })
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


@pytest.fixture
def sock(broker):
    s = connect(broker.port)
    yield s
    s.close()


def latest(sock, topic, partition=0):
    err, _, off = list_offsets_v1(sock, topic, partition, -1)
    assert err == NONE
    return off


def assert_empty(sock, topic, partition=0):
    """Nothing was written: the log end is 0 and a fetch from 0 returns no
    record bytes."""
    assert latest(sock, topic, partition) == 0
    err, hw, _, data = fetch_v4(sock, topic, partition, 0)
    assert (err, hw, data) == (NONE, 0, b"")


def test_plain_produce_and_fetch(sock):
    """Non-idempotent batches get consecutive offsets and read back intact,
    with their keys, values and timestamps."""
    b1 = build_batch(recs(b"a", 3), base_timestamp=1700000000000)
    b2 = build_batch(recs(b"b", 4), base_timestamp=1700000001000)
    assert produce_v8(sock, "plain", 1, b1)[:2] == (NONE, 0)
    assert produce_v8(sock, "plain", 1, b2)[:2] == (NONE, 3)
    assert latest(sock, "plain", 1) == 7
    assert latest(sock, "plain", 0) == 0
    batches, hw = fetch_all(sock, "plain", 1)
    assert hw == 7
    got = [(r["offset"], r["key"], r["value"], r["timestamp"])
           for b in batches for r in b["records"]]
    want = [(i, k, v, 1700000000000 + i) for i, (k, v) in enumerate(recs(b"a", 3))]
    want += [(3 + i, k, v, 1700000001000 + i)
             for i, (k, v) in enumerate(recs(b"b", 4))]
    assert got == want
    # acks=1 appends too.
    assert produce_v8(sock, "plain", 0, build_batch(recs(b"c", 1)), acks=1)[:2] == (NONE, 0)


def test_fetch_long_poll(broker, sock):
    """A fetch at the end waits up to max_wait_ms, and answers as soon as a
    produce makes data available."""
    t0 = time.monotonic()
    err, hw, _, data = fetch_v4(sock, "longpoll", 0, 0, max_wait_ms=1000)
    waited = time.monotonic() - t0
    assert (err, hw, data) == (NONE, 0, b"")
    assert 0.8 <= waited < 5, "empty long poll answered after %.2fs" % waited

    def produce_later():
        time.sleep(0.5)
        s2 = connect(broker.port)
        try:
            produce_v8(s2, "longpoll", 0, build_batch(recs(b"l", 2)))
        finally:
            s2.close()

    t = threading.Thread(target=produce_later)
    t0 = time.monotonic()
    t.start()
    try:
        err, hw, _, data = fetch_v4(sock, "longpoll", 0, 0, max_wait_ms=10000)
    finally:
        t.join()
    waited = time.monotonic() - t0
    assert err == NONE and hw == 2
    assert [r["value"] for b in parse_batches(data) for r in b["records"]] == \
        [v for _, v in recs(b"l", 2)]
    assert waited < 3, "long poll answered %.2fs after the start (data came at 0.5s)" % waited


def test_fetch_long_poll_over_partitions_and_min_bytes(broker, sock):
    """A long poll over four partitions (owned by different shards) wakes
    when any one of them gets data; with min_bytes above what arrived it
    waits for max_wait_ms, and answers once min_bytes are there."""
    from kafka_records import fetch_v4_multi

    def produce_later(part, size, delay=0.4):
        def run():
            time.sleep(delay)
            s2 = connect(broker.port)
            try:
                produce_v8(s2, "wake", part, build_batch([(b"k", b"x" * size)]))
            finally:
                s2.close()
        t = threading.Thread(target=run)
        t.start()
        return t

    ends = {0: 0, 1: 0, 2: 0, 3: 0}
    for part in (3, 1):
        t = produce_later(part, 10)
        t0 = time.monotonic()
        try:
            ans = fetch_v4_multi(sock, [("wake", q, ends[q], 1 << 20) for q in range(4)],
                                 max_bytes=1 << 20, max_wait_ms=10000)
        finally:
            t.join()
        waited = time.monotonic() - t0
        assert waited < 3, "woke %.2fs after the start (data at 0.4s)" % waited
        data = {q: d for _, q, _, _, d in ans}
        assert len(parse_batches(data[part])) == 1
        assert all(d == b"" for q, d in data.items() if q != part)
        ends[part] += 1

    def fetch_min(min_bytes, max_wait, offset):
        body = struct.pack(">iiiib", -1, max_wait, min_bytes, 1 << 20, 0)
        body += struct.pack(">i", 1) + struct.pack(">h", 4) + b"wake"
        body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
        sock.sendall(request(1, 4, 88, body))
        return recv_frame(sock)

    t = produce_later(0, 10, 0.3)
    t0 = time.monotonic()
    fetch_min(5000, 1500, 0)
    t.join()
    waited = time.monotonic() - t0
    assert 1.3 <= waited < 5, "min_bytes=5000 with 80 bytes there: %.2fs" % waited
    t = produce_later(0, 6000, 0.3)
    t0 = time.monotonic()
    fetch_min(5000, 10000, 1)
    t.join()
    waited = time.monotonic() - t0
    assert waited < 3, "min_bytes reached at 0.3s, answered at %.2fs" % waited


def test_fetch_returns_a_whole_batch_larger_than_max_bytes(sock):
    """KIP-74: the first batch comes back whole even when it is larger than
    the fetch's max_bytes and partition_max_bytes."""
    big = build_batch([(b"big", bytes(range(256)) * 2000)])  # ~512 KiB
    assert produce_v8(sock, "big", 0, big)[:2] == (NONE, 0)
    assert produce_v8(sock, "big", 0, build_batch(recs(b"z", 1)))[:2] == (NONE, 1)
    err, hw, _, data = fetch_v4(sock, "big", 0, 0, max_bytes=1000)
    assert (err, hw) == (NONE, 2)
    batches = parse_batches(data)
    assert len(batches) >= 1
    assert batches[0]["records"][0]["value"] == bytes(range(256)) * 2000


def test_fetch_partition_max_bytes_exception_only_for_first_partition(sock):
    """KIP-74, and brokerd's own fetch.c: each partition gets at most
    partition_max_bytes, except that the first partition with data returns
    one whole batch even when it is larger. The partitions after it stay
    within their limit (Kafka's ReplicaManager.readFromLog stops ignoring
    the limits once one partition returned data), so a 200 KB batch does
    not come back for them."""
    from kafka_records import fetch_v4_multi
    payload = b"p" * 200000
    for part in (1, 2):
        assert produce_v8(sock, "limits", part, build_batch([(b"k", payload)]))[:2] == (NONE, 0)
    # partition 0 is empty: partition 1 is the first with data.
    ans = fetch_v4_multi(sock, [("limits", 0, 0, 10), ("limits", 1, 0, 10),
                                ("limits", 2, 0, 10)], max_bytes=10 << 20)
    got = {(t, p): (err, hw, len(parse_batches(d)), len(d))
           for t, p, err, hw, d in ans}
    assert got[("limits", 0)] == (NONE, 0, 0, 0)
    assert got[("limits", 1)][:3] == (NONE, 1, 1), got
    # Kafka may send a partial batch of up to partition_max_bytes (which
    # clients drop), but never the whole 200 KB batch.
    assert got[("limits", 2)][:3] == (NONE, 1, 0) and got[("limits", 2)][3] <= 10, \
        "partition 2 returned %d bytes with partition_max_bytes=10" % got[("limits", 2)][3]
    # max_bytes over the whole answer: only the first partition's batch.
    ans = fetch_v4_multi(sock, [("limits", 1, 0, 1 << 20), ("limits", 2, 0, 1 << 20)],
                         max_bytes=1000)
    assert [(p, len(parse_batches(d))) for _, p, _, _, d in ans] == [(1, 1), (2, 0)]


def test_idempotent_duplicate_gets_original_offset(sock):
    first = build_batch(recs(b"i", 5), producer_id=PID, producer_epoch=0,
                        base_sequence=0)
    err, off, _, _, _ = produce_v8(sock, "idem", 0, first)
    assert (err, off) == (NONE, 0)
    # The same batch again (a producer retry): success, the original offset.
    err, off, _, _, _ = produce_v8(sock, "idem", 0, first, corr=101)
    assert (err, off) == (NONE, 0)
    assert latest(sock, "idem") == 5
    second = build_batch(recs(b"j", 2), producer_id=PID, producer_epoch=0,
                         base_sequence=5)
    assert produce_v8(sock, "idem", 0, second, corr=102)[:2] == (NONE, 5)
    # A retry of an older batch still among the last five: its own offset.
    assert produce_v8(sock, "idem", 0, first, corr=103)[:2] == (NONE, 0)
    assert produce_v8(sock, "idem", 0, second, corr=104)[:2] == (NONE, 5)
    assert latest(sock, "idem") == 7
    batches, hw = fetch_all(sock, "idem", 0)
    assert hw == 7
    assert [(b["base_offset"], b["count"], b["producer_id"], b["base_sequence"])
            for b in batches] == [(0, 5, PID, 0), (5, 2, PID, 5)]
    values = [r["value"] for b in batches for r in b["records"]]
    assert values == [v for _, v in recs(b"i", 5)] + [v for _, v in recs(b"j", 2)]


def test_idempotent_sequence_gap_is_error_45(sock):
    b0 = build_batch(recs(b"g", 3), producer_id=PID + 1, producer_epoch=0,
                     base_sequence=0)
    assert produce_v8(sock, "idem", 0, b0)[0] == NONE
    end = latest(sock, "idem")
    # Next expected sequence is 3: 5 leaves a gap.
    gap = build_batch(recs(b"h", 2), producer_id=PID + 1, producer_epoch=0,
                      base_sequence=5)
    err = produce_v8(sock, "idem", 0, gap, corr=105)[0]
    assert err == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert latest(sock, "idem") == end, "the out-of-order batch was written"
    # The right sequence is still accepted afterwards.
    ok = build_batch(recs(b"h", 2), producer_id=PID + 1, producer_epoch=0,
                     base_sequence=3)
    assert produce_v8(sock, "idem", 0, ok, corr=106)[:2] == (NONE, end)


def test_producer_epoch_rules(sock):
    """A new epoch must start at sequence 0 (else 45); an older epoch than
    the stored one gets 47 INVALID_PRODUCER_EPOCH."""
    pid = PID + 2
    b = build_batch(recs(b"e", 2), producer_id=pid, producer_epoch=3,
                    base_sequence=0)
    assert produce_v8(sock, "epoch", 0, b)[:2] == (NONE, 0)
    bump = build_batch(recs(b"f", 1), producer_id=pid, producer_epoch=4,
                       base_sequence=7)
    assert produce_v8(sock, "epoch", 0, bump)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    bump = build_batch(recs(b"f", 1), producer_id=pid, producer_epoch=4,
                       base_sequence=0)
    assert produce_v8(sock, "epoch", 0, bump)[:2] == (NONE, 2)
    old = build_batch(recs(b"o", 1), producer_id=pid, producer_epoch=3,
                      base_sequence=2)
    assert produce_v8(sock, "epoch", 0, old)[0] == INVALID_PRODUCER_EPOCH
    assert latest(sock, "epoch") == 3


def test_idempotent_duplicate_detected_after_restart(broker):
    """Kafka rebuilds producer state from the log: a producer's retry that
    arrives after a broker restart is still answered with the original
    offset and not appended again."""
    batch = build_batch(recs(b"r", 4), producer_id=PID + 3, producer_epoch=0,
                        base_sequence=0)
    s = connect(broker.port)
    try:
        assert produce_v8(s, "idem-restart", 0, batch)[:2] == (NONE, 0)
    finally:
        s.close()
    stop_cleanly(broker)
    broker.start()
    s = connect(broker.port)
    try:
        assert produce_v8(s, "idem-restart", 0, batch)[:2] == (NONE, 0)
        assert latest(s, "idem-restart") == 4
        nxt = build_batch(recs(b"s", 1), producer_id=PID + 3, producer_epoch=0,
                          base_sequence=4)
        assert produce_v8(s, "idem-restart", 0, nxt)[:2] == (NONE, 4)
    finally:
        s.close()


def test_timestamp_bounds_are_invalid_timestamp(sock):
    """CreateTime more than message.timestamp.after.max.ms (Kafka 4 default
    one hour) ahead of the broker's clock, or more than the topic's
    message.timestamp.before.max.ms behind it: 32 INVALID_TIMESTAMP, and
    nothing written."""
    now = int(time.time() * 1000)
    ahead = build_batch(recs(b"a", 2), base_timestamp=now + 2 * 3600 * 1000)
    assert produce_v8(sock, "ts-bounds", 0, ahead)[0] == 32
    behind = build_batch(recs(b"b", 2), base_timestamp=now - 3600 * 1000)
    assert produce_v8(sock, "ts-bounds", 0, behind)[0] == 32
    assert_empty(sock, "ts-bounds")
    # Inside the bounds: accepted.
    ok = build_batch(recs(b"c", 2), base_timestamp=now + 30 * 60 * 1000)
    assert produce_v8(sock, "ts-bounds", 0, ok)[:2] == (NONE, 0)
    ok = build_batch(recs(b"d", 2), base_timestamp=now - 30 * 1000)
    assert produce_v8(sock, "ts-bounds", 0, ok)[:2] == (NONE, 2)


def test_wrong_crc_is_corrupt_message(sock):
    good = bytearray(build_batch(recs(b"c", 3)))
    bad = bytearray(good)
    bad[-1] ^= 0x01  # flip a bit in the last value byte: CRC no longer matches
    assert produce_v8(sock, "bad-crc", 0, bytes(bad))[0] == CORRUPT_MESSAGE
    bad = bytearray(good)
    struct.pack_into(">I", bad, OFF_CRC, struct.unpack_from(">I", good, OFF_CRC)[0] ^ 1)
    assert produce_v8(sock, "bad-crc", 0, bytes(bad), corr=107)[0] == CORRUPT_MESSAGE
    assert_empty(sock, "bad-crc")


def test_batch_over_max_message_bytes_is_message_too_large(sock):
    big = build_batch([(b"k", b"x" * 1200)])
    assert len(big) > 1000
    assert produce_v8(sock, "too-large", 0, big)[0] == MESSAGE_TOO_LARGE
    assert_empty(sock, "too-large")
    # Just under the limit is accepted.
    small = build_batch([(b"k", b"x" * 800)])
    assert len(small) <= 1000
    assert produce_v8(sock, "too-large", 0, small)[:2] == (NONE, 0)


@pytest.mark.parametrize("how", ["cut-tail", "cut-in-header", "length-fixed"])
def test_truncated_batch_is_rejected(sock, how):
    good = build_batch(recs(b"t", 5))
    if how == "cut-tail":
        # The batch says it is longer than the bytes sent.
        bad = good[:-7]
    elif how == "cut-in-header":
        bad = good[:40]
    else:
        # The batch length is made to match the cut bytes: the records end
        # early (and the CRC, computed on the whole batch, no longer fits).
        bad = bytearray(good[:-7])
        struct.pack_into(">i", bad, OFF_BATCH_LENGTH, len(bad) - 12)
        bad = bytes(bad)
    err = produce_v8(sock, "truncated", 0, bad)[0]
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), "error %d" % err
    assert_empty(sock, "truncated")


def test_record_count_larger_than_records_is_rejected(sock):
    """A batch whose CRC is right but whose record count claims one record
    more than it holds is invalid (Kafka: 87 INVALID_RECORD or 2)."""
    from kafka_records import crc32c, OFF_ATTRIBUTES
    bad = bytearray(build_batch(recs(b"n", 3)))
    struct.pack_into(">i", bad, 57, 4)  # records count
    struct.pack_into(">I", bad, OFF_CRC, crc32c(bytes(bad[OFF_ATTRIBUTES:])))
    err = produce_v8(sock, "truncated", 0, bytes(bad))[0]
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), "error %d" % err
    assert_empty(sock, "truncated")


def test_unknown_topic_without_auto_create():
    with Broker({"auto.create.topics.enable": "false"}) as b:
        s = connect(b.port)
        try:
            batch = build_batch(recs(b"u", 2))
            err = produce_v8(s, "no-such-topic", 0, batch)[0]
            assert err == UNKNOWN_TOPIC_OR_PARTITION
            md = metadata_v1(s, ["no-such-topic"])
            assert md["no-such-topic"][0] == UNKNOWN_TOPIC_OR_PARTITION
            # An unknown partition of a known topic is error 3 too.
            create_topics(b.bootstrap, {"known": (1, {})})
            assert produce_v8(s, "known", 5, batch)[0] == UNKNOWN_TOPIC_OR_PARTITION
            assert latest(s, "known") == 0
        finally:
            s.close()
        stop_cleanly(b)


def test_idempotence_window_and_sequence_wraparound(sock):
    """Only the last five batches are remembered: a retry of an older one
    is out of order (45). Sequences wrap from INT32 max to 0."""
    pid = PID + 4
    for q in range(7):
        b = build_batch(recs(b"w%d" % q, 1), producer_id=pid, producer_epoch=0,
                        base_sequence=q)
        assert produce_v8(sock, "epoch", 0, b)[0] == NONE
    end = latest(sock, "epoch")
    old = build_batch(recs(b"w0", 1), producer_id=pid, producer_epoch=0,
                      base_sequence=0)
    assert produce_v8(sock, "epoch", 0, old)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    recent = build_batch(recs(b"w2", 1), producer_id=pid, producer_epoch=0,
                         base_sequence=2)
    assert produce_v8(sock, "epoch", 0, recent)[:2] == (NONE, end - 5)
    assert latest(sock, "epoch") == end

    pid = PID + 5
    top = build_batch(recs(b"x", 3), producer_id=pid, producer_epoch=0,
                      base_sequence=2147483645)  # last sequence INT32 max
    assert produce_v8(sock, "epoch", 0, top)[:2] == (NONE, end)
    nxt = build_batch(recs(b"y", 2), producer_id=pid, producer_epoch=0,
                      base_sequence=0)
    assert produce_v8(sock, "epoch", 0, nxt)[:2] == (NONE, end + 3)
    assert produce_v8(sock, "epoch", 0, nxt)[:2] == (NONE, end + 3)
    assert latest(sock, "epoch") == end + 5


def test_produce_request_validation(sock):
    """acks other than -1/0/1: 21 INVALID_REQUIRED_ACKS. Not exactly one
    magic-2 batch per partition (two batches, magic 1, none): 87
    INVALID_RECORD (2 also accepted for magic 1). Nothing is written."""
    one = build_batch(recs(b"v", 1))
    assert produce_v8(sock, "truncated", 0, one, acks=2)[0] == 21
    assert produce_v8(sock, "truncated", 0, one + one)[0] == INVALID_RECORD
    assert produce_v8(sock, "truncated", 0, b"")[0] == INVALID_RECORD
    m1 = bytearray(one)
    m1[16] = 1
    assert produce_v8(sock, "truncated", 0, bytes(m1))[0] in (INVALID_RECORD,
                                                             CORRUPT_MESSAGE)
    assert_empty(sock, "truncated")


def test_one_bad_partition_does_not_block_the_others(sock):
    """A Produce with a good batch for partition 0 and a corrupt one for
    partition 1: partition 0 is written, partition 1 gets 2 and stays
    empty."""
    from harness import recv_frame, request
    from kafka_records import Reader, _str
    good = build_batch(recs(b"p0", 2))
    bad = bytearray(build_batch(recs(b"p1", 2)))
    bad[-1] ^= 0xFF
    body = struct.pack(">hhi", -1, -1, 10000) + struct.pack(">i", 1) + _str("mixed")
    body += struct.pack(">i", 2)
    for part, data in ((0, good), (1, bytes(bad))):
        body += struct.pack(">ii", part, len(data)) + data
    sock.sendall(request(0, 8, 77, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == 77 and r.i32() == 1 and r.string() == "mixed"
    errs = {}
    for _ in range(r.i32()):
        part = r.i32()
        errs[part] = r.i16()
        r.i64(), r.i64(), r.i64()
        for _ in range(max(r.i32(), 0)):
            r.i32(), r.string()
        r.string()
    assert errs == {0: NONE, 1: CORRUPT_MESSAGE}
    assert latest(sock, "mixed", 0) == 2
    assert_empty(sock, "mixed", 1)
