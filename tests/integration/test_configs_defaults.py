"""Broker-wide topic defaults and typed config values, seen by clients:
DescribeConfigs shows a topic config the topic does not set with the
value of the broker setting that supplies it (scaled, with Kafka's
STATIC_BROKER_CONFIG source), partitions apply that setting, a topic's
own value as Kafka parses it (trimmed) takes effect, and broker settings
are described with Kafka's types."""
import struct

import pytest

from harness import Broker
from test_admin_protocol import call, carray, cstr

kafka = pytest.importorskip("kafka")
from kafka import KafkaProducer  # noqa: E402
from kafka.admin import (ConfigResource, ConfigResourceType,  # noqa: E402
                         KafkaAdminClient, NewTopic)
from kafka.errors import MessageSizeTooLargeError  # noqa: E402

# DescribeConfigs ConfigSource and ConfigType numbers.
STATIC_BROKER, DEFAULT = 4, 5
INT, SHORT, LONG, LIST = 3, 4, 5, 7


@pytest.fixture(scope="module")
def broker():
    with Broker(extra={"log.retention.hours": "24",
                       "message.max.bytes": "2000"}) as b:
        yield b


def admin(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap,
                            request_timeout_ms=15000,
                            api_version_auto_timeout_ms=10000)


def describe(a, rtype, name, keys=None):
    (resp,) = a.describe_configs([ConfigResource(rtype, name, configs=keys)],
                                 include_synonyms=True)
    (res,) = resp.resources
    assert res[0] == 0, res
    return {c[0]: c for c in res[4]}


def produce(b, topic, size):
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1, retries=0,
                      linger_ms=0, api_version_auto_timeout_ms=10000)
    try:
        p.send(topic, b"x" * size).get(timeout=15)
    finally:
        p.close()


def test_topic_takes_broker_default(broker):
    a = admin(broker)
    try:
        a.create_topics([NewTopic("bd", 1, 1)])
        cfg = describe(a, ConfigResourceType.TOPIC, "bd")
        # (name, value, read_only, source, sensitive, synonyms)
        name, value, _, source, _, synonyms = cfg["retention.ms"][:6]
        assert (value, source) == ("86400000", STATIC_BROKER)
        assert [tuple(s[:3]) for s in synonyms] == \
            [("log.retention.hours", "24", STATIC_BROKER)]
        assert cfg["max.message.bytes"][1] == "2000"
        # Not set in the config file: Kafka's default, DEFAULT_CONFIG.
        assert cfg["segment.ms"][1] == "604800000"
        assert cfg["segment.ms"][3] == DEFAULT
    finally:
        a.close()
    # The partition applies the broker's message.max.bytes.
    produce(broker, "bd", 100)
    with pytest.raises(MessageSizeTooLargeError):
        produce(broker, "bd", 5000)


def test_trimmed_topic_value_applies(broker):
    a = admin(broker)
    try:
        a.create_topics([NewTopic("trim", 1, 1, topic_configs={
            "max.message.bytes": " 100000 "})])
    finally:
        a.close()
    # Accepted by validation as 100000; before, the partition re-parsed
    # the untrimmed string, failed, and kept the default.
    produce(broker, "trim", 5000)


def describe_v4(b, rtype, name):
    """DescribeConfigs v4 on the wire (config types are v3+; kafka-python
    speaks v2): {name: (value, read_only, source, type)}."""
    body = carray([struct.pack(">b", rtype) + cstr(name) + b"\x00" + b"\x00"])
    r = call(b, 32, 4, body + b"\x00\x00\x00")
    r.i32()

    def syn():
        out = (r.cstr(), r.cstr(), r.i8())
        r.tags()
        return out

    def cfg():
        name, value = r.cstr(), r.cstr()
        read_only, source, _sensitive = r.i8(), r.i8(), r.i8()
        r.carray(syn)
        ctype = r.i8()
        r.cstr()
        r.tags()
        return name, (value, bool(read_only), source, ctype)

    def res():
        err, msg, _, _ = r.i16(), r.cstr(), r.i8(), r.cstr()
        assert err == 0, msg
        out = dict(r.carray(cfg))
        r.tags()
        return out

    (out,) = r.carray(res)
    return out


def test_broker_config_types(broker):
    cfg = describe_v4(broker, 4, "1")
    assert cfg["queued.max.request.bytes"][3] == LONG
    assert cfg["connections.max.idle.ms"][3] == LONG
    assert cfg["offsets.topic.replication.factor"][3] == SHORT
    assert cfg["controller.quorum.voters"][3] == LIST
    assert cfg["log.retention.hours"] == ("24", True, STATIC_BROKER, INT)
    topic = describe_v4(broker, 2, "bd")
    assert topic["retention.ms"] == ("86400000", False, STATIC_BROKER, LONG)
