"""scripts/cluster itself: its commands on a one-node cluster, and one
readable line with a non-zero exit for bad usage and failures."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from cluster_util import SCRIPT, Cluster, metadata
from harness import brokerd_path


def run(*args, env=None, timeout=120):
    e = dict(os.environ, BROKERD=brokerd_path())
    e.update(env or {})
    return subprocess.run([SCRIPT] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=e)


def one_line_failure(res, *needles):
    assert res.returncode != 0, res.stdout
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("scripts/cluster: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in res.stderr


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="brokerd-cluster-cli-")
    yield os.path.join(d, "c")
    shutil.rmtree(d, ignore_errors=True)


def test_help():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("up", "down", "status", "kill", "restart", "bootstrap"):
        assert cmd in res.stdout
    assert run("up", "--help").returncode == 0


def test_bad_usage(tmpdir_):
    one_line_failure(run("--dir", tmpdir_, "up", "33"), "between 1 and 32")
    one_line_failure(run("--dir", tmpdir_, "up", "6", "--controllers", "6"),
                     "--controllers must be between 1 and 5")
    one_line_failure(run("--dir", tmpdir_, "up", "3", "--dedicated"),
                     "leaves no broker")
    one_line_failure(run("--dir", tmpdir_, "up", "0"))
    one_line_failure(run("--dir", tmpdir_, "up", "two"))
    one_line_failure(run("--dir", tmpdir_, "frobnicate"))
    one_line_failure(run("--dir", tmpdir_, "kill", "1", "--signal", "HUP"))
    one_line_failure(run("--dir", tmpdir_, "up", "1", "--heartbeat-ms", "0"))
    for cmd in (["status"], ["down"], ["bootstrap"], ["kill", "1"],
                ["restart", "1"]):
        one_line_failure(run("--dir", tmpdir_, *cmd), "no cluster in")
    one_line_failure(run("--dir", tmpdir_, "up", "1",
                         env={"BROKERD": "/nonexistent/brokerd"}),
                     "not an executable")
    assert not os.path.exists(os.path.join(tmpdir_, "cluster.json"))


def test_one_node_lifecycle():
    with Cluster(1) as c:
        st = c.state()
        assert [n["id"] for n in st["nodes"]] == [1]
        assert st["nodes"][0]["roles"] == "broker,controller"
        with open(c.config(1)) as f:
            conf = f.read()
        for line in ("node.id=1", "process.roles=broker,controller",
                     "controller.quorum.voters=1@127.0.0.1:%d" %
                     st["nodes"][0]["raft_port"],
                     "controller.quorum.election.timeout.ms=500",
                     "broker.session.timeout.ms=2000",
                     "broker.heartbeat.interval.ms=200", "num.shards=1"):
            assert line + "\n" in conf, conf
        md = metadata(c.port(1))
        assert md["brokers"] == {1: c.port(1)} and md["controller"] == 1

        # A second up in the same directory is refused.
        one_line_failure(c.cli("up", "1", check=False), "already running")
        one_line_failure(c.cli("restart", "1", check=False), "is running")
        one_line_failure(c.cli("kill", "7", check=False), "no node 7")

        res = c.cli("kill", "1", "--signal", "TERM")
        assert res.stdout.strip() == "node 1: exit 0"
        status = c.cli("status").stdout
        assert "stopped (exit 0)" in status and "no node is running" in status
        one_line_failure(c.cli("kill", "1", check=False), "not running")
        one_line_failure(c.cli("up", "1", check=False), "stopped cluster")

        c.cli("restart", "1")
        assert metadata(c.port(1))["brokers"] == {1: c.port(1)}
        res = c.cli("kill", "1")
        assert res.stdout.strip() == "node 1: killed by SIGKILL"
        assert "killed by SIGKILL" in c.cli("status").stdout
        c.cli("restart", "1")
        res = c.cli("down")
        assert res.stdout.strip() == "node 1: exit 0"
        assert os.path.exists(os.path.join(c.dir, "cluster.json"))
        with open(os.path.join(c.dir, "cluster.json")) as f:
            assert json.load(f)["cluster_id"] == c.cluster_id
        res = c.cli("down", "--purge")
        assert not os.path.exists(c.dir)


def test_dedicated_controllers_and_broker_only_nodes():
    """up 5 --dedicated: three controller-only voters and two brokers that
    pull metadata; clients are given the brokers only."""
    with Cluster(5, extra=["--dedicated"]) as c:
        st = c.state()
        roles = {n["id"]: n["roles"] for n in st["nodes"]}
        assert roles == {1: "controller", 2: "controller", 3: "controller",
                         4: "broker", 5: "broker"}
        with open(c.config(5)) as f:
            conf = f.read()
        assert "process.roles=broker\n" in conf
        assert "controller.quorum.bootstrap.servers=" in conf
        assert c.cli("bootstrap").stdout.strip() == "127.0.0.1:%d,127.0.0.1:%d" % (
            c.port(4), c.port(5))
        md = metadata(c.port(4))
        assert md["brokers"] == {4: c.port(4), 5: c.port(5)}
        assert md["controller"] in (4, 5)
        # A broker-only node restarts and is listed again.
        c.cli("kill", "5", "--signal", "TERM")
        c.cli("restart", "5")
        assert metadata(c.port(4))["brokers"] == {4: c.port(4), 5: c.port(5)}
