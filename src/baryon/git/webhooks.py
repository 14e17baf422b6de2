"""Webhooks from GitHub, GitLab and Bitbucket Cloud: the sender proven first (a signature, or
GitLab's shared token), then the body read into a typed push or pull-request event.

Everything here runs before anything is trusted: bodies are bounded, signatures compared in
constant time, and a body that does not have the fields an event needs is refused with the
field named. Events Baryon does not act on (ping, issues, tags, ...) are None.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from baryon.git.forges.base import PullRequestState

# GitHub caps a webhook payload at 25 MB and drops larger ones; nothing larger is expected
# from any forge.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024

_NO_COMMIT = "0" * 40  # GitHub's and GitLab's "before" of a new branch, "after" of a deleted one
_BRANCH_REF = "refs/heads/"


class WebhookRefused(Exception):
    """A webhook that is not proven to come from the forge, or that cannot be read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PushEvent:
    repository: str  # "owner/name" as the forge names it
    branch: str  # without refs/heads/
    before: str | None  # None: the push created the branch
    after: str | None  # None: the push deleted the branch


@dataclass(frozen=True)
class PullRequestEvent:
    repository: str
    number: int
    state: PullRequestState
    head_branch: str
    base_branch: str


WebhookEvent = PushEvent | PullRequestEvent


def parse_github(headers: Mapping[str, str], body: bytes, secret: str) -> WebhookEvent | None:
    """A GitHub or GitHub Enterprise delivery, signed in X-Hub-Signature-256."""
    lowered = _lowered(headers)
    _check_size(body)
    _check_signature("GitHub", lowered.get("x-hub-signature-256"), body, secret)
    event = lowered.get("x-github-event", "")
    if event not in ("push", "pull_request"):
        return None
    payload = _github_payload(lowered, body)
    repository = _string(payload, "repository", "full_name")
    if event == "push":
        ref = _string(payload, "ref")
        if not ref.startswith(_BRANCH_REF):
            return None  # a tag
        return PushEvent(
            repository,
            ref.removeprefix(_BRANCH_REF),
            _commit(_string(payload, "before")),
            _commit(_string(payload, "after")),
        )
    state = _string(payload, "pull_request", "state")
    merged = _field(payload, "pull_request").get("merged") is True
    return PullRequestEvent(
        repository,
        _integer(payload, "pull_request", "number"),
        PullRequestState.MERGED
        if merged
        else PullRequestState.CLOSED
        if state == "closed"
        else PullRequestState.OPEN,
        _string(payload, "pull_request", "head", "ref"),
        _string(payload, "pull_request", "base", "ref"),
    )


def parse_gitlab(headers: Mapping[str, str], body: bytes, secret: str) -> WebhookEvent | None:
    """A GitLab delivery, carrying the webhook's secret token in X-Gitlab-Token."""
    lowered = _lowered(headers)
    _check_size(body)
    if not secret:
        raise WebhookRefused(_NO_SECRET.format(forge="GitLab"))
    given = lowered.get("x-gitlab-token")
    if given is None:
        raise WebhookRefused("the GitLab webhook has no X-Gitlab-Token header.")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookRefused("the GitLab webhook's X-Gitlab-Token is not the secret token.")
    event = lowered.get("x-gitlab-event", "")
    if event not in ("Push Hook", "Merge Request Hook"):
        return None
    payload = _json_object(body)
    repository = _string(payload, "project", "path_with_namespace")
    if event == "Push Hook":
        ref = _string(payload, "ref")
        if not ref.startswith(_BRANCH_REF):
            return None
        return PushEvent(
            repository,
            ref.removeprefix(_BRANCH_REF),
            _commit(_string(payload, "before")),
            _commit(_string(payload, "after")),
        )
    state = _GITLAB_STATES.get(_string(payload, "object_attributes", "state"))
    if state is None:
        return None  # a state no pull request watcher acts on
    return PullRequestEvent(
        repository,
        _integer(payload, "object_attributes", "iid"),
        state,
        _string(payload, "object_attributes", "source_branch"),
        _string(payload, "object_attributes", "target_branch"),
    )


def parse_bitbucket(headers: Mapping[str, str], body: bytes, secret: str) -> WebhookEvent | None:
    """A Bitbucket Cloud delivery, signed in X-Hub-Signature. One Bitbucket push may move
    several branches; this answers the first, parse_bitbucket_all answers them all."""
    events = parse_bitbucket_all(headers, body, secret)
    return events[0] if events else None


