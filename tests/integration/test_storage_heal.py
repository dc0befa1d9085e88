"""Storage errors that heal, on a real broker. A preloaded shim
(storage_fault.c) makes the file system fail on demand for one topic's
files: ENOSPC on writes (after a partial write, as a disk that fills up
mid-batch), or EMFILE on opens (as when clients used up the process's
file descriptors). While it lasts, acks=all produce is refused with
KAFKA_STORAGE_ERROR (which clients retry) and reads go on; once it clears,
produce works again without a restart, offsets are contiguous and every
acknowledged record is there, in order, also after a restart. The broker's
log does not grow while the fault lasts (it used to warn every 100 ms).
The free space reserve (log.dir.min.free.bytes) refuses produce before the
disk is full."""
import os
import subprocess
import time

import pytest

from data_util import create_topics, stop_cleanly
from harness import Broker, connect
from kafka_records import build_batch, fetch_all, produce_v8

NONE = 0
KAFKA_STORAGE_ERROR = 56


def shim_env(flag):
    shim = os.environ.get("BK_STORAGE_FAULT_SHIM")
    assert shim and os.path.exists(shim), \
        "BK_STORAGE_FAULT_SHIM must name the built libbk_storage_fault.so " \
        "(ctest sets it)"
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": shim,
        "BK_STORAGE_FAULT_FLAG": str(flag),
        # The shim comes ahead of the sanitizer runtime in ASan builds.
        "ASAN_OPTIONS": (asan + ":" if asan else "") +
                        "verify_asan_link_order=0",
    }


class Acked:
    """What the broker acknowledged: offset -> (key, value)."""

    def __init__(self):
        self.recs = {}
        self.end = 0

    def produce(self, sock, topic, tag, n=3, size=200):
        recs = [(b"%s-%d" % (tag, i), (b"v-%s-%d-" % (tag, i)).ljust(size, b"x"))
                for i in range(n)]
        err, base, _, _, _ = produce_v8(sock, topic, 0, build_batch(recs))
        if err == NONE:
            # Offsets stay contiguous across the failures.
            assert base == self.end, "base %d, expected %d" % (base, self.end)
            for i, r in enumerate(recs):
                self.recs[base + i] = r
            self.end = base + n
        return err

    def check(self, sock, topic):
        batches, hw = fetch_all(sock, topic, 0)
        got = [(r["offset"], (r["key"], r["value"]))
               for b in batches for r in b["records"]]
        assert hw == self.end
        assert [o for o, _ in got] == list(range(self.end))
        assert dict(got) == self.recs


def log_lines(b):
    return b.output().count("\n")


def run_fault(b, flag, topic, fault, settle=2.0):
    """Produces through a fault and after it; checks the answers, the data
    and the broker's log volume."""
    acked = Acked()
    s = connect(b.port)
    try:
        for i in range(5):
            assert acked.produce(s, topic, b"before%d" % i) == NONE
        flag.write_text("%s %s\n" % (fault, topic))
        errs = [acked.produce(s, topic, b"during%d" % i) for i in range(10)]
        assert KAFKA_STORAGE_ERROR in errs, errs
        assert set(errs) <= {NONE, KAFKA_STORAGE_ERROR}, errs
        # Reads go on while writes fail.
        acked.check(s, topic)
        # The log does not grow with time while the fault lasts.
        before = log_lines(b)
        time.sleep(settle)
        assert log_lines(b) - before <= 2, b.output()[-3000:]
        errs = [acked.produce(s, topic, b"still%d" % i) for i in range(3)]
        assert KAFKA_STORAGE_ERROR in errs, errs
        flag.unlink()
        # Healed without a restart: the next produce works.
        for i in range(10):
            assert acked.produce(s, topic, b"after%d" % i) == NONE
        acked.check(s, topic)
    finally:
        s.close()
    return acked


@pytest.fixture
def flag(tmp_path):
    return tmp_path / "storage-fault"


