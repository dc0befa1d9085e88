"""The README's two commands, in the order a newcomer runs them, on a fresh
clone: `scripts/run` then `scripts/test` must leave every test label with
tests in it.

scripts/run configures build/release without tests and CMake's cache keeps
options between runs, so scripts/test has to turn them back on itself. A
second full build costs minutes on two cores, so this runs the scripts'
own configure steps (`--configure-only`, which runs the same cmake
commands and stops before building or starting anything) and asks ctest
which tests the build folders hold. The clone is of the committed HEAD.
"""
import os
import re
import subprocess
import tempfile

import pytest

from harness import REPO


def sh(args, cwd, timeout=300):
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "%s failed (%d):\n%s" % (args, p.returncode, out)
    return out


def count_tests(clone, build, label=None):
    args = ["ctest", "-N", "--test-dir", os.path.join(clone, build)]
    if label:
        args += ["-L", label]
    out = sh(args, clone)
    m = re.search(r"Total Tests: (\d+)", out)
    assert m, out
    return int(m.group(1))


def cache_value(clone, build, name):
    with open(os.path.join(clone, build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.strip().split("=", 1)[1]
    return None


@pytest.fixture
def clone():
    with tempfile.TemporaryDirectory(prefix="brokerd-clone-") as tmp:
        path = os.path.join(tmp, "brokerd")
        sh(["git", "clone", "-q", "--no-hardlinks", REPO, path], tmp)
        assert not os.path.exists(os.path.join(path, "build"))
        yield path


def test_run_then_test_keeps_every_label(clone):
    sh(["scripts/run", "--configure-only"], clone)
    # What scripts/run leaves behind: a Release build without tests.
    assert cache_value(clone, "build/release", "BK_TESTS") == "OFF"
    assert count_tests(clone, "build/release") == 0

    sh(["scripts/test", "--configure-only"], clone)
    assert cache_value(clone, "build/release", "BK_TESTS") == "ON"
    assert cache_value(clone, "build/release", "BK_SANITIZE") == "OFF"
    assert cache_value(clone, "build/sanitize", "BK_SANITIZE") == "ON"
    # The labels scripts/test runs on each build (see run_ctest there).
    for build, label in [("build/release", "unit"),
                         ("build/release", "integration"),
                         ("build/release", "bench"),
                         ("build/sanitize", "unit"),
                         ("build/sanitize", "integration"),
                         ("build/sanitize", "livefuzz")]:
        assert count_tests(clone, build, label) > 0, (build, label)

    # And scripts/run after scripts/test builds the broker without tests
    # again, whatever the cache held.
    sh(["scripts/run", "--configure-only"], clone)
    assert cache_value(clone, "build/release", "BK_TESTS") == "OFF"
