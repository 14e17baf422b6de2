"""How Baryon proves itself to a remote repository."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GitCredentials:
    # HTTP Basic user for https:// URLs (GitHub installation tokens: "x-access-token"); for
    # ssh:// and scp-like URLs the login, when the URL names none.
    username: str | None = None
    # The token or password that goes with username; never shown in a repr or a log line.
    password: str | None = field(default=None, repr=False)
    # PEM or OpenSSH private key text for ssh:// and git@host:owner/repo.git URLs.
    ssh_private_key: str | None = field(default=None, repr=False)


ANONYMOUS = GitCredentials()
