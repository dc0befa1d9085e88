"""scripts/bench-admin --smoke: the admin-listener overhead measurement
(issue 16) must keep working. Tiny loads, two runs per side; checks that
every produce and consume workload ran against both the broker without
the admin listener and the one with it, that the scraper got /metrics and
/v1/groups while it was measured, and that ratios and noise came out. It
never checks a speed."""
import glob
import json
import os
import subprocess
import time

from harness import REPO, brokerd_path

TIMEOUT = 600  # well under 60 s once Kafka's jars are in .deps/kafka


def test_bench_admin_smoke():
    started = time.time()
    proc = subprocess.run(
        [os.path.join(REPO, "scripts", "bench-admin"), "--smoke", "--reps", "2",
         "--brokerd", brokerd_path()],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=TIMEOUT)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    assert "| workload | admin off" in out, out[-6000:]

    runs = [p for p in glob.glob(os.path.join(REPO, "bench-out", "*-admin-smoke",
                                              "results.json"))
            if os.path.getmtime(p) >= started]
    assert runs, "no bench-out/*-admin-smoke/results.json written"
    with open(max(runs, key=os.path.getmtime)) as f:
        res = json.load(f)
    rows = res["rows"]
    names = {r["workload"] for r in rows}
    assert "consume" in names and len(rows) == 13, names
    for r in rows:
        for side in ("off", "on"):
            assert len(r[side]["runs"]) == 2 and not r[side]["failed"], r
        assert r["ratio"] is not None and r["noise"] is not None, r
    scrapes = res["meta"]["scrapes"]
    assert scrapes["/metrics"]["ok"] > 0 and scrapes["/v1/groups"]["ok"] > 0
    assert res["meta"]["scrape_errors"] == []
