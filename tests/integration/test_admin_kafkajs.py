"""Topic and config administration through kafkajs 2.2.4's admin client
(tests/node/admin_check.js, installed by scripts/deps test): create, list,
describe and alter configs, grow, describe the cluster, delete, and the
error types Kafka gives for bad requests."""
import json
import os
import subprocess

from harness import REPO, Broker

NODE_DIR = os.path.join(REPO, "tests", "node")


def test_kafkajs_admin():
    with Broker() as b:
        r = subprocess.run(["node", os.path.join(NODE_DIR, "admin_check.js"),
                            b.bootstrap, "jsorders"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        f = json.loads(r.stdout)
    assert f["created"] is True
    assert f["createdAgain"] is False  # kafkajs maps TOPIC_ALREADY_EXISTS to false
    assert f["listed"] is True
    assert f["partitions"] == [{"id": i, "leader": 1, "replicas": [1], "isr": [1]}
                               for i in range(3)]
    assert f["describe"]["errorCode"] == 0
    assert f["describe"]["configs"]["retention.ms"] == {
        "value": "7200000", "isDefault": False, "source": 1, "readOnly": False}
    assert f["describe"]["configs"]["cleanup.policy"]["value"] == "delete"
    assert f["describe"]["configs"]["cleanup.policy"]["isDefault"] is True
    # AlterConfigs replaces the topic's whole set.
    assert f["altered"]["configs"]["cleanup.policy"]["value"] == "compact"
    assert f["altered"]["configs"]["retention.ms"]["value"] == "604800000"
    assert f["grown"] == 6
    assert f["cluster"]["controller"] == 1 and f["cluster"]["brokers"] == 1
    assert f["errPartitions"]["type"] == "INVALID_PARTITIONS"
    assert f["errConfig"]["type"] == "INVALID_CONFIG"
    assert f["errCreate"]["type"] == "INVALID_TOPIC_EXCEPTION"
    assert f["deleted"] is True
