"""The differential test: the recorded client sessions (corpus/*.jsonl)
replayed against Apache Kafka 4.1 (single node, KRaft, scripts/bench.py)
and brokerd side by side, their answers compared field by field
(replay.py). It fails on a difference that tests/diff/known_differences
does not list, and on a listed difference that no longer occurs.

  python3 tests/diff/test_diff.py [--unmasked]
      prints every difference (to write the list after recording
      sessions); --unmasked shows error messages instead of <text>

Needs Kafka's message definitions (../shared/kafka-protocol/messages, or
BK_KAFKA_MESSAGES) and Java; Kafka's jars are installed into .deps/kafka
by scripts/bench.py when missing.
"""
import glob
import importlib.util
import os
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import kafka_codec  # noqa: E402
import record  # noqa: E402
import replay  # noqa: E402
from harness import REPO, Broker, free_port  # noqa: E402
from record_sessions import BROKER_SETTINGS  # noqa: E402

KNOWN = os.path.join(HERE, "known_differences")
BUDGET_S = 150


def load_bench():
    # scripts/bench.py is the project's own module, loaded by path.
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def run_all(log=print):
    """Starts both brokers, replays every session in file order; returns
    the differences."""
    schema = kafka_codec.Schema()
    bench = load_bench()
    bench.ensure_kafka()
    tmp = tempfile.mkdtemp(prefix="bk-diff-")
    kafka = bench.Kafka("kafka", "Kafka", tmp)
    port = free_port()
    settings = dict(BROKER_SETTINGS)
    settings["listeners"] = "PLAINTEXT://127.0.0.1:%d" % port
    ours = Broker(extra=settings, port=port)
    t0 = time.monotonic()
    try:
        ours.start()
        kafka.start()
        log("both brokers up in %.1fs" % (time.monotonic() - t0))
        diffs = []
        # The whole run stays within about two minutes on 2 cores; a
        # replay that hangs on retries or long polls fails here instead.
        deadline = t0 + BUDGET_S
        for path in sorted(glob.glob(os.path.join(HERE, "corpus", "*.jsonl"))):
            if time.monotonic() > deadline:
                raise AssertionError("the replay took over %ds (before %s)"
                                     % (BUDGET_S, os.path.basename(path)))
            name = os.path.basename(path)
            t1 = time.monotonic()
            diffs += replay.replay(schema, record.read(path),
                                   replay.Target("kafka", kafka.port),
                                   replay.Target("brokerd", ours.port), name)
            log("%s replayed in %.1fs" % (name, time.monotonic() - t1))
        return diffs
    finally:
        kafka.stop()
        ours.stop()
        ours.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def test_answers_match_kafka_or_are_listed():
    if not os.path.isdir(kafka_codec.messages_dir()):
        # As scripts/test's codec check: BK_SKIP_CODEC_CHECK=1 says a
        # clone without ../shared intends it.
        if os.environ.get("BK_SKIP_CODEC_CHECK") == "1":
            pytest.skip("no Kafka message definitions at " + kafka_codec.messages_dir())
        pytest.fail("no Kafka message definitions at %s (BK_SKIP_CODEC_CHECK=1 "
                    "skips)" % kafka_codec.messages_dir())
    known = replay.read_known(KNOWN)
    t0 = time.monotonic()
    diffs = run_all()
    unlisted, stale = replay.check(diffs, known)
    report = []
    if unlisted:
        # One line per (api, version, path), with the first example.
        first = {}
        count = {}
        for d in unlisted:
            key = (d.api, d.version, d.path)
            first.setdefault(key, d)
            count[key] = count.get(key, 0) + 1
        report.append("differences not in tests/diff/known_differences:")
        report += ["  %s (%d times)" % (first[k], count[k]) for k in first]
    if stale:
        report.append("listed differences that no longer occur (remove them "
                      "here and in docs/compatibility.md):")
        report += ["  line %d: %s v%s %s" % (k["line"], k["api"], k["versions"], k["path"])
                   for k in stale]
    assert not report, "\n".join(report)
    print("%d differences, all listed; %.1fs" % (len(diffs), time.monotonic() - t0))


if __name__ == "__main__":
    if "--unmasked" in sys.argv:    # to read the texts behind <text>
        del replay.MASKS["ErrorMessage"]
    seen = set()
    for d in run_all():
        key = (d.api, d.version, d.path)
        print(d if key not in seen else "  (again) " + str(d))
        seen.add(key)
