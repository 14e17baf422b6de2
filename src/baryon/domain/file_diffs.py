"""The unified difference of one rendered file, as every preview shows it.

One function for both previews of a change: the single-resource preview a person opens
before an update (operations/previews.py) and the fleet preview's planning job
(engine/fleet_previews.py), so the same change reads the same in both.
"""

from __future__ import annotations

import difflib

CONTEXT_LINES = 3


def unified_lines(
    name: str, before: str | None, after: str | None, current: str, target: str
) -> list[str]:
    """The unified diff of file ``name`` from ``before`` (None: it is new) to ``after``
    (None: it goes), labelled with the versions ``current`` and ``target``; no line ends."""
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    return [
        text.rstrip("\n")
        for text in difflib.unified_diff(
            old,
            new,
            fromfile=f"{name} ({current})" if before is not None else "/dev/null",
            tofile=f"{name} ({target})" if after is not None else "/dev/null",
            n=CONTEXT_LINES,
        )
    ]
