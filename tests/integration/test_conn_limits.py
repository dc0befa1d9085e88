"""Memory and connection bounds of a real broker, as a misbehaving client
meets them (issue: robustness).

- Twenty connections that pipeline Metadata requests and never read the
  answers: the broker's RSS stays bounded, other clients are served
  meanwhile, and RSS comes back near idle once they close. Before the
  limits were checked per frame, one such connection grew the broker by
  hundreds of MB.
- Connections that send only a large size prefix cost almost nothing
  (they used to reserve the declared size each).
- At the descriptor limit the acceptor neither spins nor floods the log,
  and normal clients work once descriptors free up.
- max.connections.per.ip closes the connection over it.
"""
import multiprocessing
import os
import resource
import select
import socket
import struct
import subprocess
import threading
import time

from harness import (Broker, brokerd_path, connect, metadata_v0, recv_frame,
                     request)

FLOOD_SECONDS = float(os.environ.get("BK_FLOOD_SECONDS", "20"))
RSS_BOUND = 256 << 20
# How long a client may wait for an answer while the flood runs: generous,
# since an ASan broker shares this 2-core machine with the flood's own
# threads and another test file.
SERVE_TIMEOUT = 30.0


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no %s for pid %d" % (field, pid))


def rss(broker):
    return proc_status(broker.proc.pid, "VmRSS")


def api_versions_ok(s):
    s.sendall(request(18, 0, 42))
    frame = recv_frame(s)
    corr, err = struct.unpack(">ih", frame[:6])
    return corr == 42 and err == 0


def served(port, timeout=5.0):
    """A fresh client gets an ApiVersions answer within timeout."""
    s = connect(port, timeout=timeout)
    try:
        return api_versions_ok(s)
    finally:
        s.close()


def metadata_flood_frame(corr):
    # Metadata v1 with a null topic array: every topic.
    return request(3, 1, corr, struct.pack(">i", -1))


