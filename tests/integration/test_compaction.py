"""Log compaction (cleanup.policy=compact) end to end: a compacted topic
whose segments roll every few hundred milliseconds gets many updates of a
few keys (plain, lz4 and idempotent producers, and a tombstone); the
cleaner runs in the background; a consumer reading from the start then
sees exactly the latest value of each key below the cleaned offset and
everything above it, at the offsets they were written at, the partition's
directory shrank, and a graceful restart and a SIGKILL keep it so."""
import glob
import os
import signal
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KTopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.admin import NewTopic

from data_util import create_topics, read_all, stop_cleanly
from harness import Broker

TOPIC = "compacted"
KEYS = 12
WAVES = 12
PER_WAVE = 400
VALUE = 1000


def value_of(wave, i):
    return (b"w%02d-%04d-" % (wave, i)) * (VALUE // 10)


def produce(b):
    """Writes WAVES waves, each a little more than segment.ms apart so that
    every wave starts a new segment. Returns {offset: (key, value)} from
    the delivery reports, and the bytes written."""
    written = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            written[msg.offset()] = (msg.key(), msg.value())

    common = {"bootstrap.servers": b.bootstrap, "acks": "all",
              "linger.ms": 5}
    producers = [
        Producer(dict(common)),
        Producer(dict(common, **{"compression.type": "lz4"})),
        Producer(dict(common, **{"enable.idempotence": True})),
    ]
    total = 0
    for wave in range(WAVES):
        p = producers[wave % len(producers)]
        for i in range(PER_WAVE):
            key = b"k%02d" % (i % KEYS)
            value = value_of(wave, i)
            if wave == 4 and i % KEYS == KEYS - 1:
                value = None  # k11 deleted in wave 4, never written again
            elif wave > 4 and i % KEYS == KEYS - 1:
                continue
            p.produce(TOPIC, key=key, value=value, partition=0,
                      on_delivery=on_delivery)
            total += len(key) + (len(value) if value else 0)
            p.poll(0)
        assert p.flush(30) == 0
        time.sleep(0.35)
    assert not errors, errors
    return written, total


def dir_bytes(b):
    d = os.path.join(b.data_dir, TOPIC + "-0")
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(d, "*")))


def clean_offset(b):
    path = os.path.join(b.data_dir, TOPIC + "-0", "cleaner-checkpoint")
    try:
        with open(path) as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def active_base(b):
    logs = sorted(glob.glob(os.path.join(b.data_dir, TOPIC + "-0", "*.log")))
    return int(os.path.basename(logs[-1])[:20])


def expected_view(written, clean_end):
    """What a reader from offset 0 must see: below clean_end only the
    latest record of each key; from clean_end on, everything."""
    latest = {}
    for off in sorted(written):
        latest[written[off][0]] = off
    keep = set(latest.values())
    return [(off,) + written[off] for off in sorted(written)
            if off >= clean_end or off in keep]


def check_view(b, written, clean_end):
    want = expected_view(written, clean_end)
    got = read_all(b.bootstrap, TOPIC, [0], len(want), timeout=30)
    assert [(o, k, v) for _, o, k, v, _ in got] == want
    return want


def check_kafka_python(b, want):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        tp = KTopicPartition(TOPIC, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + 30
        while len(got) < len(want) and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend((r.offset, r.key, r.value) for r in recs)
        assert got == want
    finally:
        c.close()


def check_seek_into_gap(b, written, want):
    """A fetch at a removed offset answers from the next record kept."""
    kept = [w[0] for w in want]
    gap = next(o for o in range(kept[0], kept[-1]) if o not in set(kept))
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "gap",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(TOPIC, 0, gap)])
        m = None
        deadline = time.monotonic() + 15
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.2)
        assert m is not None and m.error() is None, m and m.error()
        nxt = min(o for o in kept if o >= gap)
        assert (m.offset(), m.key(), m.value()) == (nxt,) + written[nxt]
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        assert (lo, hi) == (0, max(written) + 1)
        # __consumer_offsets, created by this group's first commit, is a
        # compacted topic too.
        c.commit(offsets=[TopicPartition(TOPIC, 0, nxt + 1)],
                 asynchronous=False)
    finally:
        c.close()
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        res = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "__consumer_offsets")])
        cfg = {e[0]: e[1] for e in res[0].resources[0][4]}
        assert cfg["cleanup.policy"] == "compact"
        assert cfg["segment.bytes"] == "104857600"
    finally:
        admin.close()


