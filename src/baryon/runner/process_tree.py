"""Finding and signalling every process of a run, read from /proc.

A run's processes may leave its process group (setsid, as bubblewrap's --new-session does
for the program) but not its ancestry while their parents live, so the tree under the process
the runner started is what a run is; the group catches what was orphaned inside it.
"""

from __future__ import annotations

import os
import signal
from contextlib import suppress
from pathlib import Path

_PROC = Path("/proc")


def _parents() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) for every process visible now."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (_PROC / entry.name / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # The name is in parentheses and may itself hold spaces or parentheses.
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), name)
    return table


def descendants(root: int) -> dict[int, str]:
    """Every process below `root` (not `root` itself), with its command name."""
    table = _parents()
    children: dict[int, list[int]] = {}
    for pid, (parent, _name) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found[pid] = table[pid][1]
        stack.extend(children.get(pid, []))
    return found


def signal_pid(pid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def signal_group(pgid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
