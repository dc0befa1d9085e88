"""The data path under a mixed load for a few seconds: two producers write
nine partitions (three topics, spread over the shards) while four
librdkafka consumers long-poll all nine with different fetch.wait.max.ms /
fetch.min.bytes and keep coming and going (so fetches are parked, woken,
timed out and abandoned with their connection). brokerd must stay up,
lose nothing that was acknowledged, and exit 0 on SIGTERM (under ASan:
without a memory error or leak)."""
import random
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from data_util import create_topics, read_all, stop_cleanly
from harness import Broker

SECONDS = 10
TOPICS = ["load-%d" % i for i in range(3)]
PARTS = 3


def test_long_polls_under_produce_load():
    rnd = random.Random(5)
    with Broker() as b:
        create_topics(b.bootstrap, {t: (PARTS, {}) for t in TOPICS})
        stop = threading.Event()
        acked = []
        failures = []

        def produce(w):
            p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                          "linger.ms": [0, 5][w], "message.timeout.ms": 30000})

            def on_delivery(err, msg):
                if err is None:
                    acked.append((msg.topic(), msg.partition(), msg.offset(),
                                  msg.value()))
                else:
                    failures.append(str(err))
            i = 0
            while not stop.is_set():
                try:
                    p.produce(TOPICS[i % 3], key=b"k%d" % i,
                              value=b"w%d-%d-" % (w, i) + b"v" * (i % 3000),
                              on_delivery=on_delivery)
                except BufferError:
                    p.poll(0.01)
                i += 1
                if i % 50 == 0:
                    p.poll(0)
                    time.sleep(0.002)
            p.flush(30)

        def consume(w, seed):
            r = random.Random(seed)
            while not stop.is_set():
                c = Consumer({"bootstrap.servers": b.bootstrap,
                              "group.id": "load-%d" % w,
                              "enable.auto.commit": False,
                              "fetch.wait.max.ms": r.choice([10, 100, 500]),
                              "fetch.min.bytes": r.choice([1, 1000, 100000])})
                try:
                    c.assign([TopicPartition(t, q, 0) for t in TOPICS
                              for q in range(PARTS)])
                    end = time.monotonic() + r.random() * 2
                    while time.monotonic() < end and not stop.is_set():
                        for m in c.consume(500, 0.1):
                            if m.error() is not None:
                                failures.append("consume: %s" % m.error())
                finally:
                    c.close()

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=consume, args=(w, rnd.random()))
                    for w in range(4)]
        for t in threads:
            t.start()
        died = False
        try:
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:
                if not b.alive():
                    died = True
                    break
                time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert not died, "brokerd died under load (exit %r):\n%s" % (
            b.proc.returncode, b.output()[-6000:])
        assert not failures, failures[:5]
        assert len(acked) > 1000
        for t in TOPICS:
            mine = sorted((q, off, v) for tt, q, off, v in acked if tt == t)
            got = read_all(b.bootstrap, t, range(PARTS), len(mine), timeout=60)
            assert sorted((q, off, v) for q, off, _, v, _ in got) == mine
        stop_cleanly(b)
