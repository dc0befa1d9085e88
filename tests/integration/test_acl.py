"""ACLs (issue 15): Kafka's StandardAuthorizer on a broker with a PLAINTEXT
listener (User:ANONYMOUS, a super user here, as brokers are in a cluster)
and an mTLS listener whose clients are their certificates' subjects
(User:CN=alice,O=x ...). CreateAcls, DescribeAcls and DeleteAcls through
Kafka's kafka-acls.sh (AclCommand), confluent-kafka's admin client,
brokerctl and raw requests with bad input; ACLs surviving a restart."""
import importlib.util
import json
import os
import socket
import ssl
import struct
import subprocess
import time

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient,
                                   ConfigResource, NewTopic,
                                   ResourcePatternType, ResourceType)

from data_util import create_topics
from kafka_records import build_batch, fetch_v4, produce_v8
from harness import (REPO, Broker, brokerd_path, free_port, recv_frame,
                     run_brokerctl, uvarint, wait_port, wait_until)
from test_names_raw import Reader, arr, call, cstr, frame, s16
from tls_util import Certs

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ALICE = "User:CN=alice,O=x"
BOB = "User:CN=bob,O=x"
ADMIN = "User:CN=admin,O=x"

# Kafka's error codes.
NONE, TOPIC_AUTHZ, GROUP_AUTHZ, CLUSTER_AUTHZ = 0, 29, 30, 31
INVALID_REQUEST, SECURITY_DISABLED, TXN_AUTHZ = 42, 54, 53


def start(tmp, certs=None, data_dir=None, **extra):
    certs = certs or Certs(str(tmp))
    for name in ("alice", "bob", "admin"):
        certs.client(name, CN=name, O="x")
    p, s = free_port(), free_port()
    conf = {
        "listeners": "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d" % (p, s),
        "ssl.keystore.location": certs.path("server.pem"),
        "ssl.truststore.location": certs.path("ca.pem"),
        "listener.name.ssl.ssl.client.auth": "required",
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:ANONYMOUS;" + ADMIN,
    }
    conf.update(extra)
    b = Broker(conf, port=p, data_dir=data_dir).start()
    b.ssl_port = s
    b.certs = certs
    return b


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start(tmp_path_factory.mktemp("certs"))
    yield b
    assert b.stop() == 0, b.output()[-3000:]
    b.cleanup()


def tls_conf(b, who, **extra):
    """librdkafka settings for the mTLS listener as client `who`."""
    c = {"bootstrap.servers": "127.0.0.1:%d" % b.ssl_port,
         "security.protocol": "ssl",
         "ssl.ca.location": b.certs.path("ca.pem"),
         "ssl.certificate.location": b.certs.path(who + ".crt"),
         "ssl.key.location": b.certs.path(who + ".key")}
    c.update(extra)
    return c


def admin(b, who=None):
    if who is None:
        return AdminClient({"bootstrap.servers": b.bootstrap})
    return AdminClient(tls_conf(b, who))


def binding(principal, op, name="t", rt=ResourceType.TOPIC,
            pt=ResourcePatternType.LITERAL, perm=AclPermissionType.ALLOW):
    return AclBinding(rt, name, pt, principal, "*", op, perm)


def create(a, bindings):
    for f in a.create_acls(bindings, request_timeout=15).values():
        f.result()


def delete(a, filters):
    out = []
    for f in a.delete_acls(filters, request_timeout=15).values():
        out.extend(f.result())
    return out


def everything():
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                            None, None, AclOperation.ANY,
                            AclPermissionType.ANY)


def describe(a, flt=None):
    return a.describe_acls(flt or everything(),
                           request_timeout=15).result()


def clear(b):
    delete(admin(b), [everything()])


# --- raw requests -----------------------------------------------------------

def creation(rt=2, name="t", pt=3, principal=ALICE, host="*", op=3, perm=3):
    return (struct.pack(">b", rt) + s16(name) + struct.pack(">b", pt) +
            s16(principal) + s16(host) + struct.pack(">bb", op, perm))


def tls_socket(b, who):
    """A TLS connection to the mTLS listener with `who`'s certificate."""
    ctx = ssl.create_default_context(cafile=b.certs.path("ca.pem"))
    ctx.load_cert_chain(b.certs.path(who + ".crt"), b.certs.path(who + ".key"))
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.ssl_port)),
                           server_hostname="localhost")


def tls_frame(b, who, key, version, body, flexible=False):
    """One request on the mTLS listener as client `who`: a Reader of the
    answer past its correlation id."""
    with tls_socket(b, who) as s:
        s.sendall(frame(key, version, 5, body, flexible=flexible))
        r = Reader(recv_frame(s))
    assert r.i32() == 5
    if flexible:
        r.tags()
    return r


