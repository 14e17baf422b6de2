"""The one family of errors the git library raises: a message a user can act on (which
repository, which branch, what the other side said), never a dulwich traceback."""

from __future__ import annotations

# The other side's words are quoted, but only so much of them: a hostile server chooses them.
MAX_QUOTED_CHARS = 500


class GitError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class GitNotFound(GitError):
    """The repository, branch or commit does not exist (or is hidden from these credentials)."""


class GitAuthRefused(GitError):
    """The server refused the credentials, or asked for some and none were given."""


class GitLimitExceeded(GitError):
    """A repository or request is larger than a GitLimits field allows; the message names it."""


class GitConflict(GitError):
    """A branch moved on the remote while Baryon was building on it, more often than retried."""


def quoted(text: object) -> str:
    """What the other side said, on one line and bounded."""
    flat = " ".join(str(text).split())
    if len(flat) > MAX_QUOTED_CHARS:
        return flat[:MAX_QUOTED_CHARS] + "..."
    return flat
