"""GitLab (gitlab.com or self-managed) through its REST API v4: merge requests are its pull
requests, a project is named by its URL-encoded path ("group/sub/name"), and a personal,
group or project access token authenticates (PRIVATE-TOKEN; git user ``oauth2``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

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

GITLAB = "https://gitlab.com"
GIT_TOKEN_USER = "oauth2"
# GitLab groups nest up to 20 deep; Baryon's repository names allow 5 parts.
_MAX_PARTS = 5
_MAX_MESSAGE = 500


class GitLab:
    def __init__(
        self,
        token: str,
        *,
        base_url: str = GITLAB,
        limits: ForgeLimits | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ForgeError(f"GitLab: {base_url!r} is not an address such as https://gitlab.com.")
        # The instance's address; "/api/v4" is added here, so either form is accepted.
        self._web_url = f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix('/api/v4')}"
        self.name = "GitLab" if parts.netloc == "gitlab.com" else f"GitLab ({parts.netloc})"
        self._token = token
        self._http = ForgeHttp(
            forge=self.name,
            base_url=f"{self._web_url}/api/v4",
            headers={"PRIVATE-TOKEN": token, "User-Agent": "baryon"},
            limits=limits or ForgeLimits(),
            api_message=_gitlab_message,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def clone_url(self, repository: str) -> str:
        return f"{self._web_url}/{'/'.join(self._split(repository))}.git"

    def git_credentials(self, repository: str | None = None) -> GitCredentials:
        return GitCredentials(username=GIT_TOKEN_USER, password=self._token)

    def open_pull_request(
        self, repository: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        project = self._project(repository)
        check_branch(self.name, head)
        check_branch(self.name, base)
        existing = self._open_merge_request(project, repository, head, base)
        if existing is not None:
            return existing
        try:
            created = self._http.call(
                "POST",
                f"/projects/{project}/merge_requests",
                subject=f"a merge request of {head} into {base} in {repository}",
                body={
                    "source_branch": head,
                    "target_branch": base,
                    "title": title,
                    "description": body,
                },
                expect=(201,),
            )
        except ForgeError as error:
            # GitLab answers 409 when another worker opened it since the look-up.
            if error.status == 409:
                raced = self._open_merge_request(project, repository, head, base)
                if raced is not None:
                    return raced
            raise
        return _merge_request(created, self.name, repository)

    def pull_request(self, repository: str, number: int) -> PullRequest:
        found = self._http.call(
            "GET",
            f"/projects/{self._project(repository)}/merge_requests/{int(number)}",
            subject=f"merge request !{number} of {repository}",
        )
        return _merge_request(found, self.name, repository)

    def close_pull_request(self, repository: str, number: int) -> None:
        self._http.call(
            "PUT",
            f"/projects/{self._project(repository)}/merge_requests/{int(number)}",
            subject=f"merge request !{number} of {repository}",
            body={"state_event": "close"},
        )

    def default_branch(self, repository: str) -> str:
        found = self._http.call(
            "GET", f"/projects/{self._project(repository)}", subject=f"project {repository}"
        )
        branch = found.get("default_branch") if isinstance(found, dict) else None
        if not isinstance(branch, str) or not branch:
            raise ForgeError(
                f"{self.name} answered no default branch for {repository} (an empty project "
                "has none until its first push)."
            )
        return branch

    def _open_merge_request(
        self, project: str, repository: str, head: str, base: str
    ) -> PullRequest | None:
        found = self._http.call(
            "GET",
            f"/projects/{project}/merge_requests",
            subject=f"the open merge requests of {repository}",
            params={
                "state": "opened",
                "source_branch": head,
                "target_branch": base,
                "per_page": 100,
            },
        )
        if not isinstance(found, list):
            raise ForgeError(f"{self.name} answered no list of merge requests for {repository}.")
        for item in found:
            merge_request = _merge_request(item, self.name, repository)
            if (merge_request.head_branch, merge_request.base_branch, merge_request.state) == (
                head,
                base,
                PullRequestState.OPEN,
            ):
                return merge_request
        return None

    def _project(self, repository: str) -> str:
        # The path as one URL-encoded segment ("group%2Fname"): GitLab's project id.
        return quote("/".join(self._split(repository)), safe="")

    def _split(self, repository: str) -> list[str]:
        return split_repository(self.name, repository, max_parts=_MAX_PARTS)


_STATES = {
    "opened": PullRequestState.OPEN,
    "locked": PullRequestState.OPEN,  # locked for a moment while GitLab merges it
    "merged": PullRequestState.MERGED,
    "closed": PullRequestState.CLOSED,
}


def _merge_request(found: Any, forge: str, repository: str) -> PullRequest:
    try:
        number = found["iid"]
        url = found["web_url"]
        head = found["source_branch"]
        base = found["target_branch"]
        state = _STATES[found["state"]]
    except (KeyError, TypeError):
        raise ForgeError(
            f"{forge} answered a merge request of {repository} without its iid, web_url, "
            "state, source_branch or target_branch (or with a state Baryon does not know)."
        ) from None
    if not (isinstance(number, int) and all(isinstance(v, str) for v in (url, head, base))):
        raise ForgeError(f"{forge} answered a malformed merge request of {repository}.")
    merge_sha = None
    if state == PullRequestState.MERGED:
        # A merge commit, a squash commit, or (fast-forward) the source's own head.
        for key in ("merge_commit_sha", "squash_commit_sha", "sha"):
            if isinstance(found.get(key), str) and found[key]:
                merge_sha = found[key]
                break
    return PullRequest(number, url, state, head, base, merge_sha)


def _gitlab_message(body: Any) -> str | None:
    """GitLab's ``message`` (a string, a list, or field -> list of problems) or ``error``."""
    if not isinstance(body, dict):
        return None
    said = body.get("message", body.get("error"))
    if isinstance(said, list):
        message = "; ".join(str(item) for item in said[:10])
    elif isinstance(said, dict):
        message = "; ".join(
            f"{field} {', '.join(map(str, problems)) if isinstance(problems, list) else problems}"
            for field, problems in list(said.items())[:10]
        )
    else:
        message = text(said) or ""
    return message[:_MAX_MESSAGE] or None