def tls_call(b, who, key, version, body, throttle_first=False):
    """tls_frame for answers that start with the throttle time: (it, the
    Reader, the int16 after it); with throttle_first, no int16 is read."""
    r = tls_frame(b, who, key, version, body)
    if throttle_first:
        return r.i32(), r, None
    return r.i32(), r, r.i16()


def raw_create(b, creations):
    """CreateAcls v1: [(error_code, message)]."""
    r = call(b, 30, 1, arr(creations))
    r.i32()
    return r.arr(lambda: (r.i16(), r.s16()))


def acl_filter(rt=1, name=None, pt=1, principal=None, host=None, op=1,
               perm=1):
    return (struct.pack(">b", rt) + s16(name) + struct.pack(">b", pt) +
            s16(principal) + s16(host) + struct.pack(">bb", op, perm))


def raw_describe(b, flt):
    """DescribeAcls v1: (error_code, message, [(type, name, pattern,
    [(principal, host, op, perm)])])."""
    r = call(b, 29, 1, flt)
    r.i32()
    err, msg = r.i16(), r.s16()
    res = r.arr(lambda: (r.i8(), r.s16(), r.i8(),
                         r.arr(lambda: (r.s16(), r.s16(), r.i8(), r.i8()))))
    return err, msg, res


def raw_delete(b, filters):
    """DeleteAcls v1: [(error_code, message, [matching...])]."""
    r = call(b, 31, 1, arr(filters))
    r.i32()
    return r.arr(lambda: (r.i16(), r.s16(), r.arr(lambda: (
        r.i16(), r.s16(), r.i8(), r.s16(), r.i8(), r.s16(), r.s16(), r.i8(),
        r.i8()))))


def test_raw_create_bad_input(broker):
    res = raw_create(broker, [
        creation(),                            # valid
        creation(rt=99),                       # unknown resource type
        creation(rt=1),                        # ANY
        creation(pt=2),                        # MATCH
        creation(pt=9),                        # unknown pattern type
        creation(principal="alice"),           # no "Type:"
        creation(principal="User:"),           # empty name
        creation(name=""),                     # empty resource name
        creation(rt=4, name="other"),          # CLUSTER not kafka-cluster
        creation(op=1),                        # ANY operation
        creation(perm=1),                      # ANY permission
        creation(rt=4, name="kafka-cluster", op=7),  # valid
    ])
    codes = [c for c, _ in res]
    assert codes == [NONE] + [INVALID_REQUEST] * 10 + [NONE], res
    assert b"principal" in res[5][1]
    assert b"kafka-cluster" in res[8][1]
    err, _, got = raw_describe(broker, acl_filter())
    assert err == 0
    assert sorted((t, n) for t, n, _, _ in got) == [(2, b"t"),
                                                   (4, b"kafka-cluster")]
    # Creating it again is a no-op that succeeds; still one ACL.
    assert raw_create(broker, [creation()]) == [(NONE, None)]
    err, _, got = raw_describe(broker, acl_filter(rt=2))
    assert got == [(2, b"t", 3, [(ALICE.encode(), b"*", 3, 3)])]
    clear(broker)


def test_raw_filters_bad_input(broker):
    err, msg, res = raw_describe(broker, acl_filter(rt=0))
    assert err == INVALID_REQUEST and res == []
    err, msg, res = raw_describe(broker, acl_filter(pt=7))
    assert err == INVALID_REQUEST
    res = raw_delete(broker, [acl_filter(op=0), acl_filter(perm=9),
                              acl_filter()])
    assert [e for e, _, _ in res] == [INVALID_REQUEST, INVALID_REQUEST, NONE]


def test_raw_match_filter_and_delete(broker):
    assert raw_create(broker, [
        creation(name="orders", pt=3, op=3),
        creation(name="*", pt=3, op=8),
        creation(name="ord", pt=4, op=4),
        creation(name="other", pt=3, op=3),
        creation(rt=3, name="orders", pt=3, op=3),
    ]) == [(NONE, None)] * 5
    # MATCH: what applies to the topic "orders".
    err, _, res = raw_describe(broker, acl_filter(rt=2, name="orders", pt=2))
    assert err == 0
    assert sorted((n, p) for _, n, p, _ in res) == [
        (b"*", 3), (b"ord", 4), (b"orders", 3)]
    # LITERAL with the name: that pattern only.
    err, _, res = raw_describe(broker, acl_filter(rt=2, name="orders", pt=3))
    assert [(n, p) for _, n, p, _ in res] == [(b"orders", 3)]
    # Deleting with MATCH removes everything that applies; an ACL matched
    # by two filters is listed once.
    res = raw_delete(broker, [acl_filter(rt=2, name="orders", pt=2),
                              acl_filter(rt=2, name="ord", pt=4)])
    assert res[0][0] == NONE and len(res[0][2]) == 3
    assert res[1][0] == NONE and res[1][2] == []
    err, _, res = raw_describe(broker, acl_filter())
    assert sorted((t, n) for t, n, _, _ in res) == [(2, b"other"),
                                                   (3, b"orders")]
    clear(broker)


