"""The admin APIs on the wire, where client libraries hide the details:
DescribeTopicPartitions pagination (cursor, limit, topic boundaries,
unknown topics), DescribeCluster endpoint types and fenced brokers,
IncrementalAlterConfigs validate_only and duplicate resources, and
validate_only CreatePartitions."""
import struct

import pytest

from harness import Broker, connect, read_uvarint, recv_frame, request, uvarint


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


# --- flexible-version encoding helpers ------------------------------------

def cstr(s):
    if s is None:
        return b"\x00"
    raw = s.encode()
    return uvarint(len(raw) + 1) + raw


def carray(items):
    return uvarint(len(items) + 1) + b"".join(items)


class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        out = self.buf[self.pos:self.pos + n]
        assert len(out) == n
        self.pos += n
        return out

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uv(self):
        v, self.pos = read_uvarint(self.buf, self.pos)
        return v

    def cstr(self):
        n = self.uv()
        return None if n == 0 else self.take(n - 1).decode()

    def carray(self, fn):
        n = self.uv()
        return None if n == 0 else [fn() for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uv()):
            self.uv()
            self.take(self.uv())


def call(b, key, version, body, corr=1):
    s = connect(b.port)
    try:
        s.sendall(request(key, version, corr, body, flexible=True))
        frame = recv_frame(s)
    finally:
        s.close()
    r = Reader(frame)
    assert r.i32() == corr
    if key != 18:
        r.tags()
    return r


