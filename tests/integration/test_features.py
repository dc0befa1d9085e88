"""Feature versions (KIP-584) on the wire: the supported and finalized
features in ApiVersions v3+, UpdateFeatures (key 57) with Kafka's
validation and answers, the finalized levels kept in the metadata log
across a restart, and Kafka's own FeatureCommand (kafka-features.sh
describe) reading them.

The answers' shapes and messages are Kafka 4.1.1's, observed by sending the
same requests to a single-node Kafka 4.1.1 (scripts/bench.py's Kafka); the
ranges and levels are brokerd's own (src/cluster/features.c): Kafka 4.1
supports metadata.version 7-27 (finalized 27), kraft.version 0-1,
group.version 0-1, transaction.version 0-2 (finalized 2), brokerd
metadata.version 7 only, kraft.version 0, group.version 0-1 (finalized 1)
and transaction.version 0-2 (finalized 2)."""
import os
import struct
import subprocess
import time

import pytest

from harness import REPO, Broker, connect, recv_frame, request, uvarint
from test_admin_protocol import Reader, call, cstr

UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3
INVALID_UPDATE_VERSION = 95
FAILED = ("The update failed for all features since the following feature "
          "had an error: ")


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def api_versions(b, version):
    """ApiVersions at version (3 or 4): the feature tagged fields as
    {tag: value}."""
    s = connect(b.port)
    try:
        body = cstr("brokerd-test") + cstr("1.0") + b"\x00"
        s.sendall(request(18, version, 1, body, flexible=True))
        r = Reader(recv_frame(s))
    finally:
        s.close()
    assert r.i32() == 1
    assert r.i16() == 0
    r.carray(lambda: (r.take(6), r.tags()))
    r.i32()  # throttle
    tags = {}
    for _ in range(r.uv()):
        tag = r.uv()
        t = Reader(r.take(r.uv()))
        if tag in (0, 2):
            tags[tag] = t.carray(lambda: (t.cstr(), t.i16(), t.i16(), t.tags()))
            tags[tag] = {name: (a, b_) for name, a, b_, _ in tags[tag]}
        elif tag == 1:
            tags[tag] = struct.unpack(">q", t.take(8))[0]
        else:
            tags[tag] = t.take(len(t.buf))
    return tags


def update(b, updates, version=1, validate_only=False):
    """UpdateFeatures; updates are (feature, level, upgrade_type) (v0 sends
    allow_downgrade = upgrade_type != UPGRADE instead)."""
    body = struct.pack(">i", 60000) + uvarint(len(updates) + 1)
    for name, level, kind in updates:
        body += cstr(name) + struct.pack(">h", level)
        body += struct.pack(">b", kind if version >= 1 else kind != UPGRADE)
        body += b"\x00"
    if version >= 1:
        body += struct.pack(">b", validate_only)
    body += b"\x00"
    r = call(b, 57, version, body)
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.cstr()}
    if version <= 1:
        out["results"] = r.carray(
            lambda: (r.cstr(), r.i16(), r.cstr(), r.tags())[:3])
    return out


def refused(b, updates, why, version=1, validate_only=False):
    res = update(b, updates, version, validate_only)
    assert res["error"] == INVALID_UPDATE_VERSION, res
    name, level, _ = next(u for u in updates if u[0] in res["message"])
    assert res["message"] == FAILED + "Invalid update version %d for " \
        "feature %s. %s" % (level, name, why)
    if version <= 1:
        assert res["results"] == []  # Kafka 4.1: none, not one per update


