"""Broker config resources through the admin APIs on the wire, against the
answers Kafka 4.1 gives to the same requests (observed on a single-node
KRaft Kafka 4.1 started by scripts/bench.py): keys the broker does not know
are stored and shown without their value, settings that cannot change live
are refused with Kafka's words, and another broker's id is refused."""
import struct

import pytest

from harness import Broker
from test_admin_protocol import call, carray, cstr, iac


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def alter_configs(b, resources):
    """AlterConfigs (key 33) v2: [(type, name, [(key, value)])]."""
    res = []
    for rtype, name, cfgs in resources:
        cs = [cstr(k) + cstr(v) + b"\x00" for k, v in cfgs]
        res.append(struct.pack(">b", rtype) + cstr(name) + carray(cs) + b"\x00")
    r = call(b, 33, 2, carray(res) + b"\x00\x00")
    r.i32()

    def resp():
        out = (r.i16(), r.cstr(), r.i8(), r.cstr())
        r.tags()
        return out

    return r.carray(resp)


def describe(b, rtype, name, keys):
    """DescribeConfigs (key 32) v4 with synonyms: (error, message, configs)
    with configs as {name: (value, read_only, source, sensitive, synonyms,
    type)}."""
    ks = b"\x00" if keys is None else carray([cstr(k) for k in keys])
    body = carray([struct.pack(">b", rtype) + cstr(name) + ks + b"\x00"]) + b"\x01\x00\x00"
    r = call(b, 32, 4, body)
    r.i32()

    def syn():
        out = (r.cstr(), r.cstr(), r.i8())
        r.tags()
        return out

    def cfg():
        name, value = r.cstr(), r.cstr()
        ro, src, sens = r.i8(), r.i8(), r.i8()
        syns = r.carray(syn)
        typ = r.i8()
        r.cstr()
        r.tags()
        return name, (value, bool(ro), src, bool(sens), syns, typ)

    def res():
        err, msg = r.i16(), r.cstr()
        r.i8()
        r.cstr()
        cfgs = dict(r.carray(cfg))
        r.tags()
        return err, msg, cfgs

    (out,) = r.carray(res)
    return out


BROKER = 4
INVALID_REQUEST = 42
DYNAMIC_BROKER, DYNAMIC_DEFAULT_BROKER = 2, 3
UNKNOWN_TYPE = 0


def test_unknown_keys_are_stored_and_hidden(broker):
    # Kafka 4.1 accepts keys it does not know, for one broker and for all.
    assert iac(broker, [(BROKER, "1", [("no.such.key", 0, "1")])]) == \
        [(0, None, BROKER, "1")]
    assert iac(broker, [(BROKER, "", [("zz.key", 0, "secret")])]) == \
        [(0, None, BROKER, "")]
    # Kafka 4.1 shows them with no value, read-only, sensitive, type UNKNOWN,
    # and error message "" rather than null.
    err, msg, cfgs = describe(broker, BROKER, "", None)
    assert (err, msg) == (0, "")
    assert cfgs["zz.key"] == (None, True, DYNAMIC_DEFAULT_BROKER, True,
                              [("zz.key", None, DYNAMIC_DEFAULT_BROKER)], UNKNOWN_TYPE)
    # A broker lists its own unknown keys, not the cluster's.
    err, msg, cfgs = describe(broker, BROKER, "1", ["no.such.key", "zz.key"])
    assert (err, msg) == (0, "")
    assert cfgs == {"no.such.key": (None, True, DYNAMIC_BROKER, True,
                                    [("no.such.key", None, DYNAMIC_BROKER)], UNKNOWN_TYPE)}


