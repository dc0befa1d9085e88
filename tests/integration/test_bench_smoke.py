"""scripts/bench --smoke: the benchmark harness must never rot.

Runs the whole harness with tiny loads (installing Apache Kafka from Maven
Central into .deps/kafka on first use) against the brokerd under test and
Kafka, and checks the smoke rule (docs/benchmarks.md): every workload ran
against Kafka and produced numbers; brokerd produced numbers, or, until it
advertises Produce and Fetch, was reported unsupported with its error.
It never checks a speed.
"""
import glob
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, brokerd_path  # noqa: E402

# The smoke run itself takes well under 90 s; the first run also installs
# Kafka from Maven Central.
TIMEOUT = 600


def test_bench_smoke():
    started = time.time()
    env = dict(os.environ)
    proc = subprocess.run(
        [os.path.join(REPO, "scripts", "bench"), "--smoke", "--brokerd", brokerd_path()],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=TIMEOUT)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    assert "check passed" in out, out[-6000:]

    runs = [p for p in glob.glob(os.path.join(REPO, "bench-out", "*-smoke", "results.json"))
            if os.path.getmtime(p) >= started]
    assert runs, "no bench-out/*-smoke/results.json written"
    with open(max(runs, key=os.path.getmtime)) as f:
        res = json.load(f)
    assert res["problems"] == []
    rows = res["rows"]
    assert len(rows) >= 24
    for row in rows:
        assert row["a"]["value"] is not None, row       # Kafka: always numbers
        b = row["b"]
        assert b["value"] is not None or b.get("error"), row
    names = {r["workload"] for r in rows}
    assert {"startup", "rss_idle", "consume", "e2e", "e2e durable"} <= names
    # start-up and idle RSS work against brokerd today
    for row in rows:
        if row["workload"] in ("startup", "rss_idle"):
            assert row["b"]["value"] is not None, row
