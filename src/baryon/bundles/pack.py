"""Packs a bundle folder into a deterministic .tar.gz (`baryon template publish`, template sync).

Same folder content must give the same bytes, so the upload digest only changes when the
bundle does: sorted names, zero timestamps and owners, fixed modes, no gzip timestamp.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.tree import read_tree

FILE_MODE = 0o644


def pack_directory(src: Path, limits: BundleLimits) -> bytes:
    """Tar.gz of every file under `src`, placed at the archive root (no wrapper folder)."""
    files = read_tree(src, limits)
    if not files:
        raise BundleError(f"{src} holds no files to pack")
    return pack_files(files, limits)


def pack_files(files: dict[str, bytes], limits: BundleLimits) -> bytes:
    """Tar.gz of `files` (relative path -> content; template sync reads them from a commit),
    with the limits a folder's files get."""
    if not files:
        raise BundleError("the bundle holds no files to pack")
    if len(files) > limits.max_files:
        raise BundleError(f"the bundle has more than {limits.max_files} files")
    total = 0
    for relative in sorted(files):
        size = len(files[relative])
        if size > limits.max_file_bytes:
            raise BundleError(
                f"file is larger than {limits.max_file_bytes} bytes; "
                f"the limit is {limits.max_file_bytes}",
                file=relative,
            )
        total += size
        if total > limits.max_total_bytes:
            raise BundleError(
                f"the bundle is larger than {limits.max_total_bytes} bytes in total",
                file=relative,
            )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for relative in sorted(files):
            content = files[relative]
            info = tarfile.TarInfo(relative)
            info.size = len(content)
            info.mtime = 0
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(content))
    packed = gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)
    if len(packed) > limits.max_archive_bytes:
        raise BundleError(
            f"the packed bundle is {len(packed)} bytes; the limit is {limits.max_archive_bytes}"
        )
    return packed
