"""`cmake --install` lays out binaries, the configuration, the systemd
unit, man pages generated from the programs and bash completion for
brokerctl (scripts/dist/install.cmake)."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import brokerd_path

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(brokerd_path())))


@pytest.fixture(scope="module")
def prefix():
    tmp = tempfile.mkdtemp(prefix="brokerd-install-")
    try:
        res = subprocess.run(["cmake", "--install", BUILD, "--prefix", tmp],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_layout(prefix):
    for rel in ("bin/brokerd", "bin/brokerctl"):
        assert os.access(os.path.join(prefix, rel), os.X_OK), rel
    for rel in ("etc/brokerd/brokerd.conf",
                "lib/systemd/system/brokerd.service",
                "share/man/man8/brokerd.8", "share/man/man1/brokerctl.1",
                "share/bash-completion/completions/brokerctl"):
        assert os.path.isfile(os.path.join(prefix, rel)), rel
    res = subprocess.run([os.path.join(prefix, "bin/brokerd"), "--version"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("brokerd ")


def test_config_is_valid_and_uses_var_lib(prefix):
    conf = os.path.join(prefix, "etc/brokerd/brokerd.conf")
    text = open(conf).read()
    assert "log.dirs=/var/lib/brokerd\n" in text
    assert "./data" not in text
    res = subprocess.run([os.path.join(prefix, "bin/brokerd"),
                          "--check-config", conf], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr


def test_systemd_unit(prefix):
    unit = open(os.path.join(prefix,
                             "lib/systemd/system/brokerd.service")).read()
    assert "\nType=notify\n" in unit
    assert "\nUser=brokerd\n" in unit
    assert "\nStateDirectory=brokerd\n" in unit
    assert "\nExecStart=%s/bin/brokerd -c %s/etc/brokerd/brokerd.conf\n" % (
        prefix, prefix) in unit
    if shutil.which("systemd-analyze"):
        res = subprocess.run(["systemd-analyze", "verify", "--man=no",
                              os.path.join(prefix, "lib/systemd/system",
                                           "brokerd.service")],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr


def test_man_pages_follow_the_programs(prefix):
    brokerd = os.path.join(prefix, "bin/brokerd")
    page = open(os.path.join(prefix, "share/man/man8/brokerd.8")).read()
    assert page.startswith(".TH BROKERD 8")
    doc = subprocess.run([brokerd, "--config-doc"], capture_output=True,
                         text=True).stdout
    names = re.findall(r"^### `([^`]+)`", doc, flags=re.M)
    assert len(names) > 100
    for name in names:
        # roff writes a '-' as '\-'.
        assert "\n.B %s\n" % name.replace("-", "\\-") in page, name
    assert "log.slow.request.ms" in page
    ctl = open(os.path.join(prefix, "share/man/man1/brokerctl.1")).read()
    assert ctl.startswith(".TH BROKERCTL 1")
    for cmd in ("cluster info", "topic create", "group reset\\-offsets",
                "quorum add\\-controller"):
        assert cmd in ctl, cmd
    if shutil.which("man"):
        for p in ("share/man/man8/brokerd.8", "share/man/man1/brokerctl.1"):
            res = subprocess.run(["man", "--warnings", "-l",
                                  os.path.join(prefix, p)],
                                 capture_output=True, text=True, timeout=30,
                                 env=dict(os.environ, MANPAGER="cat",
                                          MANWIDTH="80"))
            assert res.returncode == 0, res.stderr
            assert "warning" not in res.stderr, res.stderr


def complete(prefix, line):
    """The words bash completion offers for `line` (the last word being
    completed)."""
    script = """
        source %s
        COMP_LINE=%s
        read -ra COMP_WORDS <<< "$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_POINT=${#COMP_LINE}
        _brokerctl
        printf '%%s\\n' "${COMPREPLY[@]}"
    """ % (os.path.join(prefix, "share/bash-completion/completions",
                        "brokerctl"), "'" + line + "'")
    res = subprocess.run(["bash", "-c", script], capture_output=True,
                         text=True, timeout=30,
                         env=dict(os.environ, PATH=os.path.join(prefix, "bin")
                                  + ":" + os.environ["PATH"]))
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_bash_completion(prefix):
    help_text = subprocess.run([os.path.join(prefix, "bin/brokerctl"),
                                "--help"], capture_output=True,
                               text=True).stdout
    commands = re.findall(r"^  ([a-z]+) ([a-z-]+)?", help_text, flags=re.M)
    assert len(commands) > 10
    top = complete(prefix, "brokerctl ")
    for cmd, sub in commands:
        assert cmd in top, cmd
        if sub and sub.upper() != sub:
            subs = complete(prefix, "brokerctl %s " % cmd)
            # "produce TOPIC" and "consume TOPIC" take a topic, not a verb.
            assert sub in subs or cmd in ("produce", "consume"), (cmd, sub)
    assert complete(prefix, "brokerctl gr") == ["group"]
    assert "--replication-factor" in complete(prefix,
                                              "brokerctl topic create t --r")
    assert complete(prefix, "brokerctl produce t --acks a") == ["all"]
