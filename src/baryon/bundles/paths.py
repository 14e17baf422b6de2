"""Rules for the relative paths a bundle may contain.

Archive member names and directory entries are attacker-controlled: one function decides
whether a name is an ordinary relative path, so the archive reader, the packer and the
folder reader cannot disagree.
"""

from __future__ import annotations

import re

from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits

# Editor, VCS and macOS droppings: never part of a bundle, never hashed into its digest.
IGNORED_NAMES = frozenset({".git", "__pycache__", ".DS_Store", "__MACOSX"})
# macOS tar adds "._name" AppleDouble files holding extended attributes.
APPLEDOUBLE_PREFIX = "._"

MAX_NAME_BYTES = 255  # one path component, on every common file system
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_ignored(name: str) -> bool:
    """True for a single path component that is junk rather than bundle content."""
    return name in IGNORED_NAMES or name.startswith(APPLEDOUBLE_PREFIX)


def normalize_member_path(name: str, limits: BundleLimits) -> str:
    """Return `name` as a clean "a/b/c" path, or raise naming the member and the rule broken.

    An empty result means the archive root itself (a "./" entry), which callers skip.
    """
    shown = repr(name)
    if _CONTROL.search(name):
        raise BundleError(f"archive member {shown} has control characters in its name")
    if "\\" in name:
        # Windows tools would treat a backslash as a separator, so "a\..\..\x" could escape.
        raise BundleError(f"archive member {shown} has a backslash in its name")
    if name.startswith("/"):
        raise BundleError(f"archive member {shown} has an absolute path")
    if _DRIVE.match(name):
        raise BundleError(f"archive member {shown} starts with a drive letter")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BundleError(f"archive member {shown} has a '..' path component")
    relative = "/".join(parts)
    longest = max((len(part.encode("utf-8")) for part in parts), default=0)
    if longest > MAX_NAME_BYTES:
        raise BundleError(
            f"archive member {shown} has a name part of {longest} bytes; "
            f"file systems allow {MAX_NAME_BYTES}"
        )
    if len(relative) > limits.max_path_length:
        raise BundleError(
            f"archive member {shown} has a path of {len(relative)} characters; "
            f"the limit is {limits.max_path_length}"
        )
    if len(parts) > limits.max_depth:
        raise BundleError(
            f"archive member {shown} is {len(parts)} folders deep; the limit is {limits.max_depth}"
        )
    return relative
