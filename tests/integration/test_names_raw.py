"""Names with NUL bytes and other odd bytes, sent as raw requests (client
libraries would refuse to send most of them).

A name is every byte the client sent: "x\\0y" must not create "x", and
"victim\\0zzz" must not delete "victim". Topic names follow Kafka's rules
(INVALID_TOPIC_EXCEPTION, 17); config names and values with a NUL are
INVALID_CONFIG (40); group ids are opaque and keep their full length, so
"g\\0x" is its own group. Client ids go to the log escaped."""
import struct
import time

import pytest

from harness import Broker, connect, read_uvarint, recv_frame, uvarint

INVALID_TOPIC = 17
UNKNOWN_TOPIC = 3
INVALID_CONFIG = 40
INVALID_REQUEST = 42


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


# --- encoding -------------------------------------------------------------

def raw(s):
    return s if isinstance(s, bytes) else s.encode()


def s16(s):
    """STRING / NULLABLE_STRING (None)."""
    if s is None:
        return struct.pack(">h", -1)
    b = raw(s)
    return struct.pack(">h", len(b)) + b


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def cstr(s):
    """COMPACT_STRING."""
    if s is None:
        return b"\x00"
    b = raw(s)
    return uvarint(len(b) + 1) + b


def frame(key, version, corr, body, client_id=b"names", flexible=False):
    cid = raw(client_id)
    hdr = struct.pack(">hhih", key, version, corr, len(cid)) + cid
    if flexible:
        hdr += b"\x00"
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


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

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def s16(self):
        n = self.i16()
        return None if n < 0 else self.take(n)

    def arr(self, fn):
        n = self.i32()
        return None if n < 0 else [fn() for _ in range(n)]

    def uv(self):
        v, self.pos = read_uvarint(self.buf, self.pos)
        return v

    def cstr(self):
        n = self.uv()
        return None if n == 0 else self.take(n - 1)

    def carr(self, fn):
        n = self.uv()
        return None if n == 0 else [fn() for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uv()):
            self.uv()
            self.take(self.uv())


def call(b, key, version, body, flexible=False, corr=7):
    s = connect(b.port)
    try:
        s.sendall(frame(key, version, corr, body, flexible=flexible))
        f = recv_frame(s)
    finally:
        s.close()
    r = Reader(f)
    assert r.i32() == corr
    if flexible:
        r.tags()
    return r


# --- the APIs, at their last non-flexible versions where there is one -----

def create_topics(b, names, partitions=1, configs=(), validate_only=False):
    """CreateTopics v4: [(name, error_code)]."""
    cfgs = arr([s16(k) + s16(v) for k, v in configs])
    topics = [s16(n) + struct.pack(">ih", partitions, 1) + arr([]) + cfgs
              for n in names]
    body = arr(topics) + struct.pack(">i?", 15000, validate_only)
    r = call(b, 19, 4, body)
    r.i32()  # throttle
    return r.arr(lambda: (r.s16(), r.i16(), r.s16()))


def delete_topics(b, names):
    """DeleteTopics v3: [(name, error_code)]."""
    body = arr([s16(n) for n in names]) + struct.pack(">i", 15000)
    r = call(b, 20, 3, body)
    r.i32()
    return r.arr(lambda: (r.s16(), r.i16()))


def create_partitions(b, name, count, validate_only=False):
    """CreatePartitions v1: the one result's error code."""
    topic = s16(name) + struct.pack(">ii", count, -1)
    body = arr([topic]) + struct.pack(">i?", 15000, validate_only)
    r = call(b, 37, 1, body)
    r.i32()
    ((_, err, _),) = r.arr(lambda: (r.s16(), r.i16(), r.s16()))
    return err


def alter_configs(b, rtype, name, configs, validate_only=False):
    """AlterConfigs v1: (error_code, message) of the one resource."""
    cfgs = arr([s16(k) + s16(v) for k, v in configs])
    body = arr([struct.pack(">b", rtype) + s16(name) + cfgs])
    body += struct.pack(">?", validate_only)
    r = call(b, 33, 1, body)
    r.i32()
    ((err, msg, _, _),) = r.arr(lambda: (r.i16(), r.s16(), r.i8(), r.s16()))
    return err, msg


