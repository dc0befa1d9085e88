"""Client quota administration (issue 15): AlterClientQuotas and
DescribeClientQuotas over raw frames with Kafka's validation, brokerctl
quota set|list|remove, kafka-configs.sh --entity-type users/clients (Kafka's
ConfigCommand from .deps/kafka), and quotas kept across a restart."""
import os
import subprocess

import pytest

from harness import REPO, Broker, connect, run_brokerctl
from quota_raw import alter, describe

INVALID_REQUEST = 42
KAFKA_CP = os.path.join(REPO, ".deps", "kafka", "lib", "*")


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def test_alter_and_describe_raw(broker):
    s = connect(broker.port)
    res = alter(s, [
        ([("user", "alice"), ("client-id", "app")],
         [("producer_byte_rate", 1048576.0, False),
          ("consumer_byte_rate", 2048.0, False)]),
        ([("user", None)], [("request_percentage", 12.5, False)]),
        ([("ip", "10.0.0.1")], [("connection_creation_rate", 5.0, False)]),
    ])
    assert [e[0] for e in res] == [0, 0, 0], res
    assert res[0][2] == [("user", "alice"), ("client-id", "app")]

    err, _, got = describe(s, [])
    assert err == 0
    assert got[(("user", "alice"), ("client-id", "app"))] == {
        "producer_byte_rate": 1048576.0, "consumer_byte_rate": 2048.0}
    assert got[(("user", None),)] == {"request_percentage": 12.5}
    assert got[(("ip", "10.0.0.1"),)] == {"connection_creation_rate": 5.0}

    # Exact user, non-strict: alice's pair; strict: nothing (the entity
    # also has a client id). Default user: only the default.
    _, _, got = describe(s, [("user", 0, "alice")])
    assert list(got) == [(("user", "alice"), ("client-id", "app"))]
    _, _, got = describe(s, [("user", 0, "alice")], strict=True)
    assert got == {}
    _, _, got = describe(s, [("user", 1, None)])
    assert list(got) == [(("user", None),)]
    _, _, got = describe(s, [("user", 2, None)], strict=True)
    assert list(got) == [(("user", None),)]

    # validate_only changes nothing; remove drops one key, then the entity.
    res = alter(s, [([("user", "bob")], [("producer_byte_rate", 5.0, False)])],
                validate_only=True)
    assert res[0][0] == 0
    _, _, got = describe(s, [("user", 0, "bob")])
    assert got == {}
    alter(s, [([("user", "alice"), ("client-id", "app")],
                [("consumer_byte_rate", 0.0, True)])])
    _, _, got = describe(s, [("client-id", 0, "app")])
    assert got[(("user", "alice"), ("client-id", "app"))] == {
        "producer_byte_rate": 1048576.0}
    alter(s, [([("user", "alice"), ("client-id", "app")],
                [("producer_byte_rate", 0.0, True)])])
    _, _, got = describe(s, [("client-id", 0, "app")])
    assert got == {}


def test_bad_input_raw(broker):
    s = connect(broker.port)
    bad = [
        ([("group", "g")], [("producer_byte_rate", 1.0, False)]),
        ([("user", "u")], [("bytes_per_hour", 1.0, False)]),
        ([("user", "u")], [("producer_byte_rate", -5.0, False)]),
        ([("user", "u")], [("producer_byte_rate", 1.5, False)]),
        ([("user", "u")], [("connection_creation_rate", 1.0, False)]),
        ([("ip", "1.2.3.4"), ("user", "u")],
         [("connection_creation_rate", 1.0, False)]),
        ([("ip", "not-an-ip")], [("connection_creation_rate", 1.0, False)]),
        ([], [("producer_byte_rate", 1.0, False)]),
        ([("user", "u"), ("user", "v")], [("producer_byte_rate", 1.0, False)]),
        ([("user", "u")], [("producer_byte_rate", 1.0, False),
                           ("producer_byte_rate", 2.0, False)]),
    ]
    good = ([("user", "ok")], [("request_percentage", 0.5, False)])
    res = alter(s, bad + [good])
    for (err, msg, _), entry in zip(res, bad):
        assert err == INVALID_REQUEST and msg, (entry, err, msg)
    assert "Unhandled client quota entity type" in res[0][1]
    assert "Invalid configuration key bytes_per_hour" in res[1][1]
    assert "must be a Long value" in res[3][1]
    # Each entry fails alone: the good one went through, no bad one did.
    assert res[-1][0] == 0
    _, _, got = describe(s, [])
    assert list(got) == [(("user", "ok"),)]

    for comps in ([("group", 0, "g")], [("user", 0, None)], [("user", 7, None)],
                  [("user", 2, None), ("user", 1, None)],
                  [("ip", 2, None), ("user", 2, None)]):
        err, msg, got = describe(s, comps)
        assert err == INVALID_REQUEST and msg and got == {}, (comps, err, msg)
    # The connection is still served.
    assert describe(s, [])[0] == 0