def test_api_versions_features(broker):
    v4 = api_versions(broker, 4)
    # Kafka 4.1 sends tags 0-2 and leaves ZkMigrationReady (3) at its
    # default, so out.
    assert sorted(v4) == [0, 1, 2]
    assert v4[0] == {
        "metadata.version": (7, 7),
        "kraft.version": (0, 0),
        "group.version": (0, 1),
        "transaction.version": (0, 2),
        "eligible.leader.replicas.version": (0, 1),
    }
    # Finalized at level 0 is left out (Kafka 4.1 leaves out its
    # kraft.version 0); min and max level are both the level.
    assert v4[2] == {"metadata.version": (7, 7), "group.version": (1, 1),
                     "transaction.version": (2, 2),
                     "eligible.leader.replicas.version": (1, 1)}
    assert v4[1] >= 0
    # v3 leaves out supported features whose minimum is 0 (Kafka 4.1 sends
    # only metadata.version 7-27 there), finalized ones are all there.
    v3 = api_versions(broker, 3)
    assert v3[0] == {"metadata.version": (7, 7)}
    assert v3[2] == v4[2]
    # The epoch is the metadata offset of the image: as Kafka's, it grows
    # with any metadata change, not only feature changes.
    body = uvarint(2) + cstr("feat-epoch") + struct.pack(">ih", 1, 1) + \
        uvarint(1) + uvarint(1) + b"\x00" + struct.pack(">ib", 30000, 0) + \
        b"\x00"
    r = call(broker, 19, 5, body)
    r.i32()
    assert r.uv() == 2 and r.cstr() == "feat-epoch"
    assert api_versions(broker, 4)[1] > v4[1]
    # ApiVersions v0-2 carry no features.
    s = connect(broker.port)
    try:
        s.sendall(request(18, 2, 1))
        frame = recv_frame(s)
    finally:
        s.close()
    (n,) = struct.unpack_from(">i", frame, 6)
    assert len(frame) == 4 + 2 + 4 + 6 * n + 4


def test_update_features_validation(broker):
    before = api_versions(broker, 4)
    refused(broker, [("foo.version", 1, UPGRADE)],
            "Local controller 1 does not support this feature.")
    # One bad update fails them all.
    refused(broker, [("group.version", 1, UPGRADE), ("foo", 1, UPGRADE)],
            "Local controller 1 does not support this feature.")
    refused(broker, [("metadata.version", 99, UPGRADE)],
            "Local controller 1 only supports versions 7-7", validate_only=True)
    refused(broker, [("metadata.version", 1, SAFE_DOWNGRADE)],
            "Local controller 1 only supports versions 7-7")
    refused(broker, [("kraft.version", 1, UPGRADE)],
            "Local controller 1 only supports versions 0-0")
    refused(broker, [("transaction.version", 3, UPGRADE)],
            "Local controller 1 only supports versions 0-2")
    refused(broker, [("transaction.version", -1, SAFE_DOWNGRADE)],
            "A feature version cannot be less than 0.")
    refused(broker, [("group.version", 0, UPGRADE)],
            "Can't downgrade the version of this feature without setting the "
            "upgrade type to either safe or unsafe downgrade.")
    refused(broker, [("group.version", 1, 0)],
            "The controller does not support the given upgrade type.")
    refused(broker, [("group.version", 1, 7)],
            "The controller does not support the given upgrade type.")
    # v0 has no upgrade type and Kafka 4.1 ignores allow_downgrade.
    refused(broker, [("group.version", 0, SAFE_DOWNGRADE)],
            "Can't downgrade the version of this feature without setting the "
            "upgrade type to either safe or unsafe downgrade.", version=0)
    refused(broker, [("foo.version", 1, UPGRADE)],
            "Local controller 1 does not support this feature.", version=2)
    # Valid but validate_only, or unchanged: one NONE result per update
    # (Kafka 4.1's message is "NONE"), nothing changes.
    for updates in ([("group.version", 0, SAFE_DOWNGRADE)],
                    [("group.version", 0, UNSAFE_DOWNGRADE)],
                    [("group.version", 1, UPGRADE)] * 2,
                    [("metadata.version", 7, UPGRADE)]):
        res = update(broker, updates, validate_only=True)
        assert res == {"throttle": 0, "error": 0, "message": None,
                       "results": [(n, 0, "NONE") for n, _, _ in updates]}
    assert update(broker, []) == {"throttle": 0, "error": 0,
                                  "message": None, "results": []}
    assert update(broker, [("group.version", 1, UPGRADE)], version=2) == \
        {"throttle": 0, "error": 0, "message": None}
    assert api_versions(broker, 4) == before


