"""Real Kafka clients against brokerd: kcat (librdkafka), the Java client,
kafka-python."""
import os
import shutil
import subprocess

import pytest

from harness import Broker, REPO


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def test_kcat_lists_the_broker(broker):
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat, "kcat is installed by scripts/deps test"
    res = subprocess.run([kcat, "-b", broker.bootstrap, "-L", "-m", "10"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "1 brokers:" in res.stdout
    assert "broker 1 at 127.0.0.1:%d" % broker.port in res.stdout
    assert "0 topics:" in res.stdout


def test_java_admin_describe_cluster(broker):
    java_dir = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(java_dir, "classes") + ":" + os.path.join(java_dir, "deps", "*")
    res = subprocess.run(["java", "-cp", cp, "brokerd.ClientCheck",
                          broker.bootstrap, "describe-cluster"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    meta = open(os.path.join(broker.data_dir, "meta.properties")).read()
    cluster_id = [l.split("=", 1)[1] for l in meta.splitlines()
                  if l.startswith("cluster.id=")][0]
    assert "cluster.id=" + cluster_id in res.stdout
    assert "controller=1" in res.stdout
    assert "node=1 127.0.0.1:%d" % broker.port in res.stdout


def test_kafka_python_admin_connects(broker):
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                             request_timeout_ms=10000)
    try:
        assert admin.list_topics() == []
        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == 1
        assert [b["node_id"] for b in cluster["brokers"]] == [1]
    finally:
        admin.close()
