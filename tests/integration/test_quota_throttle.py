"""Client quota throttling (issue 15, KIP-219): a producer and a consumer
over their byte-rate quotas are held to the quota while clients without
one are not slowed, and a raw Produce over quota is answered at once with
throttle_time_ms, after which its connection reads nothing for that long.

The brokers here run with quota.window.num=10: Kafka's sampled windows
let a client that always has more to send catch up in bursts each time
its oldest sample expires, so its traffic repeats with the period of the
whole quota window (quota.window.num x quota.window.size.seconds). Over
one whole period the rate is the quota; a 10 s measurement therefore uses
a 10 s quota window (Kafka's default is 11 x 1 s)."""
import re
import struct
import threading
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from data_util import create_topics
from harness import Broker, api_versions, connect, free_port, recv_frame, \
    request, run_brokerctl
from kafka_records import build_batch

QUOTA = 256 * 1024  # bytes per second
MEASURE_S = 10.0


@pytest.fixture(scope="module")
def broker():
    admin = free_port()
    with Broker(extra={"quota.window.num": "10", "num.shards": "2",
                       "admin.listeners": "http://127.0.0.1:%d" % admin}) as b:
        b.admin_port = admin
        create_topics(b.bootstrap, {"tq": (2, None), "tc": (1, None)})
        yield b


def throttles(b):
    """/metrics' brokerd_quota_throttled_total by type."""
    url = "http://127.0.0.1:%d/metrics" % b.admin_port
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^brokerd_quota_throttled_total\{type="(\w+)"\} (\d+)$', text, re.M)}


def set_quota(b, *args):
    r = run_brokerctl(b.bootstrap, "quota", "set", *args)
    assert r.returncode == 0, r.stdout + r.stderr


def produce_for(bootstrap, client_id, seconds, out):
    """Produces 1 KiB records as fast as the client may for `seconds` and
    stores the bytes acknowledged within them in out[client_id]."""
    acked = [0]
    p = Producer({"bootstrap.servers": bootstrap, "client.id": client_id,
                  "acks": "1", "linger.ms": 5, "batch.size": 16384,
                  "queue.buffering.max.kbytes": 2048})
    value = b"x" * 1024
    start = time.monotonic()
    end = start + seconds

    def delivered(err, msg):
        if err is None and time.monotonic() < end:
            acked[0] += len(msg.value())

    while time.monotonic() < end:
        try:
            p.produce("tq", value, on_delivery=delivered)
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.purge()
    p.flush(2)
    out[client_id] = acked[0] / seconds


def test_producer_held_to_its_quota_others_not(broker):
    set_quota(broker, "--client-id", "slow-producer",
              "producer_byte_rate=%d" % QUOTA)
    rates = {}
    threads = [threading.Thread(target=produce_for,
                                args=(broker.bootstrap, cid, MEASURE_S, rates))
               for cid in ("slow-producer", "free-producer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    slow, free = rates["slow-producer"], rates["free-producer"]
    assert 0.9 * QUOTA <= slow <= 1.1 * QUOTA, (slow, QUOTA)
    # The other client is not held back: it goes many times faster.
    assert free > 8 * slow, (free, slow)


def consume_for(bootstrap, client_id, seconds, out):
    """Reads topic tc from the start for `seconds` (or until the end of
    what is there) and stores the value bytes per second in out."""
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": client_id,
                  "group.id": client_id, "enable.auto.commit": False,
                  # Small fetches, as small batches for the producer: the
                  # quota is measured in steps of one answer.
                  "fetch.max.bytes": 65536,
                  "max.partition.fetch.bytes": 65536,
                  "message.max.bytes": 65536})
    c.assign([TopicPartition("tc", 0, 0)])
    got = 0
    start = time.monotonic()
    end = start + seconds
    last = start
    while time.monotonic() < end and got < out["total"]:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got += len(m.value())
            last = time.monotonic()
    c.close()
    out[client_id] = got / (seconds if got < out["total"] else last - start)


