"""brokerctl --json builds its documents with jansson (issue 16). Strings
with quotes, backslashes, control characters and non-ASCII text come out
as valid JSON that parses back to the exact string, whether brokerctl got
them from its command line or from the broker. Bytes that are not UTF-8
(Kafka strings are bytes on the wire, and brokerd stores what it is sent)
cannot be a JSON string: each maximal ill-formed subpart becomes U+FFFD,
what Python's bytes.decode("utf-8", "replace") gives, and the document
stays valid UTF-8 JSON."""
import json
import subprocess

import pytest

from harness import Broker, brokerctl_path

# Valid text that needs escaping or is not ASCII.
ODD = 'q"b\\s/\x01\t\n\x1f\x7f caf\u00e9 \u20ac \U0001F600'
# Not UTF-8: a stray byte, an overlong lead, a truncated sequence.
BAD = b"bad\xff\xc0\xe2\x82end"
RAW = ODD.encode() + b" " + BAD
WANT = RAW.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def run(broker, *args):
    """Runs brokerctl (arguments as str or raw bytes); returns stdout."""
    argv = [brokerctl_path(), "-b", broker.bootstrap] + list(args)
    argv = [a if isinstance(a, bytes) else a.encode() for a in argv]
    res = subprocess.run(argv, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def ctl(broker, *args):
    """brokerctl --json ARGS: the one JSON document it printed on one
    line, parsed from UTF-8 strictly."""
    out = run(broker, "--json", *args)
    assert out.endswith(b"\n") and out.count(b"\n") == 1, out
    return json.loads(out.decode("utf-8"))


def test_expected_text():
    # The replacement the tests expect, spelled out once.
    assert WANT == ODD + " bad\ufffd\ufffd\ufffdend"


def test_group_ids(broker):
    ctl(broker, "topic", "create", "json-t", "--partitions", "1")
    for gid, want in ((ODD.encode(), ODD), (RAW, WANT)):
        # Resetting the offsets of a group that does not exist creates it
        # (Kafka's kafka-consumer-groups.sh does the same).
        doc = ctl(broker, "group", "reset-offsets", gid, "--topic", "json-t",
                  "--to-earliest", "--execute")
        assert doc["group"] == want
        assert doc["partitions"] == [
            {"topic": "json-t", "partition": 0, "new_offset": 0}]
        # From the broker's ListGroups, not from argv.
        listed = ctl(broker, "group", "list")
        assert {"group": want, "protocol_type": "",
                "state": "Empty"} in listed
        desc = ctl(broker, "group", "describe", gid)
        assert desc["group"] == want and desc["state"] == "Empty"
        assert desc["partitions"][0]["member"] is None


def test_quota_entities(broker):
    run(broker, "quota", "set", "--user", RAW, "--client-id", ODD,
        "request_percentage=12.5")
    entries = ctl(broker, "quota", "list")
    assert {"entity": {"user": WANT, "client-id": ODD},
            "values": {"request_percentage": 12.5}} in entries


def test_scram_users(broker):
    run(broker, "user", "create", RAW, "--mechanism", "SCRAM-SHA-256",
        "--password", "pw")
    users = ctl(broker, "user", "list")
    assert {"user": WANT, "mechanism": "SCRAM-SHA-256",
            "iterations": 4096} in users


def test_config_names(broker):
    # Topic config values are validated (Kafka's rules), so an odd string
    # goes through a dynamic broker config name, which is free-form; the
    # broker then reports it as sensitive (Kafka hides unknown keys).
    name = b"x." + RAW
    doc = ctl(broker, "config", "set", "--broker-defaults", name + b"=v")
    assert doc == {"resource_type": "broker", "resource": "",
                   "set": ["x." + WANT]}
    got = ctl(broker, "config", "get", "--broker-defaults", name)
    assert got == [{"name": "x." + WANT, "value": None,
                    "source": "DYNAMIC_DEFAULT_BROKER_CONFIG",
                    "read_only": True, "sensitive": True}]
