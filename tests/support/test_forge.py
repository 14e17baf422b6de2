"""A test GitHub: the REST endpoints Baryon uses, over real git repositories on disk, served
by uvicorn on loopback, checked against GitHub's published OpenAPI descriptions.

- Repositories are bare repositories made with the git CLI; git clones, fetches and pushes
  them over smart HTTP at ``<base_url>/<owner>/<name>.git`` (dulwich.web), authenticated as
  GitHub does it (user ``x-access-token``, the token as the password).
- Pull requests are kept in memory; a test merges one (a real merge commit into the base
  branch, made by ``git merge-tree`` and ``git commit-tree``) or closes it.
- Authentication is a personal token, or a GitHub App: the forge checks the app's RS256 JWT
  with its public key and mints installation tokens that expire.
- Every API request is checked against the REST description (github_openapi.py) before it
  is answered, and every answer after; a violation is recorded in ``violations`` (and the
  request answered 400), which the ``github_forge`` fixture turns into a failed test.
- Webhooks (push, pull_request) are built as GitHub builds them, checked against the webhooks
  description, signed with the hook's secret and delivered: to the hooks a test registers,
  when a push, a merge, a close or a new pull request happens, or to any URL on request.

``enterprise=True`` serves the API under ``/api/v3`` and checks it against the GitHub
Enterprise Server description, as GitHub Enterprise is reached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio.to_thread
import httpx
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from dulwich.errors import NotGitRepository
from dulwich.repo import Repo
from dulwich.server import Backend, BackendRepo
from dulwich.web import make_wsgi_chain
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.github_openapi import (
    GITHUB_COM,
    GITHUB_ENTERPRISE_SERVER,
    OpenApiViolation,
    RestDescription,
    rest_description,
    webhook_description,
)

NO_COMMIT = "0" * 40
# The X-GitHub-Api-Version values GitHub answers to.
API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
_MAX_API_BODY = 1 << 20
_MAX_GIT_BODY = 64 << 20
_DOCS = "https://docs.github.com/rest"
_GIT_PATH = re.compile(
    r"^/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)\.git(?P<rest>/.*)?$"
)
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test Forge",
    "GIT_AUTHOR_EMAIL": "forge@example.com",
    "GIT_COMMITTER_NAME": "Test Forge",
    "GIT_COMMITTER_EMAIL": "forge@example.com",
}
_BOT = "baryon-bot"
# The operations the forge answers (GitHub's operation ids); any other is a violation.
_ANSWERED = frozenset(
    {
        "repos/get",
        "pulls/list",
        "pulls/create",
        "pulls/get",
        "pulls/update",
        "apps/get-repo-installation",
        "apps/list-installations",
        "apps/create-installation-access-token",
    }
)


@dataclass
class ForgeRepository:
    name: str  # "owner/name"
    path: Path
    id: int
    default_branch: str
    created_at: datetime
    private: bool = True


@dataclass
class ForgePull:
    """The forge's own record of a pull request (mutable: it is the forge's state)."""

    number: int
    id: int
    title: str
    body: str | None
    head: str
    base: str
    head_sha: str
    base_sha: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    merged: bool = False
    merge_sha: str | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the API prefix
    query: str
    body: bytes
    operation_id: str | None


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    event: str
    url: str
    status: int | None  # None: the URL did not answer
    payload: Mapping[str, Any]


@dataclass
class _App:
    app_id: str
    public_key: rsa.RSAPublicKey
    installations: dict[str, int]  # account -> installation id
    tokens: dict[str, tuple[int, datetime]] = field(default_factory=dict)


class TestForge:
    __test__ = False  # not a pytest test class

    def __init__(
        self, root: Path, *, enterprise: bool = False, token: str = "ghp_testforge"
    ) -> None:
        self.root = root
        self.enterprise = enterprise
        self.token = token
        self.prefix = "/api/v3" if enterprise else ""
        self.description: RestDescription = rest_description(
            GITHUB_ENTERPRISE_SERVER if enterprise else GITHUB_COM
        )
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.deliveries: list[Delivery] = []
        self.base_url = ""
        # Extra token -> account: a test can give out a token that sees only some owners.
        self.tokens: dict[str, str | None] = {token: None}
        self._repositories: dict[str, ForgeRepository] = {}
        self._pulls: dict[str, list[ForgePull]] = {}
        self._hooks: dict[str, list[Webhook]] = {}
        self._app: _App | None = None
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._git_app = make_wsgi_chain(_Backend(self))

    # ---- life

    @property
    def api_url(self) -> str:
        return self.base_url + self.prefix

    def start(self) -> TestForge:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._endpoint,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                )
            ]
        )
        config = uvicorn.Config(app, log_level="error", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test forge did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)

    def __enter__(self) -> TestForge:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---- repositories

    def create_repository(
        self,
        name: str,
        *,
        default_branch: str = "main",
        files: Mapping[str, bytes] | None = None,
    ) -> ForgeRepository:
        """A bare repository with one commit on its default branch."""
        path = self.root / f"{name}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(None, "init", "--quiet", "--bare", "-b", default_branch, str(path))
        repository = ForgeRepository(
            name, path, next(self._ids), default_branch, datetime.now(UTC).replace(microsecond=0)
        )
        with self._lock:
            self._repositories[name] = repository
            self._pulls[name] = []
        self.commit(name, default_branch, files or {"README.md": b"# test\n"}, "Initial commit")
        return repository

    def repository(self, name: str) -> ForgeRepository:
        with self._lock:
            return self._repositories[name]

    def commit(
        self, name: str, branch: str, changes: Mapping[str, bytes | None], message: str
    ) -> str:
        """A commit of ``changes`` (None deletes a file) on top of ``branch`` (made from the
        default branch when missing), as if someone pushed it; no webhook is sent."""
        repository = self.repository(name)
        git_dir = repository.path
        parent = self.branch_head(name, branch) or self.branch_head(name, repository.default_branch)
        index = git_dir / f"index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent:
                _git(git_dir, "read-tree", parent, env=env)
            for path, content in changes.items():
                if content is None:
                    _git(git_dir, "update-index", "--force-remove", path, env=env)
                else:
                    blob = _git(git_dir, "hash-object", "-w", "--stdin", stdin=content)
                    _git(
                        git_dir,
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        f"100644,{blob},{path}",
                        env=env,
                    )
            tree = _git(git_dir, "write-tree", env=env)
        finally:
            index.unlink(missing_ok=True)
        parents = ["-p", parent] if parent else []
        sha = _git(git_dir, "commit-tree", tree, *parents, "-m", message)
        _git(git_dir, "update-ref", f"refs/heads/{branch}", sha)
        return sha

    def branch_head(self, name: str, branch: str) -> str | None:
        repository = self.repository(name)
        found = subprocess.run(
            [
                "git",
                "--git-dir",
                str(repository.path),
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **_GIT_ENV},
            check=False,
        )
        return found.stdout.strip() or None

    def files(self, name: str, ref: str) -> dict[str, bytes]:
        """Every file at a branch or commit."""
        git_dir = self.repository(name).path
        listed = _git(git_dir, "ls-tree", "-r", "-z", "--name-only", ref, strip=False)
        return {
            path: _git_bytes(git_dir, "cat-file", "blob", f"{ref}:{path}")
            for path in listed.split("\0")
            if path
        }

    # ---- pull requests

    def pulls(self, name: str) -> list[ForgePull]:
        with self._lock:
            return list(self._pulls[name])

    def pull(self, name: str, number: int) -> ForgePull:
        with self._lock:
            for pull in self._pulls.get(name, []):
                if pull.number == number:
                    return pull
        raise KeyError(f"{name} has no pull request #{number}")

    def merge(self, name: str, number: int) -> str:
        """Merges an open pull request with a real merge commit into its base branch and
        sends the push and pull_request (closed, merged) webhooks; returns the commit."""
        repository = self.repository(name)
        pull = self.pull(name, number)
        assert pull.state == "open", f"pull request #{number} is {pull.state}"
        git_dir = repository.path
        base_before = self.branch_head(name, pull.base)
        head = self.branch_head(name, pull.head)
        assert base_before and head, "both branches must exist to merge"
        tree = _git(git_dir, "merge-tree", "--write-tree", base_before, head).splitlines()[0]
        message = f"Merge pull request #{number} from {name.split('/')[0]}/{pull.head}"
        sha = _git(git_dir, "commit-tree", tree, "-p", base_before, "-p", head, "-m", message)
        _git(git_dir, "update-ref", f"refs/heads/{pull.base}", sha, base_before)
        now = _now()
        with self._lock:
            pull.state, pull.merged, pull.merge_sha = "closed", True, sha
            pull.head_sha, pull.closed_at, pull.merged_at, pull.updated_at = head, now, now, now
        self._fire_push(name, pull.base, base_before, sha)
        self._fire_pull_request(name, pull, "closed")
        return sha

    def close(self, name: str, number: int) -> None:
        """Closes a pull request unmerged, as a person would, and sends the webhook."""
        pull = self.pull(name, number)
        self._close(pull)
        self._fire_pull_request(name, pull, "closed")

    # ---- GitHub App

    def register_app(self, app_id: str, public_key: rsa.RSAPublicKey, accounts: list[str]) -> None:
        """A GitHub App installed on these accounts (owners)."""
        self._app = _App(app_id, public_key, {account: next(self._ids) for account in accounts})

    def installation_token_requests(self) -> int:
        return sum(
            request.operation_id == "apps/create-installation-access-token"
            for request in self.requests
        )

    # ---- webhooks

    def add_webhook(self, name: str, url: str, secret: str) -> None:
        """Deliveries to url for each push, merge, close or new pull request of the repository."""
        with self._lock:
            self._hooks.setdefault(name, []).append(Webhook(url, secret))

    def deliver_push(
        self, url: str, secret: str, name: str, branch: str, before: str | None, after: str | None
    ) -> Delivery:
        return self._deliver(
            Webhook(url, secret), "push", self.push_payload(name, branch, before, after)
        )

    def deliver_pull_request(
        self, url: str, secret: str, name: str, number: int, action: str
    ) -> Delivery:
        payload = self.pull_request_payload(name, self.pull(name, number), action)
        return self._deliver(Webhook(url, secret), "pull_request", payload)

    def push_payload(
        self, name: str, branch: str, before: str | None, after: str | None
    ) -> dict[str, Any]:
        repository = self.repository(name)
        before, after = before or NO_COMMIT, after or NO_COMMIT
        commits = self._commits(repository, before, after) if after != NO_COMMIT else []
        return {
            "ref": f"refs/heads/{branch}",
            "before": before,
            "after": after,
            "created": before == NO_COMMIT,
            "deleted": after == NO_COMMIT,
            "forced": False,
            "base_ref": None,
            "compare": f"{self.base_url}/{name}/compare/{before[:12]}...{after[:12]}",
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "repository": self._webhook_repository(repository),
            "pusher": {"name": _BOT, "email": f"{_BOT}@example.com"},
            "sender": self._user(_BOT, 7),
        }

    def pull_request_payload(self, name: str, pull: ForgePull, action: str) -> dict[str, Any]:
        repository = self.repository(name)
        return {
            "action": action,
            "number": pull.number,
            "pull_request": self._pull_json(repository, pull),
            "repository": self._repository_json(repository),
            "sender": self._user(_BOT, 7),
        }

    # ---- the HTTP side

    async def _endpoint(self, request: Request) -> Response:
        path = request.url.path
        git = _GIT_PATH.match(path)
        if git and not path.startswith(self.prefix + "/repos/"):
            return await self._git(request, f"{git['owner']}/{git['name']}")
        body = await _bounded_body(request, _MAX_API_BODY)
        if body is None:
            return _error(413, "Request body too large")
        if not path.startswith(self.prefix + "/"):
            return _error(404, "Not Found")
        return await anyio.to_thread.run_sync(
            self._api,
            request.method,
            path[len(self.prefix) :],
            request.url.query,
            dict(request.headers),
            body,
        )

    def _api(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        operation_id = None
        try:
            operation = self.description.check_request(
                method, path, query, body, headers.get("content-type")
            )
            operation_id = operation.operation_id
            _check_headers(headers)
        except OpenApiViolation as violation:
            self._violation(str(violation))
            return _error(400, f"test forge: {violation}")
        finally:
            with self._lock:
                self.requests.append(RecordedRequest(method, path, query, body, operation_id))
        status, answer = self._answer(operation_id, method, path, query, headers, body)
        encoded = json.dumps(answer).encode()
        try:
            self.description.check_response(method, path, status, encoded)
        except OpenApiViolation as violation:
            self._violation(f"the test forge's own answer: {violation}")
        return Response(encoded, status, media_type="application/json; charset=utf-8")

    def _answer(
        self,
        operation_id: str,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any]:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        data = json.loads(body) if body else {}
        params = dict(parse_qsl(query, keep_blank_values=True))
        bearer = headers.get("authorization", "").removeprefix("Bearer ").removeprefix("token ")
        if operation_id not in _ANSWERED:
            self._violation(f"{method} {path} ({operation_id}) is not answered by the test forge")
            return 404, _error_body("Not Found", 404)
        if operation_id == "apps/list-installations":
            return self._installations(bearer)
        if operation_id == "apps/create-installation-access-token":
            return self._mint(bearer, int(parts[2]))
        owner, name = parts[1], parts[2]
        full = f"{owner}/{name}"
        if operation_id == "apps/get-repo-installation":
            return self._repo_installation(bearer, full)
        with self._lock:
            repository = self._repositories.get(full)
        if not self._may_see(bearer, owner):
            return 401, _error_body("Bad credentials", 401)
        if repository is None:
            return 404, _error_body("Not Found", 404)
        if operation_id == "repos/get":
            return 200, self._full_repository(repository)
        if operation_id == "pulls/list":
            return 200, self._list(repository, params)
        if operation_id == "pulls/create":
            return self._create(repository, data)
        if operation_id in ("pulls/get", "pulls/update"):
            try:
                pull = self.pull(full, int(parts[4]))
            except KeyError:
                return 404, _error_body("Not Found", 404)
            closing = operation_id == "pulls/update" and data.get("state") == "closed"
            if closing and pull.state == "open":
                self._close(pull)
                self._fire_pull_request(full, pull, "closed", queued=True)
            return 200, self._pull_json(repository, pull)
        raise AssertionError(f"{operation_id} is listed as answered but is not")

    def _may_see(self, bearer: str, owner: str) -> bool:
        with self._lock:
            if bearer in self.tokens:
                account = self.tokens[bearer]
                return account is None or account == owner
            if self._app is not None and bearer in self._app.tokens:
                installation, expires = self._app.tokens[bearer]
                return (
                    datetime.now(UTC) < expires
                    and self._app.installations.get(owner) == installation
                )
        return False

    def _list(self, repository: ForgeRepository, params: dict[str, str]) -> list[Any]:
        state = params.get("state", "open")
        head = params.get("head")
        base = params.get("base")
        found = []
        for pull in self.pulls(repository.name):
            if state != "all" and pull.state != state:
                continue
            if head is not None and f"{repository.name.split('/')[0]}:{pull.head}" != head:
                continue
            if base is not None and pull.base != base:
                continue
            found.append(self._pull_json(repository, pull, simple=True))
        per_page = int(params.get("per_page", "30"))
        return found[:per_page]

    def _create(self, repository: ForgeRepository, data: dict[str, Any]) -> tuple[int, Any]:
        head, base = data["head"].split(":")[-1], data["base"]
        head_sha = self.branch_head(repository.name, head)
        base_sha = self.branch_head(repository.name, base)
        if head_sha is None or base_sha is None:
            return 422, _validation_error(
                {
                    "resource": "PullRequest",
                    "field": "head" if head_sha is None else "base",
                    "code": "invalid",
                }
            )
        with self._lock:
            pulls = self._pulls[repository.name]
            for pull in pulls:
                if pull.state == "open" and (pull.head, pull.base) == (head, base):
                    owner = repository.name.split("/")[0]
                    return 422, _validation_error(
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {owner}:{head}.",
                        }
                    )
            now = _now()
            pull = ForgePull(
                number=len(pulls) + 1,
                id=next(self._ids),
                title=data.get("title", ""),
                body=data.get("body"),
                head=head,
                base=base,
                head_sha=head_sha,
                base_sha=base_sha,
                created_at=now,
                updated_at=now,
            )
            pulls.append(pull)
        self._fire_pull_request(repository.name, pull, "opened", queued=True)
        return 201, self._pull_json(repository, pull)

    def _close(self, pull: ForgePull) -> None:
        with self._lock:
            assert not pull.merged, "a merged pull request stays merged"
            now = _now()
            pull.state, pull.closed_at, pull.updated_at = "closed", now, now

    # ---- GitHub App endpoints

    def _app_jwt(self, bearer: str) -> _App | None:
        """The app whose valid JWT this is (signature, issuer, lifetime), else None."""
        app = self._app
        try:
            header_part, claims_part, signature_part = bearer.split(".")
            header = json.loads(_unb64(header_part))
            claims = json.loads(_unb64(claims_part))
        except ValueError:
            return None
        if app is None or header.get("alg") != "RS256" or str(claims.get("iss")) != app.app_id:
            return None
        try:
            app.public_key.verify(
                _unb64(signature_part),
                f"{header_part}.{claims_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return None
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int):
            return None
        # GitHub's rules: at most ten minutes long, and not expired.
        if expires - issued > 600 or expires <= time.time():
            return None
        return app

    def _installations(self, bearer: str) -> tuple[int, Any]:
        app = self._app_jwt(bearer)
        if app is None:
            return 401, _error_body("A JSON web token could not be decoded", 401)
        found = [self._installation(app, account) for account in app.installations]
        for installation in found:
            # This list's description asks that the account be a user and an enterprise at
            # once (allOf, where the single installation's says anyOf): both sets of fields.
            login = installation["account"]["login"]
            installation["account"].update(
                name=login,
                slug=login,
                created_at="2024-01-01T00:00:00Z",
                updated_at="2024-01-01T00:00:00Z",
            )
        return 200, found

    def _repo_installation(self, bearer: str, full: str) -> tuple[int, Any]:
        app = self._app_jwt(bearer)
        if app is None:
            return 401, _error_body("A JSON web token could not be decoded", 401)
        owner = full.split("/")[0]
        with self._lock:
            known = full in self._repositories
        if not known or owner not in app.installations:
            return 404, _error_body("Not Found", 404)
        return 200, self._installation(app, owner)

    def _mint(self, bearer: str, installation: int) -> tuple[int, Any]:
        app = self._app_jwt(bearer)
        if app is None:
            return 401, _error_body("A JSON web token could not be decoded", 401)
        if installation not in app.installations.values():
            return 404, _error_body("Not Found", 404)
        token = f"ghs_{uuid.uuid4().hex}"
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        with self._lock:
            app.tokens[token] = (installation, expires)
        return 201, {
            "token": token,
            "expires_at": _timestamp(expires),
            "permissions": {"contents": "write", "pull_requests": "write"},
            "repository_selection": "all",
        }

    def _installation(self, app: _App, account: str) -> dict[str, Any]:
        installation = app.installations[account]
        return {
            "id": installation,
            "account": self._user(account, installation + 1, kind="Organization"),
            "repository_selection": "all",
            "access_tokens_url": f"{self.api_url}/app/installations/{installation}/access_tokens",
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": (
                f"{self.base_url}/organizations/{account}/settings/installations/{installation}"
            ),
            "app_id": int(app.app_id) if app.app_id.isdigit() else 1,
            "app_slug": "baryon",
            "target_id": installation + 1,
            "target_type": "Organization",
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
            "events": ["push", "pull_request"],
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    # ---- git over smart HTTP

    async def _git(self, request: Request, name: str) -> Response:
        credentials = request.headers.get("authorization", "")
        if not self._git_user_may(credentials, name):
            return Response(
                b"Authentication required",
                401,
                headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
            )
        body = await _bounded_body(request, _MAX_GIT_BODY)
        if body is None:
            return Response(b"push too large", 413)
        before = self._branches(name)
        status, headers, content = await anyio.to_thread.run_sync(
            _call_wsgi, self._git_app, request, body
        )
        if request.url.path.endswith("/git-receive-pack"):
            after = self._branches(name)
            for branch in sorted(set(before) | set(after)):
                if before.get(branch) != after.get(branch):
                    self._fire_push(
                        name, branch, before.get(branch), after.get(branch), queued=True
                    )
        return Response(content, status, headers=headers)

    def _git_user_may(self, credentials: str, name: str) -> bool:
        if not credentials.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(credentials[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == "x-access-token" and self._may_see(password, name.split("/")[0])

    def _branches(self, name: str) -> dict[str, str]:
        with self._lock:
            repository = self._repositories.get(name)
        if repository is None:
            return {}
        listed = _git(
            repository.path, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"
        )
        return dict(line.split(" ", 1) for line in listed.splitlines() if line)

    # ---- webhooks out

    def _fire_push(
        self, name: str, branch: str, before: str | None, after: str | None, *, queued: bool = False
    ) -> None:
        with self._lock:
            hooks = list(self._hooks.get(name, []))
        if hooks:
            payload = self.push_payload(name, branch, before, after)
            self._fire(hooks, "push", payload, queued)

    def _fire_pull_request(
        self, name: str, pull: ForgePull, action: str, *, queued: bool = False
    ) -> None:
        with self._lock:
            hooks = list(self._hooks.get(name, []))
        if hooks:
            self._fire(hooks, "pull_request", self.pull_request_payload(name, pull, action), queued)

    def _fire(
        self, hooks: list[Webhook], event: str, payload: dict[str, Any], queued: bool
    ) -> None:
        def deliver_all() -> None:
            for hook in hooks:
                self._deliver(hook, event, payload)

        def deliver_later() -> None:
            try:
                deliver_all()
            except OpenApiViolation as violation:  # no caller to raise to: fail the test
                self._violation(f"the test forge's own webhook: {violation}")

        if queued:  # after the answer to the request that caused it, as GitHub does
            threading.Thread(target=deliver_later, daemon=True).start()
        else:
            deliver_all()

    def _deliver(self, hook: Webhook, event: str, payload: dict[str, Any]) -> Delivery:
        webhook_description().check(event, payload)
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/testforge",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-ID": str(payload["repository"]["id"]),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-Hub-Signature": "sha1="
            + hmac.new(hook.secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        try:
            status: int | None = httpx.post(
                hook.url, content=body, headers=headers, timeout=30
            ).status_code
        except httpx.HTTPError:
            status = None
        delivery = Delivery(event, hook.url, status, payload)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def _violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    # ---- GitHub's JSON

    def _user(self, login: str, id: int, *, kind: str = "User") -> dict[str, Any]:
        api = f"{self.api_url}/users/{login}"
        return {
            "login": login,
            "id": id,
            "node_id": _node_id("U", id),
            "avatar_url": f"{self.base_url}/avatars/{login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.base_url}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _repository_json(self, repository: ForgeRepository) -> dict[str, Any]:
        owner, name = repository.name.split("/")
        api = f"{self.api_url}/repos/{repository.name}"
        host = self.base_url.split("://", 1)[1]
        created = _timestamp(repository.created_at)
        return {
            "id": repository.id,
            "node_id": _node_id("R", repository.id),
            "name": name,
            "full_name": repository.name,
            "owner": self._user(owner, repository.id + 1, kind="Organization"),
            "private": repository.private,
            "html_url": f"{self.base_url}/{repository.name}",
            "description": None,
            "fork": False,
            "url": api,
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{api}/assignees{{/user}}",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "comments_url": f"{api}/comments{{/number}}",
            "commits_url": f"{api}/commits{{/sha}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "contributors_url": f"{api}/contributors",
            "deployments_url": f"{api}/deployments",
            "downloads_url": f"{api}/downloads",
            "events_url": f"{api}/events",
            "forks_url": f"{api}/forks",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_url": f"git://{host}/{repository.name}.git",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "issues_url": f"{api}/issues{{/number}}",
            "keys_url": f"{api}/keys{{/key_id}}",
            "labels_url": f"{api}/labels{{/name}}",
            "languages_url": f"{api}/languages",
            "merges_url": f"{api}/merges",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "releases_url": f"{api}/releases{{/id}}",
            "ssh_url": f"git@{host.split(':')[0]}:{repository.name}.git",
            "stargazers_url": f"{api}/stargazers",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "tags_url": f"{api}/tags",
            "teams_url": f"{api}/teams",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "clone_url": f"{self.base_url}/{repository.name}.git",
            "mirror_url": None,
            "hooks_url": f"{api}/hooks",
            "svn_url": f"{self.base_url}/{repository.name}",
            "homepage": None,
            "language": None,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1,
            "default_branch": repository.default_branch,
            "open_issues_count": 0,
            "open_issues": 0,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repository.private else "public",
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
        }

    def _full_repository(self, repository: ForgeRepository) -> dict[str, Any]:
        return {
            **self._repository_json(repository),
            "permissions": {
                "admin": False,
                "maintain": False,
                "push": True,
                "triage": True,
                "pull": True,
            },
            "network_count": 0,
            "subscribers_count": 0,
        }

    def _webhook_repository(self, repository: ForgeRepository) -> dict[str, Any]:
        # A push event's repository dates its creation and last push in Unix seconds.
        shaped = self._repository_json(repository)
        stamp = int(repository.created_at.timestamp())
        return {
            **shaped,
            "created_at": stamp,
            "pushed_at": int(time.time()),
            "stargazers": 0,
            "master_branch": repository.default_branch,
        }

    def _branch_json(self, repository: ForgeRepository, branch: str, sha: str) -> dict[str, Any]:
        owner = repository.name.split("/")[0]
        return {
            "label": f"{owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user(owner, repository.id + 1, kind="Organization"),
            "repo": self._repository_json(repository),
        }

    def _pull_json(
        self, repository: ForgeRepository, pull: ForgePull, *, simple: bool = False
    ) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repository.name}"
        html = f"{self.base_url}/{repository.name}/pull/{pull.number}"
        head_sha = self.branch_head(repository.name, pull.head) if pull.state == "open" else None
        found: dict[str, Any] = {
            "url": f"{api}/pulls/{pull.number}",
            "id": pull.id,
            "node_id": _node_id("PR", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{pull.number}",
            "commits_url": f"{api}/pulls/{pull.number}/commits",
            "review_comments_url": f"{api}/pulls/{pull.number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{pull.number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha or pull.head_sha}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user(_BOT, 7),
            "body": pull.body,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _timestamp(pull.created_at),
            "updated_at": _timestamp(pull.updated_at),
            "closed_at": _timestamp(pull.closed_at) if pull.closed_at else None,
            "merged_at": _timestamp(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch_json(repository, pull.head, head_sha or pull.head_sha),
            "base": self._branch_json(repository, pull.base, pull.base_sha),
            "_links": {
                "self": {"href": f"{api}/pulls/{pull.number}"},
                "html": {"href": html},
                "issue": {"href": f"{api}/issues/{pull.number}"},
                "comments": {"href": f"{api}/issues/{pull.number}/comments"},
                "review_comments": {"href": f"{api}/pulls/{pull.number}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/pulls/{pull.number}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha or pull.head_sha}"},
            },
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "draft": False,
        }
        if simple:
            return found
        return {
            **found,
            "merged": pull.merged,
            "mergeable": None if pull.state == "closed" else True,
            "rebaseable": None if pull.state == "closed" else True,
            "mergeable_state": "unknown" if pull.state == "closed" else "clean",
            "merged_by": self._user(_BOT, 7) if pull.merged else None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": 1,
            "deletions": 0,
            "changed_files": 1,
        }

    def _commits(
        self, repository: ForgeRepository, before: str, after: str
    ) -> list[dict[str, Any]]:
        span = after if before == NO_COMMIT else f"{before}..{after}"
        listed = _git(
            repository.path,
            "log",
            "--reverse",
            "-z",
            "--format=%H%x1f%T%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%B",
            span,
        )
        commits = []
        for record in listed.split("\0"):
            if not record.strip():
                continue
            sha, tree, author, email, stamp, committer, committer_email, message = record.split(
                "\x1f", 7
            )
            changes = _git(
                repository.path, "diff-tree", "--no-commit-id", "--name-status", "-r", "--root", sha
            )
            added: list[str] = []
            modified: list[str] = []
            removed: list[str] = []
            for line in changes.splitlines():
                status, _, path = line.partition("\t")
                {"A": added, "D": removed}.get(status[:1], modified).append(path)
            commits.append(
                {
                    "id": sha,
                    "tree_id": tree,
                    "distinct": True,
                    "message": message.strip(),
                    "timestamp": stamp,
                    "url": f"{self.base_url}/{repository.name}/commit/{sha}",
                    "author": {"name": author, "email": email},
                    "committer": {"name": committer, "email": committer_email},
                    "added": added,
                    "removed": removed,
                    "modified": modified,
                }
            )
        return commits


@contextmanager
def running_forge(root: Path, *, enterprise: bool = False) -> Iterator[TestForge]:
    """A started test forge whose recorded violations fail the test that used it."""
    forge = TestForge(root, enterprise=enterprise).start()
    try:
        yield forge
    finally:
        forge.stop()
    assert not forge.violations, "GitHub's OpenAPI description was broken:\n" + "\n".join(
        forge.violations
    )


class _Backend(Backend):
    """The forge's repositories, opened afresh per request (the git CLI changes them too)."""

    def __init__(self, forge: TestForge) -> None:
        self._forge = forge

    def open_repository(self, path: str | bytes) -> BackendRepo:
        text = path.decode() if isinstance(path, bytes) else path
        name = text.strip("/").removesuffix(".git")
        try:
            repository = self._forge.repository(name)
        except KeyError:
            raise NotGitRepository(f"no repository {name}") from None
        return Repo(str(repository.path))


