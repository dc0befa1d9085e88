"""kafkajs 2.2.4 (tests/node, installed by scripts/deps test), which reads
with isolation level READ_COMMITTED by default: keyed records round-trip
plain, gzip and idempotent through kafkajs's own Fetch, and through the
public consumer API (a consumer group)."""
import os
import subprocess

import pytest

from data_util import stop_cleanly
from harness import Broker, REPO

N = 10000
NODE_DIR = os.path.join(REPO, "tests", "node")


def roundtrip(*args, timeout=180):
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")), \
        "kafkajs is installed into tests/node by scripts/deps test"
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    res = subprocess.run(["node", os.path.join(NODE_DIR, "data_roundtrip.js")] +
                         [str(a) for a in args], cwd=NODE_DIR, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.splitlines()


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b
        stop_cleanly(b)


@pytest.fixture(autouse=True)
def alive(broker):
    """Fails at once, with brokerd's output, when brokerd died earlier."""
    assert broker.alive(), "brokerd died:\n" + broker.output()[-4000:]


def test_kafkajs_produce_and_fetch_read_committed(broker):
    lines = [l for l in roundtrip("fetch", broker.bootstrap, "kjs", N)
             if l.startswith("ok ")]
    assert [l.split()[1:3] for l in lines] == \
        [["plain", str(N)], ["gzip", str(N)], ["idempotent", str(N)]], lines
    # The default partitioner spreads the keys over all three partitions.
    for l in lines:
        counts = dict(x.split(":") for x in l.split("partitions=")[1].split(","))
        assert sorted(counts) == ["0", "1", "2"]
        assert all(int(c) > 0 for c in counts.values())


def test_kafkajs_consumer_group_round_trip(broker):
    lines = roundtrip("group", broker.bootstrap, "kjs-group", N)
    assert any(l.startswith("ok group %d " % N) for l in lines), lines
