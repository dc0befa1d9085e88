"""Replays a recorded corpus (record.py) against two live brokers and
compares their answers field by field.

Each recorded connection gets its own connection to each broker, and the
requests go out in their recorded order over all connections, one at a
time, to both brokers at once. Both answers are decoded with kafka_codec,
masked (MASKS below), and compared; every difference is reported as
(api, version, field path, Kafka's value, brokerd's value).

State that a broker assigns is substituted: the recorded answer (brokerd's
at recording time) and each live answer are walked side by side, and each
value of a field in SUBSTITUTE that differs is remembered as recorded ->
live, per broker. Later requests get the live value wherever a field of
the same kind holds the recorded one, and are re-encoded: member ids,
generation ids and member epochs, producer ids and epochs (also inside
produced record batches, whose CRC is then recomputed), fetch session ids
and topic ids.

Three more changes make the replay deterministic and bounded:
- After a topic is created or deleted, the replay waits until each
  broker's Metadata shows it (the recorded client paused there; Kafka
  updates its metadata cache a moment after its answer).
- Fetch MaxWaitMs is capped at FETCH_WAIT_MS: the replay sends one request
  at a time, so no data can arrive while a fetch waits.
- An answer with a transient error (leader or coordinator not yet
  available, a topic not yet known after its creation) that the recorded
  answer did not have is retried after a short pause, as the client did
  while recording (its own retries may have gone elsewhere).
"""
import concurrent.futures
import copy
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import kafka_codec  # noqa: E402
from kafka_records import crc32c  # noqa: E402

FETCH_WAIT_MS = 50
ANSWER_TIMEOUT = 15.0
RETRY_FOR = 8.0

# Field name -> kind of broker-assigned value, for the substitution.
SUBSTITUTE = {
    "MemberId": "member", "Leader": "member",
    "GenerationId": "generation", "GenerationIdOrMemberEpoch": "generation",
    "MemberEpoch": "generation",
    "ProducerId": "producer_id", "ProducerEpoch": "producer_epoch",
    "SessionId": "session", "TopicId": "topic_id",
}

# Transient errors a client retries: LEADER_NOT_AVAILABLE,
# NOT_LEADER_OR_FOLLOWER, COORDINATOR_LOAD_IN_PROGRESS,
# COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, UNKNOWN_TOPIC_OR_PARTITION
# and UNKNOWN_TOPIC_ID (just after a creation, before the broker's
# metadata has caught up).
TRANSIENT = {5, 6, 14, 15, 16, 3, 100}

# Masks, by field name: values that legitimately differ between two
# brokers, replaced by a placeholder before the comparison. A sentinel
# (-1, 0, null, empty) is kept, so that "assigned" against "not assigned"
# still shows.
MASKS = {
    "ThrottleTimeMs": "throttle",    # quota bookkeeping, not behaviour
    "ClusterId": "id",               # random per cluster
    "TopicId": "id",                 # random per topic
    "Host": "addr", "Port": "addr",  # each broker's own listener
    "MemberId": "id", "Leader": "id",  # client id + random suffix
    "ProducerId": "id",              # allocated per cluster
    "SessionId": "id",               # fetch sessions (KIP-227)
    "LogAppendTimeMs": "time",       # broker clock (-1 kept: CreateTime)
    "ErrorMessage": "text",          # human text; the code is compared
    "FinalizedFeaturesEpoch": "epoch",  # offset in each metadata log
}

# Arrays whose elements are compared by a key field, which appears in the
# path (Configs[retention.ms].Synonyms), so that one missing element is
# one difference and a known difference can name the element. Elsewhere
# arrays of equal length are compared element by element, in the order
# of align(), and arrays of different lengths as a whole: ApiVersions'
# ApiKeys and features are one difference each (the per-API versions are
# docs/compatibility.md's table, checked by scripts/gen_compat.py).
KEYED = {"Configs": "Name"}

