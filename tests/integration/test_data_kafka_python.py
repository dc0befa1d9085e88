"""kafka-python 2.0.2, which speaks old protocol versions (Produce v7,
Fetch v4, ListOffsets v1, Metadata v1): keyed records round-trip, with and
without gzip, read back with assign() and no consumer group."""
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from data_util import create_topics, stop_cleanly
from harness import Broker

N = 3000
PARTS = 3


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        create_topics(b.bootstrap, {"kp-none": (PARTS, {}),
                                    "kp-gzip": (PARTS, {})})
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


@pytest.mark.parametrize("codec", [None, "gzip"])
def test_kafka_python_round_trip(broker, codec):
    topic = "kp-" + (codec or "none")
    prod = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                         compression_type=codec, linger_ms=5,
                         request_timeout_ms=15000)
    futures = []
    try:
        for i in range(N):
            futures.append(prod.send(topic, key=b"key-%03d" % (i % 101),
                                     value=b"value-%05d" % i))
        prod.flush(60)
        meta = [f.get(timeout=30) for f in futures]
    finally:
        prod.close(10)
    acked = {i: (m.partition, m.offset) for i, m in enumerate(meta)}
    assert {p for p, _ in acked.values()} == set(range(PARTS))

    cons = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                         enable_auto_commit=False, request_timeout_ms=15000,
                         fetch_max_wait_ms=200)
    got = []
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTS)]
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        while len(got) < N and time.monotonic() < deadline:
            for tp, msgs in cons.poll(timeout_ms=500).items():
                got.extend((m.partition, m.offset, m.key, m.value) for m in msgs)
        end = cons.end_offsets(tps)
    finally:
        cons.close()
    assert len(got) == N, "read %d of %d" % (len(got), N)
    seen = {(p, o): (k, v) for p, o, k, v in got}
    assert len(seen) == N
    for i, (p, o) in acked.items():
        assert seen[(p, o)] == (b"key-%03d" % (i % 101), b"value-%05d" % i)
    for p in range(PARTS):
        offs = [o for q, o, _, _ in got if q == p]
        assert offs == list(range(len(offs)))
        assert end[TopicPartition(topic, p)] == len(offs)