def _call_wsgi(
    app: Callable[..., Any], request: Request, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """One request through a WSGI application, all in memory (test-sized pushes only)."""
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.url.path,
        "QUERY_STRING": request.url.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(request.url.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": BytesIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in request.headers.items():
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ[name] = value
        elif name not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            environ[f"HTTP_{name}"] = value
    started: dict[str, Any] = {}
    written: list[bytes] = []  # dulwich streams a pack through start_response's write()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = dict(headers)
        return written.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            written.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return started["status"], started["headers"], b"".join(written)


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _check_headers(headers: Mapping[str, str]) -> None:
    accept = headers.get("accept", "")
    if "application/vnd.github+json" not in accept and "application/json" not in accept:
        raise OpenApiViolation(f"Accept is {accept!r}; GitHub asks for application/vnd.github+json")
    version = headers.get("x-github-api-version")
    if version is not None and version not in API_VERSIONS:
        raise OpenApiViolation(f"X-GitHub-Api-Version {version!r} is not a version GitHub has")
    if not headers.get("user-agent"):
        raise OpenApiViolation("GitHub refuses a request without a User-Agent")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(_error_body(message, status), status)


def _error_body(message: str, status: int) -> dict[str, Any]:
    return {"message": message, "documentation_url": _DOCS, "status": str(status)}


def _validation_error(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": f"{_DOCS}/pulls/pulls#create-a-pull-request",
        "status": "422",
    }


def _git(
    git_dir: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    strip: bool = True,
) -> str:
    out = _git_bytes(git_dir, *args, env=env, stdin=stdin).decode()
    return out.strip() if strip else out


def _git_bytes(
    git_dir: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> bytes:
    command = ["git", *(("--git-dir", str(git_dir)) if git_dir else ()), *args]
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        timeout=60,
        env={**os.environ, **_GIT_ENV, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, id: int) -> str:
    return base64.b64encode(f"{kind}_{id}".encode()).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
