"""brokerctl against a live broker."""
import json
import subprocess

from harness import Broker, brokerctl_path, free_port


def ctl(*args, timeout=30):
    return subprocess.run([brokerctl_path()] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def test_cluster_info_text_and_json():
    with Broker({"broker.rack": "r1"}) as b:
        res = ctl("-b", b.bootstrap, "cluster", "info")
        assert res.returncode == 0, res.stderr
        assert "Controller:  1" in res.stdout
        assert "127.0.0.1:%d" % b.port in res.stdout
        assert "ApiVersions(18):" in res.stdout and "0 to 4" in res.stdout
        res = ctl("-b", b.bootstrap, "cluster", "info", "--json")
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["controller_id"] == 1
        assert doc["brokers"] == [{"node_id": 1, "host": "127.0.0.1",
                                   "port": b.port, "rack": "r1",
                                   "state": "active"}]
        assert doc["quorum"]["leader_id"] == 1
        assert [v["id"] for v in doc["quorum"]["voters"]] == [1]
        keys = {a["api_key"]: a for a in doc["api_versions"]}
        assert keys[3]["min_version"] == 0 and keys[18]["max_version"] == 4
        meta = open(b.data_dir + "/meta.properties").read()
        assert "cluster.id=" + doc["cluster_id"] in meta


def test_unreachable_broker_is_one_line_and_nonzero():
    port = free_port()
    res = ctl("-b", "127.0.0.1:%d" % port, "cluster", "info")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0], res.stderr


def test_usage_errors():
    assert ctl("frobnicate").returncode == 2
    assert ctl("cluster", "nope").returncode == 2
    assert ctl("--timeout-ms", "abc", "cluster", "info").returncode == 2
    res = ctl("--help")
    assert res.returncode == 0 and "cluster info" in res.stdout