def incremental_alter_configs(b, rtype, name, ops, validate_only=False):
    """IncrementalAlterConfigs v0: (error_code, message)."""
    cfgs = arr([s16(k) + struct.pack(">b", op) + s16(v) for k, op, v in ops])
    body = arr([struct.pack(">b", rtype) + s16(name) + cfgs])
    body += struct.pack(">?", validate_only)
    r = call(b, 44, 0, body)
    r.i32()
    ((err, msg, _, _),) = r.arr(lambda: (r.i16(), r.s16(), r.i8(), r.s16()))
    return err, msg


def describe_config(b, rtype, name, key):
    """DescribeConfigs v1: (error_code, value of key or None)."""
    body = arr([struct.pack(">b", rtype) + s16(name) + arr([s16(key)])])
    body += b"\x00"
    r = call(b, 32, 1, body)
    r.i32()

    def entry():
        e = (r.s16(), r.s16(), r.i8(), r.i8(), r.i8())
        r.arr(lambda: (r.s16(), r.s16(), r.i8()))  # synonyms
        return e

    def result():
        err, _, _, _ = r.i16(), r.s16(), r.i8(), r.s16()
        return err, r.arr(entry)

    ((err, entries),) = r.arr(result)
    value = None
    for e in entries or []:
        if e[0] == raw(key):
            value = e[1].decode()
    return err, value


def describe_topic_partitions(b, names):
    """DescribeTopicPartitions v0: [(error_code, name, partition count)]."""
    topics = b"".join(cstr(n) + b"\x00" for n in names)
    body = uvarint(len(names) + 1) + topics
    body += struct.pack(">i", 100) + b"\xff" + b"\x00"  # no cursor, tags
    r = call(b, 75, 0, body, flexible=True)
    r.i32()

    def partition():
        r.i16(), r.i32(), r.i32(), r.i32()
        for _ in range(5):
            r.carr(r.i32)
        r.tags()

    def topic():
        err, name, _, _ = r.i16(), r.cstr(), r.take(16), r.i8()
        parts = r.carr(partition)
        r.i32()
        r.tags()
        return err, name, len(parts or [])

    return r.carr(topic)


def topic_exists(b, name):
    ((err, _, n),) = describe_topic_partitions(b, [name])
    return err == 0 and n > 0


# --- topics ---------------------------------------------------------------

def test_create_topic_with_nul_creates_nothing(broker):
    for name in (b"x\0y", b"x\0", b"\0", b"nul\0\0"):
        ((got, err, msg),) = create_topics(broker, [name])
        assert got == name  # echoed whole
        assert err == INVALID_TOPIC, (name, err, msg)
        assert b"\0" not in (msg or b"")
    # Not "x", not "nul": no topic came of the names above.
    assert not topic_exists(broker, "x")
    assert not topic_exists(broker, "nul")
    assert describe_topic_partitions(broker, ["x"])[0][0] == UNKNOWN_TOPIC


@pytest.mark.parametrize("name", [
    "a b", "a/b", "a:b", "a\\b", "a\nb", "a\x7fb", "caf\u00e9", "a+b", "a*b",
    ".", "..", "", "x" * 250])
def test_create_topic_refuses_what_kafka_refuses(broker, name):
    ((_, err, _),) = create_topics(broker, [name])
    assert err == INVALID_TOPIC, name


def test_create_topic_nul_is_not_a_duplicate_of_an_existing_one(broker):
    assert create_topics(broker, ["dup"])[0][1] == 0
    # "dup\0z" is an illegal name, not TOPIC_ALREADY_EXISTS (36) for "dup".
    assert create_topics(broker, [b"dup\0z"])[0][1] == INVALID_TOPIC


def test_delete_topic_with_nul_spares_the_prefix(broker):
    assert create_topics(broker, ["victim"])[0][1] == 0
    for name in (b"victim\0zzz", b"victim\0", b"victi\0m"):
        ((got, err),) = delete_topics(broker, [name])
        assert got == name
        assert err == UNKNOWN_TOPIC, (name, err)
    assert topic_exists(broker, "victim")
    # The real name still deletes it.
    assert delete_topics(broker, ["victim"]) == [(b"victim", 0)]
    deadline = time.time() + 10
    while topic_exists(broker, "victim") and time.time() < deadline:
        time.sleep(0.1)
    assert not topic_exists(broker, "victim")


