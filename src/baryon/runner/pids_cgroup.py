"""A pids cgroup per run, the process limit for a root worker.

The kernel exempts root from RLIMIT_NPROC, even inside a user namespace, and a root worker's
bubblewrap maps the program to root: there a fork bomb would meet no limit. A root worker
may make cgroups, and a pids cgroup caps every process in it whatever its user. Without a
writable pids controller, the run's own count of its processes is all that is left (see
workspace.py).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")
# Put the started process in the cgroup before it can fork, then become the real command.
_JOIN = 'echo $$ > "$0" && exec "$@"'
_REMOVE_SECONDS = 5.0
_PREFIX = "baryon-run-"


@dataclass(frozen=True)
class PidsCgroups:
    """Where run cgroups are made: cgroup v1's pids hierarchy or v2's unified one."""

    parent: Path

    @staticmethod
    def find() -> PidsCgroups | None:
        """The pids controller this process may use, None when there is none."""
        version_1 = _CGROUP_ROOT / "pids"
        if (version_1 / "cgroup.procs").is_file() and _can_make_children(version_1):
            return PidsCgroups(version_1)
        controllers = _CGROUP_ROOT / "cgroup.controllers"
        if controllers.is_file() and "pids" in controllers.read_text().split():
            with contextlib.suppress(OSError):
                (_CGROUP_ROOT / "cgroup.subtree_control").write_text("+pids")
            if _can_make_children(_CGROUP_ROOT):
                return PidsCgroups(_CGROUP_ROOT)
        return None

    def sweep(self) -> None:
        """Removes the empty cgroups of runs whose worker died before it could; a cgroup
        still in use refuses removal, so other workers' runs are safe."""
        for stale in self.parent.glob(f"{_PREFIX}*"):
            with contextlib.suppress(OSError):
                stale.rmdir()

    @contextlib.contextmanager
    def cgroup(self, max_processes: int) -> Iterator[Path]:
        """A fresh cgroup allowing `max_processes`; yields its cgroup.procs file, which the
        run's first process joins (`join_argv`). Removed once its processes are gone."""
        path = self.parent / f"{_PREFIX}{uuid.uuid4().hex[:16]}"
        path.mkdir()
        try:
            (path / "pids.max").write_text(str(max_processes))
            yield path / "cgroup.procs"
        finally:
            _remove(path)


def join_argv(procs_file: Path, argv: tuple[str, ...], shell: str) -> tuple[str, ...]:
    return (shell, "-c", _JOIN, str(procs_file), *argv)


def _can_make_children(parent: Path) -> bool:
    probe = parent / f"baryon-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / "pids.max").is_file()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _remove(path: Path) -> None:
    """A cgroup goes only once empty; the run's processes are dying when we get here."""
    until = time.monotonic() + _REMOVE_SECONDS
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= until:
                return  # left for an operator; harmless and empty soon
            time.sleep(0.002)