def test_security_disabled(tmp_path):
    with Broker() as b:
        assert raw_create(b, [creation()])[0][0] == SECURITY_DISABLED
        assert raw_describe(b, acl_filter())[0] == SECURITY_DISABLED
        assert raw_delete(b, [acl_filter()])[0][0] == SECURITY_DISABLED


def test_unknown_authorizer_stops_start(tmp_path):
    b = Broker({"authorizer.class.name": "com.example.MyAuthorizer"})
    try:
        with pytest.raises(RuntimeError) as e:
            b.start()
        assert "authorizer.class.name" in str(e.value)
    finally:
        b.cleanup()


# --- clients ----------------------------------------------------------------

def test_confluent_admin_acls(broker):
    a = admin(broker, "admin")  # a super user over mTLS
    create(a, [binding(ALICE, AclOperation.READ),
               binding(BOB, AclOperation.WRITE, name="p-",
                       pt=ResourcePatternType.PREFIXED,
                       perm=AclPermissionType.DENY),
               binding(ALICE, AclOperation.READ, name="g",
                       rt=ResourceType.GROUP)])
    got = describe(a)
    assert len(got) == 3
    assert {(x.restype, x.name, x.resource_pattern_type, x.principal,
             x.operation, x.permission_type) for x in got} == {
        (ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, ALICE,
         AclOperation.READ, AclPermissionType.ALLOW),
        (ResourceType.TOPIC, "p-", ResourcePatternType.PREFIXED, BOB,
         AclOperation.WRITE, AclPermissionType.DENY),
        (ResourceType.GROUP, "g", ResourcePatternType.LITERAL, ALICE,
         AclOperation.READ, AclPermissionType.ALLOW)}
    topics = AclBindingFilter(ResourceType.TOPIC, None,
                              ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)
    assert len(describe(a, topics)) == 2
    gone = delete(a, [topics])
    assert len(gone) == 2
    assert [x.restype for x in describe(a)] == [ResourceType.GROUP]
    # alice has no ALTER on the cluster: refused, and so is describing
    # without DESCRIBE on the cluster.
    alice = admin(broker, "alice")
    with pytest.raises(KafkaException) as e:
        create(alice, [binding(ALICE, AclOperation.ALL)])
    assert e.value.args[0].code() == CLUSTER_AUTHZ
    # (confluent-kafka drops DescribeAcls' top-level error: asked raw.)
    assert tls_call(broker, "alice", 29, 1, acl_filter())[2] == CLUSTER_AUTHZ
    # Given ALTER on the cluster (which implies DESCRIBE), she may.
    create(a, [binding(ALICE, AclOperation.ALTER, name="kafka-cluster",
                       rt=ResourceType.BROKER)])
    create(alice, [binding(BOB, AclOperation.READ)])
    assert len(describe(alice)) == 3
    clear(broker)


# --- kafka-acls.sh ----------------------------------------------------------

@pytest.fixture(scope="module")
def kafka_lib():
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.ensure_kafka()
    bench.write_tools_log4j()
    return bench.LIB, os.path.join(bench.DEPS, "tools-log4j2.properties")


