"""Baryon serves git repositories over git's smart HTTP (embedded mode), so that a platform
team can ``git push`` templates to it with nothing else installed.

A repository is named ``owner/name`` as Proton's repository names are, lives as a bare
repository in ``<root>/<owner>/<name>.git`` and is reached at
``<base URL>/git/<owner>/<name>.git``. Every request needs HTTP Basic credentials (clone and
fetch as much as push); a repository is made by ``HostedRepositories.ensure``, never by a
push. After a push that updated refs, ``on_push`` is told which, once, before git hears that
its push is done: it should be quick (record the event, enqueue a job).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from dulwich.objects import ZERO_SHA
from dulwich.repo import Repo
from starlette.types import ASGIApp, Receive, Scope, Send

from baryon.git.limits import GitLimits
from baryon.git.smart_http import (
    BodyStalled,
    BodyTooLarge,
    ClientGone,
    PushRecorder,
    SmartRequest,
    gunzipped,
    read_body,
    serve_request,
)

log = logging.getLogger(__name__)

DEFAULT_BRANCH = "main"
# Each part of an owner/name repository name.
_NAME_PART = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# /<owner>/<name>[.git]/<action>, below the mount point.
_ROUTE = re.compile(
    r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?"
    r"/(?P<action>info/refs|git-upload-pack|git-receive-pack)$"
)
_REALM = b'Basic realm="Baryon git", charset="UTF-8"'
# Longest Authorization header looked at: an access key and its secret, or a portal user and
# a password of portal_passwords.MAX_LENGTH characters, fit easily.
_MAX_AUTHORIZATION_CHARS = 4096
# Requests that run dulwich at once (a clone holds a thread while it streams): the rest of
# the server keeps the shared thread pool.
_GIT_THREADS = 8


class RepositoryNameError(ValueError):
    pass


def repository_name_parts(name: str) -> tuple[str, str]:
    """``owner/name`` split, or RepositoryNameError saying what is wrong with it."""
    parts = name.split("/")
    if len(parts) != 2:
        raise RepositoryNameError(f"repository name {name[:210]!r} is not 'owner/name'")
    for part in parts:
        if not _NAME_PART.match(part) or part in (".", ".."):
            raise RepositoryNameError(
                f"repository name {name[:210]!r}: each part has 1 to 100 of A-Z a-z 0-9 . _ -"
            )
    if parts[1].lower().endswith(".git"):
        raise RepositoryNameError(
            f"repository name {name[:210]!r}: the name may not end in .git (URLs add it)"
        )
    return parts[0], parts[1]


class HostedRepositories:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        owner, repo = repository_name_parts(name)
        return self.root / owner / f"{repo}.git"

    def exists(self, name: str) -> bool:
        try:
            path = self.path(name)
        except RepositoryNameError:
            return False
        return (path / "HEAD").is_file() and (path / "objects").is_dir()

    def ensure(self, name: str) -> Path:
        """The bare repository (default branch main), made if missing."""
        path = self.path(name)
        if self.exists(name):
            return path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Made aside and renamed into place: a half-made repository is never served.
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=path.parent))
        try:
            Repo.init_bare(str(staging), default_branch=DEFAULT_BRANCH.encode()).close()
            os.rename(staging, path)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not self.exists(name):  # not a concurrent ensure() that won the rename
                raise
        return path

    def delete(self, name: str) -> None:
        path = self.path(name)
        if path.exists():
            # Renamed away first, so that no request sees half a repository.
            doomed = Path(tempfile.mkdtemp(prefix=".deleted-", dir=path.parent))
            os.rename(path, doomed / "repo")
            shutil.rmtree(doomed, ignore_errors=True)
        with contextlib.suppress(OSError):  # the owner has other repositories
            path.parent.rmdir()

    def url(self, base_url: str, name: str) -> str:
        owner, repo = repository_name_parts(name)
        return f"{base_url.rstrip('/')}/git/{owner}/{repo}.git"


@dataclass(frozen=True)
class RefUpdate:
    ref: str  # e.g. refs/heads/main
    old: str | None  # None: the ref was created
    new: str | None  # None: the ref was deleted


class _Service(StrEnum):
    UPLOAD_PACK = "git-upload-pack"
    RECEIVE_PACK = "git-receive-pack"


def hosting_app(
    repositories: HostedRepositories,
    authenticate: Callable[[str, str], bool],
    on_push: Callable[[str, Sequence[RefUpdate]], None],
    *,
    limits: GitLimits | None = None,
) -> ASGIApp:
    """The ASGI application to mount at ``/git``. ``authenticate(user, password)`` and
    ``on_push(name, updates)`` are called in worker threads."""
    bounds = limits or GitLimits()
    threads = anyio.CapacityLimiter(_GIT_THREADS)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = _route_path(scope)
        match = _ROUTE.match(path)
        if match is None:
            await _answer(send, 404, "Not a git repository URL (/git/<owner>/<name>.git).")
            return
        action = match["action"]
        method = scope["method"]
        if method != ("GET" if action == "info/refs" else "POST"):
            await _answer(send, 405, f"{method} is not allowed here.")
            return
        credentials = _basic_credentials(scope)
        if credentials is None or not await anyio.to_thread.run_sync(authenticate, *credentials):
            await _answer(
                send, 401, "Baryon needs an access key and its secret, or a portal user "
                "and password.", [(b"www-authenticate", _REALM)]
            )  # fmt: skip
            return
        name = f"{match['owner']}/{match['repo']}"
        try:
            repository_name_parts(name)
        except RepositoryNameError as exc:
            await _answer(send, 400, f"{exc}.")
            return
        if not repositories.exists(name):
            await _answer(send, 404, f"Repository {name} does not exist.")
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if action == "info/refs":
            service = parse_qs(query).get("service", [""])[0]
            if service not in tuple(_Service):
                await _answer(send, 403, "Only git's smart HTTP protocol is served.")
                return
        body: IO[bytes] | None = None
        try:
            if method == "POST":
                body = await _request_body(scope, receive, bounds)
                if body is None:
                    await _answer(
                        send, 415, "Unsupported Content-Encoding (identity or gzip only)."
                    )
                    return
            await _serve(repositories, name, action, method, query, scope, body, send)
        except BodyTooLarge:
            await _answer(
                send, 413, f"The request is larger than Baryon accepts for a repository "
                f"({bounds.max_pack_bytes} bytes, max_pack_bytes)."
            )  # fmt: skip
        except BodyStalled:
            await _answer(send, 408, "The request body stopped arriving.")
        except ClientGone:
            pass
        finally:
            if body is not None:
                body.close()

    async def _serve(
        repositories: HostedRepositories,
        name: str,
        action: str,
        method: str,
        query: str,
        scope: Scope,
        body: IO[bytes] | None,
        send: Send,
    ) -> None:
        recorder = PushRecorder()
        request = SmartRequest(
            method=method,
            action=f"/{action}",
            query_string=query,
            content_type=_header(scope, b"content-type") or "",
            body=body,
        )
        await anyio.to_thread.run_sync(
            serve_request, str(repositories.path(name)), request, recorder, send,
            limiter=threads,
        )  # fmt: skip
        if recorder.updates:
            updates = [_ref_update(update) for update in recorder.updates]
            try:
                await anyio.to_thread.run_sync(on_push, name, updates)
            except Exception:
                # The push has happened; git's client cannot be told otherwise now.
                log.exception("reporting the push to %s failed", name)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _request_body(scope: Scope, receive: Receive, bounds: GitLimits) -> IO[bytes] | None:
        declared = _header(scope, b"content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > bounds.max_pack_bytes
        ):
            raise BodyTooLarge
        encoding = (_header(scope, b"content-encoding") or "identity").lower()
        if encoding not in ("identity", "gzip", "x-gzip"):
            return None
        body = await read_body(receive, bounds.max_pack_bytes, bounds.request_idle_seconds)
        if encoding == "identity":
            return body
        return await anyio.to_thread.run_sync(gunzipped, body, bounds.max_pack_bytes)

    return app


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette's Mount keeps the full path in scope)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _basic_credentials(scope: Scope) -> tuple[str, str] | None:
    header = _header(scope, b"authorization")
    if header is None or len(header) > _MAX_AUTHORIZATION_CHARS:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        return None
    return user, password


def _ref_update(update: tuple[bytes, bytes, bytes]) -> RefUpdate:
    old, new, ref = update
    return RefUpdate(
        ref=ref.decode("utf-8", "replace"),
        old=None if old == ZERO_SHA else old.decode("ascii"),
        new=None if new == ZERO_SHA else new.decode("ascii"),
    )


async def _answer(
    send: Send, status: int, text: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = (text + "\n").encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
