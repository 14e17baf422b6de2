"""The order tests/conftest.py gives the collected tests: files heaviest first by
tests/file_weights.json, a file's tests in their own order, an unweighed file at the median."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import conftest


@dataclass
class _Item:
    nodeid: str


def _ordered(nodeids: list[str], weights: dict[str, float], tmp_path: Path) -> list[str]:
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(weights))
    items: list[Any] = [_Item(nodeid) for nodeid in nodeids]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conftest, "FILE_WEIGHTS", path)
        conftest.pytest_collection_modifyitems(config=None, items=items)
    return [item.nodeid for item in items]


def test_files_go_heaviest_first_and_keep_their_tests_in_order(tmp_path: Path) -> None:
    collected = ["a.py::one", "a.py::two", "b.py::one", "c.py::one", "c.py::two", "c.py::three"]
    weights = {"a.py": 1.0, "b.py": 50.0, "c.py": 20.0}
    assert _ordered(collected, weights, tmp_path) == [
        "b.py::one",
        "c.py::one",
        "c.py::two",
        "c.py::three",
        "a.py::one",
        "a.py::two",
    ]


def test_an_unweighed_file_counts_as_the_median_and_ties_keep_the_collection_order(
    tmp_path: Path,
) -> None:
    collected = ["light.py::t", "new.py::t", "same.py::t", "heavy.py::t", "middle.py::t"]
    weights = {"light.py": 1.0, "middle.py": 10.0, "same.py": 10.0, "heavy.py": 100.0}
    # The median of 1, 10, 10, 100 is 10: new.py ties with middle.py and same.py, and was
    # collected before them.
    assert _ordered(collected, weights, tmp_path) == [
        "heavy.py::t",
        "new.py::t",
        "same.py::t",
        "middle.py::t",
        "light.py::t",
    ]
