"""Reaching a remote repository: which dulwich client a URL needs, with which credentials,
and what its failures mean to a user.

Supported: https:// and http:// (HTTP Basic from the credentials), ssh:// and scp-like
``git@host:owner/repo.git`` (the key written to a private file for the system's ``ssh``),
file:// and plain local paths. git:// is refused: it authenticates nothing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import urllib3
import urllib3.exceptions
from dulwich.client import (
    GitClient,
    HTTPUnauthorized,
    LocalGitClient,
    default_urllib3_manager,
    get_transport_and_path,
)
from dulwich.errors import (
    ApplyDeltaError,
    ChecksumMismatch,
    FileFormatException,
    GitProtocolError,
    HangupException,
    NotGitRepository,
    ObjectMissing,
    WrongObjectException,
)

from baryon.git.credentials import GitCredentials
from baryon.git.errors import GitAuthRefused, GitError, GitNotFound, quoted
from baryon.git.limits import GitLimits

# user@host:path, the form ssh URLs take in most forges' "clone" boxes (not a Windows drive,
# not a URL with a scheme).
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s]+$")
# What ssh and the servers behind it say when the key is not accepted / the path is wrong.
_SSH_AUTH_WORDS = ("permission denied", "authentication failed", "access denied")
_NOT_FOUND_WORDS = ("not found", "does not exist", "does not appear to be a git repository")
# HTTP Basic needs a user; forges take any user with a token as the password.
_TOKEN_USER = "git"


class UrlKind(StrEnum):
    HTTP = "http"
    SSH = "ssh"
    LOCAL = "local"


@dataclass(frozen=True)
class RemoteLocation:
    url: str
    kind: UrlKind
    # The URL without any password it carries: what messages and logs show.
    shown: str


def parse_location(url: str) -> RemoteLocation:
    text = url.strip()
    if not text or any(ord(ch) < 0x20 for ch in text):
        raise GitError(f"{quoted(text)!r} is not a git URL")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("https", "http"):
        return RemoteLocation(text, UrlKind.HTTP, _without_password(text))
    if scheme in ("ssh", "git+ssh"):
        return RemoteLocation(text, UrlKind.SSH, _without_password(text))
    if scheme == "file":
        return RemoteLocation(text, UrlKind.LOCAL, text)
    if scheme:
        raise GitError(
            f"{_without_password(text)}: unsupported URL scheme {scheme!r} "
            "(use https://, http://, ssh://, git@host:path, file:// or a local path)"
        )
    if text.startswith(("/", "./", "../")):
        return RemoteLocation(text, UrlKind.LOCAL, text)
    if _SCP_LIKE.match(text):
        return RemoteLocation(text, UrlKind.SSH, text)
    raise GitError(
        f"{quoted(text)}: not a git URL (use https://, http://, ssh://, git@host:path, "
        "file:// or an absolute local path)"
    )


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Connection:
    client: GitClient
    path: str


@contextmanager
def connect(
    location: RemoteLocation,
    credentials: GitCredentials,
    limits: GitLimits,
    known_hosts: Path,
) -> Iterator[Connection]:
    """A dulwich client for one operation; the private key file lives only this long."""
    if location.kind is UrlKind.LOCAL:
        path = urlsplit(location.url).path if "://" in location.url else location.url
        if not Path(path).is_dir():
            raise GitNotFound(f"{location.shown}: there is no git repository there")
        client: GitClient = LocalGitClient()
        yield Connection(client, path)
        return
    if location.kind is UrlKind.HTTP:
        user = credentials.username
        if user is None and credentials.password is not None:
            user = _TOKEN_USER
        client, path = get_transport_and_path(
            location.url,
            username=user,
            password=credentials.password if user is not None else None,
            pool_manager=cast(
                urllib3.PoolManager,
                default_urllib3_manager(
                    None, base_url=location.url, timeout=limits.timeout_seconds
                ),
            ),
        )
        try:
            yield Connection(client, path)
        finally:
            client.close()
        return
    key_dir = tempfile.mkdtemp(prefix="baryon-git-ssh-") if credentials.ssh_private_key else None
    try:
        key_file = None
        if key_dir is not None and credentials.ssh_private_key is not None:
            key_file = os.path.join(key_dir, "key")
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                # OpenSSH refuses a key whose last line has no newline.
                handle.write(credentials.ssh_private_key.strip() + "\n")
        client, path = get_transport_and_path(
            location.url,
            username=credentials.username,
            key_filename=key_file,
            ssh_command=_ssh_command(known_hosts, limits, with_key=key_file is not None),
        )
        try:
            yield Connection(client, path)
        finally:
            client.close()
    finally:
        if key_dir is not None:
            shutil.rmtree(key_dir, ignore_errors=True)


def _ssh_command(known_hosts: Path, limits: GitLimits, *, with_key: bool) -> str:
    seconds = max(1, int(limits.timeout_seconds))
    options = [
        # The user's ~/.ssh/config belongs to whoever runs Baryon, not to this remote.
        "-F", "/dev/null",
        # A host is trusted the first time it is seen and pinned afterwards (in Baryon's own
        # known_hosts): Baryon has no one to ask, and a changed key is refused.
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={seconds}",
        "-o", f"ServerAliveInterval={max(1, seconds // 4)}",
        "-o", "ServerAliveCountMax=4",
    ]  # fmt: skip
    if with_key:
        options += ["-o", "IdentitiesOnly=yes"]
    return shlex.join(["ssh", *options])


@contextmanager
def translated(
    location: RemoteLocation, doing: str, *secrets: str | None, local: bool = False
) -> Iterator[None]:
    """Turns whatever dulwich, urllib3 or ssh raise into a GitError that says which URL,
    what Baryon was doing and what the other side said. ``local``: only Baryon's own copy
    is touched, so a failing file is not the remote's fault."""
    where = location.shown

    def said(exc: BaseException) -> str:
        text = quoted(exc) or type(exc).__name__
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    try:
        yield
    except GitError:
        raise
    except HTTPUnauthorized as exc:
        raise GitAuthRefused(f"{where}: the server refused the credentials while {doing}") from exc
    except NotGitRepository as exc:
        raise GitNotFound(f"{where}: there is no git repository there") from exc
    except HangupException as exc:
        message = said(exc)
        lowered = message.lower()
        if any(words in lowered for words in _SSH_AUTH_WORDS):
            raise GitAuthRefused(
                f"{where}: the server refused the credentials while {doing} ({message})"
            ) from exc
        if any(words in lowered for words in _NOT_FOUND_WORDS):
            raise GitNotFound(f"{where}: {message}") from exc
        raise GitError(f"{where}: the connection ended while {doing} ({message})") from exc
    except GitProtocolError as exc:
        network = _network_failure(exc)
        if network is not None:
            raise GitError(f"{where}: cannot reach the repository ({said(network)})") from exc
        message = said(exc)
        if "unexpected http resp 403" in message:
            raise GitAuthRefused(
                f"{where}: the server refused access while {doing} (HTTP 403)"
            ) from exc
        raise GitError(f"{where}: git failed while {doing}: {message}") from exc
    except OSError as exc:
        if not local:
            network = _network_failure(exc) or exc
            raise GitError(f"{where}: cannot reach the repository ({said(network)})") from exc
        raise GitError(
            f"{where}: Baryon's copy of the repository failed while {doing} ({said(exc)})"
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        network = _network_failure(exc) or exc
        raise GitError(f"{where}: cannot reach the repository ({said(network)})") from exc
    except (
        ApplyDeltaError,
        ChecksumMismatch,
        FileFormatException,
        ObjectMissing,
        WrongObjectException,
        zlib.error,
        AssertionError,
        KeyError,
        ValueError,
    ) as exc:
        raise GitError(
            f"{where}: the repository holds data git cannot read while {doing} ({said(exc)})"
        ) from exc


def _network_failure(exc: BaseException) -> BaseException | None:
    """The socket's own error behind urllib3's wrappers ("Connection refused", "timed
    out"), which says more than "Max retries exceeded with url ..."."""
    found: BaseException | None = None
    seen: BaseException | None = exc
    for _ in range(10):  # a chain is short; a cycle must not loop
        if seen is None:
            break
        if isinstance(seen, OSError | urllib3.exceptions.HTTPError):
            found = seen
        seen = seen.__cause__ or seen.__context__
    if isinstance(found, urllib3.exceptions.NewConnectionError):
        return found.__cause__ or found
    return found
