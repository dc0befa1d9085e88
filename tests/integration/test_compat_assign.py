"""Manual replica assignments (issue 19): CreateTopics' Assignments and
CreatePartitions' Assignments, sent as raw requests and checked code and
message against the answers of Apache Kafka 4.1. Every expected value below
was observed by sending the same request to a single-node KRaft Kafka 4.1
(broker id 1, like the brokerd here)."""
import struct

import pytest

from harness import Broker
from test_names_raw import arr, call, s16

INVALID_PARTITIONS = 37
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_REQUEST = 42


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def create(b, name, assignments, partitions=-1, rf=-1):
    """CreateTopics v4 with Assignments [(partition, [brokers])]: the one
    result's (error_code, error_message)."""
    asg = arr([struct.pack(">i", p) + arr([struct.pack(">i", x) for x in bs])
               for p, bs in assignments])
    topic = s16(name) + struct.pack(">ih", partitions, rf) + asg + arr([])
    r = call(b, 19, 4, arr([topic]) + struct.pack(">i?", 15000, False))
    r.i32()
    ((_, err, msg),) = r.arr(lambda: (r.s16(), r.i16(), r.s16()))
    return err, msg.decode() if msg is not None else None


def grow(b, name, count, assignments):
    """CreatePartitions v1 (assignments None: a null array): the one
    result's (error_code, error_message)."""
    if assignments is None:
        asg = struct.pack(">i", -1)
    else:
        asg = arr([arr([struct.pack(">i", x) for x in bs]) for bs in assignments])
    body = arr([s16(name) + struct.pack(">i", count) + asg])
    r = call(b, 37, 1, body + struct.pack(">i?", 15000, False))
    r.i32()
    ((_, err, msg),) = r.arr(lambda: (r.s16(), r.i16(), r.s16()))
    return err, msg.decode() if msg is not None else None


def replicas(b, name):
    """Metadata v8: {partition: (leader, replicas)} of one topic."""
    body = arr([s16(name)]) + struct.pack(">???", False, False, False)
    r = call(b, 3, 8, body)
    r.i32()
    r.arr(lambda: (r.i32(), r.s16(), r.i32(), r.s16()))
    r.s16()
    r.i32()

    def part():
        err, idx, leader, _epoch = r.i16(), r.i32(), r.i32(), r.i32()
        reps = r.arr(r.i32)
        r.arr(r.i32)
        r.arr(r.i32)
        return idx, (leader, reps)

    def topic():
        err, _name, _internal = r.i16(), r.s16(), r.i8()
        parts = dict(r.arr(part))
        r.i32()
        return err, parts

    ((err, parts),) = r.arr(topic)
    assert err == 0
    return parts


NO_SUCH_5 = ("The manual partition assignment includes broker 5, but no such "
             "broker is registered.")
TWICE_1 = "The manual partition assignment includes the broker 1 more than once."
EMPTY = "The manual partition assignment includes an empty replica list."
GAP = "partitions should be a consecutive 0-based integer sequence"

