"""A real multi-node cluster for the integration tests: scripts/cluster in a
temporary --dir with short timeouts, and raw Metadata v1 / DescribeCluster
v0 requests that ask one given node (a Kafka client would ask whichever
broker it likes). Everything runs on 127.0.0.1."""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time

from harness import (REPO, brokerd_path, connect, read_uvarint, recv_frame,
                     request)

SCRIPT = os.path.join(REPO, "scripts", "cluster")
# Short timeouts so failover and fencing happen within a test's patience.
ELECTION_MS = 500
SESSION_MS = 2000
HEARTBEAT_MS = 200


class Cluster:
    """scripts/cluster up N in a temporary directory; close() is down --purge
    (and kills what is left if that fails)."""

    def __init__(self, n=3, election_ms=ELECTION_MS, session_ms=SESSION_MS,
                 heartbeat_ms=HEARTBEAT_MS, shards=1, extra=(), env=None):
        self.n = n
        self.env = dict(env or {})  # for the brokerd processes
        self.dir = tempfile.mkdtemp(prefix="brokerd-cluster-")
        self.args = ["--election-timeout-ms", str(election_ms),
                     "--session-timeout-ms", str(session_ms),
                     "--heartbeat-ms", str(heartbeat_ms),
                     "--shards", str(shards)] + list(extra)

    def cli(self, *args, timeout=120, check=True):
        env = dict(os.environ, BROKERD=brokerd_path(), **self.env)
        res = subprocess.run([SCRIPT, "--dir", self.dir] + list(args),
                             capture_output=True, text=True, timeout=timeout,
                             env=env)
        if check:
            assert res.returncode == 0, (
                "scripts/cluster %s: rc %d\n%s%s\n%s" % (
                    " ".join(args), res.returncode, res.stdout, res.stderr,
                    self.logs_tail()))
        return res

    def up(self):
        self.cli("up", str(self.n), *self.args)
        return self

    def state(self):
        with open(os.path.join(self.dir, "cluster.json")) as f:
            return json.load(f)

    def ids(self):
        return [n["id"] for n in self.state()["nodes"]]

    def port(self, node_id):
        return [n["port"] for n in self.state()["nodes"]
                if n["id"] == node_id][0]

    def addr(self, node_id):
        return "127.0.0.1:%d" % self.port(node_id)

    def bootstrap(self, ids=None):
        return ",".join(self.addr(i) for i in (ids or self.ids()))

    @property
    def cluster_id(self):
        return self.state()["cluster_id"]

    def node_dir(self, node_id):
        return os.path.join(self.dir, "node-%d" % node_id)

    def config(self, node_id):
        return os.path.join(self.node_dir(node_id), "brokerd.conf")

    def log(self, node_id):
        try:
            with open(os.path.join(self.node_dir(node_id), "brokerd.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logs_tail(self, n=3000):
        out = []
        for i in range(1, self.n + 1):
            out.append("--- node %d ---\n%s" % (i, self.log(i)[-n:]))
        return "\n".join(out)

    def active_controller(self):
        """The node whose log says most recently that it became the active
        controller (and has not said it stopped), or None."""
        best = None
        for i in self.ids():
            for m in re.finditer(r"^(\S+) INFO cluster msg=\"(active "
                                 r"controller|no longer the active "
                                 r"controller)\"", self.log(i), re.M):
                if best is None or m.group(1) > best[0]:
                    best = (m.group(1), i if m.group(2) == "active controller"
                            else None)
        return best[1] if best else None

    def pid(self, node_id):
        try:
            with open(os.path.join(self.node_dir(node_id), "pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def kill(self, node_id, sig="KILL"):
        return self.cli("kill", str(node_id), "--signal", sig, check=False)

    def restart(self, node_id):
        self.cli("restart", str(node_id))

    def close(self):
        try:
            self.cli("down", "--purge", timeout=90, check=False)
        finally:
            for i in range(1, self.n + 1):
                pid = self.pid(i)
                if pid is not None:
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


def wait_for(what, fn, timeout, interval=0.05):
    """Calls fn until it returns something truthy (exceptions count as
    not yet); returns that, or fails naming what and the last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (OSError, AssertionError, ValueError, struct.error) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.1f s (last: %r)" % (
                what, timeout, last))
        time.sleep(interval)


# --- raw requests to one node -------------------------------------------

class Reader:
    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def skip_int32s(self):
        n = self.take(">i")
        self.pos += 4 * max(n, 0)

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def compact_string(self):
        n, self.pos = read_uvarint(self.buf, self.pos)
        if n == 0:
            return None
        s = self.buf[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return s

    def tags(self):
        n, self.pos = read_uvarint(self.buf, self.pos)
        for _ in range(n):
            _, self.pos = read_uvarint(self.buf, self.pos)
            size, self.pos = read_uvarint(self.buf, self.pos)
            self.pos += size


def metadata(port, topics=None, timeout=5.0):
    """Metadata v1 asked of the node on port. Returns
    {"brokers": {id: port}, "controller": id,
     "topics": {name: (error, {partition: leader})}}."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics))
        for t in topics:
            body += struct.pack(">h", len(t)) + t.encode()
    with connect(port, timeout) as s:
        s.sendall(request(3, 1, 11, body))
        r = Reader(recv_frame(s), 4)
    brokers = {}
    for _ in range(r.take(">i")):
        node = r.take(">i")
        r.string()
        brokers[node] = r.take(">i")
        r.string()  # rack
    controller = r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        r.take(">b")  # is_internal
        parts = {}
        for _ in range(r.take(">i")):
            r.take(">h")
            p = r.take(">i")
            parts[p] = r.take(">i")
            r.skip_int32s()  # replicas
            r.skip_int32s()  # isr
        out[name] = (err, parts)
    return {"brokers": brokers, "controller": controller, "topics": out}


def describe_cluster(port, timeout=5.0):
    """DescribeCluster v0 asked of the node on port. Returns
    (error, cluster_id, controller_id, {broker id: port})."""
    body = b"\x00" + b"\x00"  # include_cluster_authorized_operations, tags
    with connect(port, timeout) as s:
        s.sendall(request(60, 0, 12, body, flexible=True))
        r = Reader(recv_frame(s), 4)
    r.tags()                     # response header v1
    r.take(">i")                 # throttle_time_ms
    err = r.take(">h")
    r.compact_string()           # error_message
    cluster_id = r.compact_string()
    controller = r.take(">i")
    brokers = {}
    n, r.pos = read_uvarint(r.buf, r.pos)
    for _ in range(n - 1):
        node = r.take(">i")
        r.compact_string()
        brokers[node] = r.take(">i")
        r.compact_string()       # rack
        r.tags()
    return err, cluster_id, controller, brokers


def create_topic(port, name, partitions, timeout=10.0):
    """CreateTopics v4 sent to the node on port (the node forwards it to
    the active controller). Returns the topic's error code."""
    body = struct.pack(">i", 1)
    body += struct.pack(">h", len(name)) + name.encode()
    body += struct.pack(">ihii", partitions, 1, 0, 0)  # rf, no assignments/configs
    body += struct.pack(">ib", int(timeout * 1000), 0)  # timeout, validate_only
    with connect(port, timeout + 1) as s:
        s.sendall(request(19, 4, 13, body))
        r = Reader(recv_frame(s), 4)
    r.take(">i")  # throttle_time_ms
    assert r.take(">i") == 1
    r.string()
    return r.take(">h")