def test_consumer_held_to_its_quota_others_not(broker):
    # Enough that the consumer over quota cannot read it all in 10 s.
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "1",
                  "linger.ms": 20, "batch.size": 16384})
    value = b"y" * 4096
    n = 3000  # 12 MiB
    for _ in range(n):
        while True:
            try:
                p.produce("tc", value)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(30) == 0
    set_quota(broker, "--client-id", "slow-consumer",
              "consumer_byte_rate=%d" % QUOTA)
    rates = {"total": n * len(value)}
    threads = [threading.Thread(target=consume_for,
                                args=(broker.bootstrap, cid, MEASURE_S, rates))
               for cid in ("slow-consumer", "free-consumer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    slow, free = rates["slow-consumer"], rates["free-consumer"]
    assert 0.9 * QUOTA <= slow <= 1.1 * QUOTA, (slow, QUOTA)
    assert free > 8 * slow, (free, slow)


def produce_v8_throttle(sock, topic, batch, corr, client_id):
    """A Produce v8 of one batch to partition 0; returns (error,
    throttle_time_ms)."""
    name = topic.encode()
    body = struct.pack(">hhi", -1, 1, 10000)
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">ii", 1, 0) + struct.pack(">i", len(batch)) + batch
    sock.sendall(request(0, 8, corr, body, client_id=client_id))
    frame = recv_frame(sock)
    pos = 4
    (ntopics,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    assert ntopics == 1
    (ln,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + ln
    (nparts,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    assert nparts == 1
    _, err = struct.unpack_from(">ih", frame, pos)
    pos += 4 + 2 + 8 + 8 + 8
    (nrec,) = struct.unpack_from(">i", frame, pos)
    pos += 4
    assert nrec <= 0
    (ln,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + max(ln, 0)
    (throttle,) = struct.unpack_from(">i", frame, pos)
    return err, throttle


def test_throttle_time_in_raw_answer_then_muted(broker):
    # 50 000 B/s: a new sensor's rate is measured over at least
    # quota.window.num - 1 = 9 windows, so 450 000 bytes go unthrottled.
    set_quota(broker, "--client-id", "raw-client", "producer_byte_rate=50000")
    s = connect(broker.port)
    batch = build_batch([(None, b"z" * 100000)])
    answers = []
    for i in range(6):
        err, throttle = produce_v8_throttle(s, "tq", batch, 10 + i,
                                            "raw-client")
        assert err == 0
        answers.append(throttle)
    # Within the quota nothing is throttled; the answer that crosses it
    # says how long to wait, (observed - quota) / quota x window:
    # (500 kB / 9 s - 50 kB/s) / 50 kB/s x 9 s = 1 s, then 3 s.
    assert answers[:4] == [0, 0, 0, 0], answers
    assert 900 <= answers[4] <= 1100, answers
    assert 2800 <= answers[5] <= 3200, answers
    # The connection reads nothing until then: the next request waits.
    t0 = time.monotonic()
    _, err, _ = api_versions(s, corr=50)
    waited = time.monotonic() - t0
    assert err == 0
    assert waited >= 0.6 * answers[5] / 1000, (waited, answers)
    # Another connection of another client is served at once.
    s2 = connect(broker.port)
    t0 = time.monotonic()
    api_versions(s2, corr=51)
    assert time.monotonic() - t0 < 0.5
    assert throttles(broker)["produce"] >= 2


def test_request_percentage_throttles(broker):
    # A thousandth of a percent of a shard's time: a few hundred Metadata
    # requests are over it. The throttle mutes the connection (at most one
    # window), which shows in /metrics; an unthrottled client is not.
    set_quota(broker, "--client-id", "busy", "request_percentage=0.001")
    before = throttles(broker).get("request", 0)
    s = connect(broker.port)
    deadline = time.monotonic() + 10
    n = 0
    while throttles(broker).get("request", 0) == before:
        assert time.monotonic() < deadline, "not throttled after %d" % n
        s.sendall(request(3, 0, 7, struct.pack(">i", 0), client_id="busy"))
        recv_frame(s)
        n += 1
    s2 = connect(broker.port)
    t0 = time.monotonic()
    s2.sendall(request(3, 0, 8, struct.pack(">i", 0), client_id="idle"))
    recv_frame(s2)
    assert time.monotonic() - t0 < 0.5
