"""Packs a bundle folder into a deterministic .tar.gz (used by `baryon template publish`).

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
