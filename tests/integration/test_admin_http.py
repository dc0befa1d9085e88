"""The admin HTTP listener (admin.listeners): /health, /ready, /metrics in
the Prometheus text format (parsed here by a small strict parser, so a
malformed line fails the test, and checked by promtool), counters that
move with traffic, the /v1 JSON API, and HTTP errors (404 for an unknown
path, 405 for a write)."""
import json
import math
import re
import socket
import subprocess
import urllib.error
import urllib.request

from kafka import KafkaConsumer, KafkaProducer

from data_util import create_topics
from harness import Broker, brokerd_path, free_port, wait_until

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
LABEL_ONE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_metrics(text):
    """Parses text format 0.0.4 strictly: every family has HELP and TYPE
    before its samples, each family appears once, sample names belong to
    the family typed last, values are floats, histogram buckets are
    cumulative and end with +Inf equal to _count. Returns
    {(name, frozenset(labels)): value}."""
    assert text.endswith("\n")
    samples, typed, seen, current = {}, {}, set(), None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in TYPES, line
            assert name not in seen, "family twice: " + name
            seen.add(name)
            typed[name] = kind
            current = name
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        base = current
        suffixes = ("_bucket", "_sum", "_count") \
            if typed.get(current) == "histogram" else ("",)
        assert any(name == base + s for s in suffixes), (name, base)
        v = float(value)
        assert not math.isnan(v)
        key = (name, frozenset(LABEL_ONE.findall(labels)))
        assert key not in samples, "duplicate series: " + line
        samples[key] = v
    check_histograms(samples, typed)
    return samples


