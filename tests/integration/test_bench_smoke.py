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


# --- the smoke rule itself, on made-up runs (no brokers) -------------------

def _load_bench():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "bench", os.path.join(REPO, "scripts", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_bench(mod, brokerd_fails):
    kafka = mod.Kafka("kafka", "Kafka", "/nonexistent")
    brokerd = mod.Brokerd("brokerd", "brokerd", "/nonexistent", "/bin/false")
    bench = mod.Bench.__new__(mod.Bench)
    bench.cfg = mod.MODES["smoke"]
    bench.brokers = [kafka, brokerd]
    bench.runs = []
    workloads = [w["id"] + (" durable" if w["durable"] else "")
                 for w in bench.produce_workloads()]
    for b in bench.brokers:
        for w in workloads:
            if b is brokerd and brokerd_fails:
                bench.runs.append(dict(workload=w, broker=b.name, rep=0, ok=False,
                                       error="UnsupportedVersionException: no"))
            else:
                bench.runs.append(dict(workload=w, broker=b.name, rep=0, ok=True, error=None,
                                       rec_s=1.0, mb_s=1.0, peak_rss_mib=1.0,
                                       cpu_s_per_gib=1.0))
        for w, vals in (("consume", dict(mb_s=1.0, rec_s=1.0, cpu_s_per_gib=1.0)),
                        ("e2e", dict(p50=1.0, p99=1.0, p999=1.0)),
                        ("e2e durable", dict(p50=1.0, p99=1.0, p999=1.0))):
            if b is brokerd and brokerd_fails:
                bench.runs.append(dict(workload=w, broker=b.name, rep=0, ok=False,
                                       error="UnsupportedVersionException: no"))
            else:
                bench.runs.append(dict(workload=w, broker=b.name, rep=0, ok=True,
                                       error=None, **vals))
        bench.runs.append(dict(workload="startup", broker=b.name, rep=0, ok=True,
                               error=None, seconds=0.1))
        bench.runs.append(dict(workload="rss_idle", broker=b.name, rep=0, ok=True,
                               error=None, rss_mib=1.0))
    return bench


def test_smoke_rule_lenient_until_produce_and_fetch():
    mod = _load_bench()
    bench = _fake_bench(mod, brokerd_fails=True)
    rows = mod.build_rows(bench)
    assert mod.check(bench, rows, strict=False) == []
    lines = "\n".join(mod.table_lines(bench, rows, strict=False))
    assert "unsupported (error: see [1])" in lines
    assert "UnsupportedVersionException" in lines
    # once brokerd advertises Produce and Fetch, the same failures fail
    assert mod.check(bench, rows, strict=True)
    assert "FAILED (error: see [1])" in "\n".join(mod.table_lines(bench, rows, strict=True))


def test_smoke_rule_kafka_must_always_produce_numbers():
    mod = _load_bench()
    bench = _fake_bench(mod, brokerd_fails=False)
    rows = mod.build_rows(bench)
    assert mod.check(bench, rows, strict=True) == []
    assert all(r["ratio"] == 1.0 for r in rows)
    for r in bench.runs:
        if r["broker"] == "kafka" and r["workload"] == "consume":
            r.update(ok=False, error="boom")
    rows = mod.build_rows(bench)
    assert any("Kafka produced no number" in p for p in mod.check(bench, rows, strict=False))


def test_start_up_and_idle_rss_always_required_from_brokerd():
    mod = _load_bench()
    bench = _fake_bench(mod, brokerd_fails=True)
    for r in bench.runs:
        if r["broker"] == "brokerd" and r["workload"] == "startup":
            r.update(ok=False, error="did not start")
    rows = mod.build_rows(bench)
    assert any("start-up" in p for p in mod.check(bench, rows, strict=False))