# Kafka 4.1's answers to CreateTopics v4 with a manual assignment.
CREATE_REFUSED = [
    ("np", [(0, [1])], 3, -1, INVALID_REQUEST,
     "A manual partition assignment was specified, but numPartitions was not "
     "set to -1."),
    ("rf", [(0, [1])], -1, 1, INVALID_REQUEST,
     "A manual partition assignment was specified, but replication factor "
     "was not set to -1."),
    # Both set: the replication factor is named.
    ("both", [(0, [1])], 2, 1, INVALID_REQUEST,
     "A manual partition assignment was specified, but replication factor "
     "was not set to -1."),
    ("gap", [(0, [1]), (2, [1])], -1, -1, INVALID_REPLICA_ASSIGNMENT, GAP),
    ("neg", [(-1, [1])], -1, -1, INVALID_REPLICA_ASSIGNMENT, GAP),
    ("start1", [(1, [1])], -1, -1, INVALID_REPLICA_ASSIGNMENT, GAP),
    ("dupp", [(0, [1]), (0, [1])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     "Found multiple manual partition assignments for partition 0"),
    ("empty", [(0, [])], -1, -1, INVALID_REPLICA_ASSIGNMENT, EMPTY),
    ("empty2", [(0, [1]), (1, [])], -1, -1, INVALID_REPLICA_ASSIGNMENT, EMPTY),
    ("dupb", [(0, [1, 1])], -1, -1, INVALID_REPLICA_ASSIGNMENT, TWICE_1),
    ("unk", [(0, [5])], -1, -1, INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    ("unk2", [(0, [1, 5])], -1, -1, INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    ("negb", [(0, [-1])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     "The manual partition assignment includes broker -1, but no such broker "
     "is registered."),
    # The brokers of a list are checked in ascending order.
    ("d55", [(0, [5, 5])], -1, -1, INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    ("s511", [(0, [5, 1, 1])], -1, -1, INVALID_REPLICA_ASSIGNMENT, TWICE_1),
    # Each list before the sizes, and the ids after every list.
    ("incd", [(0, [1]), (1, [1, 1])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     TWICE_1),
    ("incons", [(0, [1]), (1, [1, 5])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     NO_SUCH_5),
    ("gapunk", [(2, [1]), (0, [5])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     NO_SUCH_5),
    ("dupunk", [(0, [1]), (0, [5])], -1, -1, INVALID_REPLICA_ASSIGNMENT,
     "Found multiple manual partition assignments for partition 0"),
]


@pytest.mark.parametrize("name,asg,parts,rf,err,msg", CREATE_REFUSED,
                         ids=[c[0] for c in CREATE_REFUSED])
def test_create_topic_manual_refused(broker, name, asg, parts, rf, err, msg):
    assert create(broker, name, asg, parts, rf) == (err, msg)


def test_create_topic_manual(broker):
    # Kafka 4.1: NO_ERROR, in any order of the entries.
    assert create(broker, "ok2", [(1, [1]), (0, [1]), (2, [1])]) == (0, None)
    parts = replicas(broker, "ok2")
    assert parts == {0: (1, [1]), 1: (1, [1]), 2: (1, [1])}


# Kafka 4.1's answers to CreatePartitions v1 with assignments, for a topic
# of 3 partitions.
GROW_REFUSED = [
    (5, [[1]], INVALID_REPLICA_ASSIGNMENT,
     "Attempted to add 2 additional partition(s), but only 1 assignment(s) "
     "were specified."),
    (5, [[1], [1], [1]], INVALID_REPLICA_ASSIGNMENT,
     "Attempted to add 2 additional partition(s), but only 3 assignment(s) "
     "were specified."),
    # The count of lists before their contents.
    (5, [[5]], INVALID_REPLICA_ASSIGNMENT,
     "Attempted to add 2 additional partition(s), but only 1 assignment(s) "
     "were specified."),
    # An empty (not null) array is a manual assignment of nothing.
    (4, [], INVALID_REPLICA_ASSIGNMENT,
     "Attempted to add 1 additional partition(s), but only 0 assignment(s) "
     "were specified."),
    (4, [[1, 5]], INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    (4, [[5, 5]], INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    (4, [[-1]], INVALID_REPLICA_ASSIGNMENT,
     "The manual partition assignment includes broker -1, but no such broker "
     "is registered."),
    (5, [[1], [1, 1]], INVALID_REPLICA_ASSIGNMENT, TWICE_1),
    (5, [[1], [5]], INVALID_REPLICA_ASSIGNMENT, NO_SUCH_5),
    (3, [[1]], INVALID_PARTITIONS, "Topic already has 3 partition(s)."),
    (1, [[1]], INVALID_PARTITIONS,
     "The topic grow currently has 3 partition(s); 1 would not be an "
     "increase."),
    (1, None, INVALID_PARTITIONS,
     "The topic grow currently has 3 partition(s); 1 would not be an "
     "increase."),
]


def test_create_partitions_manual(broker):
    assert create(broker, "grow", [(0, [1])]) == (0, None)
    # Kafka 4.1: NO_ERROR.
    assert grow(broker, "grow", 3, [[1], [1]]) == (0, None)
    assert sorted(replicas(broker, "grow")) == [0, 1, 2]
    for count, asg, err, msg in GROW_REFUSED:
        assert grow(broker, "grow", count, asg) == (err, msg), (count, asg)
    assert sorted(replicas(broker, "grow")) == [0, 1, 2]


def test_create_partitions_unknown_topic(broker):
    # Kafka 4.1: UNKNOWN_TOPIC_OR_PARTITION with no message, with or without
    # an assignment.
    assert grow(broker, "nosuch", 4, [[1]]) == (3, None)
    assert grow(broker, "nosuch", 4, None) == (3, None)


def test_confluent_manual_assignment(broker):
    ck = pytest.importorskip("confluent_kafka.admin")
    a = ck.AdminClient({"bootstrap.servers": broker.bootstrap})
    # librdkafka sends numPartitions and replicationFactor as -1 with the
    # assignment, as Kafka expects.
    for f in a.create_topics([ck.NewTopic("ck-placed", 2,
                                          replica_assignment=[[1], [1]])]).values():
        f.result(timeout=30)
    for f in a.create_partitions([ck.NewPartitions("ck-placed", 3, [[1]])]).values():
        f.result(timeout=30)
    for f in a.create_partitions([ck.NewPartitions("ck-placed", 4)]).values():
        f.result(timeout=30)
    assert replicas(broker, "ck-placed") == {p: (1, [1]) for p in range(4)}
    with pytest.raises(ck.KafkaException) as e:
        for f in a.create_partitions([ck.NewPartitions("ck-placed", 5, [[9]])]).values():
            f.result(timeout=30)
    err = e.value.args[0]
    assert err.code() == ck.KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert err.str() == ("The manual partition assignment includes broker 9, but no "
                         "such broker is registered.")