def restart_and_check(b, topic, acked):
    stop_cleanly(b)
    b.start()
    s = connect(b.port)
    try:
        acked.check(s, topic)
        assert acked.produce(s, topic, b"restarted") == NONE
        acked.check(s, topic)
    finally:
        s.close()


def test_full_disk_heals(flag):
    """ENOSPC mid-batch: the partial batch is cut off, produce is refused
    while the disk is full and works again once space returns."""
    with Broker(extra={"num.shards": "1", "log.dir.min.free.bytes": "0"},
                env=shim_env(flag)) as b:
        create_topics(b.bootstrap, {"heal-nospc": (1, {})})
        acked = run_fault(b, flag, "heal-nospc", "ENOSPC")
        restart_and_check(b, "heal-nospc", acked)


def test_out_of_fds_heals(flag):
    """EMFILE when a segment roll must create a file (segment.ms=1 rolls at
    every append): produce is refused, and works again once files open."""
    with Broker(extra={"num.shards": "1"}, env=shim_env(flag)) as b:
        create_topics(b.bootstrap, {"heal-fds": (1, {"segment.ms": "1",
                                                  "retention.ms": "-1"})})
        acked = run_fault(b, flag, "heal-fds", "EMFILE")
        restart_and_check(b, "heal-fds", acked)


def test_free_space_reserve(flag):
    """A reserve bigger than the free space refuses produce at once, with
    KAFKA_STORAGE_ERROR, and the partition stays readable."""
    with Broker(extra={"num.shards": "1",
                       "log.dir.min.free.bytes": str(1 << 50)}) as b:
        create_topics(b.bootstrap, {"reserve": (1, {})})
        acked = Acked()
        s = connect(b.port)
        try:
            assert acked.produce(s, "reserve", b"r") == KAFKA_STORAGE_ERROR
            acked.check(s, "reserve")
        finally:
            s.close()
        assert "log.dir.min.free.bytes" in b.output()


def test_real_full_disk_heals(tmp_path):
    """No shim: the data directory on a small tmpfs that a ballast file
    fills. Produce fails with KAFKA_STORAGE_ERROR once the disk is full,
    reads go on, and deleting the ballast lets produce work again without a
    restart, with every acknowledged record in place."""
    fs = tmp_path / "fs"
    fs.mkdir()
    # This machine's tests run as root (CI too); a tmpfs is the honest full
    # disk, so a failed mount is a failure here, not a skip.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs",
                    str(fs)], check=True, timeout=30)
    try:
        with Broker(extra={"num.shards": "1", "log.dir.min.free.bytes": "0"},
                    data_dir=str(fs / "data")) as b:
            create_topics(b.bootstrap,
                          {"full": (1, {"segment.bytes": "1048576",
                                        # The records carry 2023 times.
                                        "retention.ms": "-1"})})
            ballast = fs / "ballast"
            st = os.statvfs(str(fs))
            free = st.f_bavail * st.f_frsize
            with open(ballast, "wb") as f:
                f.write(b"\0" * max(0, free - (1 << 20)))
            acked = Acked()
            s = connect(b.port)
            try:
                errs = []
                for i in range(200):
                    err = acked.produce(s, "full", b"fill%d" % i, n=4,
                                        size=8000)
                    errs.append(err)
                    if err == KAFKA_STORAGE_ERROR:
                        break
                assert errs[-1] == KAFKA_STORAGE_ERROR, errs
                assert set(errs) <= {NONE, KAFKA_STORAGE_ERROR}, errs
                acked.check(s, "full")
                ballast.unlink()
                # Space is back: the next produces work, no restart.
                deadline = time.monotonic() + 10
                while acked.produce(s, "full", b"again") != NONE:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                for i in range(5):
                    assert acked.produce(s, "full", b"after%d" % i) == NONE
                acked.check(s, "full")
            finally:
                s.close()
            restart_and_check(b, "full", acked)
    finally:
        subprocess.run(["umount", "-l", str(fs)], timeout=30)
