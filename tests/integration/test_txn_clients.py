"""Transactions with confluent-kafka (librdkafka) against one brokerd:
commit and abort seen by read_committed and read_uncommitted consumers, a
second producer with the same transactional id fencing the first, a
transaction past its timeout aborted by the coordinator, and a
transaction left open by kill -9 aborted after the restart."""
import time

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from harness import Broker, wait_until

# The coordinator looks for timed-out transactions this often.
FAST_ABORT = {"transaction.abort.timed.out.transaction.cleanup.interval.ms":
              "300"}


def create(bootstrap, topic, partitions=2):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(15)


def producer(bootstrap, txn_id, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(20)
    return p


def consume(bootstrap, topic, partitions, isolation, want, bound=10.0):
    """Values read from the start of the partitions until want arrived or
    bound seconds passed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + isolation,
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and len(got) < want:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return sorted(got)


def committed_end(bootstrap, topic, partition):
    """The read_committed end offset (the last stable offset)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso",
                  "isolation.level": "read_committed"})
    _, high = c.get_watermark_offsets(TopicPartition(topic, partition),
                                      timeout=10)
    c.close()
    return high


def test_commit_and_abort():
    with Broker() as b:
        create(b.bootstrap, "tc")
        p = producer(b.bootstrap, "tx-commit")
        p.begin_transaction()
        for i in range(6):
            p.produce("tc", value=b"c%d" % i, partition=i % 2)
        p.commit_transaction(20)
        p.begin_transaction()
        for i in range(4):
            p.produce("tc", value=b"a%d" % i, partition=i % 2)
        p.flush(10)
        p.abort_transaction(20)
        p.begin_transaction()
        p.produce("tc", value=b"last", partition=0)
        p.commit_transaction(20)
        committed = sorted([b"c%d" % i for i in range(6)] + [b"last"])
        aborted = [b"a%d" % i for i in range(4)]
        assert consume(b.bootstrap, "tc", 2, "read_committed", 7) == committed
        assert consume(b.bootstrap, "tc", 2, "read_uncommitted", 11) == \
            sorted(committed + aborted)
        # Nothing is left open: the last stable offsets reach the log
        # ends (partition 0: 6 records and 3 markers; 1: 5 and 2).
        wait_until(lambda: committed_end(b.bootstrap, "tc", 0) == 9,
                   "partition 0 stable to its end")
        wait_until(lambda: committed_end(b.bootstrap, "tc", 1) == 7,
                   "partition 1 stable to its end")


def test_second_producer_fences_the_first():
    with Broker() as b:
        create(b.bootstrap, "tf", 1)
        p1 = producer(b.bootstrap, "tx-fence")
        p1.begin_transaction()
        p1.produce("tf", value=b"zombie", partition=0)
        p1.flush(10)
        # The new producer's init aborts p1's open transaction first.
        p2 = producer(b.bootstrap, "tx-fence")
        with pytest.raises(KafkaException) as e:
            p1.commit_transaction(10)
        err = e.value.args[0]
        assert err.fatal() or err.code() in (
            KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
            KafkaError.INVALID_PRODUCER_EPOCH), err
        p2.begin_transaction()
        p2.produce("tf", value=b"fresh", partition=0)
        p2.commit_transaction(20)
        assert consume(b.bootstrap, "tf", 1, "read_committed", 1) == \
            [b"fresh"]


def test_timed_out_transaction_is_aborted():
    with Broker(extra=FAST_ABORT) as b:
        create(b.bootstrap, "tt", 1)
        p = producer(b.bootstrap, "tx-timeout",
                     **{"transaction.timeout.ms": 1500})
        p.begin_transaction()
        p.produce("tt", value=b"late", partition=0)
        p.flush(10)
        # The coordinator aborts it (data at 0, its abort marker at 1).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and \
                committed_end(b.bootstrap, "tt", 0) < 2:
            time.sleep(0.3)
        assert committed_end(b.bootstrap, "tt", 0) == 2
        with pytest.raises(KafkaException):
            p.commit_transaction(10)
        assert consume(b.bootstrap, "tt", 1, "read_committed", 1,
                       bound=2) == []


def test_open_transaction_aborted_after_kill():
    with Broker(extra=FAST_ABORT) as b:
        create(b.bootstrap, "tk", 1)
        p = producer(b.bootstrap, "tx-kill",
                     **{"transaction.timeout.ms": 2000})
        p.begin_transaction()
        p.produce("tk", value=b"lost", partition=0)
        p.flush(10)
        assert committed_end(b.bootstrap, "tk", 0) == 0
        b.kill()
        b.start()
        # The restarted coordinator loads __transaction_state on its own,
        # finds the transaction open past its timeout and aborts it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                committed_end(b.bootstrap, "tk", 0) < 2:
            time.sleep(0.3)
        assert committed_end(b.bootstrap, "tk", 0) == 2
        # The id works again, with a new epoch.
        p2 = producer(b.bootstrap, "tx-kill")
        p2.begin_transaction()
        p2.produce("tk", value=b"after", partition=0)
        p2.commit_transaction(20)
        assert consume(b.bootstrap, "tk", 1, "read_committed", 1) == \
            [b"after"]
