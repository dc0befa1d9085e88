"""Cluster configuration (issue 12): the roles and quorum settings checked
by --check-config, `brokerd format` and `brokerd random-uuid`, and the
start-up checks that stop a node from joining the wrong cluster."""
import os
import re
import subprocess
import tempfile

from harness import Broker, api_versions, brokerd_path, connect, free_port


def run_brokerd(args, timeout=15):
    return subprocess.run([brokerd_path()] + args, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(res, *needles):
    assert res.returncode == 1, (res.returncode, res.stderr)
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    for bad in ("Segmentation", "Assertion", "AddressSanitizer", "runtime error"):
        assert bad not in res.stderr


def new_id():
    res = run_brokerd(["random-uuid"])
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def format_node(b, cluster_id, *extra):
    return run_brokerd(["format", "-c", b.conf, "--cluster-id", cluster_id] +
                       list(extra))


def meta_of(b):
    with open(os.path.join(b.data_dir, "meta.properties")) as f:
        return dict(l.strip().split("=", 1) for l in f
                    if "=" in l and not l.startswith("#"))


def voters(*ids):
    return ",".join("%d@127.0.0.1:%d" % (i, free_port()) for i in ids)


def test_random_uuid_is_a_kafka_cluster_id():
    seen = set()
    for _ in range(20):
        res = run_brokerd(["random-uuid"])
        assert res.returncode == 0
        assert res.stdout.endswith("\n") and res.stdout.count("\n") == 1
        uid = res.stdout.strip()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", uid), uid
        assert not uid.startswith("-")
        seen.add(uid)
    assert len(seen) == 20


def test_format_then_start_a_single_voter_node():
    cid = new_id()
    b = Broker(extra={"controller.quorum.voters": voters(1)})
    try:
        res = format_node(b, cid)
        assert res.returncode == 0, res.stderr
        assert cid in res.stdout and b.data_dir in res.stdout
        meta = meta_of(b)
        assert meta["cluster.id"] == cid and meta["node.id"] == "1"
        b.start()
        api_versions(connect(b.port))
        assert b.stop() == 0
        assert meta_of(b) == meta
    finally:
        b.cleanup()


def test_single_node_still_formats_itself():
    for extra in ({}, {"controller.quorum.voters": voters(1)}):
        b = Broker(extra=extra)
        try:
            b.start()
            assert b.stop() == 0
            assert re.fullmatch(r"[A-Za-z0-9_-]{22}", meta_of(b)["cluster.id"])
        finally:
            b.cleanup()


def test_format_twice_and_ignore_formatted():
    cid = new_id()
    b = Broker(extra={"controller.quorum.voters": voters(1, 2, 3)})
    try:
        assert format_node(b, cid).returncode == 0
        meta = meta_of(b)
        assert_one_line_error(format_node(b, cid), "log.dirs", b.data_dir,
                              "already formatted", "--ignore-formatted")
        for flag in ("--ignore-formatted", "-g"):
            res = format_node(b, cid, flag)
            assert res.returncode == 0, res.stderr
            assert "already formatted" in res.stdout
        assert meta_of(b) == meta
    finally:
        b.cleanup()


def test_format_with_another_cluster_id_fails():
    cid, other = new_id(), new_id()
    b = Broker(extra={"controller.quorum.voters": voters(1, 2, 3)})
    try:
        assert format_node(b, cid).returncode == 0
        for extra in ((), ("--ignore-formatted",)):
            assert_one_line_error(format_node(b, other, *extra), "log.dirs",
                                  cid, other)
        assert meta_of(b)["cluster.id"] == cid
    finally:
        b.cleanup()


def test_format_rejects_bad_input():
    b = Broker(extra={"controller.quorum.voters": voters(1, 2, 3)})
    try:
        assert_one_line_error(format_node(b, "not-a-uuid"), "--cluster-id",
                              "not-a-uuid")
        assert not os.path.exists(os.path.join(b.data_dir, "meta.properties"))
        res = run_brokerd(["format", "-c", b.conf])
        assert res.returncode == 2 and "Usage" in res.stderr
        with open(b.conf, "a") as f:
            f.write("process.roles=dancer\n")
        assert_one_line_error(format_node(b, new_id()), "process.roles")
    finally:
        b.cleanup()


def test_unformatted_quorum_member_or_broker_refuses_to_start():
    cases = [
        {"controller.quorum.voters": voters(1, 2, 3)},
        {"process.roles": "broker", "node.id": "4",
         "controller.quorum.voters": voters(1, 2, 3),
         "controller.quorum.bootstrap.servers": "127.0.0.1:%d" % free_port()},
        {"process.roles": "broker",
         "controller.quorum.bootstrap.servers": "127.0.0.1:%d" % free_port()},
    ]
    for extra in cases:
        b = Broker(extra=extra)
        try:
            res = run_brokerd(["-c", b.conf])
            assert_one_line_error(
                res, "log.dirs: %s is not formatted" % b.data_dir,
                'run "brokerd format -c FILE --cluster-id ID" with the same '
                "cluster id on every node")
            assert not os.path.exists(b.data_dir)
        finally:
            b.cleanup()


def test_voter_set_mismatch_refuses_to_start():
    first, second = voters(1, 2, 3), voters(1, 2, 4)
    b = Broker(extra={"controller.quorum.voters": first})
    try:
        assert format_node(b, new_id()).returncode == 0
        with open(b.conf, "a") as f:
            f.write("controller.quorum.voters=%s\n" % second)
        res = run_brokerd(["-c", b.conf])
        assert_one_line_error(res, "controller.quorum.voters", first, second,
                              b.data_dir)
        # The same set in another order is the same set.
        swapped = ",".join(reversed(first.split(",")))
        with open(b.conf, "a") as f:
            f.write("controller.quorum.voters=%s\n" % swapped)
        res = format_node(b, meta_of(b)["cluster.id"], "--ignore-formatted")
        assert res.returncode == 0, res.stderr
    finally:
        b.cleanup()


def test_self_formatted_node_keeps_its_voter_set():
    b = Broker()
    try:
        b.start()
        assert b.stop() == 0
        with open(b.conf, "a") as f:
            f.write("controller.quorum.voters=%s\n" % voters(1, 2, 3))
        res = run_brokerd(["-c", b.conf])
        assert_one_line_error(res, "controller.quorum.voters",
                              "(empty: a single node)")
    finally:
        b.cleanup()


def test_node_id_mismatch_still_refuses():
    b = Broker(extra={"controller.quorum.voters": voters(1, 2, 3)})
    try:
        assert format_node(b, new_id()).returncode == 0
        with open(b.conf, "a") as f:
            f.write("node.id=2\n")
        assert_one_line_error(run_brokerd(["-c", b.conf]), "node.id", "2")
        assert_one_line_error(
            format_node(b, meta_of(b)["cluster.id"], "--ignore-formatted"),
            "node.id")
    finally:
        b.cleanup()


def test_check_config_cross_field_rules():
    port = free_port()
    cases = [
        ("broker.heartbeat.interval.ms=9000\n",
         ["broker.heartbeat.interval.ms", "broker.session.timeout.ms"]),
        ("broker.session.timeout.ms=1500\n",
         ["broker.heartbeat.interval.ms", "broker.session.timeout.ms"]),
        ("node.id=5\ncontroller.quorum.voters=1@h:1,2@h:2\n",
         ["controller.quorum.voters", "node.id 5", "controller role"]),
        ("process.roles=broker\ncontroller.quorum.voters=1@h:1,2@h:2\n",
         ["process.roles", "node.id 1", "controller.quorum.voters"]),
        ("process.roles=broker\n",
         ["process.roles=broker", "controller.quorum.bootstrap.servers"]),
        ("process.roles=broker\ncontroller.quorum.voters=2@h:1\n",
         ["process.roles=broker", "controller.quorum.bootstrap.servers"]),
        ("process.roles=broker,worker\n", ["process.roles", "worker"]),
        ("controller.quorum.voters=1@h:1,1@h:2\n",
         ["controller.quorum.voters", "node id 1 appears twice"]),
        ("controller.quorum.voters=1@h:1,2@h\n",
         ["controller.quorum.voters", "bad entry '2@h'"]),
        ("controller.quorum.voters=one@h:1\n",
         ["controller.quorum.voters", "bad entry"]),
        ("process.roles=broker\ncontroller.quorum.bootstrap.servers=h\n",
         ["controller.quorum.bootstrap.servers", "bad entry"]),
        ("controller.listener.names=CONTROLLER\n",
         ["controller.listener.names", "CONTROLLER"]),
        ("inter.broker.listener.name=REPLICATION\n",
         ["inter.broker.listener.name", "REPLICATION"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.conf")
        for text, needles in cases:
            with open(path, "w") as f:
                f.write("listeners=PLAINTEXT://127.0.0.1:%d\n" % port + text)
            assert_one_line_error(run_brokerd(["--check-config", path]),
                                  *needles)
        valid = [
            "process.roles=controller\n",
            "process.roles=broker\ncontroller.quorum.bootstrap.servers=h:1\n",
            "node.id=2\ncontroller.quorum.voters=1@h:1,2@h:2,3@h:3\n"
            "controller.listener.names=PLAINTEXT\n"
            "inter.broker.listener.name=PLAINTEXT\n",
        ]
        for text in valid:
            with open(path, "w") as f:
                f.write("listeners=PLAINTEXT://127.0.0.1:%d\n" % port + text)
            res = run_brokerd(["--check-config", path])
            assert res.returncode == 0, (text, res.stderr)