def check_histograms(samples, typed):
    for fam, kind in typed.items():
        if kind != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append(
                    (float(le), v))
        for labels, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (fam, buckets)
            assert math.isinf(buckets[-1][0])
            assert samples[(fam + "_count", labels)] == counts[-1]


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_admin_http():
    port = free_port()
    with Broker(extra={"admin.listeners": "http://127.0.0.1:%d" % port}) as b:
        assert "admin listening" in b.output()
        assert get(port, "/health")[0:3:2] == (200, "ok\n")
        status, _, body = get(port, "/ready")
        assert (status, body) == (200, "ready\n")

        status, headers, body = get(port, "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith(
            "text/plain; version=0.0.4")
        before = parse_metrics(body)
        assert value(before, "brokerd_build_info", version="0.1.0") == 1
        assert value(before, "process_resident_memory_bytes") > 0
        assert value(before, "process_open_fds") > 0
        assert value(before, "brokerd_metadata_active_controller") == 1
        assert value(before, "brokerd_metadata_raft_term") >= 1
        assert value(before, "brokerd_metadata_apply_lag") == 0
        assert value(before, "brokerd_metadata_committed_offset") >= \
            value(before, "brokerd_metadata_applied_offset") > 0

        create_topics(b.bootstrap, {"web": (2, None)})
        n = 50
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all",
                             linger_ms=0)
        for i in range(n):
            prod.send("web", value=b"v%03d" % i, partition=i % 2).get(10)
        prod.close()
        cons = KafkaConsumer("web", bootstrap_servers=b.bootstrap,
                             group_id="webgrp", enable_auto_commit=False,
                             auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
        got = sum(1 for _ in cons)
        cons.commit()
        cons.close()
        assert got == n
        # Five more, not consumed: the group's lag is exactly those.
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all")
        for i in range(5):
            prod.send("web", value=b"late", partition=0).get(10)
        prod.close()

        page = get(port, "/metrics")[2]
        after = parse_metrics(page)
        # Prometheus' own checker (Debian's prometheus package, installed
        # by scripts/deps test): format and naming conventions.
        res = subprocess.run(["promtool", "check", "metrics"], input=page,
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0 and res.stdout + res.stderr == "", \
            res.stdout + res.stderr
        produced = sum(v for (name, labels), v in after.items()
                       if name == "brokerd_requests_total"
                       and dict(labels)["api"] == "Produce")
        assert produced >= n
        assert value(after, "brokerd_topic_records_in_total",
                     topic="web") == n + 5
        assert value(after, "brokerd_topic_bytes_in_total", topic="web") > 0
        assert value(after, "brokerd_topic_records_out_total",
                     topic="web") == n
        assert value(after, "brokerd_request_duration_seconds_count",
                     api="Produce", phase="total") >= n
        assert value(after, "brokerd_connections_accepted_total") > \
            value(before, "brokerd_connections_accepted_total")
        assert value(after, "brokerd_log_fsync_duration_seconds_count") > 0
        assert value(after, "brokerd_partitions_led") >= 2
        assert value(after, "brokerd_log_size_bytes") > 0
        assert value(after, "brokerd_group_lag", group="webgrp",
                     topic="web", partition="0") == 5
        assert value(after, "brokerd_group_lag", group="webgrp",
                     topic="web", partition="1") == 0
        assert sum(v for (name, _), v in after.items()
                   if name == "brokerd_groups") >= 1

        status, headers, body = get(port, "/v1/topics")
        assert status == 200 and headers["Content-Type"] == "application/json"
        topics = {t["name"]: t for t in json.loads(body)}
        assert topics["web"]["partitions"] == 2
        status, _, body = get(port, "/v1/topics/web")
        detail = json.loads(body)
        assert [p["leader"] for p in detail["partitions_detail"]] == [1, 1]
        assert detail["partitions_detail"][0]["isr"] == [1]
        assert get(port, "/v1/topics/nope")[0] == 404
        cluster = json.loads(get(port, "/v1/cluster")[2])
        assert cluster["node_id"] == 1 and cluster["active_controller"]
        brokers = json.loads(get(port, "/v1/brokers")[2])
        assert [x["id"] for x in brokers] == [1]
        assert isinstance(json.loads(get(port, "/v1/groups")[2]), list)

        status, _, body = get(port, "/nope")
        assert status == 404
        status, headers, _ = get(port, "/metrics", method="POST")
        assert status == 405 and "GET" in headers["Allow"]
        assert get(port, "/health", method="DELETE")[0] == 405
        # A header larger than the connection's memory is refused with an
        # HTTP error; the listener keeps serving.
        huge = urllib.request.Request(
            "http://127.0.0.1:%d/health" % port,
            headers={"X-Big": "a" * 100000})
        try:
            urllib.request.urlopen(huge, timeout=10)
            assert False, "a 100 kB header was accepted"
        except urllib.error.HTTPError as e:
            assert e.code in (413, 431), e.code
        except (ConnectionError, urllib.error.URLError):
            pass  # closed without an answer: also bounded
        assert get(port, "/health")[0] == 200
        assert b.alive()
        assert b.stop() == 0
        assert 'msg="stopped"' in b.output()


def test_admin_port_in_use():
    """A port that cannot be bound stops the broker with one line why, as
    a Kafka listener's would."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        b = Broker(extra={"admin.listeners": "http://127.0.0.1:%d" % port})
        b.start(wait=False)
        rc = b.proc.wait(timeout=30)
        assert rc == 1
        assert "admin.listeners: cannot listen on 127.0.0.1:%d" % port \
            in b.output()
        b.cleanup()
    finally:
        taken.close()


def test_ready_is_503_until_registered():
    """A broker-only node whose controllers cannot be reached is up
    (/health 200) but not ready: /ready answers 503 with the reason."""
    port = free_port()
    b = Broker(extra={"node.id": "2", "process.roles": "broker",
                      "controller.quorum.bootstrap.servers":
                          "127.0.0.1:%d" % free_port(),
                      "admin.listeners": "http://127.0.0.1:%d" % port})
    try:
        cid = subprocess.run([brokerd_path(), "random-uuid"],
                             capture_output=True, text=True,
                             check=True).stdout.strip()
        subprocess.run([brokerd_path(), "format", "-c", b.conf,
                        "--cluster-id", cid], capture_output=True,
                       check=True)
        b.start(wait=False)

        def answers():
            try:
                return get(port, "/health")[0] == 200
            except OSError:
                return False
        wait_until(answers, "the admin listener")
        status, _, body = get(port, "/ready")
        assert status == 503
        assert body == ("not ready: not yet registered and unfenced by "
                        "the controller\n")
        assert b.stop() == 0
    finally:
        b.cleanup()
