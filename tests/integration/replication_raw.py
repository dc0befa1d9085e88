"""Raw Kafka-protocol requests for the replication tests (issue 13):
Metadata v12 with leader epochs, replicas and ISRs, CreateTopics with a
replication factor, AlterPartition v3 as a partition leader sends it, and
each broker's epoch as its log reports it (no Kafka API gives a broker's
epoch to a client)."""
import re
import struct
import threading
import uuid

from cluster_util import Reader
from harness import connect, read_uvarint, recv_frame, request, uvarint


def compact_str(s):
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def compact_array(items):
    return uvarint(len(items) + 1) + b"".join(items)


def _compact_int32s(r):
    n, r.pos = read_uvarint(r.buf, r.pos)
    return [r.take(">i") for _ in range(max(n - 1, 0))]


def _count(r):
    n, r.pos = read_uvarint(r.buf, r.pos)
    return max(n - 1, 0)


def call(port, key, version, body, timeout=10.0):
    """Sends one flexible request to the node on port; returns a Reader
    past the response header (v1)."""
    with connect(port, timeout) as s:
        s.sendall(request(key, version, 77, body, flexible=True))
        r = Reader(recv_frame(s), 4)
    r.tags()
    return r


def metadata(port, topic):
    """Metadata v12 for one topic. Returns (error, topic_id bytes,
    {partition: {"leader", "epoch", "replicas", "isr", "error"}})."""
    body = compact_array([b"\x00" * 16 + compact_str(topic) + b"\x00"])
    body += b"\x00\x00\x00"  # no auto-create, no authorized ops, tags
    r = call(port, 3, 12, body)
    r.take(">i")  # throttle
    for _ in range(_count(r)):
        r.take(">i")
        r.compact_string()
        r.take(">i")
        r.compact_string()
        r.tags()
    r.compact_string()  # cluster id
    r.take(">i")        # controller
    out = None
    for _ in range(_count(r)):
        err = r.take(">h")
        r.compact_string()
        tid = r.buf[r.pos:r.pos + 16]
        r.pos += 16
        r.take(">b")
        parts = {}
        for _ in range(_count(r)):
            perr = r.take(">h")
            p = r.take(">i")
            leader = r.take(">i")
            epoch = r.take(">i")
            replicas = _compact_int32s(r)
            isr = _compact_int32s(r)
            _compact_int32s(r)  # offline
            r.tags()
            parts[p] = {"leader": leader, "epoch": epoch,
                        "replicas": replicas, "isr": isr, "error": perr}
        r.take(">i")
        r.tags()
        out = (err, tid, parts)
    return out


def create_topic(port, name, partitions, rf, configs=(), assignment=None,
                 timeout=10.0):
    """CreateTopics v5 (flexible) for one topic with a replication factor,
    or with assignment (a list of replica lists, partition i at index i);
    returns the topic's error code."""
    cfgs = [compact_str(k) + compact_str(v) + b"\x00" for k, v in configs]
    assigned = []
    if assignment is not None:
        partitions, rf = -1, -1
        assigned = [struct.pack(">i", i) + compact_array(
            [struct.pack(">i", b) for b in reps]) + b"\x00"
            for i, reps in enumerate(assignment)]
    topic = (compact_str(name) + struct.pack(">ih", partitions, rf) +
             compact_array(assigned) + compact_array(cfgs) + b"\x00")
    body = compact_array([topic]) + struct.pack(">ib", int(timeout * 1000),
                                                0) + b"\x00"
    r = call(port, 19, 5, body, timeout + 1)
    r.take(">i")
    assert _count(r) == 1
    r.compact_string()
    return r.take(">h")


