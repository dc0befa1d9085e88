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
