"""Reads a tar stream member by member into an ExtractTarget.

tarfile is used only as a header parser in streaming mode ("r|"): it never touches the
file system (no extract/extractall), so its link and permission handling cannot bite.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from baryon.bundles.errors import BundleError
from baryon.bundles.extract_target import ExtractTarget


def _refuse_kind(member: tarfile.TarInfo) -> BundleError:
    name = repr(member.name)
    if member.issym():
        what = f"a symbolic link (to {member.linkname!r})"
    elif member.islnk():
        what = f"a hard link (to {member.linkname!r})"
    elif member.ischr() or member.isblk():
        what = "a device file"
    elif member.isfifo():
        what = "a FIFO"
    else:
        what = f"an unsupported entry of tar type {member.type!r}"
    return BundleError(
        f"archive member {name} is {what}; only regular files and folders are allowed"
    )


def extract_tar(stream: BinaryIO, target: ExtractTarget) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.isdir():
                    target.add_directory(member.name)
                elif member.isreg():
                    content = archive.extractfile(member)
                    if content is None:  # cannot happen for regular files; keep mypy honest
                        raise _refuse_kind(member)
                    target.add_file(member.name, content, member.size)
                else:
                    raise _refuse_kind(member)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BundleError(f"archive is corrupt: not a readable tar archive ({exc})") from None
