"""Replicas open in the background (issue 11): a broker that restarts with
10,000 partitions to recover answers requests before they are all open,
and serves every partition once they are."""
import os
import re
import struct
import time

from data_util import create_topics
from harness import Broker, api_versions, connect, recv_frame, request, \
    wait_port
from kafka_records import build_batch, list_offsets_v1, produce_v8

TOPICS, PER_TOPIC = 10, 1000
NOT_LEADER_OR_FOLLOWER = 6


def touch_all(port, topic, n):
    """ListOffsets v1 for every partition of topic in one request: each
    partition opens (a new one has no directory until it is used)."""
    name = topic.encode()
    body = struct.pack(">i", -1) + struct.pack(">i", 1)
    body += struct.pack(">h", len(name)) + name + struct.pack(">i", n)
    for p in range(n):
        body += struct.pack(">iq", p, -1)
    s = connect(port)
    try:
        s.sendall(request(2, 1, 7, body))
        recv_frame(s)
    finally:
        s.close()


def partition_dirs(data_dir):
    return sum(1 for d in os.listdir(data_dir) if re.match(r"bg\d+-\d+$", d))


def test_restart_with_10000_partitions_answers_before_they_are_open():
    with Broker() as b:
        create_topics(b.bootstrap,
                      {"bg%d" % i: (PER_TOPIC, {}) for i in range(TOPICS)})
        s = connect(b.port)
        try:
            batch = build_batch([(b"k", b"before the crash")])
            assert produce_v8(s, "bg7", 123, batch)[:2] == (0, 0)
        finally:
            s.close()
        for i in range(TOPICS):
            touch_all(b.port, "bg%d" % i, PER_TOPIC)
        # Every replica is open once its directory exists.
        deadline = time.monotonic() + 300
        while (partition_dirs(b.data_dir) < TOPICS * PER_TOPIC and
               time.monotonic() < deadline):
            time.sleep(0.2)
        assert partition_dirs(b.data_dir) == TOPICS * PER_TOPIC
        # A crash: every partition must be recovered at the next start.
        b.kill()
        b.log.close()

        b.start(wait=False)
        assert wait_port(b.port, 60, b.proc)
        s = connect(b.port, timeout=60)
        try:
            _, err, keys = api_versions(s)
            assert err == 0 and 0 in keys
            out = b.output()
            shards = int(re.search(r" shards=(\d+) ", out).group(1))
            done = out.count("opened the replicas assigned at start")
            # Answered while the shards were still opening replicas.
            assert done < shards, out[-2000:]
            # A partition still opening is retriable, never a stall or a
            # storage error.
            err, *_ = list_offsets_v1(s, "bg3", 999, -1)
            assert err in (0, NOT_LEADER_OR_FOLLOWER)
        finally:
            s.close()

        assert b.wait_replicas(300), b.output()[-2000:]
        opened = sum(int(n) for n in re.findall(
            r"opened=(\d+) failed=0 ms=\d+ msg=\"opened the replicas "
            r"assigned at start\"", b.output()))
        assert opened == TOPICS * PER_TOPIC
        s = connect(b.port)
        try:
            err, _, end = list_offsets_v1(s, "bg7", 123, -1)
            assert (err, end) == (0, 1)
            assert list_offsets_v1(s, "bg3", 999, -1)[0] == 0
        finally:
            s.close()
        # A clean close of 10,000 just-recovered logs writes 10,000
        # checkpoints; that is not what this test measures.
        b.kill()