def test_static_settings_and_other_brokers_refused(broker):
    # Kafka 4.1's answers, word for word.
    static = "Cannot update these configs dynamically: Set(log.dirs)"
    for name in ("", "1"):
        assert iac(broker, [(BROKER, name, [("log.dirs", 0, "/x")])]) == \
            [(INVALID_REQUEST, static, BROKER, name)]
    assert alter_configs(broker, [(BROKER, "1", [("log.dirs", "/x")])]) == \
        [(INVALID_REQUEST, static, BROKER, "1")]
    other = "Unexpected broker id, expected 1, but received 2"
    assert iac(broker, [(BROKER, "2", [("x", 0, "1")])]) == \
        [(INVALID_REQUEST, other, BROKER, "2")]
    assert alter_configs(broker, [(BROKER, "2", [("x", "1")])]) == \
        [(INVALID_REQUEST, other, BROKER, "2")]
    err, msg, _ = describe(broker, BROKER, "2", ["log.retention.ms"])
    assert (err, msg) == (INVALID_REQUEST,
                          "Unexpected broker id, expected 1 or empty string, but received 2")


# --- dynamic topic defaults (KIP-226), applied live -------------------------

kafka = pytest.importorskip("kafka")
from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import MessageSizeTooLargeError  # noqa: E402

INT = 3
DEFAULT = 5


def produce_ok(b, topic, size):
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1, retries=0,
                      linger_ms=0, api_version_auto_timeout_ms=10000)
    try:
        p.send(topic, b"x" * size).get(timeout=15)
        return True
    except MessageSizeTooLargeError:
        return False
    finally:
        p.close()


def eventually(fn, want):
    """Each shard applies a new metadata image on its own loop, just after
    the change is answered."""
    import time
    deadline = time.monotonic() + 5
    while fn() != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return fn()


def test_dynamic_topic_defaults_apply_live(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000,
                         api_version_auto_timeout_ms=10000)
    try:
        a.create_topics([NewTopic("live", 1, 1),
                         NewTopic("own", 1, 1, topic_configs={"max.message.bytes": "100000"})])
    finally:
        a.close()
    assert produce_ok(broker, "live", 5000)
    # Kafka 4.1 changes message.max.bytes live, for all brokers ...
    assert iac(broker, [(BROKER, "", [("message.max.bytes", 0, "2000")])]) == \
        [(0, None, BROKER, "")]
    assert eventually(lambda: produce_ok(broker, "live", 5000), False) is False
    # ... but not for a topic that sets its own max.message.bytes ...
    assert produce_ok(broker, "own", 5000)
    # ... and a value for this broker wins over the cluster's.
    assert iac(broker, [(BROKER, "1", [("message.max.bytes", 0, "10000")])]) == \
        [(0, None, BROKER, "1")]
    assert eventually(lambda: produce_ok(broker, "live", 5000), True) is True
    # Kafka 4.1's view: this broker's value, then the cluster's, then the
    # default, each with its source; the setting is not read-only.
    err, msg, cfgs = describe(broker, BROKER, "1", ["message.max.bytes"])
    assert (err, msg) == (0, "")
    assert cfgs["message.max.bytes"] == (
        "10000", False, DYNAMIC_BROKER, False,
        [("message.max.bytes", "10000", DYNAMIC_BROKER),
         ("message.max.bytes", "2000", DYNAMIC_DEFAULT_BROKER),
         ("message.max.bytes", "1048588", DEFAULT)], INT)
    # A topic that does not set max.message.bytes shows the value its
    # partitions apply, from the first broker layer that has one.
    TOPIC, DYNAMIC_TOPIC = 2, 1
    _, _, cfgs = describe(broker, TOPIC, "live", ["max.message.bytes"])
    assert cfgs["max.message.bytes"] == (
        "10000", False, DYNAMIC_BROKER, False,
        [("message.max.bytes", "10000", DYNAMIC_BROKER),
         ("message.max.bytes", "2000", DYNAMIC_DEFAULT_BROKER),
         ("message.max.bytes", "1048588", DEFAULT)], INT)
    _, _, cfgs = describe(broker, TOPIC, "own", ["max.message.bytes"])
    assert cfgs["max.message.bytes"][:3] == ("100000", False, DYNAMIC_TOPIC)
    err, msg, cfgs = describe(broker, BROKER, "", ["message.max.bytes"])
    assert cfgs["message.max.bytes"] == (
        "2000", False, DYNAMIC_DEFAULT_BROKER, False,
        [("message.max.bytes", "2000", DYNAMIC_DEFAULT_BROKER)], INT)
    # Deleting both brings the static value back.
    assert iac(broker, [(BROKER, "1", [("message.max.bytes", 1, None)])])[0][0] == 0
    assert eventually(lambda: produce_ok(broker, "live", 5000), False) is False
    assert iac(broker, [(BROKER, "", [("message.max.bytes", 1, None)])])[0][0] == 0
    assert eventually(lambda: produce_ok(broker, "live", 5000), True) is True
    err, msg, cfgs = describe(broker, BROKER, "1", ["message.max.bytes"])
    assert cfgs["message.max.bytes"] == (
        "1048588", False, DEFAULT, False, [("message.max.bytes", "1048588", DEFAULT)], INT)