def parse_bitbucket_all(
    headers: Mapping[str, str], body: bytes, secret: str
) -> tuple[WebhookEvent, ...]:
    lowered = _lowered(headers)
    _check_size(body)
    _check_signature("Bitbucket", lowered.get("x-hub-signature"), body, secret)
    event = lowered.get("x-event-key", "")
    if event != "repo:push" and not event.startswith("pullrequest:"):
        return ()
    payload = _json_object(body)
    repository = _string(payload, "repository", "full_name")
    if event.startswith("pullrequest:"):
        state = _BITBUCKET_STATES.get(_string(payload, "pullrequest", "state"))
        if state is None:
            return ()
        return (
            PullRequestEvent(
                repository,
                _integer(payload, "pullrequest", "id"),
                state,
                _string(payload, "pullrequest", "source", "branch", "name"),
                _string(payload, "pullrequest", "destination", "branch", "name"),
            ),
        )
    changes = _field(payload, "push").get("changes")
    if not isinstance(changes, list):
        raise WebhookRefused("the Bitbucket push has no push.changes list.")
    events: list[WebhookEvent] = []
    for index, change in enumerate(changes):
        if not isinstance(change, dict):
            raise WebhookRefused(f"push.changes[{index}] of the Bitbucket push is not an object.")
        old, new = _bitbucket_ref(change, "old", index), _bitbucket_ref(change, "new", index)
        branch = (new or old or (None, None))[0]
        if branch is not None:
            events.append(
                PushEvent(repository, branch, old[1] if old else None, new[1] if new else None)
            )
    return tuple(events)


_NO_SECRET = (
    "no webhook secret is configured for this {forge} connection, so no delivery can be "
    "trusted; set one on the connection and on the webhook."
)
_GITLAB_STATES = {
    "opened": PullRequestState.OPEN,
    "reopened": PullRequestState.OPEN,
    "merged": PullRequestState.MERGED,
    "closed": PullRequestState.CLOSED,
}
_BITBUCKET_STATES = {
    "OPEN": PullRequestState.OPEN,
    "MERGED": PullRequestState.MERGED,
    "DECLINED": PullRequestState.CLOSED,
    "SUPERSEDED": PullRequestState.CLOSED,
}


def signature(body: bytes, secret: str) -> str:
    """The ``sha256=<hex>`` that GitHub and Bitbucket send for a body (tests sign with it)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check_signature(forge: str, given: str | None, body: bytes, secret: str) -> None:
    if not secret:
        raise WebhookRefused(_NO_SECRET.format(forge=forge))
    header = "X-Hub-Signature-256" if forge == "GitHub" else "X-Hub-Signature"
    if given is None:
        raise WebhookRefused(f"the {forge} webhook has no {header} header; is a secret set on it?")
    if not hmac.compare_digest(given.strip().encode(), signature(body, secret).encode()):
        raise WebhookRefused(
            f"the {forge} webhook's {header} does not match its body signed with the "
            "connection's webhook secret."
        )


def _check_size(body: bytes) -> None:
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRefused(
            f"the webhook body is {len(body)} bytes, more than the {MAX_WEBHOOK_BYTES} accepted."
        )


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _github_payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    # A GitHub webhook may be set to send its JSON as the form field "payload".
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            form = parse_qs(body.decode(), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRefused("the GitHub webhook's form body cannot be read.") from None
        payload = form.get("payload")
        if not payload:
            raise WebhookRefused("the GitHub webhook's form body has no payload field.")
        return _json_object(payload[0].encode())
    return _json_object(body)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRefused("the webhook body is not JSON.") from None
    if not isinstance(parsed, dict):
        raise WebhookRefused("the webhook body is not a JSON object.")
    return parsed


def _field(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    value: Any = payload
    for depth, key in enumerate(path):
        value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise WebhookRefused(f"the webhook body has no object {'.'.join(path[: depth + 1])}.")
    assert isinstance(value, dict)
    return value


def _string(payload: dict[str, Any], *path: str) -> str:
    value = _field(payload, *path[:-1]).get(path[-1]) if len(path) > 1 else payload.get(path[0])
    if not isinstance(value, str) or not value:
        raise WebhookRefused(f"the webhook body has no string {'.'.join(path)}.")
    return value


def _integer(payload: dict[str, Any], *path: str) -> int:
    value = _field(payload, *path[:-1]).get(path[-1])
    if not isinstance(value, int) or isinstance(value, bool):
        raise WebhookRefused(f"the webhook body has no integer {'.'.join(path)}.")
    return value


def _commit(sha: str) -> str | None:
    return None if sha == _NO_COMMIT else sha


def _bitbucket_ref(change: dict[str, Any], side: str, index: int) -> tuple[str, str] | None:
    """(branch, commit) of one side of a Bitbucket change; None when the side is empty (a
    created or deleted branch) or is a tag."""
    ref = change.get(side)
    if ref is None:
        return None
    where = f"push.changes[{index}].{side}"
    if not isinstance(ref, dict):
        raise WebhookRefused(f"{where} of the Bitbucket push is not an object.")
    if ref.get("type") != "branch":
        return None
    name, target = ref.get("name"), ref.get("target")
    sha = target.get("hash") if isinstance(target, dict) else None
    if not isinstance(name, str) or not name or not isinstance(sha, str) or not sha:
        raise WebhookRefused(f"{where} of the Bitbucket push has no name or target.hash.")
    return name, sha