ARRAY_KEYS = ("Name", "Topic", "TopicName", "GroupId", "ResourceName",
              "PartitionIndex", "Index", "Partition", "ApiKey", "NodeId",
              "BrokerId", "ConfigName", "MemberId")


class Target:
    """One live broker: its connections (one per recorded connection) and
    what it assigned."""

    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.conns = {}
        self.assigned = {}   # kind -> {recorded value: live value}

    def conn(self, n):
        s = self.conns.get(n)
        if s is None:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.settimeout(ANSWER_TIMEOUT)
            self.conns[n] = s
        return s

    def close_all(self):
        for s in self.conns.values():
            try:
                s.close()
            except OSError:
                pass
        self.conns = {}

    def exchange(self, n, frame, expect_answer):
        s = self.conn(n)
        s.sendall(struct.pack(">i", len(frame)) + frame)
        if not expect_answer:
            return None
        head = recv_exact(s, 4)
        (size,) = struct.unpack(">i", head)
        return recv_exact(s, size)


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return bytes(buf)


# --- substitution ---------------------------------------------------------------

def learn(recorded, live, assigned):
    """Walks the recorded and the live answer side by side; remembers each
    broker-assigned value that differs."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        for k, rv in recorded.items():
            if k not in live:
                continue
            kind = SUBSTITUTE.get(k)
            lv = live[k]
            if kind and not isinstance(rv, (dict, list)) and rv != lv and \
                    not is_sentinel(rv):
                assigned.setdefault(kind, {})[rv] = lv
            else:
                learn(rv, lv, assigned)
    elif isinstance(recorded, list) and isinstance(live, list):
        for rv, lv in zip(align(recorded), align(live)):
            learn(rv, lv, assigned)


def is_sentinel(v):
    return v is None or v == "" or v == -1 or v == "0" * 32


def align(items):
    """Arrays of structs in a stable order: by their first key field."""
    if not items or not isinstance(items[0], dict):
        return items
    for key in ARRAY_KEYS:
        if all(key in i for i in items):
            return sorted(items, key=lambda i: repr(i[key]))
    return items


def substitute(value, assigned):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            kind = SUBSTITUTE.get(k)
            table = assigned.get(kind, {})
            if kind and not isinstance(v, (dict, list)) and v in table:
                out[k] = table[v]
            elif kind == "member" and isinstance(v, list):
                out[k] = [table.get(x, x) for x in v]
            else:
                out[k] = substitute(v, assigned)
        return out
    if isinstance(value, list):
        return [substitute(v, assigned) for v in value]
    return value


def substitute_batches(records, assigned):
    """Producer id and epoch inside magic-2 batches, with a fresh CRC."""
    pids = assigned.get("producer_id", {})
    epochs = assigned.get("producer_epoch", {})
    if not records or not (pids or epochs):
        return records
    out = bytearray(records)
    pos = 0
    while pos + 61 <= len(out):
        (length,) = struct.unpack_from(">i", out, pos + 8)
        end = pos + 12 + length
        if out[pos + 16] == 2:
            pid, epoch = struct.unpack_from(">qh", out, pos + 43)
            struct.pack_into(">qh", out, pos + 43, pids.get(pid, pid),
                             epochs.get(epoch, epoch))
            struct.pack_into(">I", out, pos + 17, crc32c(bytes(out[pos + 21:end])))
        pos = end
    return bytes(out)


def prepare(schema, header, body, target):
    body = substitute(copy.deepcopy(body), target.assigned)
    api = header["RequestApiKey"]
    if api == 1 and body.get("MaxWaitMs", 0) > FETCH_WAIT_MS:
        body["MaxWaitMs"] = FETCH_WAIT_MS
    if api == 0:
        for t in body.get("TopicData") or []:
            for p in t.get("PartitionData") or []:
                p["Records"] = substitute_batches(p.get("Records"), target.assigned)
    return schema.encode_request(header, body)


# --- masking and comparison ---------------------------------------------------

def mask(value, name=None):
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, name) for v in align(value)]
    if isinstance(value, bytes) and name == "Records":
        return parse_batches(value)
    if isinstance(value, bytes):
        return value.hex()
    kind = MASKS.get(name)
    if kind is None or is_sentinel(value):
        return value
    return "<%s>" % kind


def parse_batches(raw):
    """Record batches as dicts: the CRC is left out (it covers the producer
    id, masked); the records themselves are compared as bytes."""
    out = []
    pos = 0
    while pos + 61 <= len(raw):
        (base, length, ple, magic) = struct.unpack_from(">qiib", raw, pos)
        end = pos + 12 + length
        if magic != 2 or end > len(raw):
            out.append({"raw": raw[pos:].hex()})
            break
        (attrs, lod, first_ts, max_ts, pid, epoch, seq, count) = \
            struct.unpack_from(">hiqqqhii", raw, pos + 21)
        out.append({"BaseOffset": base, "PartitionLeaderEpoch": ple,
                    "Attributes": attrs, "LastOffsetDelta": lod,
                    "BaseTimestamp": first_ts, "MaxTimestamp": max_ts,
                    "ProducerId": pid if pid < 0 else "<id>",
                    "ProducerEpoch": epoch, "BaseSequence": seq,
                    "Count": count, "Records": raw[pos + 61:end].hex()})
        pos = end
    if pos < len(raw) and not (out and "raw" in out[-1]):
        out.append({"partial": len(raw) - pos})
    return out


def compare(a, b, path, out, name=None):
    """Appends (path, a, b) for every leaf where a and b differ; array
    indexes are written as [] so that one difference in many elements
    gives one path."""
    key = KEYED.get(name)
    if name == "Topics" and isinstance(a, list) and isinstance(b, list) and \
            len(a) != len(b):
        # A topic one broker lists and the other does not: name it.
        key = "Name"
    if key and isinstance(a, list) and isinstance(b, list) and \
            all(isinstance(x, dict) and key in x for x in a + b):
        ka = {x[key]: x for x in a}
        kb = {x[key]: x for x in b}
        for k in list(ka) + [k for k in kb if k not in ka]:
            compare(ka.get(k, "<absent>"), kb.get(k, "<absent>"),
                    "%s[%s]" % (path, k), out)
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            compare(a.get(k, "<absent>"), b.get(k, "<absent>"),
                    path + "." + k if path else k, out, k)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b):
            compare(x, y, path + "[]", out)
    elif a != b:
        out.append((path, a, b))


def has_transient(value):
    if isinstance(value, dict):
        return any((k == "ErrorCode" and v in TRANSIENT) or has_transient(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(has_transient(v) for v in value)
    return False


# --- the replay -----------------------------------------------------------------

class Difference:
    def __init__(self, api, version, path, kafka, brokerd, where):
        self.api, self.version, self.path = api, version, path
        self.kafka, self.brokerd, self.where = kafka, brokerd, where

    def __str__(self):
        return "%s v%d %s: Kafka %r, brokerd %r (%s)" % (
            self.api, self.version, self.path, short(self.kafka),
            short(self.brokerd), self.where)


def short(v):
    text = repr(v)
    return text if len(text) <= 200 else text[:200] + "..."


def send_one(schema, target, entry, header, body, recorded):
    """Sends one recorded request to one broker (retrying transient errors
    the recording did not have); returns the decoded answer, None when no
    answer is due, or an error string."""
    api, version = entry["api_key"], entry["api_version"]
    expect = not (api == 0 and body.get("Acks") == 0)
    deadline = time.monotonic() + RETRY_FOR
    while True:
        frame = prepare(schema, header, body, target)
        try:
            raw = target.exchange(entry["conn"], frame, expect)
        except (OSError, ConnectionError, struct.error) as e:
            target.conns.pop(entry["conn"], None)
            return "<no answer: %s>" % e.__class__.__name__
        if raw is None:
            return None
        try:
            _, answer = schema.decode_response(api, version, raw)
        except kafka_codec.CodecError as e:
            return "<undecodable: %s>" % e
        if has_transient(answer) and not has_transient(recorded) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        if recorded is not None:
            learn(recorded, answer, target.assigned)
        return answer


def settle(schema, target, api, answer, bound=5.0):
    """After a topic is created or deleted, waits until the broker's
    Metadata shows it (as the recorded client waited before going on):
    Kafka applies the change to its metadata cache a moment after the
    answer, brokerd before it. Uses a connection of its own."""
    if not isinstance(answer, dict) or api not in (19, 20):
        return
    rows = answer.get("Topics" if api == 19 else "Responses") or []
    names = [r["Name"] for r in rows if r.get("ErrorCode") == 0 and r.get("Name")]
    if not names:
        return
    header = {"RequestApiKey": 3, "RequestApiVersion": 4, "CorrelationId": 1,
              "ClientId": "diff-settle"}
    body = {"Topics": [{"Name": n} for n in names], "AllowAutoTopicCreation": False}
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        raw = target.exchange("settle", schema.encode_request(header, body), True)
        _, md = schema.decode_response(3, 4, raw)
        if api == 19:
            done = all(t["ErrorCode"] == 0 and t["Partitions"] and
                       all(p["LeaderId"] >= 0 for p in t["Partitions"])
                       for t in md["Topics"])
        else:
            done = all(t["ErrorCode"] == 3 for t in md["Topics"])
        if done:
            return
        time.sleep(0.05)


def replay(schema, entries, kafka, brokerd, where=""):
    """Replays one session against both targets; returns the differences
    (Difference objects) in request order."""
    diffs = []
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        for e in sorted(entries, key=lambda x: x["seq"]):
            header, body = schema.decode_request(bytes.fromhex(e["request"]))
            recorded = None
            if e["response"]:
                _, recorded = schema.decode_response(
                    e["api_key"], e["api_version"], bytes.fromhex(e["response"]))
            futs = [pool.submit(send_one, schema, t, e, header, body, recorded)
                    for t in (kafka, brokerd)]
            ka, ba = (f.result() for f in futs)
            for f in [pool.submit(settle, schema, t, e["api_key"], a)
                      for t, a in ((kafka, ka), (brokerd, ba))]:
                f.result()
            found = []
            compare(mask(ka), mask(ba), "", found)
            api = schema.api_name(e["api_key"])
            for path, a, b in found:
                diffs.append(Difference(api, e["api_version"], path, a, b,
                                        "%s#%d" % (where, e["seq"])))
    finally:
        pool.shutdown()
        kafka.close_all()
        brokerd.close_all()
    return diffs


# --- known differences ---------------------------------------------------------

def read_known(path):
    """tests/diff/known_differences: tab-separated api, versions ("*" or
    "a-b" or "n"), field path, reason; # starts a comment."""
    known = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4 or not parts[3].strip():
                raise ValueError("%s:%d: want api<TAB>versions<TAB>path<TAB>reason"
                                 % (path, n))
            known.append({"api": parts[0], "versions": parts[1],
                          "path": parts[2], "reason": parts[3], "line": n})
    return known


def matches(k, d):
    if k["api"] != d.api or k["path"] != d.path:
        return False
    v = k["versions"]
    return v == "*" or d.version in kafka_codec.Versions(v if "-" in v or v.endswith("+")
                                                        else v)


def check(diffs, known):
    """Returns (unlisted differences, listed entries that did not occur)."""
    used = set()
    unlisted = []
    for d in diffs:
        hit = [i for i, k in enumerate(known) if matches(k, d)]
        if hit:
            used.update(hit)
        else:
            unlisted.append(d)
    stale = [k for i, k in enumerate(known) if i not in used]
    return unlisted, stale
