"""Bitbucket Cloud through its REST API 2.0 (``api.bitbucket.org/2.0``), authenticated by a
user name and app password (or API token) over basic auth, or by a repository, project or
workspace access token (Bearer; git user ``x-token-auth``). A declined pull request is what
the other forges call closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from baryon.git.forges.http import ForgeHttp, text

BITBUCKET_API = "https://api.bitbucket.org/2.0"
BITBUCKET_WEB = "https://bitbucket.org"
# Bitbucket's git user name for an access token used as a password.
GIT_TOKEN_USER = "x-token-auth"
_PAGE_LENGTH = 50  # the most Bitbucket returns in one page of pull requests
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class BitbucketAppPassword:
    username: str
    password: str  # an app password, or an Atlassian API token with the account's email


@dataclass(frozen=True)
class BitbucketToken:
    token: str  # a repository, project or workspace access token


class Bitbucket:
    name = "Bitbucket"

    def __init__(
        self,
        auth: BitbucketAppPassword | BitbucketToken,
        *,
        api_url: str = BITBUCKET_API,
        web_url: str = BITBUCKET_WEB,
        limits: ForgeLimits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._auth = auth
        self._web_url = web_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "baryon"}
        if isinstance(auth, BitbucketToken):
            headers["Authorization"] = f"Bearer {auth.token}"
        self._http = ForgeHttp(
            forge=self.name,
            base_url=api_url,
            headers=headers,
            limits=limits or ForgeLimits(),
            api_message=_bitbucket_message,
            auth=(
                httpx.BasicAuth(auth.username, auth.password)
                if isinstance(auth, BitbucketAppPassword)
                else None
            ),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def clone_url(self, repository: str) -> str:
        workspace, slug = self._split(repository)
        return f"{self._web_url}/{workspace}/{slug}.git"

    def git_credentials(self, repository: str | None = None) -> GitCredentials:
        if isinstance(self._auth, BitbucketToken):
            return GitCredentials(username=GIT_TOKEN_USER, password=self._auth.token)
        return GitCredentials(username=self._auth.username, password=self._auth.password)

    def open_pull_request(
        self, repository: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        workspace, slug = self._split(repository)
        check_branch(self.name, head)
        check_branch(self.name, base)
        existing = self._open_pull_request(workspace, slug, head, base)
        if existing is not None:
            return existing
        created = self._http.call(
            "POST",
            f"/repositories/{workspace}/{slug}/pullrequests",
            subject=f"a pull request of {head} into {base} in {repository}",
            body={
                "title": title,
                "description": body,
                "source": {"branch": {"name": head}},
                "destination": {"branch": {"name": base}},
                # The branch stays: it is the record of what was proposed.
                "close_source_branch": False,
            },
            expect=(200, 201),
        )
        return _pull_request(created, repository)

    def pull_request(self, repository: str, number: int) -> PullRequest:
        workspace, slug = self._split(repository)
        found = self._http.call(
            "GET",
            f"/repositories/{workspace}/{slug}/pullrequests/{int(number)}",
            subject=f"pull request #{number} of {repository}",
        )
        return _pull_request(found, repository)

    def close_pull_request(self, repository: str, number: int) -> None:
        workspace, slug = self._split(repository)
        self._http.call(
            "POST",
            f"/repositories/{workspace}/{slug}/pullrequests/{int(number)}/decline",
            subject=f"pull request #{number} of {repository}",
        )

    def default_branch(self, repository: str) -> str:
        workspace, slug = self._split(repository)
        found = self._http.call(
            "GET", f"/repositories/{workspace}/{slug}", subject=f"repository {repository}"
        )
        main = found.get("mainbranch") if isinstance(found, dict) else None
        branch = main.get("name") if isinstance(main, dict) else None
        if not isinstance(branch, str) or not branch:
            raise ForgeError(f"{self.name} answered no main branch for {repository}.")
        return branch

    def _open_pull_request(
        self, workspace: str, slug: str, head: str, base: str
    ) -> PullRequest | None:
        repository = f"{workspace}/{slug}"
        query = (
            f"source.branch.name = {_quoted(head)} AND destination.branch.name = {_quoted(base)}"
        )
        found = self._http.call(
            "GET",
            f"/repositories/{workspace}/{slug}/pullrequests",
            subject=f"the open pull requests of {repository}",
            params={"state": "OPEN", "q": query, "pagelen": _PAGE_LENGTH},
        )
        values = found.get("values") if isinstance(found, dict) else None
        if not isinstance(values, list):
            raise ForgeError(f"{self.name} answered no list of pull requests for {repository}.")
        for item in values:
            pull = _pull_request(item, repository)
            if pull.state == PullRequestState.OPEN and (pull.head_branch, pull.base_branch) == (
                head,
                base,
            ):
                return pull
        return None

    def _split(self, repository: str) -> tuple[str, str]:
        workspace, slug = split_repository(self.name, repository)
        return workspace, slug


_STATES = {
    "OPEN": PullRequestState.OPEN,
    "MERGED": PullRequestState.MERGED,
    "DECLINED": PullRequestState.CLOSED,
    "SUPERSEDED": PullRequestState.CLOSED,
}


def _pull_request(found: Any, repository: str) -> PullRequest:
    try:
        number = found["id"]
        url = found["links"]["html"]["href"]
        head = found["source"]["branch"]["name"]
        base = found["destination"]["branch"]["name"]
        state = _STATES[found["state"]]
    except (KeyError, TypeError):
        raise ForgeError(
            f"Bitbucket answered a pull request of {repository} without its id, link, state, "
            "source or destination branch (or with a state Baryon does not know)."
        ) from None
    if not (isinstance(number, int) and all(isinstance(v, str) for v in (url, head, base))):
        raise ForgeError(f"Bitbucket answered a malformed pull request of {repository}.")
    merge_sha = None
    if state == PullRequestState.MERGED:
        commit = found.get("merge_commit")
        sha = commit.get("hash") if isinstance(commit, dict) else None
        merge_sha = sha if isinstance(sha, str) and sha else None
    return PullRequest(number, url, state, head, base, merge_sha)


def _quoted(value: str) -> str:
    """A string literal of Bitbucket's query language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bitbucket_message(body: Any) -> str | None:
    """Bitbucket's ``error.message``, its ``detail`` and the problems it lists per field."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    parts = [text(error.get("message")), text(error.get("detail"))]
    fields = error.get("fields")
    if isinstance(fields, dict):
        for field, problems in list(fields.items())[:10]:
            listed = problems if isinstance(problems, list) else [problems]
            said = f"{field}: {', '.join(map(str, listed[:5]))}"
            if said not in parts:  # the message often is the one field's problem already
                parts.append(said)
    message = "; ".join(part for part in parts if part)
    return message[:_MAX_MESSAGE] or None
