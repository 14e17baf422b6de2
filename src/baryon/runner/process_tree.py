"""Finding and signalling every process of a run, read from /proc.

A run's processes may leave its process group (setsid, as bubblewrap's --new-session does
for the program) but not its ancestry while their parents live, so the tree under the process
the runner started is what a run is; the group catches what was orphaned inside it.
"""

from __future__ import annotations

import os
import signal
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    name: str
    # Clock ticks after boot; with the pid it names one process, whatever reuses the pid later.
    started: int


def _read(pid: str) -> ProcessInfo | None:
    try:
        descriptor = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None  # ended while we looked
    try:
        stat = os.read(descriptor, 4096).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(descriptor)
    # The name is in parentheses and may itself hold spaces or parentheses.
    name = stat[stat.find("(") + 1 : stat.rfind(")")]
    fields = stat[stat.rfind(")") + 2 :].split()
    return ProcessInfo(int(pid), int(fields[1]), name, int(fields[19]))


def descendants(root: int) -> dict[int, ProcessInfo]:
    """Every process below `root` (not `root` itself)."""
    table = {
        info.pid: info
        for entry in os.scandir(_PROC)
        if entry.name.isdigit() and (info := _read(entry.name)) is not None
    }
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.parent, []).append(info.pid)
    found: dict[int, ProcessInfo] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found[pid] = table[pid]
            stack.extend(children.get(pid, []))
    return found


def still_running(process: ProcessInfo) -> bool:
    """The very process `process` describes is still there (its pid was not reused)."""
    now = _read(str(process.pid))
    return now is not None and now.started == process.started


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
