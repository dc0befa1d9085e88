"""Transactions with confluent-kafka (librdkafka) against one brokerd:
commit and abort seen by read_committed and read_uncommitted consumers, a
second producer with the same transactional id fencing the first, a
transaction past its timeout aborted by the coordinator, a transaction
left open by kill -9 aborted after the restart, and a
consume-transform-produce loop with send_offsets_to_transaction."""
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


def test_consume_transform_produce():
    """A read-process-write loop with send_offsets_to_transaction: every
    input record is written exactly once to the output, the aborted round
    leaves nothing behind, and the group's committed offset moves with
    the committed transactions only."""
    with Broker() as b:
        create(b.bootstrap, "ctp-in", 1)
        create(b.bootstrap, "ctp-out", 1)
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(30):
            p.produce("ctp-in", value=b"%d" % i, partition=0)
        p.flush(10)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ctp",
                      "enable.auto.commit": False,
                      "auto.offset.reset": "earliest",
                      "isolation.level": "read_committed"})
        c.subscribe(["ctp-in"])
        tp = producer(b.bootstrap, "tx-ctp")
        done, rounds, aborted = 0, 0, False
        while done < 30 and rounds < 200:
            rounds += 1
            msgs = [m for m in c.consume(7, 0.5) if not m.error()]
            if not msgs:
                continue
            tp.begin_transaction()
            for m in msgs:
                tp.produce("ctp-out", value=b"x" + m.value(), partition=0)
            tp.send_offsets_to_transaction(c.position(c.assignment()),
                                           c.consumer_group_metadata(), 20)
            if not aborted:
                # The first round is aborted: its output is dropped and
                # the consumer goes back to the committed offsets.
                aborted = True
                tp.flush(10)  # in the log, so that the abort matters
                tp.abort_transaction(20)
                for t in c.committed(c.assignment(), 10):
                    c.seek(TopicPartition(t.topic, t.partition,
                                          max(t.offset, 0)))
                continue
            tp.commit_transaction(20)
            done += len(msgs)
        assert done == 30
        # require_stable: the committed offset is read once the last
        # marker is in (UNSTABLE_OFFSET_COMMIT until then, retried).
        got = c.committed([TopicPartition("ctp-in", 0)], 10)
        assert got[0].offset == 30
        c.close()
        out = consume(b.bootstrap, "ctp-out", 1, "read_committed", 30)
        assert out == sorted(b"x%d" % i for i in range(30))
        allout = consume(b.bootstrap, "ctp-out", 1, "read_uncommitted", 60,
                         bound=3)
        assert len(allout) > 30  # the aborted round is still in the log
