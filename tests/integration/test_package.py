"""scripts/package builds a Debian package; unpacked into a clean
directory tree (dpkg-deb -x: no root and no dpkg database needed), its
brokerd starts from its own configuration and its brokerctl produces and
consumes a record."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import (START_TIMEOUT, brokerd_path, free_port, wait_port,
                     wait_until)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(brokerd_path())))

pytestmark = pytest.mark.skipif(
    not (shutil.which("dpkg-deb") and shutil.which("dpkg-shlibdeps")),
    reason="needs dpkg-deb and dpkg-shlibdeps (dpkg-dev)")


@pytest.fixture(scope="module")
def deb():
    tmp = tempfile.mkdtemp(prefix="brokerd-package-")
    try:
        res = subprocess.run([os.path.join(REPO, "scripts/package"), BUILD,
                              tmp], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        path = res.stdout.strip().splitlines()[-1]
        assert path.endswith(".deb") and os.path.isfile(path), path
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_control_depends_and_conffiles(deb):
    assert field(deb, "Package") == "brokerd"
    version = subprocess.run([brokerd_path(), "--version"],
                             capture_output=True, text=True).stdout.split()[1]
    assert field(deb, "Version") == version
    depends = [d.split()[0] for d in field(deb, "Depends").split(", ")]
    # Every shared library the binary links, by its Debian package.
    for pkg in ("libc6", "libuv1", "liblz4-1", "libzstd1", "libssl3",
                "zlib1g", "libsnappy1v5", "libmicrohttpd12", "libjansson4"):
        assert pkg in depends, depends
    assert any(re.match(r"libraft\d", d) for d in depends), depends
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-e", deb, tmp], check=True)
        assert open(os.path.join(tmp, "conffiles")).read() == \
            "/etc/brokerd/brokerd.conf\n"
        postinst = open(os.path.join(tmp, "postinst")).read()
        assert "useradd --system" in postinst and "/var/lib/brokerd" in postinst
        for script in ("postinst", "prerm", "postrm"):
            p = os.path.join(tmp, script)
            assert os.access(p, os.X_OK), script
            subprocess.run(["sh", "-n", p], check=True)


def test_unpacked_broker_serves(deb):
    with tempfile.TemporaryDirectory() as root:
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        for rel in ("usr/bin/brokerd", "usr/bin/brokerctl",
                    "etc/brokerd/brokerd.conf",
                    "usr/lib/systemd/system/brokerd.service",
                    "usr/share/man/man8/brokerd.8.gz",
                    "usr/share/man/man1/brokerctl.1.gz",
                    "usr/share/bash-completion/completions/brokerctl"):
            assert os.path.exists(os.path.join(root, rel)), rel
        unit = open(os.path.join(root, "usr/lib/systemd/system",
                                 "brokerd.service")).read()
        assert "\nExecStart=/usr/bin/brokerd -c /etc/brokerd/brokerd.conf\n" \
            in unit
        # The packaged configuration, with only the data directory and the
        # port moved (the package's own are /var/lib/brokerd and 9092).
        port = free_port()
        conf = open(os.path.join(root, "etc/brokerd/brokerd.conf")).read()
        assert "log.dirs=/var/lib/brokerd\n" in conf
        conf = conf.replace("log.dirs=/var/lib/brokerd",
                            "log.dirs=" + os.path.join(root, "data"))
        conf = conf.replace("127.0.0.1:9092", "127.0.0.1:%d" % port)
        conf_path = os.path.join(root, "test.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        log = open(os.path.join(root, "brokerd.log"), "wb")
        proc = subprocess.Popen([os.path.join(root, "usr/bin/brokerd"), "-c",
                                 conf_path], stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            assert wait_port(port, START_TIMEOUT, proc)
            # Topics need the broker registered (the "started" line).
            log_path = os.path.join(root, "brokerd.log")
            wait_until(lambda: 'msg="started"' in open(log_path).read(),
                       "the started line")
            ctl = [os.path.join(root, "usr/bin/brokerctl"), "-b",
                   "127.0.0.1:%d" % port, "--timeout-ms", "10000"]
            res = subprocess.run(ctl + ["topic", "create", "pkg"],
                                 capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, res.stdout + res.stderr
            res = subprocess.run(ctl + ["produce", "pkg"],
                                 input="from the package\n",
                                 capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, res.stdout + res.stderr
            res = subprocess.run(ctl + ["consume", "pkg", "-o", "beginning",
                                        "-c", "1"],
                                 capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, res.stdout + res.stderr
            assert res.stdout.strip() == "from the package"
        finally:
            proc.terminate()
            rc = proc.wait(timeout=30)
            log.close()
        assert rc == 0, open(os.path.join(root, "brokerd.log")).read()