def kafka_acls(kafka_lib, b, *args):
    lib, log4j = kafka_lib
    r = subprocess.run(["java", "-Dlog4j2.configurationFile=" + log4j,
                        "-cp", os.path.join(lib, "*"),
                        "org.apache.kafka.tools.AclCommand",
                        "--bootstrap-server", b.bootstrap] + list(args),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_kafka_acls_tool(broker, kafka_lib):
    out = kafka_acls(kafka_lib, broker, "--add", "--allow-principal", ALICE,
                     "--operation", "Read", "--operation", "Describe",
                     "--topic", "orders", "--group", "app",
                     "--resource-pattern-type", "prefixed")
    got = describe(admin(broker))
    assert {(x.restype, x.name, x.resource_pattern_type, x.operation)
            for x in got} == {
        (ResourceType.TOPIC, "orders", ResourcePatternType.PREFIXED,
         AclOperation.READ),
        (ResourceType.TOPIC, "orders", ResourcePatternType.PREFIXED,
         AclOperation.DESCRIBE),
        (ResourceType.GROUP, "app", ResourcePatternType.PREFIXED,
         AclOperation.READ),
        (ResourceType.GROUP, "app", ResourcePatternType.PREFIXED,
         AclOperation.DESCRIBE)}
    # The producer shortcut: WRITE, DESCRIBE, CREATE on the topic.
    kafka_acls(kafka_lib, broker, "--add", "--allow-principal", BOB,
               "--producer", "--topic", "logs")
    out = kafka_acls(kafka_lib, broker, "--list", "--topic", "logs")
    assert BOB in out and "WRITE" in out and "CREATE" in out, out
    out = kafka_acls(kafka_lib, broker, "--list", "--principal", ALICE)
    assert "orders" in out and "app" in out and "logs" not in out, out
    kafka_acls(kafka_lib, broker, "--remove", "--force", "--topic", "orders",
               "--resource-pattern-type", "prefixed")
    out = kafka_acls(kafka_lib, broker, "--list")
    assert "orders" not in out and "app" in out and "logs" in out, out
    clear(broker)


# --- brokerctl ----------------------------------------------------------------

def test_brokerctl_acl(broker):
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--allow-principal",
                      ALICE, "--operation", "read", "--operation", "write",
                      "--topic", "b-", "--resource-pattern-type", "prefixed")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--deny-principal",
                      BOB, "--operation", "all", "--group", "g1")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("TOPIC" in l and "b-" in l and "PREFIXED" in l and
               "WRITE" in l and ALICE in l for l in lines), r.stdout
    assert any("GROUP" in l and "g1" in l and "DENY" in l and "ALL" in l
               for l in lines), r.stdout
    r = run_brokerctl(broker.bootstrap, "acl", "list", "--topic", "b-1",
                      "--resource-pattern-type", "match")
    assert "b-" in r.stdout and "g1" not in r.stdout, r.stdout
    # kafka-acls.sh's shortcuts.
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--allow-principal",
                      BOB, "--consumer", "--topic", "c1", "--group", "cg")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "list", "--principal", BOB,
                      "--json")
    got = {(a["resource_type"], a["name"], a["operation"])
           for a in json.loads(r.stdout)}
    assert got == {("GROUP", "g1", "ALL"), ("TOPIC", "c1", "READ"),
                   ("TOPIC", "c1", "DESCRIBE"), ("GROUP", "cg", "READ")}, got
    r = run_brokerctl(broker.bootstrap, "acl", "remove", "--topic", "c1",
                      "--group", "cg")
    assert r.returncode == 0 and "3 ACL" in r.stdout, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--allow-principal",
                      BOB, "--producer", "--idempotent", "--topic", "p1",
                      "--resource-pattern-type", "prefixed")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "list", "--principal", BOB,
                      "--json")
    got = {(a["resource_type"], a["name"], a["pattern_type"], a["operation"])
           for a in json.loads(r.stdout)}
    assert got - {("GROUP", "g1", "LITERAL", "ALL")} == {
        ("TOPIC", "p1", "PREFIXED", "WRITE"),
        ("TOPIC", "p1", "PREFIXED", "CREATE"),
        ("TOPIC", "p1", "PREFIXED", "DESCRIBE"),
        ("CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE")}, got
    r = run_brokerctl(broker.bootstrap, "acl", "remove", "--topic", "p1",
                      "--cluster", "--resource-pattern-type", "any")
    assert r.returncode == 0 and "4 ACL" in r.stdout, r.stdout + r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "remove", "--group", "g1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 ACL" in r.stdout, r.stdout
    assert len(describe(admin(broker))) == 2
    # Bad input is refused by brokerctl or the broker, with a message.
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--allow-principal",
                      "alice", "--operation", "read", "--topic", "x")
    assert r.returncode != 0 and "principal" in r.stderr.lower(), r.stderr
    r = run_brokerctl(broker.bootstrap, "acl", "add", "--allow-principal",
                      ALICE, "--operation", "fly", "--topic", "x")
    assert r.returncode != 0
    clear(broker)


# --- per-API checks -----------------------------------------------------------

def produce_err(conf, topic, value=b"v"):
    """Produces one record; returns the delivery error code (0: written)."""
    extra = {"message.timeout.ms": 8000}
    if not conf.get("enable.idempotence"):
        extra["retries"] = 0
    p = Producer(dict(conf, **extra))
    out = []
    p.produce(topic, value, on_delivery=lambda e, m: out.append(e))
    p.flush(15)
    assert out, "no delivery report"
    return out[0].code() if out[0] is not None else 0


def consume_err(conf, topic, group=None):
    """Reads topic from offset 0 (assigned, or subscribed with group);
    returns the first error code, or 0 once a record arrives."""
    c = Consumer(dict(conf, **{"group.id": group or "unused",
                              "auto.offset.reset": "earliest",
                              "enable.auto.commit": False}))
    try:
        if group:
            c.subscribe([topic])
        else:
            c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                # Assigned, librdkafka still looks up the group's
                # coordinator, which says GROUP_AUTHORIZATION_FAILED.
                if not group and m.error().code() == GROUP_AUTHZ:
                    continue
                return m.error().code()
            return 0
        raise AssertionError("no record and no error from %s" % topic)
    finally:
        c.close()


