"""The local bare mirror of one remote repository, one folder per URL, used by one caller at
a time.

Threads of a process queue on a lock per folder, processes on a file lock beside it. A folder
is made whole (initialised elsewhere, then renamed into place), objects arrive before the
refs that name them, and whoever holds the lock removes the lock files a killed writer left,
so an interrupted fetch or push never breaks the next call; a folder that is not a repository
any more is set aside and made again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

_REGISTRY = threading.Lock()
_THREAD_LOCKS: dict[Path, threading.Lock] = {}


def cache_folder(cache_dir: Path, url: str) -> Path:
    """The folder that mirrors ``url``: named by a hash, so no URL text reaches a path."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]
    return cache_dir / f"{digest}.git"


def _thread_lock(folder: Path) -> threading.Lock:
    with _REGISTRY:
        return _THREAD_LOCKS.setdefault(folder, threading.Lock())


@contextmanager
def opened_cache(folder: Path) -> Iterator[Repo]:
    """The mirror, locked against every other user of it until the block ends."""
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _thread_lock(folder):
        descriptor = os.open(f"{folder}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            repo = _open_or_create(folder)
            try:
                yield repo
            finally:
                repo.close()
        finally:
            os.close(descriptor)  # releases the flock


def _open_or_create(folder: Path) -> Repo:
    if folder.exists():
        _remove_stale_lock_files(folder)
        if _looks_whole(folder):
            try:
                return Repo(str(folder), bare=True)
            except (NotGitRepository, OSError, ValueError, KeyError):
                pass
        # Not a repository any more (a disk filled up, a person tidied): a mirror holds
        # nothing that cannot be fetched again.
        shutil.rmtree(folder, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=folder.parent))
    try:
        Repo.init_bare(str(staging)).close()
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Repo(str(folder), bare=True)


def _looks_whole(folder: Path) -> bool:
    return (
        (folder / "HEAD").is_file()
        and (folder / "objects" / "pack").is_dir()
        and (folder / "refs" / "heads").is_dir()
    )


def _remove_stale_lock_files(folder: Path) -> None:
    """Nobody else can be writing: this process holds the folder's lock."""
    for lock_file in [*folder.glob("*.lock"), *(folder / "refs").rglob("*.lock")]:
        lock_file.unlink(missing_ok=True)
