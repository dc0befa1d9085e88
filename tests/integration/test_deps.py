"""Every Python module the integration tests need is installed, and
scripts/deps is what installs it.

A module a test imports directly is found by scanning tests/integration/
with ast. kafka-python also imports its compression codecs lazily, inside
try/except (kafka/codec.py), and only fails once a compressed batch
arrives, so those are listed here explicitly and exercised with a round
trip. Each third-party module must also be named by a py_install line of
scripts/deps, so a machine that merely happens to have a package does not
hide a missing install step.

Runs under pytest (ctest), or alone with any interpreter, before pytest
itself is installed: `python3 tests/integration/test_deps.py`.
"""
import ast
import glob
import importlib
import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Modules a client library imports optionally, which the tests rely on.
# kafka-python 2.0.2 (kafka/codec.py): lz4.frame for lz4, snappy
# (python-snappy) for snappy, zstandard for zstd, xxhash for lz4 batches
# in the old message format.
OPTIONAL_IMPORTS = ["lz4.frame", "snappy", "zstandard", "xxhash"]


def scanned_imports():
    """Top-level modules imported by tests/integration/*.py, less the
    standard library and the folder's own helper modules."""
    local = {os.path.splitext(os.path.basename(p))[0]
             for p in glob.glob(os.path.join(HERE, "*.py"))}
    mods = set()
    for path in glob.glob(os.path.join(HERE, "*.py")):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names:
                    mods.add(n)
    return sorted(mods)


def deps_modules():
    """Module names that scripts/deps installs (py_install SPEC MODULE)."""
    with open(os.path.join(REPO, "scripts", "deps")) as f:
        text = f.read()
    return set(re.findall(r"^\s*py_install\s+\S+\s+(\S+)\s*$", text, re.M))


def missing_modules():
    out = []
    for m in scanned_imports() + OPTIONAL_IMPORTS:
        try:
            importlib.import_module(m)
        except ImportError as e:
            out.append("%s (%s)" % (m, e))
    return out


def not_in_deps():
    installed = deps_modules()
    tops = {m.split(".")[0] for m in installed} | installed
    return [m for m in scanned_imports() + OPTIONAL_IMPORTS
            if m not in installed and m.split(".")[0] not in tops]


def test_scan_finds_the_clients():
    # Guards the scan itself: if it found nothing, the checks below would
    # pass vacuously.
    found = {m.split(".")[0] for m in scanned_imports()}
    assert {"pytest", "kafka", "confluent_kafka"} <= found, found


def test_every_module_is_importable():
    assert missing_modules() == []


def test_scripts_deps_installs_every_module():
    assert not_in_deps() == []


def test_kafka_python_codecs_round_trip():
    from kafka import codec
    assert codec.has_gzip() and codec.has_snappy() and codec.has_lz4() \
        and codec.has_zstd()
    data = b"brokerd " * 4096
    pairs = [(codec.gzip_encode, codec.gzip_decode),
             (codec.snappy_encode, codec.snappy_decode),
             (codec.lz4_encode, codec.lz4_decode),
             (codec.zstd_encode, codec.zstd_decode),
             (codec.lz4_encode_old_kafka, codec.lz4_decode_old_kafka)]
    for enc, dec in pairs:
        packed = enc(data)
        assert len(packed) < len(data), enc.__name__
        assert dec(packed) == data, dec.__name__


if __name__ == "__main__":
    problems = ["missing: " + m for m in missing_modules()]
    problems += ["not installed by scripts/deps: " + m for m in not_in_deps()]
    for p in problems:
        print(p)
    print("%s: %d modules checked, %d problems" % (
        sys.executable, len(scanned_imports()) + len(OPTIONAL_IMPORTS),
        len(problems)))
    sys.exit(1 if problems else 0)