def test_dynamic_values_checked(broker):
    # Kafka 4.1's answers, word for word.
    assert iac(broker, [(BROKER, "", [("log.segment.bytes", 0, "abc")])]) == [
        (INVALID_REQUEST, "Invalid value abc for configuration log.segment.bytes: "
         "Not a number of type INT", BROKER, "")]
    assert iac(broker, [(BROKER, "", [("log.segment.bytes", 0, "10")])]) == [
        (INVALID_REQUEST, "Invalid value 10 for configuration log.segment.bytes: "
         "Value must be at least 1048576", BROKER, "")]
    assert alter_configs(broker, [(BROKER, "1", [("log.segment.bytes", "abc")])]) == [
        (INVALID_REQUEST, "Invalid value abc for configuration log.segment.bytes: "
         "Not a number of type INT", BROKER, "1")]
    # Nothing was stored.
    _, _, cfgs = describe(broker, BROKER, "", ["log.segment.bytes"])
    assert cfgs == {}


def test_dynamic_default_survives_restart():
    # The value lives in the metadata log: partitions opened at start-up
    # take it before they serve anything.
    b = Broker()
    try:
        b.start()
        a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=15000,
                             api_version_auto_timeout_ms=10000)
        try:
            a.create_topics([NewTopic("kept", 1, 1)])
        finally:
            a.close()
        assert iac(b, [(BROKER, "", [("message.max.bytes", 0, "2000")])])[0][0] == 0
        assert b.stop() == 0
        b.start()
        assert produce_ok(b, "kept", 1000)
        assert not produce_ok(b, "kept", 5000)
        _, _, cfgs = describe(b, BROKER, "1", ["message.max.bytes"])
        assert cfgs["message.max.bytes"][:3] == ("2000", False, DYNAMIC_DEFAULT_BROKER)
    finally:
        if b.alive():
            b.stop()
        b.cleanup()


def create_topic_configs(b, name):
    """CreateTopics (key 19) v7 of one topic with Kafka's defaults; the
    configs of the answer as {name: (value, read_only, source)}."""
    t = cstr(name) + struct.pack(">ih", 1, 1) + carray([]) + carray([]) + b"\x00"
    r = call(b, 19, 7, carray([t]) + struct.pack(">i", 15000) + b"\x00\x00")
    r.i32()

    def cfg():
        out = (r.cstr(), (r.cstr(), bool(r.i8()), r.i8()))
        r.i8()
        r.tags()
        return out

    def topic():
        r.cstr()
        r.take(16)
        err = r.i16()
        r.cstr()
        r.i32()
        r.i16()
        cfgs = dict(r.carray(cfg))
        r.tags()
        return err, cfgs

    (out,) = r.carray(topic)
    return out


def test_create_topics_shows_dynamic_defaults():
    with Broker() as b:
        assert iac(b, [(BROKER, "", [("message.max.bytes", 0, "3000")])])[0][0] == 0
        assert iac(b, [(BROKER, "1", [("log.segment.bytes", 0, "2000000")])])[0][0] == 0
        err, cfgs = create_topic_configs(b, "ct")
        assert err == 0
        # Kafka 4.1's answer to the same requests.
        assert cfgs["max.message.bytes"] == ("3000", False, DYNAMIC_DEFAULT_BROKER)
        assert cfgs["segment.bytes"] == ("2000000", False, DYNAMIC_BROKER)
        assert cfgs["retention.bytes"] == ("-1", False, DEFAULT)
