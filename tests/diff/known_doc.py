#!/usr/bin/env python3
"""Writes the list of tests/diff/known_differences into docs/compatibility.md
(section "Differential test", between the known-differences markers), so
that the two stay the same list.

  python3 tests/diff/known_doc.py           rewrite the list in the doc
  python3 tests/diff/known_doc.py --check   exit 1 when the doc is stale
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import replay  # noqa: E402

DOC = os.path.join(HERE, "..", "..", "docs", "compatibility.md")
KNOWN = os.path.join(HERE, "known_differences")
BEGIN = "<!-- diff-known begin: written by tests/diff/known_doc.py -->"
END = "<!-- diff-known end -->"


def table(known):
    rows = ["| API | versions | field | reason |", "|---|---|---|---|"]
    for k in known:
        rows.append("| %s | %s | `%s` | %s |" % (
            k["api"], k["versions"], k["path"], k["reason"].replace("|", "\\|")))
    return "\n".join(rows) + "\n"


def render(doc, known):
    if BEGIN not in doc or END not in doc:
        raise SystemExit("docs/compatibility.md has no %s ... %s markers" % (BEGIN, END))
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + table(known) + END + tail


def main(argv):
    with open(DOC) as f:
        doc = f.read()
    new = render(doc, replay.read_known(KNOWN))
    if "--check" in argv:
        if new != doc:
            print("docs/compatibility.md: the differential test's list is stale; "
                  "run python3 tests/diff/known_doc.py")
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
