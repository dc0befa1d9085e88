"""Start-up, configuration errors, the data-directory lock and shutdown."""
import os
import signal
import socket
import subprocess
import tempfile
import time

from harness import Broker, brokerd_path, connect, api_versions, free_port


def run_brokerd(args, timeout=15):
    return subprocess.run([brokerd_path()] + args, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(res, *needles):
    assert res.returncode != 0
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    for bad in ("Segmentation", "Assertion", "AddressSanitizer", "runtime error"):
        assert bad not in res.stderr


def write_conf(tmp, text):
    path = os.path.join(tmp, "c.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_help_version_and_config_doc():
    res = run_brokerd(["--help"])
    assert res.returncode == 0 and "--check-config" in res.stdout
    res = run_brokerd(["--version"])
    assert res.returncode == 0 and res.stdout.startswith("brokerd ")
    res = run_brokerd(["--config-doc"])
    assert res.returncode == 0 and "`socket.request.max.bytes`" in res.stdout
    res = run_brokerd(["--bogus"])
    assert res.returncode == 2


def test_check_config_accepts_default_and_rejects_bad_values():
    repo_conf = os.path.join(os.path.dirname(__file__), "..", "..", "conf",
                             "brokerd.conf")
    res = run_brokerd(["--check-config", repo_conf])
    assert res.returncode == 0, res.stderr
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("no.such.key=1\n", ["no.such.key", "unknown"]),
            ("node.id=abc\n", ["node.id", "not an integer"]),
            ("node.id=-4\n", ["node.id", "outside"]),
            ("socket.request.max.bytes=10\n", ["socket.request.max.bytes"]),
            ("auto.create.topics.enable=maybe\n", ["auto.create.topics.enable"]),
            ("listeners=PLAINTEXT://127.0.0.1\n", ["listeners", "port"]),
            ("listeners=SSL://127.0.0.1:9093\n", ["listeners", "SSL"]),
            ("logger.level=loud\n", ["logger.level"]),
            ("just some words\n", ["key=value"]),
        ]
        for text, needles in cases:
            res = run_brokerd(["--check-config", write_conf(tmp, text)])
            assert_one_line_error(res, *needles)
        res = run_brokerd(["--check-config", os.path.join(tmp, "missing.conf")])
        assert_one_line_error(res, "missing.conf")


def test_unusable_data_dir_stops_startup():
    with tempfile.TemporaryDirectory() as tmp:
        blocker = os.path.join(tmp, "file")
        open(blocker, "w").close()
        conf = write_conf(tmp, "listeners=PLAINTEXT://127.0.0.1:%d\n"
                          "log.dirs=%s/sub\n" % (free_port(), blocker))
        res = run_brokerd(["-c", conf])
        assert_one_line_error(res, "log.dirs", blocker)


def test_port_in_use_stops_startup():
    with tempfile.TemporaryDirectory() as tmp:
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        try:
            conf = write_conf(tmp, "listeners=PLAINTEXT://127.0.0.1:%d\n"
                              "log.dirs=%s/data\n" % (port, tmp))
            res = run_brokerd(["-c", conf])
            assert_one_line_error(res, "listeners", "127.0.0.1:%d" % port,
                                  "in use")
        finally:
            holder.close()


def test_second_broker_on_same_dir_refuses():
    with Broker() as b:
        other = Broker(data_dir=b.data_dir)
        try:
            res = run_brokerd(["-c", other.conf])
            assert_one_line_error(res, "log.dirs", "another brokerd")
        finally:
            other.cleanup()
        assert b.alive()


def test_cluster_id_survives_restart():
    b = Broker()
    try:
        b.start()
        meta = open(os.path.join(b.data_dir, "meta.properties")).read()
        assert b.stop() == 0
        b.start()
        assert open(os.path.join(b.data_dir, "meta.properties")).read() == meta
        assert b.stop() == 0
    finally:
        b.cleanup()


def test_sigterm_and_sigint_shut_down_gracefully():
    for sig in (signal.SIGTERM, signal.SIGINT):
        b = Broker()
        try:
            b.start()
            s = connect(b.port)
            api_versions(s)
            t0 = time.monotonic()
            assert b.stop(sig) == 0, b.output()
            assert time.monotonic() - t0 < 10
            assert "stopped" in b.output()
            s.close()
        finally:
            b.cleanup()
