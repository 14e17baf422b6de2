"""Paths inside a repository and branch names: what Baryon writes must be plain, and what a
hostile repository holds must not become a path that climbs out of a folder."""

from __future__ import annotations

from dulwich.refs import Ref, check_ref_format

from baryon.git.errors import GitError, GitLimitExceeded
from baryon.git.limits import GitLimits

HEADS = b"refs/heads/"
_FORBIDDEN_NAMES = frozenset({"", ".", ".."})


def branch_ref(branch: str) -> bytes:
    """refs/heads/<branch>, for a name git itself would accept."""
    ref = HEADS + branch.encode("utf-8")
    if not branch or branch.startswith("-") or len(branch) > 255 or not check_ref_format(Ref(ref)):
        raise GitError(f"{branch!r} is not a valid git branch name")
    return ref


def path_parts(path: str, limits: GitLimits) -> tuple[str, ...]:
    """A relative path's components ("" is the repository's root), refused if any would be
    unsafe to use as a file name."""
    if path in ("", "/"):
        return ()
    parts = tuple(path.strip("/").split("/"))
    for part in parts:
        check_name(part, path)
    check_depth(path, len(parts), limits)
    return parts


def check_name(name: str, path: str) -> None:
    if name in _FORBIDDEN_NAMES or name.lower() == ".git" or "\x00" in name or "\\" in name:
        raise GitError(f"{path!r} is not a safe path in a repository (component {name!r})")


def check_depth(path: str, depth: int, limits: GitLimits) -> None:
    if depth > limits.max_path_depth:
        raise GitLimitExceeded(
            f"{path!r} is {depth} folders deep, more than max_path_depth ({limits.max_path_depth})"
        )
    if len(path) > limits.max_path_length:
        raise GitLimitExceeded(
            f"{path[:80]!r}... is {len(path)} characters long, more than max_path_length "
            f"({limits.max_path_length})"
        )


def decoded(name: bytes, folder: str) -> str:
    """A tree entry's name as text; git stores bytes, Baryon's files are UTF-8."""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        raise GitError(
            f"a file name in {folder or 'the root folder'!r} is not UTF-8: {name!r}"
        ) from None
    joined = f"{folder}/{text}" if folder else text
    check_name(text, joined)
    return joined
