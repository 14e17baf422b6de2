"""The runner a worker holds: built once from the settings, it picks how programs are
sandboxed on this machine and hands out work directories."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from baryon.runner.limits import RunLimits
from baryon.runner.pids_cgroup import PidsCgroups
from baryon.runner.sandbox import (
    Sandbox,
    SandboxKind,
    SharedDirectories,
    Tools,
    choose_sandbox,
    hand_over,
    run_as_for,
)
from baryon.runner.workspace import Workspace
from baryon.settings import Settings

# The program's own scratch space, inside its work directory so that it goes with it.
TMP_DIR_NAME = ".tmp"
WORK_DIR_PREFIX = "baryon-run-"
# A work directory older than this whose lock nobody holds was left by a worker that died
# (younger ones may be between their making and their locking).
STALE_AFTER_SECONDS = 60.0


def limits_from(settings: Settings) -> RunLimits:
    return RunLimits(
        time_seconds=settings.runner_time_limit_seconds,
        output_bytes=settings.runner_output_limit_bytes,
        processes=settings.runner_max_processes,
        memory_bytes=settings.runner_memory_limit_bytes,
        kill_grace_seconds=settings.runner_kill_grace_seconds,
    )


class Runner:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._limits = limits_from(settings)
        self._work_root = Path(settings.runner_work_root or tempfile.gettempdir())
        root = os.geteuid() == 0
        # Only a root worker needs (and may make) a cgroup per run.
        self._cgroups = PidsCgroups.find() if root else None
        if self._cgroups is not None:
            self._cgroups.sweep()
        run_as = run_as_for(settings.runner_user, os.geteuid())
        self._sandbox: Sandbox = choose_sandbox(
            SandboxKind(settings.runner_sandbox),
            tools=Tools(settings.runner_path),
            limits=self._limits,
            run_as=run_as,
            hidden=[settings.data_dir.expanduser().absolute()],
            container_runtime=settings.runner_container_runtime,
            bubblewrap_run_as=run_as if root and self._cgroups is None else None,
        )
        self.sandbox_description = self._sandbox.description
        owners = {os.geteuid(), *([self._sandbox.run_as.uid] if self._sandbox.run_as else [])}
        _sweep(self._work_root, owners)

    @contextlib.contextmanager
    def workspace(
        self,
        files: Mapping[str, str | bytes],
        *,
        shared_read_only: Sequence[Path] = (),
        shared_writable: Sequence[Path] = (),
    ) -> Iterator[Workspace]:
        """A fresh private work directory holding `files` (names relative to it), removed
        with everything the program left when the block ends. Programs also see the shared
        directories, at their own paths (a provider mirror, a plugin cache); a writable one
        must be writable by the program's user (runner_user under a root worker)."""
        self._work_root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=WORK_DIR_PREFIX, dir=self._work_root))
        # Held while the work directory is in use; the kernel lets go when the worker dies.
        lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _write_files(path, files)
            (path / TMP_DIR_NAME).mkdir()
            if self._sandbox.run_as is not None:
                hand_over(path, self._sandbox.run_as)
            yield Workspace(
                path,
                sandbox=self._sandbox,
                limits=self._limits,
                base_environment={
                    "PATH": self._settings.runner_path,
                    "HOME": str(path),
                    "LANG": "C.UTF-8",
                    "TMPDIR": str(path / TMP_DIR_NAME),
                    # As a shell (and bubblewrap's --chdir) would set it.
                    "PWD": str(path),
                },
                cgroups=self._cgroups,
                shared=SharedDirectories(
                    read_only=tuple(Path(p).absolute() for p in shared_read_only),
                    writable=tuple(Path(p).absolute() for p in shared_writable),
                ),
                shell=shutil.which("sh", path="/usr/bin:/bin") or "/bin/sh",
            )
        finally:
            _remove(path)
            os.close(lock)


def _sweep(work_root: Path, owners: set[int]) -> None:
    """Removes the work directories of runs whose worker died (nobody holds their lock)."""
    for candidate in work_root.glob(f"{WORK_DIR_PREFIX}*"):
        with contextlib.suppress(OSError):
            details = candidate.lstat()
            if not stat.S_ISDIR(details.st_mode) or details.st_uid not in owners:
                continue
            if time.time() - details.st_mtime < STALE_AFTER_SECONDS:
                continue
            descriptor = os.open(candidate, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _remove(candidate)
            finally:
                os.close(descriptor)


def _write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        target = Path(os.path.normpath(root / name))
        if Path(name).is_absolute() or not target.is_relative_to(root) or target == root:
            raise ValueError(f"{name!r} is not a path inside a work directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)


def _remove(path: Path) -> None:
    """Removes a work directory even where the program took away its own permissions."""

    def allow_and_retry(function: object, failed: str, _error: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
            shutil.rmtree(failed, ignore_errors=True)
        else:
            os.unlink(failed)

    shutil.rmtree(path, onerror=allow_and_retry)
