"""The Java client (kafka-clients 4.x, tests/java DataCheck): the default
producer (idempotent, acks=all, so it needs InitProducerId) and a consumer
using assign() round-trip 10,000 keyed records, also across a graceful
brokerd restart between producing and consuming."""
import os
import subprocess

import pytest

from data_util import create_topics, stop_cleanly
from harness import Broker, REPO, connect
from kafka_records import fetch_v4, parse_batches

N = 10000
PARTS = 3


def data_check(*args, timeout=180):
    target = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(target, "classes") + ":" + os.path.join(target, "deps", "*")
    res = subprocess.run(["java", "-cp", cp, "brokerd.DataCheck"] +
                         [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    return res.stdout.strip().splitlines()[-1]


def partition_counts(line):
    """'... partitions=0:3300,1:3400,2:3300' -> {0: 3300, ...}"""
    spec = line.rsplit("partitions=", 1)[1]
    return {int(p): int(c) for p, c in (x.split(":") for x in spec.split(","))}


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        create_topics(b.bootstrap, {"java-none": (PARTS, {}),
                                    "java-lz4": (PARTS, {}),
                                    "java-zstd": (PARTS, {})})
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_java_default_producer_round_trip(broker, codec):
    topic = "java-" + codec
    produced = data_check("produce", broker.bootstrap, topic, N,
                          *([] if codec == "none" else [codec]))
    assert produced.startswith("produced %d idempotence=true acks=-1 " % N), produced
    counts = partition_counts(produced)
    assert sorted(counts) == list(range(PARTS)) and sum(counts.values()) == N
    consumed = data_check("consume", broker.bootstrap, topic, N)
    assert consumed.startswith("consumed %d " % N), consumed
    assert partition_counts(consumed) == counts
    if codec == "lz4":
        # Stored as the producer sent it (compression.type=producer).
        s = connect(broker.port)
        try:
            err, _, _, data = fetch_v4(s, topic, 0, 0, max_bytes=65536)
        finally:
            s.close()
        batches = parse_batches(data)
        assert err == 0 and batches
        assert {b["attributes"] & 7 for b in batches} == {3}
        assert all(b["producer_id"] >= 0 for b in batches)


def test_java_round_trip_across_restart():
    with Broker() as b:
        create_topics(b.bootstrap, {"java-restart": (PARTS, {})})
        produced = data_check("produce", b.bootstrap, "java-restart", N)
        assert produced.startswith("produced %d idempotence=true" % N), produced
        stop_cleanly(b)
        b.start()  # same port, same data directory
        consumed = data_check("consume", b.bootstrap, "java-restart", N)
        assert consumed.startswith("consumed %d " % N), consumed
        assert partition_counts(consumed) == partition_counts(produced)
        stop_cleanly(b)


def test_java_idempotent_producer_across_broker_sigkill():
    """brokerd gets SIGKILL while the default Java producer is sending
    (right after its 100,000th ack) and comes back on the same port: the
    producer retries what was in flight and finishes, every partition's
    acknowledged offsets are contiguous in send order (no loss, no
    duplicate), and a consumer reads each record once."""
    import signal
    n = 600000
    target = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(target, "classes") + ":" + os.path.join(target, "deps", "*")
    with Broker() as b:
        create_topics(b.bootstrap, {"java-kill": (PARTS, {})})
        pr = subprocess.Popen(["java", "-cp", cp, "brokerd.DataCheck", "produce",
                               b.bootstrap, "java-kill", str(n), "none", "100000"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        try:
            first = pr.stdout.readline().strip()
            assert first == "acked 100000", first + pr.stdout.read()
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait(timeout=10)
            b.log.close()
            b.start()
            out, _ = pr.communicate(timeout=240)
        finally:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        assert pr.returncode == 0, out
        produced = out.strip().splitlines()[-1]
        assert produced.startswith("produced %d idempotence=true" % n), out
        consumed = data_check("consume", b.bootstrap, "java-kill", n, 120)
        assert consumed.startswith("consumed %d " % n), consumed
        assert partition_counts(consumed) == partition_counts(produced)
        stop_cleanly(b)