def test_create_partitions_with_nul_leaves_the_topic_alone(broker):
    assert create_topics(broker, ["grow"])[0][1] == 0
    assert create_partitions(broker, b"grow\0x", 4) == UNKNOWN_TOPIC
    assert create_partitions(broker, b"grow\0", 4) == UNKNOWN_TOPIC
    assert describe_topic_partitions(broker, ["grow"])[0] == (0, b"grow", 1)
    assert create_partitions(broker, "grow", 2) == 0
    assert describe_topic_partitions(broker, ["grow"])[0] == (0, b"grow", 2)


def test_describe_topic_partitions_with_nul(broker):
    assert create_topics(broker, ["seen"])[0][1] == 0
    out = describe_topic_partitions(broker, [b"seen\0", b"seen\0tail", "seen"])
    by_name = {name: (err, n) for err, name, n in out}
    assert by_name[b"seen"] == (0, 1)
    assert by_name[b"seen\0"] == (INVALID_TOPIC, 0)
    assert by_name[b"seen\0tail"] == (INVALID_TOPIC, 0)


# --- configs --------------------------------------------------------------

def test_alter_configs_nul_in_resource_name(broker):
    assert create_topics(broker, ["cfg"])[0][1] == 0
    for alter in (
            lambda n: alter_configs(broker, 2, n, [("retention.ms", "1000")]),
            lambda n: incremental_alter_configs(
                broker, 2, n, [("retention.ms", 0, "1000")])):
        err, msg = alter(b"cfg\0x")
        assert err == INVALID_TOPIC, msg
        assert describe_config(broker, 2, "cfg", "retention.ms") == \
            (0, "604800000")
        # Kafka's controller checks the name before anything else.
        assert alter("a b")[0] == INVALID_TOPIC
        assert alter("")[0] == INVALID_REQUEST
        assert alter("ghost")[0] == UNKNOWN_TOPIC
    # A broker resource "1\0x" is no broker id.
    assert alter_configs(broker, 4, b"1\0x", [("log.retention.ms", "1")])[0] \
        == INVALID_REQUEST
    assert incremental_alter_configs(
        broker, 4, b"1\0x", [("log.retention.ms", 0, "1")])[0] \
        == INVALID_REQUEST
    assert describe_config(broker, 4, b"1\0x", "log.retention.ms")[0] == \
        INVALID_REQUEST


def test_alter_configs_nul_in_config_name_or_value(broker):
    assert create_topics(broker, ["cfgv"])[0][1] == 0
    cases = [("retention.ms\0junk", "1000"), ("retention.ms", "1000\0junk"),
             ("retention.ms", "\0")]
    for k, v in cases:
        err, msg = alter_configs(broker, 2, "cfgv", [(k, v)])
        assert err == INVALID_CONFIG, (k, v, msg)
        assert b"\0" not in (msg or b"")
        err, msg = incremental_alter_configs(broker, 2, "cfgv", [(k, 0, v)])
        assert err == INVALID_CONFIG, (k, v, msg)
        # Broker resources too: "log.retention.ms\0x" is not
        # log.retention.ms.
        bk = k.replace("retention.ms", "log.retention.ms")
        err, _ = incremental_alter_configs(broker, 4, "", [(bk, 0, v)])
        assert err == INVALID_CONFIG
        err, _ = alter_configs(broker, 4, "", [(bk, v)])
        assert err == INVALID_CONFIG
    # Nothing was set.
    assert describe_config(broker, 2, "cfgv", "retention.ms") == \
        (0, "604800000")
    assert describe_config(broker, 4, "1", "log.retention.ms")[1] != "1000"


def test_create_topic_nul_in_config(broker):
    for k, v in (("retention.ms\0x", "1000"), ("retention.ms", "1000\0x")):
        ((_, err, msg),) = create_topics(broker, ["ctcfg"], configs=[(k, v)])
        assert err == INVALID_CONFIG, (k, v, msg)
    assert not topic_exists(broker, "ctcfg")


# --- groups ---------------------------------------------------------------