def flood(port, stop, sent):
    """Pipelines Metadata requests and never reads an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    burst = b"".join(metadata_flood_frame(i) for i in range(2000))
    off = 0
    try:
        while not stop.is_set():
            try:
                n = s.send(burst[off:])
                off = (off + n) % len(burst)
                sent[0] += n
            except BlockingIOError:
                select.select([], [s], [], 0.05)
    finally:
        s.close()


def sanitized():
    """Whether BROKERD is an ASan build: its allocator is ASan's own, which
    keeps freed memory in quarantine and never hands it to malloc_trim."""
    out = subprocess.run(["ldd", brokerd_path()], capture_output=True,
                         text=True).stdout
    return "libasan" in out


# Under ASan, a smaller quarantine than its 256 MiB default, so that its
# RSS says something about ours (the peak stays near 70 MiB with it).
ASAN_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
            ":quarantine_size_mb=16:allocator_release_to_os_interval_ms=500"}


def test_pipelining_clients_that_never_read_stay_bounded():
    asan = sanitized()
    with Broker({"num.partitions": "1", "num.shards": "2"},
                env=ASAN_ENV if asan else None) as b:
        admin = connect(b.port)
        # Give Metadata answers some size: 30 topics.
        metadata_v0(admin, topics=["t%02d" % i for i in range(30)])
        admin.close()
        time.sleep(1.0)
        idle = rss(b)
        stop = threading.Event()
        sent = [0]
        threads = [threading.Thread(target=flood, args=(b.port, stop, sent))
                   for _ in range(20)]
        for t in threads:
            t.start()
        peak = 0
        served_during = 0
        try:
            deadline = time.monotonic() + FLOOD_SECONDS
            while time.monotonic() < deadline:
                peak = max(peak, rss(b))
                assert peak < RSS_BOUND, "RSS %d MiB" % (peak >> 20)
                assert served(b.port, timeout=SERVE_TIMEOUT)
                served_during += 1
                time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
        assert sent[0] > 10 << 20, "the flood sent only %d bytes" % sent[0]
        # Every attempt above had to be answered (served() waits up to
        # SERVE_TIMEOUT: a bound on starvation, not a latency target; the
        # benchmarks measure latency).
        assert served_during >= 2, served_during
        # Freed memory goes back to the system after the burst. ASan's
        # allocator keeps what it freed, so there the check is only that
        # nothing grows once the clients are gone.
        settled = peak + (4 << 20) if asan else idle + (16 << 20)
        deadline = time.monotonic() + 30
        after = rss(b)
        while time.monotonic() < deadline and after > settled:
            time.sleep(0.5)
            after = rss(b)
        print("idle %d KiB, peak %d KiB, after %d KiB, flood %d MB" %
              (idle >> 10, peak >> 10, after >> 10, sent[0] >> 20))
        assert after <= settled, (idle, peak, after)
        assert served(b.port)
        assert b.alive()


def test_size_prefixes_alone_reserve_nothing():
    with Broker() as b:
        before = proc_status(b.proc.pid, "VmSize")
        socks = []
        try:
            for _ in range(300):
                s = connect(b.port)
                # 100,000,000 bytes declared (under socket.request.max.bytes),
                # ten sent.
                s.sendall(struct.pack(">i", 100000000) + b"x" * 10)
                socks.append(s)
            time.sleep(1.0)
            grown = proc_status(b.proc.pid, "VmSize") - before
            # Before: 300 x 100 MB = 30 GB of address space.
            assert grown < 1 << 30, "VmSize grew by %d MiB" % (grown >> 20)
            # They hold no group memory either: others are served.
            assert served(b.port)
        finally:
            for s in socks:
                s.close()
        assert b.alive()


def test_connections_over_per_ip_limit_are_closed():
    with Broker({"max.connections.per.ip": "3"}) as b:
        # The harness's own probe of the port counts until the broker has
        # seen it close.
        time.sleep(1.0)
        keep = [connect(b.port) for _ in range(3)]
        for s in keep:
            assert api_versions_ok(s)
        extra = connect(b.port)
        extra.settimeout(5)
        try:
            extra.sendall(request(3, 0, 1, struct.pack(">i", 0)))
            assert extra.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            pass
        extra.close()
        keep.pop().close()
        deadline = time.monotonic() + 5
        ok = False
        while not ok and time.monotonic() < deadline:
            try:
                ok = served(b.port, timeout=2)
            except (ConnectionError, OSError, struct.error):
                time.sleep(0.1)
        assert ok
        for s in keep:
            s.close()
        assert "max.connections.per.ip" in b.output()


def hold_connections(port, n, ready, release):
    """Child process: opens n connections, holds them until told."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    ready.set()
    release.wait(60)
    for s in socks:
        s.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields here start
    # at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_descriptor_limit_does_not_spin():
    """2,400 connections against a broker limited to 2,000 descriptors.
    The clients come from three processes, as one may hold fewer. The
    limit is small on purpose: with 20,000 descriptors the connects past
    the listen backlog depend on the clients' SYN retries and the host's
    TCP settings (a CI machine never let the broker reach its limit in
    90 s), and the behaviour checked here, no spinning once accept()
    says EMFILE, does not depend on the number."""
    fds, per_kid = 2000, 800

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds))

    ctx = multiprocessing.get_context("fork")
    with Broker(preexec_fn=limit) as b:
        release = ctx.Event()
        kids = []
        try:
            for _ in range(3):
                ready = ctx.Event()
                p = ctx.Process(target=hold_connections,
                                args=(b.port, per_kid, ready, release))
                p.start()
                kids.append((p, ready))
            for p, ready in kids:
                assert ready.wait(60)
            # Connections past the listen backlog arrive as the clients'
            # kernels retry them: wait until the broker ran out.
            deadline = time.monotonic() + 90
            while ("until descriptors are free" not in b.output() and
                   time.monotonic() < deadline):
                time.sleep(0.5)
            assert "until descriptors are free" in b.output()
            time.sleep(2)
            cpu0 = cpu_seconds(b.proc.pid)
            time.sleep(2)
            used = cpu_seconds(b.proc.pid) - cpu0
            # Idle clients: the broker must be nearly idle too (at the
            # descriptor limit it used to spin at 85% of a core).
            assert used < 0.5, "broker used %.2f CPU s in 2 s" % used
            assert b.alive()
        finally:
            release.set()
            for p, _ in kids:
                p.join(30)
        deadline = time.monotonic() + 30
        ok = False
        while not ok and time.monotonic() < deadline:
            try:
                ok = served(b.port, timeout=2)
            except (ConnectionError, OSError, struct.error):
                time.sleep(0.2)
        assert ok, "normal clients are not served after the burst"
        out = b.output()
        lines = out.count("\n")
        assert lines < 200, "the log has %d lines" % lines
