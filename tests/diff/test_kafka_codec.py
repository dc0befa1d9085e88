"""Tests of kafka_codec: hand-built frames decode to the values written into
them, and decode followed by encode gives back the same bytes, for classic
and flexible versions, tagged fields (known and unknown), nullable and
compact arrays, nested and common structs."""
import os
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_codec  # noqa: E402


@pytest.fixture(scope="module")
def schema():
    if not os.path.isdir(kafka_codec.messages_dir()):
        # As scripts/test's codec check: missing is a failure unless
        # BK_SKIP_CODEC_CHECK=1 says a clone elsewhere intends it.
        if os.environ.get("BK_SKIP_CODEC_CHECK") == "1":
            pytest.skip("no Kafka message definitions at " + kafka_codec.messages_dir())
        pytest.fail("no Kafka message definitions at %s (BK_SKIP_CODEC_CHECK=1 "
                    "skips)" % kafka_codec.messages_dir())
    return kafka_codec.Schema()


def s16(text):
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def cs(text):
    raw = text.encode()
    return kafka_codec.uvarint(len(raw) + 1) + raw


def test_metadata_v1_request_by_hand(schema):
    # Header v1 (classic), then a non-flexible array of two topic names.
    frame = (struct.pack(">hhi", 3, 1, 7) + s16("cli") + struct.pack(">i", 2)
             + s16("a") + s16("bb"))
    header, body = schema.decode_request(frame)
    assert header == {"RequestApiKey": 3, "RequestApiVersion": 1,
                      "CorrelationId": 7, "ClientId": "cli"}
    assert body == {"Topics": [{"Name": "a"}, {"Name": "bb"}]}
    assert schema.encode_request(header, body) == frame


def test_metadata_v12_null_topics_and_tagged(schema):
    # Flexible: header v2 keeps a classic client id, then its own tagged
    # section; the body has a compact nullable array (0 = null), two bools
    # and an unknown tag 9 that must survive the round trip.
    frame = (struct.pack(">hhi", 3, 12, 1) + s16("x") + b"\x00"
             + b"\x00" + b"\x01" + b"\x00"
             + b"\x01" + b"\x09" + b"\x02" + b"\xab\xcd")
    header, body = schema.decode_request(frame)
    assert header["ClientId"] == "x"
    assert body["Topics"] is None
    assert body["AllowAutoTopicCreation"] is True
    assert body["IncludeTopicAuthorizedOperations"] is False
    assert body[kafka_codec.UNKNOWN] == {"9": "abcd"}
    assert schema.encode_request(header, body) == frame


def test_known_tagged_field_decodes_by_name(schema):
    # FetchRequest v12+ carries ClusterId as tag 0 (nullable string).
    req = schema.requests[1]
    body = {"ClusterId": "c1", "ReplicaId": -1, "MaxWaitMs": 500, "MinBytes": 1,
            "MaxBytes": 1024, "IsolationLevel": 0, "SessionId": 0,
            "SessionEpoch": -1, "Topics": [], "ForgottenTopicsData": [],
            "RackId": ""}
    raw = req.encode(body, 12)
    back, end = req.decode(raw, 12)
    assert end == len(raw)
    assert back["ClusterId"] == "c1"
    assert req.encode(back, 12) == raw
    # Absent from the dict: absent from the wire, and from the decode.
    del body["ClusterId"]
    back, _ = req.decode(req.encode(body, 12), 12)
    assert "ClusterId" not in back


def test_common_structs_and_records(schema):
    # Produce v9 (flexible): nested arrays of a common-free schema with a
    # records field kept as bytes.
    req = schema.requests[0]
    body = {"TransactionalId": None, "Acks": -1, "TimeoutMs": 1000,
            "TopicData": [{"Name": "t", "PartitionData": [
                {"Index": 0, "Records": b"\x01\x02\x03"},
                {"Index": 1, "Records": None}]}]}
    for v in (3, 8, 9):
        raw = req.encode(body, v)
        back, end = req.decode(raw, v)
        assert end == len(raw)
        assert back["TopicData"][0]["PartitionData"][0]["Records"] == b"\x01\x02\x03"
        assert back["TopicData"][0]["PartitionData"][1]["Records"] is None
        assert req.encode(back, v) == raw
    # ConsumerGroupHeartbeatResponse uses the common struct
    # TopicPartitions inside a nullable struct field.
    resp = schema.responses[68]
    body = {"ThrottleTimeMs": 0, "ErrorCode": 0, "ErrorMessage": None,
            "MemberId": "m", "MemberEpoch": 3, "HeartbeatIntervalMs": 100,
            "Assignment": {"TopicPartitions": [
                {"TopicId": "11" * 16, "Partitions": [0, 2]}]}}
    raw = resp.encode(body, 0)
    back, _ = resp.decode(raw, 0)
    assert back["Assignment"]["TopicPartitions"][0]["Partitions"] == [0, 2]
    assert back["Assignment"]["TopicPartitions"][0]["TopicId"] == "11" * 16
    body["Assignment"] = None
    assert resp.decode(resp.encode(body, 0), 0)[0]["Assignment"] is None


def test_api_versions_response_header_is_v0(schema):
    # ApiVersions v3 is flexible, yet its answer has no header tags.
    body = {"ErrorCode": 0, "ApiKeys": [{"ApiKey": 0, "MinVersion": 0,
                                         "MaxVersion": 11}],
            "ThrottleTimeMs": 0}
    frame = schema.encode_response(18, 3, {"CorrelationId": 5}, body)
    assert frame[:4] == struct.pack(">i", 5)
    header, back = schema.decode_response(18, 3, frame)
    assert header == {"CorrelationId": 5}
    assert back["ApiKeys"] == body["ApiKeys"]


def test_truncated_and_trailing_bytes_fail(schema):
    frame = struct.pack(">hhi", 3, 1, 7) + s16("cli") + struct.pack(">i", 2) + s16("a")
    with pytest.raises(kafka_codec.CodecError):
        schema.decode_request(frame)
    frame = struct.pack(">hhi", 3, 1, 7) + s16("cli") + struct.pack(">i", 0) + b"\x00"
    with pytest.raises(kafka_codec.CodecError):
        schema.decode_request(frame)


def test_every_message_round_trips_its_defaults(schema):
    # Every request and response in every valid version: encoding the
    # defaults and decoding them gives a dict that encodes the same way.
    for table in (schema.requests, schema.responses):
        for msg in table.values():
            for v in range(msg.valid.lo, min(msg.valid.hi, 40) + 1):
                raw = msg.encode({}, v)
                back, end = msg.decode(raw, v)
                assert end == len(raw), (msg.name, v)
                assert msg.encode(back, v) == raw, (msg.name, v)