def ok(b, *args):
    import subprocess
    from harness import brokerctl_path
    res = subprocess.run([brokerctl_path(), "-b", b.bootstrap] + list(args),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


# --- DescribeTopicPartitions (key 75) -------------------------------------

def dtp(b, topics, limit, cursor=None):
    body = carray([cstr(t) + b"\x00" for t in topics])
    body += struct.pack(">i", limit)
    if cursor is None:
        body += b"\xff"
    else:
        body += b"\x01" + cstr(cursor[0]) + struct.pack(">i", cursor[1]) + b"\x00"
    body += b"\x00"
    r = call(b, 75, 0, body)
    r.i32()  # throttle

    def partition():
        p = dict(error=r.i16(), index=r.i32(), leader=r.i32(), epoch=r.i32())
        p["replicas"] = r.carray(r.i32)
        p["isr"] = r.carray(r.i32)
        p["elr"] = r.carray(r.i32)
        p["last_elr"] = r.carray(r.i32)
        p["offline"] = r.carray(r.i32)
        r.tags()
        return p

    def topic():
        t = dict(error=r.i16(), name=r.cstr(), id=r.take(16), internal=r.i8())
        t["partitions"] = r.carray(partition)
        r.i32()
        r.tags()
        return t

    topics_out = r.carray(topic)
    nxt = None
    if r.i8() != -1:
        nxt = (r.cstr(), r.i32())
        r.tags()
    r.tags()
    return topics_out, nxt


def parts(topics_out):
    return [(t["name"], p["index"]) for t in topics_out for p in t["partitions"]]


def test_describe_topic_partitions_paging(broker):
    ok(broker, "topic", "create", "pa", "--partitions", "3")
    ok(broker, "topic", "create", "pb", "--partitions", "2")
    ok(broker, "topic", "create", "pc", "--partitions", "1")

    # Everything fits.
    topics_out, nxt = dtp(broker, ["pc", "pa", "pb"], 100)
    assert [t["name"] for t in topics_out] == ["pa", "pb", "pc"]  # sorted
    assert nxt is None
    p0 = topics_out[0]["partitions"][0]
    assert (p0["error"], p0["leader"], p0["replicas"], p0["isr"]) == (0, 1, [1], [1])
    assert p0["elr"] == [] and p0["last_elr"] == [] and p0["offline"] == []

    # Two at a time, following the cursor through every partition.
    seen, cursor = [], None
    for _ in range(10):
        topics_out, cursor = dtp(broker, ["pa", "pb", "pc"], 2, cursor)
        seen += parts(topics_out)
        if cursor is None:
            break
    assert seen == [("pa", 0), ("pa", 1), ("pa", 2), ("pb", 0), ("pb", 1), ("pc", 0)]

    # A limit that ends exactly at a topic boundary names the next topic.
    topics_out, nxt = dtp(broker, ["pa", "pb", "pc"], 3)
    assert parts(topics_out) == [("pa", 0), ("pa", 1), ("pa", 2)]
    assert nxt == ("pb", 0)

    # A cut inside a topic names the first partition left out.
    topics_out, nxt = dtp(broker, ["pa", "pb"], 4, cursor=("pa", 1))
    assert parts(topics_out) == [("pa", 1), ("pa", 2), ("pb", 0), ("pb", 1)]
    assert nxt is None

    # An empty list means every topic.
    topics_out, _ = dtp(broker, [], 2000)
    assert {"pa", "pb", "pc"} <= {t["name"] for t in topics_out}

    # The cursor's topic must be one of those asked for.
    topics_out, nxt = dtp(broker, ["pb", "pc"], 10, cursor=("pa", 0))
    assert [(t["name"], t["error"]) for t in topics_out] == [("pb", 42), ("pc", 42)]

    # Unknown and illegal names.
    topics_out, _ = dtp(broker, ["ghost", "bad name"], 10)
    assert {t["name"]: t["error"] for t in topics_out} == {"ghost": 3, "bad name": 17}
    assert all(t["partitions"] == [] for t in topics_out)


# --- DescribeCluster (key 60) ---------------------------------------------

def describe_cluster(b, version, endpoint_type=1, fenced=False):
    body = b"\x00"  # include_cluster_authorized_operations
    if version >= 1:
        body += struct.pack(">b", endpoint_type)
    if version >= 2:
        body += b"\x01" if fenced else b"\x00"
    body += b"\x00"
    r = call(b, 60, version, body)
    out = dict(throttle=r.i32(), error=r.i16(), message=r.cstr())
    if version >= 1:
        out["endpoint_type"] = r.i8()
    out["cluster_id"] = r.cstr()
    out["controller"] = r.i32()

    def node():
        n = dict(id=r.i32(), host=r.cstr(), port=r.i32(), rack=r.cstr())
        if version >= 2:
            n["fenced"] = r.i8()
        r.tags()
        return n

    out["brokers"] = r.carray(node)
    out["ops"] = r.i32()
    r.tags()
    return out


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster(broker, version):
    d = describe_cluster(broker, version)
    assert d["error"] == 0 and d["controller"] == 1
    assert [(n["id"], n["host"], n["port"]) for n in d["brokers"]] == \
        [(1, "127.0.0.1", broker.port)]
    meta = open(broker.data_dir + "/meta.properties").read()
    assert "cluster.id=%s" % d["cluster_id"] in meta
    if version >= 1:
        assert d["endpoint_type"] == 1


def test_describe_cluster_controllers_endpoint(broker):
    d = describe_cluster(broker, 1, endpoint_type=2)
    assert d["error"] == 115  # UNSUPPORTED_ENDPOINT_TYPE
    assert d["brokers"] == []


# --- IncrementalAlterConfigs (key 44) v1 -----------------------------------

def iac(b, resources, validate_only=False):
    res = []
    for rtype, name, ops in resources:
        cfgs = [cstr(k) + struct.pack(">b", op) + cstr(v) + b"\x00" for k, op, v in ops]
        res.append(struct.pack(">b", rtype) + cstr(name) + carray(cfgs) + b"\x00")
    body = carray(res) + (b"\x01" if validate_only else b"\x00") + b"\x00"
    r = call(b, 44, 1, body)
    r.i32()

    def resp():
        out = (r.i16(), r.cstr(), r.i8(), r.cstr())
        r.tags()
        return out

    out = r.carray(resp)
    r.tags()
    return out


def topic_config(b, topic, key):
    import json
    (e,) = json.loads(ok(b, "config", "get", "--topic", topic, key, "--json"))
    return e["value"], e["source"]


def test_incremental_alter_configs_validate_only_and_duplicates(broker):
    ok(broker, "topic", "create", "iac")
    # validate_only: checked, answered, not applied.
    assert iac(broker, [(2, "iac", [("retention.ms", 0, "1000")])], validate_only=True) == \
        [(0, None, 2, "iac")]
    assert topic_config(broker, "iac", "retention.ms") == ("604800000", "DEFAULT_CONFIG")
    (err,) = iac(broker, [(2, "iac", [("retention.ms", 0, "x")])], validate_only=True)
    assert err[0] == 40
    # The same resource twice: INVALID_REQUEST for both, nothing applied.
    out = iac(broker, [(2, "iac", [("retention.ms", 0, "1000")]),
                       (2, "iac", [("segment.ms", 0, "1000")])])
    assert [o[0] for o in out] == [42, 42]
    assert topic_config(broker, "iac", "retention.ms")[1] == "DEFAULT_CONFIG"
    # Duplicate keys in one resource, and APPEND to a non-list config.
    (err,) = iac(broker, [(2, "iac", [("retention.ms", 0, "1"), ("retention.ms", 1, None)])])
    assert err[:2] == (42, "Error due to duplicate config keys")
    (err,) = iac(broker, [(2, "iac", [("retention.ms", 2, "5")])])
    assert err[0] == 40
    # One valid and one invalid resource: the valid one is applied.
    out = iac(broker, [(2, "iac", [("retention.ms", 0, "2000")]),
                       (2, "ghost", [("retention.ms", 0, "2000")])])
    assert [o[0] for o in out] == [0, 3]
    assert topic_config(broker, "iac", "retention.ms") == ("2000", "DYNAMIC_TOPIC_CONFIG")
    # Unsupported resource types.
    (err,) = iac(broker, [(8, "x", [("a", 0, "b")])])
    assert err[0] == 42


# --- CreatePartitions validate_only (kafka-python) --------------------------

def test_create_partitions_validate_only(broker):
    from kafka.admin import KafkaAdminClient, NewPartitions
    ok(broker, "topic", "create", "vo", "--partitions", "2")
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        resp = a.create_partitions({"vo": NewPartitions(4)}, validate_only=True)
        assert resp.topic_errors[0][1] == 0
    finally:
        a.close()
    import json
    (d,) = json.loads(ok(broker, "topic", "describe", "vo", "--json"))
    assert len(d["partitions"]) == 2