def fetch_err(b, who, topic):
    """Fetch v4 of partition 0 from offset 0 as `who`: its error code."""
    body = (struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) +
            arr([s16(topic) + arr([struct.pack(">iqi", 0, 0, 1 << 20)])]))
    _, r, _ = tls_call(b, who, 1, 4, body, throttle_first=True)
    r.i32()  # the responses' count
    r.s16()
    r.i32()
    r.i32()
    return r.i16()


def topics_seen(conf):
    return set(AdminClient(conf).list_topics(timeout=10).topics)


def carr(items):
    return uvarint(len(items) + 1) + b"".join(items)


def metadata_errors(b, who, topics, allow_create=False):
    """Metadata v9 on the mTLS listener as `who`: {name: error_code}."""
    body = (carr([cstr(t) + b"\x00" for t in topics]) +
            struct.pack(">???", allow_create, False, False) + b"\x00")
    r = tls_frame(b, who, 3, 9, body, flexible=True)
    r.i32()  # throttle
    r.carr(lambda: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags()))
    r.cstr()  # cluster id
    r.i32()  # controller
    out = {}

    def topic():
        err, name = r.i16(), r.cstr()
        r.i8()  # is_internal
        r.carr(lambda: (r.i16(), r.i32(), r.i32(), r.i32(),
                        r.carr(r.i32), r.carr(r.i32), r.carr(r.i32),
                        r.tags()))
        r.i32()
        r.tags()
        out[name.decode()] = err
    r.carr(topic)
    return out


def test_client_without_acls_is_refused(broker):
    adm = admin(broker)
    create_topics(broker.bootstrap, {"secret": (1, {}), "open-1": (1, {})})
    assert produce_err({"bootstrap.servers": broker.bootstrap}, "secret") == 0
    alice = tls_conf(broker, "alice")
    # Nothing granted: produce, fetch and describe are refused, and the
    # topic list hides both topics.
    assert produce_err(alice, "secret") == TOPIC_AUTHZ
    assert fetch_err(broker, "alice", "secret") == TOPIC_AUTHZ
    assert fetch_err(broker, "alice", "nosuch") == TOPIC_AUTHZ
    assert topics_seen(alice) == set()
    errs = metadata_errors(broker, "alice", ["secret", "nosuch"])
    assert errs == {"secret": TOPIC_AUTHZ, "nosuch": TOPIC_AUTHZ}
    # DESCRIBE on a prefix shows those topics only; an unknown name it
    # covers is told as unknown.
    create(adm, [binding(ALICE, AclOperation.DESCRIBE, name="open-",
                         pt=ResourcePatternType.PREFIXED)])
    assert topics_seen(alice) == {"open-1"}
    errs = metadata_errors(broker, "alice", ["open-1", "open-2", "secret"])
    assert errs == {"open-1": 0, "open-2": 3, "secret": TOPIC_AUTHZ}
    # Auto-creation needs CREATE on the cluster or the topic, else
    # TOPIC_AUTHORIZATION_FAILED as Kafka answers.
    errs = metadata_errors(broker, "alice", ["open-new"], allow_create=True)
    assert errs == {"open-new": TOPIC_AUTHZ}
    create(adm, [binding(ALICE, AclOperation.CREATE, name="open-",
                         pt=ResourcePatternType.PREFIXED)])
    errs = metadata_errors(broker, "alice", ["open-new"], allow_create=True)
    assert errs["open-new"] in (0, 5)  # created (LEADER_NOT_AVAILABLE first)
    # WRITE lets her produce, not read.
    create(adm, [binding(ALICE, AclOperation.WRITE, name="secret")])
    assert produce_err(alice, "secret") == 0
    assert fetch_err(broker, "alice", "secret") == TOPIC_AUTHZ
    create(adm, [binding(ALICE, AclOperation.READ, name="sec",
                         pt=ResourcePatternType.PREFIXED)])
    assert consume_err(alice, "secret") == 0
    # A consumer group needs READ on the group.
    assert consume_err(alice, "secret", group="ga") == GROUP_AUTHZ
    create(adm, [binding(ALICE, AclOperation.READ, name="ga",
                         rt=ResourceType.GROUP)])
    assert consume_err(alice, "secret", group="ga") == 0
    clear(broker)