def offset_commit(b, group, topic, offset):
    """OffsetCommit v2 outside any generation: the partition's error."""
    body = s16(group) + struct.pack(">i", -1) + s16("") + struct.pack(">q", -1)
    part = struct.pack(">iq", 0, offset) + s16(None)
    body += arr([s16(topic) + arr([part])])
    r = call(b, 8, 2, body)
    ((_, ((_, err),)),) = r.arr(lambda: (r.s16(),
                                         r.arr(lambda: (r.i32(), r.i16()))))
    return err


def offset_fetch(b, group, topic):
    """OffsetFetch v1: (committed offset, error)."""
    body = s16(group) + arr([s16(topic) + arr([struct.pack(">i", 0)])])
    r = call(b, 9, 1, body)
    ((_, ((_, off, _, err),)),) = r.arr(
        lambda: (r.s16(), r.arr(lambda: (r.i32(), r.i64(), r.s16(),
                                         r.i16()))))
    return off, err


def list_groups(b):
    r = call(b, 16, 0, b"")
    assert r.i16() == 0
    return [g for g, _ in r.arr(lambda: (r.s16(), r.s16()))]


def find_coordinator(b, group):
    """FindCoordinator v0: its error (creates __consumer_offsets)."""
    return call(b, 10, 0, s16(group)).i16()


def commit_retrying(b, group, topic, offset):
    deadline = time.time() + 30
    while find_coordinator(b, group) != 0 and time.time() < deadline:
        time.sleep(0.2)
    while True:
        err = offset_commit(b, group, topic, offset)
        # LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR while
        # __consumer_offsets is being created.
        if err not in (14, 15, 16) or time.time() > deadline:
            return err
        time.sleep(0.2)


def test_group_id_with_nul_is_its_own_group():
    with Broker() as b:
        assert create_topics(b, ["gt"])[0][1] == 0
        assert commit_retrying(b, b"g\0x", "gt", 5) == 0
        assert commit_retrying(b, "g", "gt", 7) == 0
        assert commit_retrying(b, b"g\0", "gt", 9) == 0
        for _ in range(2):
            assert offset_fetch(b, b"g\0x", "gt") == (5, 0)
            assert offset_fetch(b, "g", "gt") == (7, 0)
            assert offset_fetch(b, b"g\0", "gt") == (9, 0)
            assert offset_fetch(b, b"g\0y", "gt") == (-1, 0)
            groups = list_groups(b)
            for g in (b"g\0x", b"g", b"g\0"):
                assert g in groups, groups
            # The ids are persisted whole too.
            assert b.stop() == 0
            b.start()
            deadline = time.time() + 30
            while offset_fetch(b, "g", "gt")[1] != 0 and \
                    time.time() < deadline:
                time.sleep(0.2)


def commit_with_metadata(b, group, topic, offset, metadata):
    """OffsetCommit v2 with metadata: the partition's error."""
    body = s16(group) + struct.pack(">i", -1) + s16("") + struct.pack(">q", -1)
    part = struct.pack(">iq", 0, offset) + s16(metadata)
    body += arr([s16(topic) + arr([part])])
    r = call(b, 8, 2, body)
    ((_, ((_, err),)),) = r.arr(lambda: (r.s16(),
                                         r.arr(lambda: (r.i32(), r.i16()))))
    return err


def fetch_with_metadata(b, group, topic):
    """OffsetFetch v1: (committed offset, metadata, error)."""
    body = s16(group) + arr([s16(topic) + arr([struct.pack(">i", 0)])])
    r = call(b, 9, 1, body)
    ((_, ((_, off, md, err),)),) = r.arr(
        lambda: (r.s16(), r.arr(lambda: (r.i32(), r.i64(), r.s16(),
                                         r.i16()))))
    return off, md, err


def test_commit_metadata_with_nul_round_trips():
    """Committed metadata is every byte the client sent, in memory and in
    __consumer_offsets: "Hello\0world!" is not read back as "Hello"."""
    md = b"Hello\0world!\0"
    with Broker() as b:
        assert create_topics(b, ["mdt"])[0][1] == 0
        assert commit_retrying(b, "mdg", "mdt", 1) == 0
        assert commit_with_metadata(b, "mdg", "mdt", 5, md) == 0
        assert fetch_with_metadata(b, "mdg", "mdt") == (5, md, 0)
        assert b.stop() == 0
        b.start()
        deadline = time.time() + 30
        while fetch_with_metadata(b, "mdg", "mdt")[2] != 0 and \
                time.time() < deadline:
            time.sleep(0.2)
        assert fetch_with_metadata(b, "mdg", "mdt") == (5, md, 0)


