"""docs/compatibility.md's API table against the answers it describes:
brokerd's column against a running brokerd's ApiVersions answer, Kafka's
column against Kafka 4.1.1's (recorded below). scripts/gen_compat.py
writes the table; scripts/test checks that it is not stale."""
import os
import re

import pytest

from harness import Broker, api_versions, connect

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                   "compatibility.md")

# ApiVersions v3 from a single-node KRaft Kafka 4.1.1's broker listener
# (scripts/bench.py's Kafka, default settings): Kafka 4.1's answer.
KAFKA_41_API_VERSIONS = {
    0: (0, 13), 1: (4, 18), 2: (1, 10), 3: (0, 13), 8: (2, 9), 9: (1, 9),
    10: (0, 6), 11: (0, 9), 12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 6),
    16: (0, 5), 17: (0, 1), 18: (0, 4), 19: (2, 7), 20: (1, 6), 21: (0, 2),
    22: (0, 5), 23: (2, 4), 24: (0, 5), 25: (0, 4), 26: (0, 5), 27: (1, 1),
    28: (0, 5), 29: (1, 3), 30: (1, 3), 31: (1, 3), 32: (1, 4), 33: (0, 2),
    34: (1, 2), 35: (1, 4), 36: (0, 2), 37: (0, 3), 38: (1, 3), 39: (1, 2),
    40: (1, 2), 41: (1, 3), 42: (0, 2), 43: (0, 2), 44: (0, 1), 45: (0, 1),
    46: (0, 0), 47: (0, 0), 48: (0, 1), 49: (0, 1), 50: (0, 0), 51: (0, 0),
    55: (0, 2), 57: (0, 2), 60: (0, 2), 61: (0, 0), 64: (0, 0), 65: (0, 0),
    66: (0, 2), 68: (0, 1), 69: (0, 1), 74: (0, 1), 75: (0, 0), 76: (1, 1),
    77: (1, 1), 78: (1, 1), 79: (1, 1), 80: (0, 0), 81: (0, 0), 83: (0, 0),
    84: (0, 0), 85: (0, 0), 86: (0, 0), 87: (0, 0), 90: (0, 0), 91: (0, 0),
    92: (0, 0),
}


def table_rows():
    """[(key, name, kafka, brokerd, notes)] from the doc's API table."""
    with open(DOC) as f:
        doc = f.read()
    m = re.search(r"<!-- api-table begin[^>]*-->\n(.*?)<!-- api-table end -->",
                  doc, re.S)
    assert m, "docs/compatibility.md has no API table"
    rows = []
    for line in m.group(1).splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((int(cells[0]), cells[1], cells[2], cells[3], cells[4]))
    return rows


def parse_range(text):
    """(min, max) from "3", "0-13" or "0-12 (v0-2 refused)"; else None."""
    m = re.match(r"(\d+)(?:-(\d+))?(?: \(.*\))?$", text)
    if not m:
        return None
    lo = int(m.group(1))
    return (lo, int(m.group(2) or lo))


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def test_table_lists_every_key_once():
    keys = [r[0] for r in table_rows()]
    assert keys == sorted(set(keys))
    assert set(KAFKA_41_API_VERSIONS) <= set(keys)


def test_brokerd_column_is_what_api_versions_answers(broker):
    s = connect(broker.port)
    _, err, advertised = api_versions(s, version=3)
    s.close()
    assert err == 0
    documented = {}
    for key, name, _, ours, _ in table_rows():
        if ours in ("not implemented", "-"):
            continue
        assert parse_range(ours), "%s: %r" % (name, ours)
        documented[key] = parse_range(ours)
    assert documented == advertised


def test_kafka_column_is_what_kafka_41_answers():
    documented = {}
    for key, name, kafka, _, notes in table_rows():
        # Not on Kafka's broker listener: controller-only keys, keys
        # removed or still unstable, and client telemetry, which Kafka
        # advertises only with a metrics plugin configured.
        if "controller-only" in notes or "metrics plugin" in notes:
            continue
        if kafka in ("removed", "unstable"):
            continue
        assert parse_range(kafka), "%s: %r" % (name, kafka)
        documented[key] = parse_range(kafka)
    assert documented == KAFKA_41_API_VERSIONS
