"""docs/compatibility.md lists the same known differences as
tests/diff/known_differences (known_doc.py writes the list)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import known_doc  # noqa: E402


def test_doc_lists_the_known_differences():
    assert known_doc.main(["--check"]) == 0
