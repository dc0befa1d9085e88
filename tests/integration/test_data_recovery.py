"""The log across segments and restarts: a partition that rolls several
1 MiB segments reads back exactly, answers time lookups and mid-log
fetches, after a graceful restart and after SIGKILL; and a torn or
garbage tail left by a crash is cut back to the last whole batch."""
import glob
import os
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from data_util import create_topics, read_all, stop_cleanly
from harness import Broker, connect
from kafka_records import build_batch, fetch_all, list_offsets_v1, produce_v8

N = 4000


def value_of(i):
    return (b"%06d" % i) * 170  # ~1 KiB


def sigkill(b):
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(timeout=10)
    b.log.close()


def check_segmented(b, base):
    got = read_all(b.bootstrap, "seg", [0], N)
    assert [(o, k, v, ts) for _, o, k, v, ts in got] == \
        [(i, b"k%d" % i, value_of(i), base + i * 10) for i in range(N)]
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "seg",
                  "enable.auto.commit": False})
    try:
        for i in (0, 1, 965, 966, 1500, 2999, 3999):
            r = c.offsets_for_times([TopicPartition("seg", 0, base + i * 10 - 5)],
                                    timeout=10)[0]
            assert r.error is None and r.offset == i, (i, r)
        r = c.offsets_for_times([TopicPartition("seg", 0, base + N * 10)],
                                timeout=10)[0]
        assert r.offset == -1, r
        c.assign([TopicPartition("seg", 0, 2500)])
        m = None
        deadline = time.monotonic() + 15
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.2)
        assert m is not None and m.error() is None, m and m.error()
        assert (m.offset(), m.value()) == (2500, value_of(2500))
    finally:
        c.close()


def test_segments_survive_restart_and_sigkill():
    with Broker() as b:
        create_topics(b.bootstrap, {"seg": (1, {"segment.bytes": "1048576"})})
        base = (int(time.time()) - 3600) * 1000
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                      "linger.ms": 5})
        for i in range(N):
            p.produce("seg", key=b"k%d" % i, value=value_of(i), partition=0,
                      timestamp=base + i * 10)
            p.poll(0)
        assert p.flush(60) == 0
        del p
        segs = glob.glob(os.path.join(b.data_dir, "seg-0", "*.log"))
        assert len(segs) >= 3, "expected several segments, got %r" % segs
        check_segmented(b, base)
        stop_cleanly(b)
        b.start()
        check_segmented(b, base)
        sigkill(b)
        b.start()
        check_segmented(b, base)
        s = connect(b.port)
        try:
            assert produce_v8(s, "seg", 0, build_batch([(b"n", b"new")]))[:2] == (0, N)
        finally:
            s.close()
        stop_cleanly(b)


@pytest.mark.parametrize("damage", ["cut-7-bytes", "zeros-4096", "garbage-300"])
def test_torn_tail_after_crash_is_cut_back(damage):
    """After SIGKILL the active segment's tail is damaged as a crash during
    a write could leave it. brokerd starts, keeps every whole batch, drops
    the broken one, and appends after it."""
    with Broker() as b:
        create_topics(b.bootstrap, {"torn": (1, {})})
        s = connect(b.port)
        try:
            for i in range(100):
                batch = build_batch([(b"k%d" % j, b"v%d-%d" % (i, j)) for j in range(5)])
                assert produce_v8(s, "torn", 0, batch)[0] == 0
        finally:
            s.close()
        sigkill(b)
        seg = sorted(glob.glob(os.path.join(b.data_dir, "torn-0", "*.log")))[-1]
        if damage == "cut-7-bytes":
            os.truncate(seg, os.path.getsize(seg) - 7)
            whole = 99
        elif damage == "zeros-4096":
            with open(seg, "ab") as f:
                f.write(b"\0" * 4096)
            whole = 100
        else:
            with open(seg, "ab") as f:
                f.write(bytes((i * 37 + 11) & 0xFF for i in range(300)))
            whole = 100
        b.start()
        s = connect(b.port)
        try:
            assert list_offsets_v1(s, "torn", 0, -1) == (0, -1, whole * 5)
            batches, hw = fetch_all(s, "torn", 0)
            assert hw == whole * 5 and len(batches) == whole
            assert [r["value"] for r in batches[-1]["records"]] == \
                [b"v%d-%d" % (whole - 1, j) for j in range(5)]
            assert produce_v8(s, "torn", 0, build_batch([(b"n", b"n")]))[:2] == \
                (0, whole * 5)
            batches, hw = fetch_all(s, "torn", 0, start=whole * 5)
            assert hw == whole * 5 + 1
            assert [r["value"] for bt in batches for r in bt["records"]] == [b"n"]
        finally:
            s.close()
        stop_cleanly(b)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_idempotent_producer_across_broker_restart(how):
    """An idempotent librdkafka producer keeps sending while brokerd
    restarts under it (gracefully, or after SIGKILL): it retries what was in
    flight, and every record ends up in the log exactly once, in order."""
    import threading
    n = 30000
    with Broker() as b:
        create_topics(b.bootstrap, {"idem-restart": (3, {})})
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "enable.idempotence": True, "linger.ms": 2,
                      "compression.type": "lz4", "message.timeout.ms": 60000,
                      "reconnect.backoff.max.ms": 200})
        acked = {}
        errors = []

        def on_delivery(err, msg, i):
            if err is not None:
                errors.append((i, str(err)))
            else:
                acked[i] = (msg.partition(), msg.offset())

        def produce():
            for i in range(n):
                while True:
                    try:
                        p.produce("idem-restart", key=b"k%d" % (i % 50),
                                  value=b"v%06d" % i,
                                  on_delivery=lambda e, m, i=i: on_delivery(e, m, i))
                        break
                    except BufferError:
                        p.poll(0.02)
                p.poll(0)
            p.flush(90)

        t = threading.Thread(target=produce)
        t.start()
        try:
            deadline = time.monotonic() + 60
            while len(acked) < 3000 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert len(acked) >= 3000
            if how == "sigterm":
                stop_cleanly(b)
            else:
                sigkill(b)
            time.sleep(0.3)
            b.start()
        finally:
            t.join(120)
        assert not t.is_alive()
        assert not errors, errors[:5]
        assert len(acked) == n
        got = read_all(b.bootstrap, "idem-restart", range(3), n, timeout=60)
        assert len(got) == n, "read %d records for %d produced" % (len(got), n)
        seen = {(q, off): v for q, off, _, v, _ in got}
        for i, (q, off) in acked.items():
            assert seen.get((q, off)) == b"v%06d" % i
        for q in range(3):
            mine = [(off, int(v[1:])) for r, off, _, v, _ in got if r == q]
            assert [off for off, _ in mine] == list(range(len(mine)))
            assert [i for _, i in mine] == sorted(i for _, i in mine)
        stop_cleanly(b)
