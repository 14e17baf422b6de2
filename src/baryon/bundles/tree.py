"""Reads a bundle folder into memory: {relative posix path: bytes}.

Folders come from extracted uploads and from git checkouts (template sync), and a checkout
may hold symbolic links pointing anywhere on the host, so links are refused rather than
followed. The same limits as for archives apply.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.paths import is_ignored


def read_tree(root: Path, limits: BundleLimits) -> dict[str, bytes]:
    """All non-ignored files under `root`, sorted by path, with limits enforced."""
    if not root.is_dir():
        raise BundleError(f"{root} is not a folder")
    try:
        return _read(root, limits)
    except OSError as exc:
        where = os.path.relpath(exc.filename, root) if exc.filename else str(root)
        raise BundleError(f"cannot be read: {exc.strerror or exc}", file=where) from None


def _read(root: Path, limits: BundleLimits) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for relative, path in _walk(root, "", limits):
        if len(files) >= limits.max_files:
            raise BundleError(f"the bundle has more than {limits.max_files} files", file=relative)
        content = read_file(path, relative, limits.max_file_bytes + 1)
        if len(content) > limits.max_file_bytes:
            raise BundleError(
                f"file is larger than {limits.max_file_bytes} bytes; "
                f"the limit is {limits.max_file_bytes}",
                file=relative,
            )
        total += len(content)
        if total > limits.max_total_bytes:
            raise BundleError(
                f"the bundle is larger than {limits.max_total_bytes} bytes in total",
                file=relative,
            )
        files[relative] = content
    return dict(sorted(files.items()))


def read_file(path: Path, relative: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of the regular file `path` (`relative` names it in errors)."""
    # The entry was a regular file when listed, but the folder may change underneath:
    # open without following links or blocking on a FIFO, and re-check what was opened.
    # Reading one byte past the limit (not trusting stat) catches files that grew.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise BundleError(f"cannot be read: {exc.strerror or exc}", file=relative) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BundleError("is not a regular file", file=relative)
        return handle.read(max_bytes)


def _walk(folder: Path, prefix: str, limits: BundleLimits) -> Iterator[tuple[str, Path]]:
    # A generator, so that a huge checkout fails on the file limit without a full walk.
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if is_ignored(entry.name):
            continue
        relative = f"{prefix}{entry.name}"
        if len(relative) > limits.max_path_length:
            raise BundleError(
                f"path has {len(relative)} characters; the limit is {limits.max_path_length}",
                file=relative,
            )
        if relative.count("/") >= limits.max_depth:
            raise BundleError(f"path is more than {limits.max_depth} folders deep", file=relative)
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            raise BundleError(
                "is a symbolic link; bundles must contain regular files only", file=relative
            )
        if stat.S_ISDIR(mode):
            yield from _walk(Path(entry.path), relative + "/", limits)
        elif stat.S_ISREG(mode):
            yield relative, Path(entry.path)
        else:
            raise BundleError("is not a regular file or folder", file=relative)