def test_update_features_finalized_in_metadata_log(broker):
    start = api_versions(broker, 4)
    res = update(broker, [("group.version", 0, SAFE_DOWNGRADE)])
    assert res["error"] == 0, res
    after = api_versions(broker, 4)
    assert after[2] == {"metadata.version": (7, 7),
                        "transaction.version": (2, 2),
                        "eligible.leader.replicas.version": (1, 1)}
    assert after[1] > start[1]
    # An upgrade with a downgrade type is refused (Kafka 4.1's message).
    refused(broker, [("group.version", 1, SAFE_DOWNGRADE)],
            "Can't downgrade to a newer version.")
    # The level is in the metadata log: a restart keeps it.
    broker.stop()
    broker.start()
    assert api_versions(broker, 4)[2] == {"metadata.version": (7, 7),
                                          "transaction.version": (2, 2),
                                          "eligible.leader.replicas.version":
                                          (1, 1)}
    assert update(broker, [("group.version", 1, UPGRADE)])["error"] == 0
    assert api_versions(broker, 4)[2] == {"metadata.version": (7, 7),
                                          "group.version": (1, 1),
                                          "transaction.version": (2, 2),
                                          "eligible.leader.replicas.version":
                                          (1, 1)}


TARGET = os.path.join(REPO, "tests", "java", "target")
CP = os.path.join(TARGET, "classes") + ":" + os.path.join(TARGET, "deps", "*")


def test_feature_command_describe(broker):
    """kafka-features.sh describe, Kafka 4.1.1's class from Maven Central
    (tests/java/pom.xml), prints one line per supported feature."""
    r = subprocess.run(["java", "-cp", CP, "org.apache.kafka.tools.FeatureCommand",
                        "--bootstrap-server", broker.bootstrap, "describe"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    epoch = api_versions(broker, 4)[1]
    lines = sorted(r.stdout.splitlines())
    assert lines == [
        "Feature: eligible.leader.replicas.version\tSupportedMinVersion: 0\t"
        "SupportedMaxVersion: 1\tFinalizedVersionLevel: 1\tEpoch: %d" % epoch,
        "Feature: group.version\tSupportedMinVersion: 0\t"
        "SupportedMaxVersion: 1\tFinalizedVersionLevel: 1\tEpoch: %d" % epoch,
        "Feature: kraft.version\tSupportedMinVersion: 0\t"
        "SupportedMaxVersion: 0\tFinalizedVersionLevel: 0\tEpoch: %d" % epoch,
        "Feature: metadata.version\tSupportedMinVersion: 3.3-IV3\t"
        "SupportedMaxVersion: 3.3-IV3\tFinalizedVersionLevel: 3.3-IV3\t"
        "Epoch: %d" % epoch,
        "Feature: transaction.version\tSupportedMinVersion: 0\t"
        "SupportedMaxVersion: 2\tFinalizedVersionLevel: 2\tEpoch: %d" % epoch,
    ]


def heartbeat(b):
    """A KIP-848 join (ConsumerGroupHeartbeat v0, member epoch 0): the
    error code and message."""
    body = cstr("feat-group") + cstr("") + struct.pack(">i", 0) + \
        b"\x00" + b"\x00" + struct.pack(">i", 30000) + \
        uvarint(2) + cstr("feat-topic") + b"\x00" + uvarint(1) + b"\x00"
    r = call(b, 68, 0, body)
    r.i32()
    return r.i16(), r.cstr()


def joined(b):
    """Heartbeats until the coordinator is loaded (FindCoordinator creates
    __consumer_offsets first); returns the last error code."""
    body = struct.pack(">b", 0) + uvarint(2) + cstr("feat-group") + b"\x00"
    call(b, 10, 4, body)
    deadline = time.monotonic() + 30
    while True:
        err, _ = heartbeat(b)
        # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
        # NOT_COORDINATOR: still loading.
        if err not in (14, 15, 16) or time.monotonic() > deadline:
            return err
        time.sleep(0.1)


def test_group_version_gates_consumer_protocol(broker):
    # Kafka 4.1 with group.version finalized at 0 answers
    # ConsumerGroupHeartbeat with UNSUPPORTED_VERSION (35) and no message.
    assert joined(broker) == 0
    assert update(broker, [("group.version", 0, SAFE_DOWNGRADE)])["error"] == 0
    assert heartbeat(broker) == (35, None)
    assert update(broker, [("group.version", 1, UPGRADE)])["error"] == 0
    assert joined(broker) == 0
