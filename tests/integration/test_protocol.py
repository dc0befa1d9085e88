"""The wire protocol front end: ApiVersions, Metadata, framing, ordering,
backpressure, shards and bad input, driven with raw sockets."""
import os
import random
import socket
import struct
import time

import pytest

from harness import (Broker, api_versions, connect, is_closed, metadata_v0,
                     parse_api_versions, recv_frame, request, uvarint)


@pytest.fixture(scope="module")
def broker():
    with Broker({"num.shards": "2"}) as b:
        yield b


def test_api_versions_every_version(broker):
    s = connect(broker.port)
    for v in range(0, 5):
        corr, err, keys = api_versions(s, version=v, corr=100 + v)
        assert corr == 100 + v
        assert err == 0
        assert keys[18] == (0, 4)
        assert keys[3][0] == 0  # Metadata from v0 (kafka-python)
    s.close()


def test_api_versions_unknown_version_kip511(broker):
    s = connect(broker.port)
    # v9 is unknown: the body must not be parsed, and the answer is in the
    # v0 layout with UNSUPPORTED_VERSION and our ApiVersions range.
    s.sendall(request(18, 9, 42, b"\x05garbage", flexible=True))
    corr, err, keys = parse_api_versions(recv_frame(s), 0)
    assert corr == 42 and err == 35
    assert keys == {18: (0, 4)}
    # The connection stays usable.
    assert api_versions(s, version=3, corr=43)[1] == 0
    s.close()


def test_metadata_v0_lists_broker(broker):
    s = connect(broker.port)
    corr, brokers, topics = metadata_v0(s, corr=9)
    assert corr == 9
    assert brokers == [(1, "127.0.0.1", broker.port)]
    assert topics == []
    # Metadata v0 creates unknown topics implicitly (auto-create is on by
    # default): LEADER_NOT_AVAILABLE until the topic exists.
    corr, brokers, topics = metadata_v0(s, corr=10, topics=["fresh"])
    assert topics == [("fresh", 5)]
    corr, brokers, topics = metadata_v0(s, corr=11, topics=["bad name"])
    assert topics == [("bad name", 17)]
    s.close()


def test_metadata_unknown_topic_without_auto_create():
    with Broker({"auto.create.topics.enable": "false"}) as b:
        s = connect(b.port)
        corr, brokers, topics = metadata_v0(s, corr=3, topics=["nope"])
        assert topics == [("nope", 3)]
        s.close()


def metadata_v12_null_topics(corr):
    # topics: null (compact 0), allow_auto_topic_creation, include_topic_ops,
    # tagged fields.
    body = b"\x00" + b"\x01" + b"\x00" + b"\x00"
    return request(3, 12, corr, body, flexible=True)


def test_metadata_v12_cluster_id_and_controller(broker):
    s = connect(broker.port)
    s.sendall(metadata_v12_null_topics(5))
    frame = recv_frame(s)
    corr = struct.unpack_from(">i", frame, 0)[0]
    assert corr == 5
    assert frame[4] == 0  # response header v1: empty tagged fields
    pos = 5 + 4  # throttle
    nb = frame[pos] - 1
    pos += 1
    assert nb == 1
    node = struct.unpack_from(">i", frame, pos)[0]
    assert node == 1
    meta = open(os.path.join(broker.data_dir, "meta.properties")).read()
    cluster_id = [l.split("=", 1)[1] for l in meta.splitlines()
                  if l.startswith("cluster.id=")][0]
    assert cluster_id.encode() in frame
    s.close()


def test_pipelined_requests_answered_in_order(broker):
    s = connect(broker.port)
    frames = b""
    for i in range(200):
        if i % 2:
            frames += request(18, 0, i)
        else:
            frames += metadata_v12_null_topics(i)
    s.sendall(frames)
    for i in range(200):
        frame = recv_frame(s)
        assert struct.unpack_from(">i", frame, 0)[0] == i
    s.close()


def test_backpressure_loses_nothing():
    with Broker({"connection.max.inflight.requests": "2",
                 "connection.max.queued.bytes": "4096"}) as b:
        s = connect(b.port)
        n = 2000
        payload = b"".join(request(18, 0, i) for i in range(n))
        # Send everything before reading anything: the broker must pause
        # reading rather than queue without bound, and then catch up.
        s.settimeout(30)
        sender_done = False
        sent = 0
        got = 0
        s.setblocking(False)
        deadline = time.monotonic() + 60
        buf = b""
        while got < n and time.monotonic() < deadline:
            if sent < len(payload):
                try:
                    sent += s.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            except BlockingIOError:
                time.sleep(0.001)
            while len(buf) >= 4:
                size = struct.unpack_from(">i", buf, 0)[0]
                if len(buf) < 4 + size:
                    break
                corr = struct.unpack_from(">i", buf, 4)[0]
                assert corr == got
                got += 1
                buf = buf[4 + size:]
        assert got == n
        s.close()


def test_connections_spread_over_both_shards():
    with Broker({"num.shards": "2", "logger.level": "debug"}) as b:
        socks = []
        for i in range(6):
            s = connect(b.port)
            assert api_versions(s, corr=i)[1] == 0
            socks.append(s)
        log = b.output()
        for s in socks:
            s.close()
        assert "shards=2" in log
        for shard in (0, 1):
            assert "shard=%d peer=127.0.0.1" % shard in log, log


def normal_client_works(broker):
    s = connect(broker.port)
    try:
        return api_versions(s, version=3, corr=77)[1] == 0
    finally:
        s.close()


BAD_INPUTS = {
    "random_bytes": lambda: bytes(random.Random(7).getrandbits(8)
                                  for _ in range(4096)),
    "size_2gib": lambda: struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 16,
    "size_negative": lambda: struct.pack(">i", -5) + b"\x00" * 16,
    "unknown_api_key": lambda: request(9999, 0, 1),
    "unsupported_version": lambda: request(3, 99, 1),
    "produce_v0_refused": lambda: request(0, 0, 1, b"\x00" * 10),
    # Metadata v1 with a topic array count of -5.
    "negative_array_len": lambda: request(3, 1, 1, struct.pack(">i", -5)),
    # Metadata v1 with a topic name length beyond the frame.
    "string_past_end": lambda: request(3, 1, 1, struct.pack(">ih", 1, 300)),
    # A header too short to hold api key, version and correlation id.
    "short_header": lambda: struct.pack(">i", 3) + b"\x00\x03\x00",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_closes_connection_and_broker_carries_on(broker, name):
    s = connect(broker.port)
    s.sendall(BAD_INPUTS[name]())
    assert is_closed(s), name
    s.close()
    assert broker.alive()
    assert normal_client_works(broker)


def test_truncated_frame_then_disconnect(broker):
    s = connect(broker.port)
    s.sendall(struct.pack(">i", 100) + b"\x00\x12\x00\x00")
    s.close()
    assert broker.alive()
    assert normal_client_works(broker)


def test_request_above_limit_closes_before_allocating():
    with Broker({"socket.request.max.bytes": "2048"}) as b:
        s = connect(b.port)
        s.sendall(struct.pack(">i", 4096) + b"\x00" * 8)
        assert is_closed(s)
        s.close()
        assert normal_client_works(b)