def test_brokerctl_quota_and_restart():
    b = Broker()
    try:
        b.start()
        r = run_brokerctl(b.bootstrap, "quota", "set", "--user", "alice",
                          "--client-default", "producer_byte_rate=4096")
        assert r.returncode == 0, r.stdout + r.stderr
        r = run_brokerctl(b.bootstrap, "quota", "set", "--client-id", "c1",
                          "consumer_byte_rate=100", "request_percentage=20")
        assert r.returncode == 0, r.stdout + r.stderr
        r = run_brokerctl(b.bootstrap, "quota", "set", "--user", "x",
                          "producer_byte_rate=-1")
        assert r.returncode == 1 and "INVALID_REQUEST" in r.stderr
        r = run_brokerctl(b.bootstrap, "quota", "remove", "--client-id", "c1",
                          "request_percentage")
        assert r.returncode == 0, r.stdout + r.stderr
        b.stop()
        b.start()
        r = run_brokerctl(b.bootstrap, "quota", "list")
        assert r.returncode == 0, r.stdout + r.stderr
        lines = sorted(r.stdout.splitlines())
        assert lines == ["client-id=c1 consumer_byte_rate=100",
                         "user=alice client-id=<default> "
                         "producer_byte_rate=4096"], r.stdout
        r = run_brokerctl(b.bootstrap, "--json", "quota", "list", "--user",
                          "alice")
        assert r.stdout.strip() == (
            '[{"entity":{"user":"alice","client-id":null},'
            '"values":{"producer_byte_rate":4096}}]'), r.stdout
    finally:
        if b.alive():
            b.stop()
        b.cleanup()


def configs(b, *args):
    return subprocess.run(
        ["java", "-cp", KAFKA_CP, "kafka.admin.ConfigCommand",
         "--bootstrap-server", b.bootstrap] + list(args),
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, ".deps", "kafka", "lib")),
                    reason="Kafka jars not fetched (.deps/kafka)")
def test_kafka_configs_round_trip(broker):
    r = configs(broker, "--alter", "--entity-type", "users", "--entity-name",
                "carol", "--entity-type", "clients", "--entity-name", "etl",
                "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Completed updating config for user carol." in r.stdout
    r = configs(broker, "--alter", "--entity-type", "clients",
                "--entity-default", "--add-config", "request_percentage=50")
    assert r.returncode == 0, r.stdout + r.stderr
    r = configs(broker, "--describe", "--entity-type", "clients")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("Quota configs for the default client-id are "
            "request_percentage=50.0") in r.stdout
    r = configs(broker, "--alter", "--entity-type", "clients",
                "--entity-default", "--delete-config", "request_percentage")
    assert r.returncode == 0, r.stdout + r.stderr
    r = configs(broker, "--alter", "--entity-type", "clients", "--entity-name",
                "x", "--add-config", "producer_byte_rate=2.5")
    assert r.returncode != 0
    assert "must be a Long value" in r.stdout + r.stderr
    # What the tool wrote is what the broker holds.
    r = run_brokerctl(broker.bootstrap, "quota", "list")
    assert r.stdout.splitlines() == [
        "user=carol client-id=etl producer_byte_rate=1024 "
        "consumer_byte_rate=2048"], r.stdout


def test_cluster_forwards_alter_and_every_broker_describes():
    """AlterClientQuotas sent to a node that is not the active controller
    is forwarded to it; every node then describes the quota from its own
    image."""
    from cluster_util import Cluster, wait_for
    with Cluster(n=3) as c:
        active = wait_for("an active controller", c.active_controller, 30)
        other = next(i for i in c.ids() if i != active)
        s = connect(c.port(other))
        res = alter(s, [([("user", "dana")],
                         [("consumer_byte_rate", 4096.0, False)])])
        assert res[0][0] == 0, res

        def everywhere():
            for i in c.ids():
                _, _, got = describe(connect(c.port(i)), [("user", 0, "dana")])
                if got != {(("user", "dana"),): {"consumer_byte_rate": 4096.0}}:
                    return False
            return True
        wait_for("the quota on every node", everywhere, 15)