def test_deny_beats_allow_and_super_user(broker):
    adm = admin(broker)
    create_topics(broker.bootstrap, {"d-1": (1, {})})
    bob = tls_conf(broker, "bob")
    create(adm, [binding(BOB, AclOperation.ALL, name="d-",
                         pt=ResourcePatternType.PREFIXED),
                 binding("User:*", AclOperation.WRITE, name="d-1",
                         perm=AclPermissionType.DENY)])
    assert produce_err(bob, "d-1") == TOPIC_AUTHZ
    assert fetch_err(broker, "bob", "d-1") == 0  # READ still allowed
    # A super user passes whatever the ACLs say.
    assert produce_err(tls_conf(broker, "admin"), "d-1") == 0
    delete(adm, [AclBindingFilter(ResourceType.TOPIC, "d-1",
                                  ResourcePatternType.LITERAL, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)])
    assert produce_err(bob, "d-1") == 0
    clear(broker)


def test_admin_operations_need_acls(broker):
    adm = admin(broker)
    alice_adm = admin(broker, "alice")
    fs = alice_adm.create_topics([NewTopic("made-by-alice", 1, 1)],
                                 request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs["made-by-alice"].result()
    assert e.value.args[0].code() == TOPIC_AUTHZ
    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    with pytest.raises(KafkaException) as e:
        alice_adm.describe_configs([res], request_timeout=15)[res].result()
    assert e.value.args[0].code() == CLUSTER_AUTHZ
    # ElectLeaders needs ALTER on the cluster: refused at the top level.
    r = tls_call(broker, "alice", 43, 1,
                 struct.pack(">bi", 0, -1) + struct.pack(">i", 15000))
    assert r[2] == CLUSTER_AUTHZ
    # OffsetDelete v0 needs DELETE on the group.
    body = s16("g-x") + arr([s16("t") + arr([struct.pack(">i", 0)])])
    assert tls_frame(broker, "alice", 47, 0, body).i16() == GROUP_AUTHZ
    # CREATE on the cluster lets her create topics; ALTER_CONFIGS implies
    # DESCRIBE_CONFIGS.
    create(adm, [binding(ALICE, AclOperation.CREATE, name="kafka-cluster",
                         rt=ResourceType.BROKER),
                 binding(ALICE, AclOperation.ALTER_CONFIGS,
                         name="kafka-cluster", rt=ResourceType.BROKER)])
    fs = alice_adm.create_topics([NewTopic("made-by-alice", 1, 1)],
                                 request_timeout=15)
    fs["made-by-alice"].result()
    alice_adm.describe_configs([res], request_timeout=15)[res].result()
    # Deleting it needs DELETE on the topic.
    fs = alice_adm.delete_topics(["made-by-alice"], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs["made-by-alice"].result()
    assert e.value.args[0].code() == TOPIC_AUTHZ
    clear(broker)


def test_idempotent_producer_needs_write(broker):
    create_topics(broker.bootstrap, {"idem": (1, {})})
    # InitProducerId v1: without a transactional id it needs
    # IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    def init_pid(txn_id=None):
        return tls_call(broker, "bob", 22, 1, s16(txn_id) +
                        struct.pack(">i", 60000))[2]
    assert init_pid() == CLUSTER_AUTHZ
    assert init_pid("tx-1") == TXN_AUTHZ
    create(admin(broker), [binding(BOB, AclOperation.WRITE, name="idem")])
    assert init_pid() == NONE
    assert init_pid("tx-1") == TXN_AUTHZ
    bob = dict(tls_conf(broker, "bob"), **{"enable.idempotence": True})
    assert produce_err(bob, "idem") == 0
    clear(broker)


def test_transaction_apis_need_acls(broker):
    create_topics(broker.bootstrap, {"txt": (1, {})})

    def add_offsets():  # AddOffsetsToTxn v0
        return tls_call(broker, "bob", 25, 0, s16("tx-b") +
                        struct.pack(">qh", 1, 0) + s16("gb"))[2]

    def end_txn():  # EndTxn v0
        return tls_call(broker, "bob", 26, 0, s16("tx-b") +
                        struct.pack(">qh?", 1, 0, True))[2]
    assert add_offsets() == TXN_AUTHZ
    assert end_txn() == TXN_AUTHZ
    create(admin(broker), [binding(BOB, AclOperation.WRITE, name="tx-b",
                                   rt=ResourceType.TRANSACTIONAL_ID)])
    assert add_offsets() == GROUP_AUTHZ
    assert end_txn() not in (TXN_AUTHZ, 0)  # no such transaction
    # WriteTxnMarkers v1 (flexible) is the coordinators': CLUSTER_ACTION.
    body = (carr([struct.pack(">qh?", 1, 0, True) +
                  carr([cstr("txt") + carr([struct.pack(">i", 0)]) +
                        b"\x00"]) + struct.pack(">i", 0) + b"\x00"]) +
            b"\x00")
    r = tls_frame(broker, "bob", 27, 1, body, flexible=True)
    got = r.carr(lambda: (r.i64(), r.carr(lambda: (
        r.cstr(), r.carr(lambda: (r.i32(), r.i16(), r.tags())), r.tags())),
        r.tags()))
    assert got[0][1][0][1][0][1] == CLUSTER_AUTHZ
    clear(broker)


def test_authorized_operations(broker):
    create_topics(broker.bootstrap, {"ops": (1, {})})
    create(admin(broker), [binding(ALICE, AclOperation.WRITE, name="ops")])
    a = admin(broker, "alice")
    md = a.describe_topics(
        TopicCollection(["ops"]),
        include_authorized_operations=True)["ops"].result()
    assert set(md.authorized_operations) == {AclOperation.WRITE,
                                             AclOperation.DESCRIBE}
    cl = a.describe_cluster(include_authorized_operations=True).result()
    assert not cl.authorized_operations
    clear(broker)


def test_acls_survive_restart(tmp_path):
    certs = Certs(str(tmp_path))
    data = str(tmp_path / "data")
    b = start(tmp_path, certs=certs, data_dir=data)
    try:
        create(admin(b), [binding(ALICE, AclOperation.READ, name="kept-",
                                  pt=ResourcePatternType.PREFIXED)])
        assert b.stop() == 0
        b2 = start(tmp_path, certs=certs, data_dir=data)
        try:
            got = describe(admin(b2))
            assert [(x.name, x.principal) for x in got] == [("kept-",
                                                             ALICE)]
            assert b2.stop() == 0, b2.output()[-3000:]
        finally:
            b2.stop()
            b2.cleanup()
    finally:
        b.cleanup()


# --- a cluster ----------------------------------------------------------------

def start_cluster(tmp, n=3):
    """n brokers (all controllers) with a PLAINTEXT inter-broker listener,
    whose principal User:ANONYMOUS is a super user, and an mTLS listener
    for the clients."""
    certs = Certs(str(tmp))
    for name in ("alice", "admin"):
        certs.client(name, CN=name, O="x")
    plain = [free_port() for _ in range(n)]
    tls = [free_port() for _ in range(n)]
    raft = [free_port() for _ in range(n)]
    voters = ",".join("%d@127.0.0.1:%d" % (i + 1, raft[i]) for i in range(n))
    nodes = []
    for i in range(n):
        b = Broker({
            "node.id": str(i + 1),
            "process.roles": "broker,controller",
            "listeners": "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d" % (
                plain[i], tls[i]),
            "controller.quorum.voters": voters,
            "controller.quorum.bootstrap.servers": ",".join(
                "127.0.0.1:%d" % p for p in plain),
            "controller.quorum.election.timeout.ms": "500",
            "num.shards": "1",
            "ssl.keystore.location": certs.path("server.pem"),
            "ssl.truststore.location": certs.path("ca.pem"),
            "listener.name.ssl.ssl.client.auth": "required",
            "authorizer.class.name": AUTHORIZER,
            "super.users": "User:ANONYMOUS;" + ADMIN,
        }, port=plain[i])
        b.ssl_port = tls[i]
        b.certs = certs
        nodes.append(b)
    cid = subprocess.run([brokerd_path(), "random-uuid"], capture_output=True,
                         text=True, check=True).stdout.strip()
    for b in nodes:
        subprocess.run([brokerd_path(), "format", "-c", b.conf,
                        "--cluster-id", cid], capture_output=True, check=True)
    for b in nodes:
        b.start(wait=False)
    for b in nodes:
        assert wait_port(b.port, 20, b.proc), b.output()[-2000:]
    return nodes


def test_cluster_with_mtls_clients(tmp_path):
    # Clients on an SSL listener are sent to the other brokers' registered
    # (PLAINTEXT) addresses so far (docs/security.md), so the clients here
    # speak to one node at a time, raw.
    nodes = start_cluster(tmp_path)
    try:
        boot = ",".join(b.bootstrap for b in nodes)
        plain = AdminClient({"bootstrap.servers": boot})
        def brokers():
            try:
                return len(plain.list_topics(timeout=5).brokers) == 3
            except KafkaException:
                return False  # not registered yet
        wait_until(brokers, "three brokers", bound=40)
        plain.create_topics([NewTopic("rep", 1, 3)],
                            request_timeout=15)["rep"].result()
        def leader_plus_one():
            # The answering broker may not know the new topic yet.
            t = plain.list_topics(timeout=5).topics.get("rep")
            p = t.partitions.get(0) if t is not None else None
            return p.leader + 1 if p is not None else 0
        leader = wait_until(leader_plus_one, "a leader") - 1
        lb = [b for b in nodes if b.conf and
              "node.id=%d\n" % leader in open(b.conf).read()][0]
        batch = build_batch([(None, b"v")])
        with tls_socket(lb, "alice") as s:
            assert produce_v8(s, "rep", 0, batch)[0] == TOPIC_AUTHZ
        # Refused through every node: a node that forwards CreateAcls to
        # the active controller checks the client's principal first.
        for b in nodes:
            _, r, _ = tls_call(b, "alice", 30, 1, arr([creation()]),
                               throttle_first=True)
            assert r.arr(lambda: r.i16())[0] == CLUSTER_AUTHZ
        # Created through every node by a super user over mTLS.
        for i, (op, b) in enumerate(zip((3, 4, 8), nodes)):
            _, r, _ = tls_call(b, "admin", 30, 1,
                               arr([creation(name="rep", op=op)]),
                               throttle_first=True)
            assert r.arr(lambda: (r.i16(), r.s16())) == [(NONE, None)]
        # Applied on every node from the metadata log.
        for b in nodes:
            wait_until(lambda: len(raw_describe(b, acl_filter())[2]) == 1 and
                       len(raw_describe(b, acl_filter())[2][0][3]) == 3,
                       "the ACLs on node %d" % b.port)
        with tls_socket(lb, "alice") as s:
            assert produce_v8(s, "rep", 0, batch)[0] == NONE
            assert fetch_v4(s, "rep", 0, 0)[0] == NONE
        for b in nodes:
            assert b.stop() == 0, b.output()[-3000:]
    finally:
        for b in nodes:
            if b.alive():
                b.stop()
            b.cleanup()


def test_quota_and_scram_apis_need_cluster_acls(broker):
    """Kafka's checks for the client quota and SCRAM APIs: Describe needs
    DESCRIBE_CONFIGS (quotas) or DESCRIBE (SCRAM) on the cluster and is
    refused at the top level; Alter needs ALTER_CONFIGS (quotas) or ALTER
    (SCRAM) and refuses every entry."""
    # DescribeClientQuotas v0: no components, not strict.
    assert tls_call(broker, "alice", 48, 0, arr([]) + b"\x00")[2] == \
        CLUSTER_AUTHZ
    # AlterClientQuotas v0: one entry, user alice, producer_byte_rate.
    entry = arr([s16("user") + s16("alice")]) + arr(
        [s16("producer_byte_rate") + struct.pack(">d", 1024.0) + b"\x00"])
    _, r, _ = tls_call(broker, "alice", 49, 0, arr([entry]) + b"\x00",
                       throttle_first=True)
    assert r.i32() == 1 and r.i16() == CLUSTER_AUTHZ
    # DescribeUserScramCredentials v0 (flexible): all users.
    r = tls_frame(broker, "alice", 50, 0, b"\x00\x00", flexible=True)
    r.i32()
    assert r.i16() == CLUSTER_AUTHZ
    # AlterUserScramCredentials v0 (flexible): delete bob's SCRAM-SHA-256.
    deletion = bytes([4]) + b"bob" + b"\x01" + b"\x00"
    r = tls_frame(broker, "alice", 51, 0,
                  bytes([2]) + deletion + b"\x01" + b"\x00", flexible=True)
    r.i32()
    assert r.uv() == 2  # one result
    assert r.cstr() == b"bob"
    assert r.i16() == CLUSTER_AUTHZ
    # With ALTER_CONFIGS on the cluster the quota goes through.
    create(admin(broker), [binding(ALICE, AclOperation.ALTER_CONFIGS,
                                   name="kafka-cluster",
                                   rt=ResourceType.BROKER)])
    _, r, _ = tls_call(broker, "alice", 49, 0, arr([entry]) + b"\x00",
                       throttle_first=True)
    assert r.i32() == 1 and r.i16() == NONE
    clear(broker)


def test_transaction_admin_apis_need_acls(broker):
    """AddPartitionsToTxn v4+ (partition leaders' verification, KIP-890)
    needs CLUSTER_ACTION; DescribeProducers needs READ on the topic."""
    create_topics(broker.bootstrap, {"dp": (1, {})})
    # AddPartitionsToTxn v4 (flexible), no transactions.
    r = tls_frame(broker, "alice", 24, 4, b"\x01\x00", flexible=True)
    r.i32()
    assert r.i16() == CLUSTER_AUTHZ
    # DescribeProducers v0 (flexible): topic dp, partition 0.
    body = bytes([3]) + b"dp" + bytes([2]) + struct.pack(">i", 0) + \
        b"\x00\x00"
    def describe_producers():
        r = tls_frame(broker, "alice", 61, 0, b"\x02" + body, flexible=True)
        r.i32()
        assert r.uv() == 2 and r.cstr() == b"dp" and r.uv() == 2
        r.i32()
        return r.i16()
    assert describe_producers() == TOPIC_AUTHZ
    create(admin(broker), [binding(ALICE, AclOperation.READ, name="dp")])
    assert describe_producers() == NONE
    clear(broker)
