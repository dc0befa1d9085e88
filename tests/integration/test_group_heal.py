"""Group coordination heals from storage errors on __consumer_offsets.

A preloaded shim (storage_fault.c) makes writes to one partition of
__consumer_offsets fail with ENOSPC (after a partial write, as a disk
that fills up mid-batch) while a flag file names it. While it lasts, a
change that must be written (an OffsetCommit, a classic rebalance) is
answered with NOT_COORDINATOR, Kafka's retriable answer to a failed
coordinator write, and nothing is acknowledged that is not in the log:
the coordinator's memory, which ran ahead of the log, is reloaded from
the log. Once space returns, the same group works again without a
restart, and what was committed reads back exactly, also after a
restart. A failed fdatasync stays fatal (test_group_durability.py)."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from data_util import create_topics, stop_cleanly
from harness import Broker
from test_group_clients import GROUP_SETTINGS
from test_group_durability import (MEMBER_ID_REQUIRED, NOT_COORDINATOR,
                                   REBALANCE_IN_PROGRESS, TOPIC, commit,
                                   heartbeat_classic, java_partition, join,
                                   sync)
from test_group_heartbeat import find_coordinator
from test_names_raw import fetch_with_metadata
from test_storage_heal import shim_env

ILLEGAL_GENERATION = 22


@pytest.fixture
def broker(tmp_path):
    flag = tmp_path / "storage-fault"
    extra = dict(GROUP_SETTINGS, **{"num.shards": "1",
                                    "log.dir.min.free.bytes": "0"})
    with Broker(extra=extra, env=shim_env(flag)) as b:
        create_topics(b.bootstrap, {TOPIC: (2, {})})
        b.flag = flag
        yield b


def fail_writes(b, group):
    """ENOSPC on every write to the group's __consumer_offsets partition."""
    b.flag.write_text("ENOSPC __consumer_offsets-%d/\n" %
                      java_partition(group))


def heal(b):
    b.flag.unlink()


def committed(b, group):
    off, md, err = fetch_with_metadata(b, group, TOPIC)
    assert err == 0
    return off


def test_commits_heal(broker):
    group = "heal-commit"
    find_coordinator(broker, group)
    assert commit(broker, group, 5) == 0
    fail_writes(broker, group)
    for i in range(3):
        assert commit(broker, group, 6 + i) == NOT_COORDINATOR
        # Reads go on, and show only what the log holds.
        assert committed(broker, group) == 5
    heal(broker)
    # Without a restart: the same group takes commits again.
    assert commit(broker, group, 9) == 0
    assert committed(broker, group) == 9
    stop_cleanly(broker)
    broker.start()
    deadline = time.monotonic() + 30
    while fetch_with_metadata(broker, group, TOPIC)[2] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert committed(broker, group) == 9


def test_classic_rebalance_heals(broker):
    """A join whose GroupMetadata cannot be written is refused, and the
    group comes back as its log has it: Stable, the old generation, with
    its one member, which carries on heartbeating (it is not told of a
    rebalance that was never written). After the fault the new member
    joins for real."""
    group = "heal-classic"
    find_coordinator(broker, group)
    err, _, _, a = join(broker, group, "")
    assert err == MEMBER_ID_REQUIRED
    err, gen, leader, _ = join(broker, group, a)
    assert err == 0 and leader == a
    assert sync(broker, group, a, gen, [(a, b"all")]) == (0, b"all")
    err, _, _, m = join(broker, group, "")
    assert err == MEMBER_ID_REQUIRED
    fail_writes(broker, group)
    # The join starts a rebalance, a membership change that must be
    # written first: it is refused.
    err, _, _, _ = join(broker, group, m)
    assert err == NOT_COORDINATOR
    # Memory agrees with the log again: generation `gen`, member a.
    assert heartbeat_classic(broker, group, a, gen) == 0
    heal(broker)
    assert heartbeat_classic(broker, group, a, gen) == 0
    assert heartbeat_classic(broker, group, a, gen + 1) == ILLEGAL_GENERATION
    # The same group rebalances for real now, without a restart.
    err, _, _, m = join(broker, group, "")
    assert err == MEMBER_ID_REQUIRED
    with ThreadPoolExecutor(2) as pool:
        joined = pool.submit(join, broker, group, m)
        deadline = time.monotonic() + 20
        while heartbeat_classic(broker, group, a, gen) != \
                REBALANCE_IN_PROGRESS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        err, gen2, leader, _ = join(broker, group, a)
        assert err == 0 and leader == a and gen2 == gen + 1
        assert joined.result(timeout=30)[:2] == (0, gen2)
        parked = pool.submit(sync, broker, group, m, gen2)
        assert sync(broker, group, a, gen2, [(a, b"half"),
                                             (m, b"other")]) == (0, b"half")
        assert parked.result(timeout=30) == (0, b"other")
    stop_cleanly(broker)
    broker.start()
    deadline = time.monotonic() + 30
    while True:
        err = heartbeat_classic(broker, group, a, gen2)
        if err == 0:
            break
        assert time.monotonic() < deadline, err
        time.sleep(0.2)
    assert heartbeat_classic(broker, group, m, gen2) == 0
