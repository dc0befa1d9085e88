"""scripts/check_layers.py: passes on the tree, and fails on an include
against the table in docs/architecture.md (a handler reaching the log
store, another folder's internal header, a folder missing from the
table)."""
import os
import shutil
import subprocess
import sys
import tempfile

from harness import REPO

SCRIPT = os.path.join(REPO, "scripts", "check_layers.py")


def run(root):
    return subprocess.run([sys.executable, SCRIPT, root],
                          capture_output=True, text=True, timeout=60)


def copy_tree():
    tmp = tempfile.mkdtemp(prefix="bk-layers-")
    shutil.copytree(os.path.join(REPO, "src"), os.path.join(tmp, "src"))
    os.mkdir(os.path.join(tmp, "docs"))
    shutil.copy(os.path.join(REPO, "docs", "architecture.md"),
                os.path.join(tmp, "docs"))
    return tmp


def add_line(root, rel, line):
    with open(os.path.join(root, rel), "a") as f:
        f.write(line + "\n")


def test_tree_follows_the_table():
    r = run(REPO)
    assert r.returncode == 0, r.stdout


def test_handler_including_the_log_store_fails():
    tmp = copy_tree()
    try:
        add_line(tmp, "src/api/fetch.c", '#include "log/log.h"')
        r = run(tmp)
        assert r.returncode == 1
        assert "src/api/fetch.c" in r.stdout and "log/log.h" in r.stdout
    finally:
        shutil.rmtree(tmp)


def test_internal_header_and_unknown_folder_fail():
    tmp = copy_tree()
    try:
        add_line(tmp, "src/server/broker.c", '#include "net/net_int.h"')
        os.mkdir(os.path.join(tmp, "src", "newthing"))
        r = run(tmp)
        assert r.returncode == 1
        assert "net/net_int.h is internal" in r.stdout
        assert "src/newthing: not in the layers table" in r.stdout
    finally:
        shutil.rmtree(tmp)
