"""Checks that embedded mode's data directory is usable before anything is written to it,
so that a wrong path or a foreign owner is one clear line instead of a traceback from
SQLite, the key file or the local cloud."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from baryon.modes.startup_errors import DataDirUnusable

# Files Baryon reads and rewrites in place; one it cannot would fail later, mid-start.
KEPT_FILES = ("baryon.db", "master.key", "env", "local-cloud.state", "logs")
WHAT_TO_DO = "choose a directory this user can write with --data-dir or BARYON_DATA_DIR"


def prepare_data_dir(data_dir: Path) -> None:
    """Creates ``data_dir`` (private) and its logs folder, and proves it writable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (data_dir / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        raise DataDirUnusable(
            f"cannot create the data directory {data_dir}: {exc.strerror or exc}", WHAT_TO_DO
        ) from exc
    # os.access says yes to root on a read-only file system: only a real write tells.
    try:
        fd, probe = tempfile.mkstemp(dir=data_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataDirUnusable(
            f"cannot write in the data directory {data_dir}: {exc.strerror or exc}", WHAT_TO_DO
        ) from exc
    for name in KEPT_FILES:
        path = data_dir / name
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise DataDirUnusable(
                f"{path} is not readable and writable by this user",
                "run Baryon as the user that owns it, or fix its owner",
            )