def alter_partition(port, broker_id, broker_epoch, topic_id, partition,
                    leader_epoch, isr, partition_epoch, recovery=0):
    """AlterPartition v3 with one partition; isr is [(id, epoch)]. Returns
    (top error, partition answer dict or None)."""
    members = [struct.pack(">iq", b, e) + b"\x00" for b, e in isr]
    part = (struct.pack(">ii", partition, leader_epoch) +
            compact_array(members) + struct.pack(">bi", recovery,
                                                 partition_epoch) + b"\x00")
    body = (struct.pack(">iq", broker_id, broker_epoch) +
            compact_array([bytes(topic_id) + compact_array([part]) + b"\x00"])
            + b"\x00")
    r = call(port, 56, 3, body)
    r.take(">i")
    top = r.take(">h")
    out = None
    for _ in range(_count(r)):
        r.pos += 16
        for _ in range(_count(r)):
            out = {"partition": r.take(">i"), "error": r.take(">h"),
                   "leader": r.take(">i"), "leader_epoch": r.take(">i"),
                   "isr": _compact_int32s(r), "recovery": r.take(">b"),
                   "partition_epoch": r.take(">i")}
            r.tags()
        r.tags()
    return top, out


def broker_epoch(log):
    """The broker epoch a node's log reports for its last registration."""
    found = re.findall(r'epoch=(\d+) msg="registered with the controller"',
                       log)
    return int(found[-1]) if found else None


def assert_clean_logs(c):
    """No node crashed, failed an assertion or met a sanitizer."""
    for i in c.ids():
        log = c.log(i)
        for bad in ("Assertion", "AddressSanitizer", "runtime error",
                    "Segmentation"):
            assert bad not in log, "node %d:\n%s" % (i, log[-3000:])


def topic_uuid(tid):
    return str(uuid.UUID(bytes=bytes(tid)))


class FakeBroker:
    """A broker of the test's own, registered with the active controller
    over the Kafka protocol (BrokerRegistration and BrokerHeartbeat v0, as
    brokerd's nodes send them) and kept unfenced by a heartbeat thread. It
    serves nothing: made the leader of a partition, it lets a test speak
    for that leader (AlterPartition) without a real leader's replication
    proposing ISR changes of its own meanwhile."""

    def __init__(self, cluster, node_id, port):
        self.c = cluster
        self.id = node_id
        self.port = port
        self.epoch = None
        self.incarnation = uuid.uuid4().bytes
        self._stop = threading.Event()
        self._thread = None

    def _send(self, key, body):
        """Sends to each node until one is the active controller; returns
        the Reader past the error code, or None."""
        for i in self.c.ids():
            try:
                r = call(self.c.port(i), key, 0, body, timeout=2.0)
            except OSError:
                continue
            r.take(">i")  # throttle
            if r.take(">h") == 0:
                return r
        return None

    def register(self):
        listener = (compact_str("PLAINTEXT") + compact_str("127.0.0.1") +
                    struct.pack(">Hh", self.port, 0) + b"\x00")
        features = [compact_str("metadata.version") +
                    struct.pack(">hh", 7, 7) + b"\x00",
                    compact_str("group.version") +
                    struct.pack(">hh", 0, 1) + b"\x00",
                    # A broker must support every finalized level (the
                    # controller refuses it with UNSUPPORTED_VERSION).
                    compact_str("transaction.version") +
                    struct.pack(">hh", 0, 2) + b"\x00",
                    compact_str("eligible.leader.replicas.version") +
                    struct.pack(">hh", 0, 1) + b"\x00"]
        body = (struct.pack(">i", self.id) + compact_str(self.c.cluster_id) +
                self.incarnation + compact_array([listener]) +
                compact_array(features) + b"\x00" + b"\x00")
        r = self._send(62, body)
        if r is not None:
            self.epoch = r.take(">q")
        return self.epoch

    def _heartbeat(self):
        body = struct.pack(">iqqbb", self.id, self.epoch, 1 << 40, 0, 0)
        return self._send(63, body + b"\x00")

    def _run(self):
        while not self._stop.wait(0.25):
            self._heartbeat()

    def start(self):
        from cluster_util import wait_for
        wait_for("broker %d registered" % self.id, self.register, 20.0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
