"""Integration test harness: real brokerd processes on 127.0.0.1.

Each Broker picks a free port and its own data directory under a temporary
folder, starts build/<...>/bin/brokerd (the BROKERD environment variable
names it), waits for the port to accept (bounded), and on stop sends
SIGTERM and checks the exit code (bounded), killing it if it hangs.
Nothing here talks to any address other than 127.0.0.1.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0


def brokerd_path():
    path = os.environ.get("BROKERD")
    if path:
        return path
    for cand in ("build/release/bin/brokerd", "build/bin/brokerd"):
        p = os.path.join(REPO, cand)
        if os.path.exists(p):
            return p
    raise RuntimeError("set BROKERD to the brokerd binary")


def brokerctl_path():
    path = os.environ.get("BROKERCTL")
    if path:
        return path
    return os.path.join(os.path.dirname(brokerd_path()), "brokerctl")


def run_brokerctl(bootstrap, *args, timeout=20):
    """brokerctl -b bootstrap ARGS with a 5 s request timeout."""
    return subprocess.run([brokerctl_path(), "-b", bootstrap,
                           "--timeout-ms", "5000"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def wait_until(pred, what, bound=20.0):
    """Calls pred until it returns something truthy and returns that; fails
    naming what after bound seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def active_controller(nodes, exclude=()):
    """Of nodes ({id: Broker}), the one whose log says it became the active
    controller most recently and has not said it stopped being it."""
    best = None
    for i, b in nodes.items():
        if i in exclude or not b.alive():
            continue
        out = b.output()
        for m in re.finditer(r"^(\S+) INFO cluster msg=\"active controller\"",
                             out, re.M):
            if best is None or m.group(1) > best[0]:
                best = (m.group(1), i)
        for m in re.finditer(r"^(\S+) INFO cluster msg=\"no longer the "
                             r"active controller\"", out, re.M):
            if best is not None and best[1] == i and m.group(1) > best[0]:
                best = None
    return best[1] if best else None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    def __init__(self, extra=None, data_dir=None, port=None, env=None,
                 preexec_fn=None):
        self.tmp = tempfile.mkdtemp(prefix="brokerd-test-")
        self.preexec_fn = preexec_fn
        self.env = dict(os.environ, **env) if env else None
        self.port = port or free_port()
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.conf = os.path.join(self.tmp, "brokerd.conf")
        self.log_path = os.path.join(self.tmp, "brokerd.log")
        self.proc = None
        settings = {
            "node.id": "1",
            "listeners": "PLAINTEXT://127.0.0.1:%d" % self.port,
            "log.dirs": self.data_dir,
        }
        settings.update(extra or {})
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write("%s=%s\n" % (k, v))

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def start(self, wait=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([brokerd_path(), "-c", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, preexec_fn=self.preexec_fn)
        if wait and not (wait_port(self.port, START_TIMEOUT, self.proc) and
                         self.wait_replicas(START_TIMEOUT)):
            out = self.output()
            self.kill()
            raise RuntimeError("brokerd did not start:\n" + out)
        return self

    def wait_replicas(self, timeout):
        """Waits until every shard has opened the replicas it found at
        start (they open in the background; until then requests for them
        get NOT_LEADER_OR_FOLLOWER, which real clients retry and the raw
        tests here would have to)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            out = self.output()
            m = re.search(r" shards=(\d+) .*msg=\"started\"", out)
            if m and out.count("msg=\"opened the replicas assigned at "
                               "start\"") >= int(m.group(1)):
                return True
            time.sleep(0.02)
        return False

    def output(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops the broker gracefully; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("brokerd did not stop within %ss" % STOP_TIMEOUT)
        self.log.close()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            if self.alive():
                self.stop()
        finally:
            self.cleanup()


# --- raw Kafka protocol helpers -------------------------------------------

def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_uvarint(buf, pos):
    shift = 0
    val = 0
    while True:
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if b < 0x80:
            return val, pos
        shift += 7


def request(api_key, version, corr, body=b"", client_id="test", flexible=False):
    """A complete frame: size prefix, request header v1/v2, body."""
    cid = client_id.encode()
    hdr = struct.pack(">hhih", api_key, version, corr, len(cid)) + cid
    if flexible:
        hdr += b"\x00"
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def is_closed(sock, timeout=5.0):
    """True if the peer closed the connection (EOF or reset) in time."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def api_versions(sock, version=3, corr=1):
    flexible = version >= 3
    body = b""
    if flexible:
        body = uvarint(len("brokerd-test") + 1) + b"brokerd-test" + \
            uvarint(len("1.0") + 1) + b"1.0" + b"\x00"
    sock.sendall(request(18, version, corr, body, flexible=flexible))
    return parse_api_versions(recv_frame(sock), version)


def parse_api_versions(frame, version):
    """Returns (correlation_id, error_code, {key: (min, max)})."""
    (corr,) = struct.unpack_from(">i", frame, 0)
    pos = 4  # ApiVersions responses always use header v0
    (err,) = struct.unpack_from(">h", frame, pos)
    pos += 2
    keys = {}
    if version >= 3 and err == 0:
        n, pos = read_uvarint(frame, pos)
        n -= 1
        for _ in range(n):
            k, lo, hi = struct.unpack_from(">hhh", frame, pos)
            pos += 6
            _, pos = read_uvarint(frame, pos)  # tagged fields
            keys[k] = (lo, hi)
    else:
        (n,) = struct.unpack_from(">i", frame, pos)
        pos += 4
        for _ in range(n):
            k, lo, hi = struct.unpack_from(">hhh", frame, pos)
            pos += 6
            keys[k] = (lo, hi)
    return corr, err, keys


def metadata_v0(sock, corr=7, topics=()):
    body = struct.pack(">i", len(topics))
    for t in topics:
        body += struct.pack(">h", len(t)) + t.encode()
    sock.sendall(request(3, 0, corr, body))
    frame = recv_frame(sock)
    (rcorr,) = struct.unpack_from(">i", frame, 0)
    pos = 4
    (nb,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    brokers = []
    for _ in range(nb):
        (node,) = struct.unpack_from(">i", frame, pos)
        pos += 4
        (hl,) = struct.unpack_from(">h", frame, pos)
        pos += 2
        host = frame[pos:pos + hl].decode()
        pos += hl
        (port,) = struct.unpack_from(">i", frame, pos)
        pos += 4
        brokers.append((node, host, port))
    (nt,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    topics_out = []
    for _ in range(nt):
        (err,) = struct.unpack_from(">h", frame, pos)
        pos += 2
        (tl,) = struct.unpack_from(">h", frame, pos)
        pos += 2
        name = frame[pos:pos + tl].decode()
        pos += tl
        (np_,) = struct.unpack_from(">i", frame, pos)
        pos += 4
        assert np_ == 0, "partitions not parsed by this helper"
        topics_out.append((name, err))
    return rcorr, brokers, topics_out
