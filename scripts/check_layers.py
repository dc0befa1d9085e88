#!/usr/bin/env python3
"""Checks that src/ folders include only the folders they may depend on.

The rule is the table between <!-- layers:begin --> and <!-- layers:end -->
in docs/architecture.md: one row per folder, listing the folders whose
headers it may include. Also refused: a folder's internal headers
(*_int.h) included from another folder, and a folder missing from the
table. Prints one line per violation and exits 1 if there is any.

Usage: scripts/check_layers.py [repo root]
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"')


def read_table(root):
    path = os.path.join(root, "docs", "architecture.md")
    with open(path) as f:
        text = f.read()
    m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text,
                  re.S)
    if m is None:
        sys.exit("check_layers: no layers table in docs/architecture.md")
    allowed = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("folder", "") or \
                set(cells[0]) <= set("-"):
            continue
        allowed[cells[0]] = set(cells[1].split())
    return allowed


def violations(root, allowed):
    src = os.path.join(root, "src")
    out = []
    for folder in sorted(os.listdir(src)):
        fdir = os.path.join(src, folder)
        if not os.path.isdir(fdir):
            continue
        if folder not in allowed:
            out.append("src/%s: not in the layers table of "
                       "docs/architecture.md" % folder)
            continue
        for dirpath, _, files in os.walk(fdir):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m is None:
                            continue
                        target, header = m.group(1), m.group(2)
                        if target == folder:
                            continue
                        if target not in allowed[folder]:
                            out.append("%s:%d: %s/ may not include %s/%s" %
                                       (rel, n, folder, target, header))
                        elif header.endswith("_int.h"):
                            out.append("%s:%d: %s/%s is internal to %s/" %
                                       (rel, n, target, header, target))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = violations(root, read_table(root))
    for line in bad:
        print(line)
    if bad:
        print("check_layers: %d include(s) against docs/architecture.md" %
              len(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
