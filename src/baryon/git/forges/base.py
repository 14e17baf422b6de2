"""What Baryon asks of a forge (GitHub, GitHub Enterprise, GitLab, Bitbucket Cloud): open,
read and close pull requests, name a repository's default branch, and say how git reaches it.

Each forge's client speaks its own REST API over httpx (forges/http.py) and answers in these
types, so the callers (pull-request provisioning, sync) never see a forge's JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from baryon.git.credentials import GitCredentials

KIB = 1024
MIB = 1024 * KIB

# "owner/name" (GitLab: "group/sub/name"); each part as the forges allow it. Checked before a
# name goes into a URL, so that no name can reach another API path.
_REPOSITORY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class PullRequestState(StrEnum):
    OPEN = "OPEN"
    MERGED = "MERGED"
    CLOSED = "CLOSED"  # closed (GitHub, GitLab) or declined (Bitbucket) without a merge


@dataclass(frozen=True)
class PullRequest:
    number: int  # GitHub's number, GitLab's iid, Bitbucket's id: what a person sees
    url: str  # the page a person opens in a browser
    state: PullRequestState
    head_branch: str
    base_branch: str
    merge_sha: str | None  # the commit the base branch got; set only when MERGED


@dataclass(frozen=True)
class ForgeLimits:
    # Seconds to connect, and between two reads of an answer; a forge that stalls fails the
    # call instead of holding a worker.
    timeout_seconds: float = 30.0
    # The largest answer read from a forge's API; a single pull request is a few KiB, a page
    # of 100 of them under 2 MiB.
    max_response_bytes: int = 8 * MIB


class ForgeError(Exception):
    """A forge's refusal or failure, worded for the person who configured the connection:
    which forge, which repository, and what the forge said."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # the HTTP status the forge answered; None when none came


class Forge(Protocol):
    def clone_url(self, repository: str) -> str:
        """The HTTPS URL git fetches "owner/name" from and pushes to."""
        ...

    def git_credentials(self, repository: str | None = None) -> GitCredentials:
        """What git/remote.py authenticates with. A GitHub App's token belongs to one
        installation, found from the repository; tokens expire, so ask again per use."""
        ...

    def open_pull_request(
        self, repository: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """Opens a pull request of head into base; an open one for the same branches is
        returned instead of a second one (a retry after a crash opens nothing new)."""
        ...

    def pull_request(self, repository: str, number: int) -> PullRequest: ...

    def close_pull_request(self, repository: str, number: int) -> None: ...

    def default_branch(self, repository: str) -> str: ...


def split_repository(forge: str, repository: str, *, max_parts: int = 2) -> list[str]:
    """The parts of "owner/name" (up to max_parts of them: GitLab's groups nest), refusing
    anything else before it becomes part of a URL."""
    parts = repository.split("/")
    if (
        not 2 <= len(parts) <= max_parts
        or not all(_REPOSITORY_PART.match(part) for part in parts)
        or any(part in (".", "..") for part in parts)
    ):
        shape = "owner/name" if max_parts == 2 else "group/name (groups may nest)"
        raise ForgeError(
            f"{forge}: {repository!r} is not a repository name; use {shape} with letters, "
            "digits, '.', '_' and '-'."
        )
    return parts


def check_branch(forge: str, branch: str) -> None:
    """Branch names go into query strings and JSON only, but an empty or absurd one is a
    caller's mistake best reported before any request."""
    if not branch or len(branch) > 255 or any(ord(c) < 0x20 or c in " ~^:?*[\\" for c in branch):
        raise ForgeError(f"{forge}: {branch!r} is not a branch name git accepts.")
