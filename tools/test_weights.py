"""Writes tests/file_weights.json: how many seconds each test file took in a whole-suite run.

tests/conftest.py hands test files to the xdist workers heaviest first, so that the run does
not end with one worker still in a long file the others could have shared out earlier. The
weights are only compared with each other, so a run on a loaded machine gives usable ones.

Refresh them after adding a slow file or making one much faster::

    .venv/bin/python -m pytest -n 4 --dist loadfile --junitxml=/tmp/suite.xml
    .venv/bin/python tools/test_weights.py /tmp/suite.xml

A test's JUnit time is its setup, call and teardown together, so a module fixture's cost is
counted on the file. Files the xml does not name keep their weight (a partial run refreshes
only what it ran); files no longer on disk are dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "tests" / "file_weights.json"


def module_path(classname: str) -> str | None:
    """tests.cli.test_x or tests.cli.test_x.TestClass -> tests/cli/test_x.py (None: no file)."""
    parts = classname.split(".")
    while parts:
        candidate = "/".join(parts) + ".py"
        if (ROOT / candidate).is_file():
            return candidate
        parts.pop()
    return None


def seconds_per_file(junit_xml: Path) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        path = module_path(case.get("classname", ""))
        if path is not None:
            totals[path] += float(case.get("time", "0") or 0)
    return dict(totals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_xml", type=Path, nargs="+", help="pytest --junitxml output")
    parser.add_argument("--output", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)

    weights: dict[str, float] = {}
    if args.output.is_file():
        weights = json.loads(args.output.read_text())
    for junit_xml in args.junit_xml:
        weights.update(seconds_per_file(junit_xml))
    weights = {
        path: round(seconds, 1)
        for path, seconds in sorted(weights.items())
        if (ROOT / path).is_file()
    }
    args.output.write_text(json.dumps(weights, indent=1) + "\n")
    print(f"{args.output}: {len(weights)} files, {sum(weights.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