def join_static(b, group, member, instance):
    """JoinGroup v5: (error, generation, leader, member id, members as
    [(member id, instance id)])."""
    body = s16(group) + struct.pack(">ii", 10000, 30000) + s16(member)
    body += s16(instance) + s16("consumer")
    body += arr([s16("range") + struct.pack(">i", 1) + b"m"])
    s = connect(b.port, timeout=40)
    try:
        s.sendall(frame(11, 5, 3, body))
        r = Reader(recv_frame(s))
    finally:
        s.close()
    assert r.i32() == 3
    r.i32()
    err, gen = r.i16(), r.i32()
    r.s16()
    leader, mid = r.s16(), r.s16()
    members = r.arr(lambda: (r.s16(), r.s16(), r.take(r.i32())))
    return err, gen, leader, mid, [(m, i) for m, i, _ in members]


def sync_static(b, group, member, instance, gen, assignments=()):
    """SyncGroup v3: the error."""
    body = s16(group) + struct.pack(">i", gen) + s16(member) + s16(instance)
    body += arr([s16(m) + struct.pack(">i", len(a)) + a
                 for m, a in assignments])
    r = call(b, 14, 3, body)
    r.i32()
    return r.i16()


def heartbeat_static(b, group, member, instance, gen):
    """Heartbeat v3: the error."""
    body = s16(group) + struct.pack(">i", gen) + s16(member) + s16(instance)
    r = call(b, 12, 3, body)
    r.i32()
    return r.i16()


def test_instance_id_with_nul_is_its_own_static_member():
    """Static membership (KIP-345) is keyed by every byte of the instance
    id: a member "a" joining does not take over the membership of "a\0x"
    (FENCED_INSTANCE_ID for the real one), it is a new member."""
    from concurrent.futures import ThreadPoolExecutor
    group, odd = "static-nul", b"a\0x"
    with Broker(extra={"group.initial.rebalance.delay.ms": "0"}) as b:
        assert create_topics(b, ["st"])[0][1] == 0
        assert commit_retrying(b, group, "st", 0) == 0
        err, gen, leader, mx, _ = join_static(b, group, "", odd)
        assert err == 0 and leader == mx
        assert sync_static(b, group, mx, odd, gen, [(mx, b"all")]) == 0
        with ThreadPoolExecutor(1) as pool:
            # A new static member: a rebalance, parked until "a\0x" rejoins.
            other = pool.submit(join_static, b, group, "", b"a")
            deadline = time.time() + 20
            while True:
                err = heartbeat_static(b, group, mx, odd, gen)
                assert err != 82, "FENCED_INSTANCE_ID: 'a' took over 'a\\0x'"
                if err == 27:  # REBALANCE_IN_PROGRESS
                    break
                assert err == 0 and time.time() < deadline
                time.sleep(0.05)
            err, gen2, leader, mid, members = join_static(b, group, mx, odd)
            assert err == 0 and mid == mx and gen2 == gen + 1
            oerr, ogen, _, ma, _ = other.result(timeout=30)
            assert (oerr, ogen) == (0, gen2) and ma != mx
        assert sorted(members) == sorted([(mx, odd), (ma, b"a")])


# --- logs -----------------------------------------------------------------

def test_client_id_is_logged_escaped(broker):
    evil = b'evil\n\xff\xfe\x00"=x\\'
    s = connect(broker.port)
    try:
        # An unknown API key: logged (at info) with the client id, then the
        # connection is closed.
        s.sendall(frame(9999, 0, 1, b"", client_id=evil))
        try:
            s.recv(1)
        except OSError:
            pass
    finally:
        s.close()
    deadline = time.time() + 10
    line = None
    while line is None and time.time() < deadline:
        with open(broker.log_path, "rb") as f:
            for ln in f.read().split(b"\n"):
                if b"api_key=9999" in ln:
                    line = ln
        time.sleep(0.05)
    assert line is not None, broker.output()
    line.decode("utf-8")  # valid UTF-8 (it is ASCII)
    assert all(0x20 <= c < 0x7f for c in line), line
    assert b'client="evil\\x0a\\xff\\xfe\\x00\\"=x\\\\"' in line, line
