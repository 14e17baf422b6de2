"""Entry points for bundle archives: extract an upload, pack a folder.

Uploads are hostile until proven otherwise. The format is chosen by magic bytes (names
and content types are client-supplied), and the actual work is split between a format
reader (archive_tar, archive_zip) and ExtractTarget, which owns every file-system rule.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from baryon.bundles.archive_tar import extract_tar
from baryon.bundles.archive_zip import extract_zip
from baryon.bundles.errors import BundleError
from baryon.bundles.extract_target import ExtractTarget
from baryon.bundles.gunzip_stream import GZIP_MAGIC, CappedGunzip
from baryon.bundles.limits import BundleLimits
from baryon.bundles.pack import pack_directory

__all__ = ["extract_archive", "pack_directory"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_TAR_MAGIC_OFFSET = 257  # "ustar" in POSIX and GNU tar headers
# Tar adds about 1 KiB of headers and padding per member, plus end-of-archive records.
_TAR_OVERHEAD_PER_MEMBER = 4 * 1024
_TAR_OVERHEAD_FIXED = 1024 * 1024


def extract_archive(data: bytes, dest: Path, limits: BundleLimits) -> None:
    """Extract a .tar.gz, .tar or .zip upload into `dest`, an empty folder the caller made.

    On any error `dest` is emptied again, so a refused upload leaves nothing behind.
    """
    if len(data) > limits.max_archive_bytes:
        raise BundleError(f"archive is {len(data)} bytes; the limit is {limits.max_archive_bytes}")
    if not dest.is_dir() or dest.is_symlink():
        raise BundleError(f"extraction folder {dest} does not exist or is not a folder")
    if any(dest.iterdir()):
        raise BundleError(f"extraction folder {dest} is not empty")
    target = ExtractTarget(dest, limits)
    try:
        _extract(data, target, limits)
    except BaseException:
        _empty(dest)
        raise


def _extract(data: bytes, target: ExtractTarget, limits: BundleLimits) -> None:
    if data.startswith(GZIP_MAGIC):
        cap = (
            limits.max_total_bytes
            + limits.max_files * _TAR_OVERHEAD_PER_MEMBER
            + _TAR_OVERHEAD_FIXED
        )
        extract_tar(CappedGunzip(data, cap), target)  # type: ignore[arg-type]
    elif data.startswith(_ZIP_MAGICS):
        extract_zip(data, target)
    elif data[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar":
        extract_tar(io.BytesIO(data), target)
    else:
        raise BundleError("not a tar.gz, tar or zip archive")


def _empty(dest: Path) -> None:
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
