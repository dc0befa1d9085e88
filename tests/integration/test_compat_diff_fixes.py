"""Answers the differential tester (tests/diff) found different from Apache
Kafka 4.1 and that brokerd now gives as Kafka does, with raw requests. The
expected values are Kafka 4.1's, seen by replaying the same requests
against a single-node Kafka 4.1 (KRaft)."""
import struct

import pytest

from harness import Broker, connect, read_uvarint, recv_frame, request, uvarint
from test_compat_raw import arr, create_topic, s16


@pytest.fixture(scope="module")
def broker():
    with Broker(extra={"auto.create.topics.enable": "false"}) as b:
        yield b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return v

    def cstring(self):
        n, self.pos = read_uvarint(self.data, self.pos)
        if n == 0:
            return None
        v = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return v


def fetch_v5(sock, topic, offset, isolation_level):
    """Fetch v5, partition 0: (error, high watermark, last stable offset,
    log start offset, aborted transactions count; -1 is null)."""
    body = struct.pack(">iiiib", -1, 0, 0, 1 << 20, isolation_level)
    body += arr([s16(topic) + arr([struct.pack(">iqqi", 0, offset, -1, 1 << 20)])])
    sock.sendall(request(1, 5, 31, body))
    r = Reader(recv_frame(sock))
    assert r.take(">i") == 31
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    assert r.take(">i") == 0
    err = r.take(">h")
    hw, lso, start = r.take(">q"), r.take(">q"), r.take(">q")
    return err, hw, lso, start, r.take(">i")


def test_fetch_past_the_end_has_no_offsets(broker):
    # Kafka 4.1 answers a consumer's OFFSET_OUT_OF_RANGE with -1 for the
    # high watermark, last stable and log start offsets, and a null list
    # of aborted transactions, under either isolation level.
    sock = connect(broker.port)
    assert create_topic(sock, "past-end") == 0
    for iso in (0, 1):
        assert fetch_v5(sock, "past-end", 0, iso)[:4] == (0, 0, 0, 0)
        assert fetch_v5(sock, "past-end", 1000, iso) == (1, -1, -1, -1, -1)
    # An in-range read still has its offsets, and [] under read_committed.
    assert fetch_v5(sock, "past-end", 0, 1) == (0, 0, 0, 0, 0)
    sock.close()


def find_coordinator_v2(sock, key):
    sock.sendall(request(10, 2, 41, s16(key) + b"\x00"))
    r = Reader(recv_frame(sock))
    assert r.take(">i") == 41
    r.take(">i")  # throttle
    return r.take(">h"), r.string()


def find_coordinator_v4(sock, keys):
    body = b"\x00" + uvarint(len(keys) + 1)
    body += b"".join(uvarint(len(k) + 1) + k.encode() for k in keys) + b"\x00"
    sock.sendall(request(10, 4, 42, body, flexible=True))
    f = recv_frame(sock)
    r = Reader(f)
    assert r.take(">i") == 42
    r.pos += 1  # header tags
    r.take(">i")  # throttle
    n, r.pos = read_uvarint(f, r.pos)
    out = []
    for _ in range(n - 1):
        key = r.cstring()
        r.take(">i")  # node id
        r.cstring()  # host
        r.take(">i")  # port
        out.append((key, r.take(">h"), r.cstring()))
        r.pos += 1  # tags
    return out


def test_find_coordinator_success_message(broker):
    # Kafka 4.1 sends the error's name "NONE" in v1-3 and an empty string
    # per key from v4 when the coordinator is found; null would do for
    # clients, but the answers should be Kafka's.
    sock = connect(broker.port)
    assert find_coordinator_v2(sock, "g1") == (0, "NONE")
    assert find_coordinator_v4(sock, ["g1", "g2"]) == [("g1", 0, ""), ("g2", 0, "")]
    sock.close()


def list_offsets_v4(sock, topic, timestamp):
    """ListOffsets v4, partition 0: (error, offset, leader epoch)."""
    body = struct.pack(">ib", -1, 0)
    body += arr([s16(topic) + arr([struct.pack(">iiq", 0, -1, timestamp)])])
    sock.sendall(request(2, 4, 51, body))
    r = Reader(recv_frame(sock))
    assert r.take(">i") == 51
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    assert r.take(">i") == 0
    err = r.take(">h")
    r.take(">q")  # timestamp
    return err, r.take(">q"), r.take(">i")


def test_list_offsets_on_an_empty_partition_has_the_leader_epoch(broker):
    # Kafka 4.1's leader records its epoch when it takes the lead, so the
    # earliest and latest offsets of an empty partition carry epoch 0.
    sock = connect(broker.port)
    assert create_topic(sock, "empty-epoch") == 0
    assert list_offsets_v4(sock, "empty-epoch", -2) == (0, 0, 0)
    assert list_offsets_v4(sock, "empty-epoch", -1) == (0, 0, 0)
    sock.close()


def test_create_topics_refused_has_empty_configs(broker):
    # CreateTopics v5 (flexible) for a topic that exists: Kafka 4.1
    # answers TOPIC_ALREADY_EXISTS with an empty Configs list, not null.
    sock = connect(broker.port)
    assert create_topic(sock, "twice") == 0
    name = b"twice"
    body = uvarint(2) + uvarint(len(name) + 1) + name
    body += struct.pack(">ih", 1, 1) + uvarint(1) + uvarint(1) + b"\x00"
    body += struct.pack(">i?", 15000, False) + b"\x00"
    sock.sendall(request(19, 5, 61, body, flexible=True))
    f = recv_frame(sock)
    r = Reader(f)
    assert r.take(">i") == 61
    r.pos += 1  # header tags
    r.take(">i")  # throttle
    n, r.pos = read_uvarint(f, r.pos)
    assert n == 2
    assert r.cstring() == "twice"
    assert r.take(">h") == 36  # TOPIC_ALREADY_EXISTS
    r.cstring()  # message
    r.take(">i")
    r.take(">h")
    configs, r.pos = read_uvarint(f, r.pos)
    assert configs == 1  # compact array of 0 elements; 0 would be null
    sock.close()


def test_list_partition_reassignments_message_is_null(broker):
    # ListPartitionReassignments v0 (flexible): Kafka 4.1 sends a null
    # error message with NONE.
    sock = connect(broker.port)
    body = struct.pack(">i", 15000) + uvarint(0) + b"\x00"
    sock.sendall(request(46, 0, 71, body, flexible=True))
    f = recv_frame(sock)
    r = Reader(f)
    assert r.take(">i") == 71
    r.pos += 1  # header tags
    r.take(">i")  # throttle
    assert r.take(">h") == 0
    assert f[r.pos] == 0  # compact nullable string: 0 is null
    sock.close()
