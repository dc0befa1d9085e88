"""kcat (librdkafka's command-line client) produces and consumes."""
import shutil
import subprocess
import time

import pytest

from data_util import create_topics, stop_cleanly
from harness import Broker

N = 2000
PARTS = 3


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        create_topics(b.bootstrap, {"kcat-none": (PARTS, {}),
                                    "kcat-gzip": (PARTS, {}),
                                    "kcat-ts": (1, {})})
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


def kcat():
    path = shutil.which("kcat") or shutil.which("kafkacat")
    assert path, "kcat is installed by scripts/deps test"
    return path


def consume(broker, topic, extra=()):
    res = subprocess.run([kcat(), "-b", broker.bootstrap, "-C", "-t", topic,
                          "-o", "beginning", "-e", "-q",
                          "-f", "%p\t%o\t%k\t%s\t%T\n"] + list(extra),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_kcat_produce_and_consume(broker, codec):
    topic = "kcat-" + codec
    lines = "".join("key%03d:value-%05d\n" % (i % 100, i) for i in range(N))
    res = subprocess.run([kcat(), "-b", broker.bootstrap, "-P", "-t", topic,
                          "-K", ":", "-z", codec,
                          "-X", "request.required.acks=-1"],
                         input=lines, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    rows = consume(broker, topic)
    assert len(rows) == N, "read %d of %d" % (len(rows), N)
    assert sorted(int(v.split("-")[1]) for _, _, _, v, _ in rows) == list(range(N))
    part_of_key = {}
    for p in range(PARTS):
        mine = [(int(o), k, v) for q, o, k, v, _ in rows if int(q) == p]
        assert [o for o, _, _ in mine] == list(range(len(mine)))
        # kcat produces lines in order: inside a partition, values ascend.
        seq = [int(v.split("-")[1]) for _, _, v in mine]
        assert seq == sorted(seq)
        for _, k, v in mine:
            assert int(k[3:]) == int(v.split("-")[1]) % 100
            assert part_of_key.setdefault(k, p) == p
    assert len({q for q, *_ in rows}) == PARTS


def test_kcat_start_at_timestamp(broker):
    """kcat -o s@TS starts at the first record at or after TS (ListOffsets
    by timestamp)."""
    now = int(time.time() * 1000)
    lines = "".join("v%d\n" % i for i in range(5))
    res = subprocess.run([kcat(), "-b", broker.bootstrap, "-P", "-t", "kcat-ts",
                          "-p", "0"], input=lines, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    time.sleep(0.05)
    mid = int(time.time() * 1000)
    time.sleep(0.05)
    res = subprocess.run([kcat(), "-b", broker.bootstrap, "-P", "-t", "kcat-ts",
                          "-p", "0"], input="w0\nw1\n", capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    rows = consume(broker, "kcat-ts")
    assert [v for *_, v, _ in rows] == ["v0", "v1", "v2", "v3", "v4", "w0", "w1"]
    assert all(now - 1000 <= int(ts) <= now + 60000 for *_, ts in rows)
    res = subprocess.run([kcat(), "-b", broker.bootstrap, "-C", "-t", "kcat-ts",
                          "-p", "0", "-o", "s@%d" % mid, "-e", "-q",
                          "-f", "%o %s\n"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["5 w0", "6 w1"]
