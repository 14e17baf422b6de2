"""Reads a zip archive entry by entry into an ExtractTarget.

Zip keeps Unix file types in the high bits of external_attr; that is how zip tools store
symbolic links, so those bits decide what an entry is, not the name alone.
"""

from __future__ import annotations

import io
import lzma
import stat
import zipfile
import zlib

from baryon.bundles.errors import BundleError
from baryon.bundles.extract_target import ExtractTarget
from baryon.bundles.limits import BundleLimits

_KIND_NAMES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device file",
    stat.S_IFBLK: "a device file",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _entry_kind(info: zipfile.ZipInfo) -> str:
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type in _KIND_NAMES:
        raise BundleError(
            f"archive member {info.filename!r} is {_KIND_NAMES[file_type]}; "
            "only regular files and folders are allowed"
        )
    if info.is_dir() or file_type == stat.S_IFDIR:
        return "dir"
    return "file"


def _check_declared_sizes(infos: list[zipfile.ZipInfo], limits: BundleLimits) -> None:
    # The central directory lets a bomb be refused before inflating anything; sizes that
    # pass are still verified while streaming.
    if len(infos) > limits.max_files:
        raise BundleError(f"archive has {len(infos)} members; the limit is {limits.max_files}")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_total_bytes:
        raise BundleError(
            f"archive declares {declared} bytes uncompressed; the limit is {limits.max_total_bytes}"
        )


def extract_zip(data: bytes, target: ExtractTarget) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_declared_sizes(infos, target.limits)
            for info in infos:
                if info.flag_bits & 0x1:
                    raise BundleError(f"archive member {info.filename!r} is encrypted")
                if _entry_kind(info) == "dir":
                    target.add_directory(info.filename)
                    continue
                with archive.open(info) as content:
                    target.add_file(info.filename, content, info.file_size)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        raise BundleError(f"archive is corrupt: not a readable zip archive ({exc})") from None
