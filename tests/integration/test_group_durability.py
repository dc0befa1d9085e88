"""The group coordinator answers only once its writes are on disk: a
KIP-848 membership change, an offset commit and a group deletion whose
__consumer_offsets records could not be synced are answered with
NOT_COORDINATOR (Kafka's answer to a failed coordinator write), never
with success. The disk is made to refuse syncs by fsync_fail.c, preloaded
into a real broker; a heartbeat that changes nothing writes nothing and
still succeeds."""
import os
import struct
import uuid

import pytest

from data_util import create_topics
from harness import Broker
from test_admin_protocol import call, carray, cstr
from test_group_clients import GROUP_SETTINGS
from test_group_describe import heartbeat
from test_group_heartbeat import find_coordinator

TOPIC = "dur-topic"
NOT_COORDINATOR = 16


def shim_env(flag):
    shim = os.environ.get("BK_FSYNC_FAIL_SHIM")
    assert shim and os.path.exists(shim), \
        "BK_FSYNC_FAIL_SHIM must name the built libbk_fsync_fail.so (ctest sets it)"
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": shim,
        "BK_FSYNC_FAIL_FLAG": str(flag),
        # The shim comes ahead of the sanitizer runtime in ASan builds.
        "ASAN_OPTIONS": (asan + ":" if asan else "") +
                        "verify_asan_link_order=0",
    }


def commit(b, group, offset):
    """OffsetCommit v8 from outside the group; returns the error."""
    part = struct.pack(">iqi", 0, offset, -1) + cstr(None) + b"\x00"
    topic = cstr(TOPIC) + carray([part]) + b"\x00"
    body = cstr(group) + struct.pack(">i", -1) + cstr("") + cstr(None)
    body += carray([topic]) + b"\x00"
    r = call(b, 8, 8, body)
    r.i32()
    errs = []

    def p():
        r.i32()
        errs.append(r.i16())
        r.tags()

    def t():
        r.cstr()
        r.carray(p)
        r.tags()
    r.carray(t)
    (err,) = errs
    return err


def delete_group(b, group):
    """DeleteGroups v2; returns the group's error."""
    r = call(b, 42, 2, carray([cstr(group)]) + b"\x00")
    r.i32()
    errs = []

    def g():
        r.cstr()
        errs.append(r.i16())
        r.tags()
    r.carray(g)
    (err,) = errs
    return err


@pytest.fixture
def broker(tmp_path):
    flag = tmp_path / "refuse-syncs"
    with Broker(extra=GROUP_SETTINGS, env=shim_env(flag)) as b:
        create_topics(b.bootstrap, {TOPIC: (2, {})})
        b.refuse_syncs = flag.touch
        yield b


def test_unsynced_membership_change_is_not_acknowledged(broker):
    group = "dur-members"
    find_coordinator(broker, group)
    m1 = str(uuid.uuid4())
    err, epoch, asg = heartbeat(broker, group, m1, 0, topics=[TOPIC],
                                owned={})
    assert err == 0 and asg is not None
    broker.refuse_syncs()
    # Nothing changes: nothing to write, and the answer is as before.
    err, e, _ = heartbeat(broker, group, m1, epoch, rebalance_ms=-1)
    assert (err, e) == (0, epoch)
    # A new member is a change that must be written first.
    m2 = str(uuid.uuid4())
    err, _, _ = heartbeat(broker, group, m2, 0, topics=[TOPIC], owned={})
    assert err == NOT_COORDINATOR


def test_unsynced_commit_is_not_acknowledged(broker):
    group = "dur-commit"
    find_coordinator(broker, group)
    assert commit(broker, group, 5) == 0
    broker.refuse_syncs()
    assert commit(broker, group, 6) == NOT_COORDINATOR


def test_unsynced_group_deletion_is_not_acknowledged(broker):
    group = "dur-delete"
    find_coordinator(broker, group)
    assert commit(broker, group, 5) == 0
    broker.refuse_syncs()
    assert delete_group(broker, group) == NOT_COORDINATOR
