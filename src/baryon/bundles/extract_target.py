"""Writes archive members under one destination folder, whatever the archive claims.

The tar and zip readers only decode their formats; every safety rule that concerns the
file system lives here so that both formats get exactly the same treatment:
sanitized names, no duplicates, fixed permissions, and byte counts measured on what is
actually written (header sizes are lies until proven otherwise).
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.paths import normalize_member_path

FILE_MODE = 0o644
DIR_MODE = 0o755
CHUNK = 64 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _key(relative: str) -> str:
    return unicodedata.normalize("NFC", relative).casefold()


class ExtractTarget:
    def __init__(self, dest: Path, limits: BundleLimits) -> None:
        self.root = dest.resolve()
        self.limits = limits
        # Keys are normalized and case-folded so "Schema/x" (or a decomposed "é") cannot
        # shadow "schema/x" on macOS or Windows file systems; values are
        # ("file" | "dir", original spelling).
        self._entries: dict[str, tuple[str, str]] = {}
        self._members = 0
        self._total_bytes = 0

    # -- public steps, one call per archive member ---------------------------------------

    def check_member_count(self, name: str) -> None:
        self._members += 1
        if self._members > self.limits.max_files:
            raise BundleError(
                f"archive has more than {self.limits.max_files} members "
                f"(stopped at {name!r}); the limit is {self.limits.max_files}"
            )

    def add_directory(self, name: str) -> None:
        self.check_member_count(name)
        relative = normalize_member_path(name, self.limits)
        if not relative:
            return
        kind, spelling = self._entries.get(_key(relative), ("", ""))
        if kind == "file":
            raise BundleError(f"archive member {name!r} is a folder, but {spelling!r} is a file")
        self._guarded(name, self._make_parents, relative + "/x", name)

    def add_file(self, name: str, stream: BinaryIO, declared_size: int | None) -> None:
        self.check_member_count(name)
        relative = normalize_member_path(name, self.limits)
        if not relative:
            raise BundleError(f"archive member {name!r} is a file without a name")
        if declared_size is not None and declared_size > self.limits.max_file_bytes:
            # Refusing early on a declared size is safe; only accepting relies on counting.
            raise BundleError(
                f"archive member {name!r} declares {declared_size} bytes; "
                f"the limit per file is {self.limits.max_file_bytes}"
            )
        key = _key(relative)
        if key in self._entries:
            kind, spelling = self._entries[key]
            also = "" if spelling == relative else f" (same path as {spelling!r} ignoring case)"
            what = "member" if kind == "file" else "member; it is also a folder"
            raise BundleError(f"archive member {name!r} is a duplicate {what}{also}")
        self._guarded(name, self._make_parents, relative, name)
        self._entries[key] = ("file", relative)
        self._guarded(name, self._write, relative, name, stream)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _guarded(name: str, step: Callable[..., None], *args: Any) -> None:
        # Disk full, a name the file system rejects...: still the member's fault to report.
        try:
            step(*args)
        except OSError as exc:
            raise BundleError(
                f"archive member {name!r} cannot be written: {exc.strerror or exc}"
            ) from None

    def _make_parents(self, relative: str, name: str) -> None:
        parts = relative.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            kind, _spelling = self._entries.get(_key(folder), ("", ""))
            if kind == "file":
                raise BundleError(
                    f"archive member {name!r} needs folder {folder!r}, but that is a file"
                )
            if kind == "dir":
                continue
            path = self.root / folder
            path.mkdir(mode=DIR_MODE)
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
            self._check_inside(path, name)
            self._entries[_key(folder)] = ("dir", folder)

    def _check_inside(self, path: Path, name: str) -> None:
        # Belt and braces: names are already sanitized and nothing here creates links,
        # but a resolved path outside the root must never be written to.
        resolved = path.resolve()
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise BundleError(f"archive member {name!r} would be written outside the bundle")
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise BundleError(f"archive member {name!r} would be written through a link")

    def _write(self, relative: str, name: str, stream: BinaryIO) -> None:
        path = self.root / relative
        self._check_inside(path.parent, name)
        fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
        written = 0
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)  # archive modes (setuid, 0777) are ignored
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                self._total_bytes += len(chunk)
                if written > self.limits.max_file_bytes:
                    raise BundleError(
                        f"archive member {name!r} is larger than "
                        f"{self.limits.max_file_bytes} bytes, the limit per file"
                    )
                if self._total_bytes > self.limits.max_total_bytes:
                    raise BundleError(
                        f"archive expands to more than {self.limits.max_total_bytes} bytes "
                        f"(stopped in member {name!r}); the limit is "
                        f"{self.limits.max_total_bytes}"
                    )
                out.write(chunk)