def wait_cleaned(b, upto, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if clean_offset(b) >= upto:
            return
        time.sleep(0.1)
    raise AssertionError("cleaner stopped at %d, wanted %d:\n%s"
                         % (clean_offset(b), upto, b.output()[-3000:]))


def test_compaction_keeps_latest_per_key():
    with Broker({"log.cleaner.backoff.ms": "200"}) as b:
        create_topics(b.bootstrap, {TOPIC: (1, {
            "cleanup.policy": "compact",
            "segment.bytes": "1048576",
            "segment.ms": "300",
        })})
        written, total = produce(b)
        assert len(glob.glob(os.path.join(b.data_dir, TOPIC + "-0",
                                          "*.log"))) >= 1
        # Everything sealed gets cleaned: the active segment holds the last
        # wave only.
        upto = active_base(b)
        assert upto > len(written) // 2
        wait_cleaned(b, upto)
        clean_end = clean_offset(b)
        want = check_view(b, written, clean_end)
        # k11's tombstone is its latest record: it stays (delete.retention.ms
        # is a day).
        assert any(k == b"k11" and v is None for _, k, v in want)
        assert dir_bytes(b) < total / 3, (dir_bytes(b), total)
        check_kafka_python(b, want)
        check_seek_into_gap(b, written, want)

        stop_cleanly(b)
        b.start()
        assert clean_offset(b) == clean_end
        check_view(b, written, clean_end)

        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(timeout=10)
        b.log.close()
        b.start()
        check_view(b, written, clean_end)
        # New writes land after the old end, at the next offset.
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        got = []
        p.produce(TOPIC, key=b"k00", value=b"after", partition=0,
                  on_delivery=lambda e, m: got.append((e, m.offset())))
        assert p.flush(10) == 0
        assert got == [(None, max(written) + 1)]


def test_consumer_offsets_compacted_and_reloaded():
    """__consumer_offsets, whose partition the group coordinator reads whole
    at start-up, is compacted: many commits of a group shrink to about one
    record per committed partition, and after a restart the coordinator
    loads the latest committed offsets from the compacted partition."""
    with Broker({"log.cleaner.backoff.ms": "200",
                 "offsets.topic.num.partitions": "1"}) as b:
        create_topics(b.bootstrap, {"src": (4, None)})
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g1",
                      "enable.auto.commit": False})
        try:
            c.commit(offsets=[TopicPartition("src", 0, 1)], asynchronous=False)
            # Roll the internal topic's segments quickly (Kafka allows
            # altering its configs too).
            admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
            try:
                admin.alter_configs([ConfigResource(
                    ConfigResourceType.TOPIC, "__consumer_offsets",
                    configs={"cleanup.policy": "compact",
                             "segment.ms": "200"})])
            finally:
                admin.close()
            last = {}
            for wave in range(8):
                for i in range(150):
                    n = wave * 1000 + i
                    offs = [TopicPartition("src", p, n + p) for p in range(4)]
                    c.commit(offsets=offs, asynchronous=False)
                    last = {p: n + p for p in range(4)}
                time.sleep(0.3)
        finally:
            c.close()
        d = os.path.join(b.data_dir, "__consumer_offsets-0")
        logs = sorted(glob.glob(os.path.join(d, "*.log")))
        upto = int(os.path.basename(logs[-1])[:20])
        assert upto > 2000, logs  # most commits are in sealed segments
        deadline = time.monotonic() + 30
        ck = os.path.join(d, "cleaner-checkpoint")
        while time.monotonic() < deadline:
            try:
                with open(ck) as f:
                    if int(f.read().split()[1]) >= upto:
                        break
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("__consumer_offsets not cleaned:\n"
                                 + b.output()[-3000:])
        # 1200 commits of 4 partitions; the sealed part keeps at most one
        # record per key (emptied segments are deleted).
        logs = sorted(glob.glob(os.path.join(d, "*.log")))
        sealed = sum(os.path.getsize(f) for f in logs[:-1])
        assert sealed < 4096, (sealed, logs)

        def committed():
            c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g1",
                          "enable.auto.commit": False})
            try:
                res = c.committed([TopicPartition("src", p) for p in range(4)],
                                  timeout=15)
                return {tp.partition: tp.offset for tp in res}
            finally:
                c.close()

        assert committed() == last
        stop_cleanly(b)
        b.start()
        assert committed() == last
