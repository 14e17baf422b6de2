"""GitHub and GitHub Enterprise Server through their REST API (``api.github.com``, or
``https://<host>/api/v3``), authenticated by a token or as a GitHub App installation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from baryon.git.credentials import GitCredentials
from baryon.git.forges.base import (
    ForgeError,
    ForgeLimits,
    PullRequest,
    PullRequestState,
    check_branch,
    split_repository,
)
from baryon.git.forges.github_app import GitHubApp, InstallationTokens
from baryon.git.forges.http import ForgeHttp, text

GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"
# The REST API version Baryon is written against (GitHub's X-GitHub-Api-Version header).
API_VERSION = "2022-11-28"
# GitHub's git user name for any token used as a password (installation tokens included).
GIT_TOKEN_USER = "x-access-token"
_ENTERPRISE_API_PATH = "/api/v3"
# How much of GitHub's wording of an error goes into a message.
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class GitHubToken:
    token: str  # a fine-grained or classic personal access token


class GitHub:
    def __init__(
        self,
        auth: GitHubToken | GitHubApp,
        *,
        api_url: str = GITHUB_API,
        web_url: str = GITHUB_WEB,
        name: str = "GitHub",
        limits: ForgeLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._auth = auth
        self._web_url = web_url.rstrip("/")
        self._http = ForgeHttp(
            forge=name,
            base_url=api_url,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "baryon",  # GitHub refuses requests without one
            },
            limits=limits or ForgeLimits(),
            api_message=_github_message,
            transport=transport,
        )
        self._tokens = (
            InstallationTokens(auth, self._http, clock) if isinstance(auth, GitHubApp) else None
        )

    @classmethod
    def enterprise(
        cls,
        base_url: str,
        auth: GitHubToken | GitHubApp,
        *,
        limits: ForgeLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> GitHub:
        """GitHub Enterprise Server at ``https://<host>/api/v3`` (the host alone is taken to
        mean that too); git is served from the host's root."""
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ForgeError(
                f"GitHub Enterprise: {base_url!r} is not an API address such as "
                "https://github.example.com/api/v3."
            )
        path = parts.path.removesuffix(_ENTERPRISE_API_PATH)
        web_url = f"{parts.scheme}://{parts.netloc}{path}"
        return cls(
            auth,
            api_url=f"{web_url}{_ENTERPRISE_API_PATH}",
            web_url=web_url,
            name=f"GitHub Enterprise ({parts.netloc})",
            limits=limits,
            transport=transport,
            clock=clock,
        )

    def close(self) -> None:
        self._http.close()

    def clone_url(self, repository: str) -> str:
        owner, name = self._split(repository)
        return f"{self._web_url}/{owner}/{name}.git"

    def git_credentials(self, repository: str | None = None) -> GitCredentials:
        if self._tokens is None:
            assert isinstance(self._auth, GitHubToken)
            return GitCredentials(username=GIT_TOKEN_USER, password=self._auth.token)
        if repository is None:
            return GitCredentials(
                username=GIT_TOKEN_USER, password=self._tokens.only_installation_token()
            )
        owner, name = self._split(repository)
        return GitCredentials(username=GIT_TOKEN_USER, password=self._tokens.token_for(owner, name))

    def open_pull_request(
        self, repository: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        owner, name = self._split(repository)
        check_branch(self.name, head)
        check_branch(self.name, base)
        existing = self._open_pull_request(owner, name, head, base)
        if existing is not None:
            return existing
        try:
            created = self._call(
                "POST",
                owner,
                name,
                f"/repos/{owner}/{name}/pulls",
                subject=f"a pull request of {head} into {base} in {repository}",
                body={"title": title, "head": head, "base": base, "body": body},
                expect=(201,),
            )
        except ForgeError as error:
            # Another worker opened it between the look-up and the create.
            if error.status == 422 and "already exists" in error.message:
                raced = self._open_pull_request(owner, name, head, base)
                if raced is not None:
                    return raced
            raise
        return _pull_request(created, self.name, repository)

    def pull_request(self, repository: str, number: int) -> PullRequest:
        owner, name = self._split(repository)
        found = self._call(
            "GET",
            owner,
            name,
            f"/repos/{owner}/{name}/pulls/{int(number)}",
            subject=f"pull request #{number} of {repository}",
        )
        return _pull_request(found, self.name, repository)

    def close_pull_request(self, repository: str, number: int) -> None:
        owner, name = self._split(repository)
        self._call(
            "PATCH",
            owner,
            name,
            f"/repos/{owner}/{name}/pulls/{int(number)}",
            subject=f"pull request #{number} of {repository}",
            body={"state": "closed"},
        )

    def default_branch(self, repository: str) -> str:
        owner, name = self._split(repository)
        found = self._call(
            "GET", owner, name, f"/repos/{owner}/{name}", subject=f"repository {repository}"
        )
        branch = found.get("default_branch") if isinstance(found, dict) else None
        if not isinstance(branch, str) or not branch:
            raise ForgeError(f"{self.name} answered no default branch for {repository}.")
        return branch

    def _open_pull_request(self, owner: str, name: str, head: str, base: str) -> PullRequest | None:
        found = self._call(
            "GET",
            owner,
            name,
            f"/repos/{owner}/{name}/pulls",
            subject=f"the open pull requests of {owner}/{name}",
            params={"head": f"{owner}:{head}", "base": base, "state": "open", "per_page": 100},
        )
        if not isinstance(found, list):
            raise ForgeError(f"{self.name} answered no list of pull requests for {owner}/{name}.")
        for item in found:
            pull = _pull_request(item, self.name, f"{owner}/{name}")
            # The filter is GitHub's; checked again so that a forge ignoring it opens no
            # duplicate and returns no stranger's pull request.
            if pull.state == PullRequestState.OPEN and (pull.head_branch, pull.base_branch) == (
                head,
                base,
            ):
                return pull
        return None

    def _call(
        self,
        method: str,
        owner: str,
        name: str,
        path: str,
        *,
        subject: str,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        if self._tokens is None:
            assert isinstance(self._auth, GitHubToken)
            token = self._auth.token
        else:
            token = self._tokens.token_for(owner, name)
        return self._http.call(
            method,
            path,
            subject=subject,
            params=params,
            body=body,
            headers={"Authorization": f"Bearer {token}"},
            expect=expect,
        )

    def _split(self, repository: str) -> tuple[str, str]:
        owner, name = split_repository(self.name, repository)
        return owner, name


def _pull_request(found: Any, forge: str, repository: str) -> PullRequest:
    try:
        number = found["number"]
        url = found["html_url"]
        head = found["head"]["ref"]
        base = found["base"]["ref"]
        state = found["state"]
    except (KeyError, TypeError):
        raise ForgeError(
            f"{forge} answered a pull request of {repository} without its "
            "number, html_url, state, head or base."
        ) from None
    if not (isinstance(number, int) and all(isinstance(v, str) for v in (url, head, base, state))):
        raise ForgeError(f"{forge} answered a malformed pull request of {repository}.")
    merged = found.get("merged") is True or bool(found.get("merged_at"))
    if merged:
        sha = found.get("merge_commit_sha")
        return PullRequest(
            number, url, PullRequestState.MERGED, head, base, sha if isinstance(sha, str) else None
        )
    closed = state == "closed"
    return PullRequest(
        number, url, PullRequestState.CLOSED if closed else PullRequestState.OPEN, head, base, None
    )


def _github_message(body: Any) -> str | None:
    """GitHub's ``message``, and its ``errors`` (strings, or objects with a message or a
    resource/field/code triple) when it lists any."""
    if not isinstance(body, dict):
        return None
    details: list[str] = []
    errors = body.get("errors")
    for error in errors[:10] if isinstance(errors, list) else []:
        if isinstance(error, str):
            details.append(error)
        elif isinstance(error, dict):
            said = text(error.get("message"))
            if said is None:  # {"resource": "PullRequest", "field": "head", "code": "invalid"}
                where = ".".join(
                    error[key] for key in ("resource", "field") if isinstance(error.get(key), str)
                )
                code = error.get("code")
                said = f"{where}: {code}" if where and isinstance(code, str) else where
            if said:
                details.append(said)
    message = "; ".join(part for part in [text(body.get("message")), *details] if part)
    return message[:_MAX_MESSAGE] or None
