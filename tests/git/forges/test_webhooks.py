"""Webhooks: the sender proven by its signature or token, the body read into typed events.
GitHub's deliveries come from the test forge, each payload checked against GitHub's
published webhooks description before it is sent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from baryon.git.forges import GitHub, GitHubToken, PullRequestState
from baryon.git.webhooks import (
    MAX_WEBHOOK_BYTES,
    PullRequestEvent,
    PushEvent,
    WebhookRefused,
    parse_bitbucket,
    parse_bitbucket_all,
    parse_github,
    parse_gitlab,
    signature,
)
from tests.git.forges.conftest import WebhookReceiver
from tests.support.test_forge import TestForge

SECRET = "s3cret-hook"
REPO = "team/templates"


# ---- GitHub, through the test forge


def test_a_github_push_delivery_is_a_push_event_of_its_branch(
    github_forge: TestForge, webhook_receiver: WebhookReceiver
) -> None:
    github_forge.create_repository(REPO)
    before = github_forge.branch_head(REPO, "main")
    after = github_forge.commit(REPO, "main", {"api/v1/schema/schema.yaml": b"x"}, "v1")
    delivery = github_forge.deliver_push(webhook_receiver.url, SECRET, REPO, "main", before, after)
    assert delivery.status == 204
    (received,) = webhook_receiver.wait_for(1)
    assert parse_github(received.headers, received.body, SECRET) == PushEvent(
        REPO, "main", before, after
    )
    assert received.headers["x-github-event"] == "push"


def test_a_created_or_deleted_branch_has_no_before_or_no_after(
    github_forge: TestForge, webhook_receiver: WebhookReceiver
) -> None:
    github_forge.create_repository(REPO)
    head = github_forge.commit(REPO, "feature", {"a.txt": b"a"}, "a")
    github_forge.deliver_push(webhook_receiver.url, SECRET, REPO, "feature", None, head)
    github_forge.deliver_push(webhook_receiver.url, SECRET, REPO, "feature", head, None)
    created, deleted = webhook_receiver.wait_for(2)
    assert parse_github(created.headers, created.body, SECRET) == PushEvent(
        REPO, "feature", None, head
    )
    assert parse_github(deleted.headers, deleted.body, SECRET) == PushEvent(
        REPO, "feature", head, None
    )


def test_registered_hooks_hear_of_pull_requests_opened_merged_and_of_the_merge_push(
    github_forge: TestForge, webhook_receiver: WebhookReceiver
) -> None:
    github_forge.create_repository(REPO)
    github_forge.commit(REPO, "proton/dev", {"env.tf": b"x"}, "dev")
    github_forge.add_webhook(REPO, webhook_receiver.url, SECRET)
    github = GitHub(
        GitHubToken(github_forge.token), api_url=github_forge.api_url, web_url=github_forge.base_url
    )
    opened = github.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    webhook_receiver.wait_for(1)  # delivered after the answer, as GitHub does
    base_before = github_forge.branch_head(REPO, "main")
    merge = github_forge.merge(REPO, opened.number)
    events = [parse_github(r.headers, r.body, SECRET) for r in webhook_receiver.wait_for(3)]
    assert events == [
        PullRequestEvent(REPO, 1, PullRequestState.OPEN, "proton/dev", "main"),
        PushEvent(REPO, "main", base_before, merge),
        PullRequestEvent(REPO, 1, PullRequestState.MERGED, "proton/dev", "main"),
    ]


def test_a_pull_request_closed_unmerged_is_closed(
    github_forge: TestForge, webhook_receiver: WebhookReceiver
) -> None:
    github_forge.create_repository(REPO)
    github_forge.commit(REPO, "proton/dev", {"env.tf": b"x"}, "dev")
    github_forge.add_webhook(REPO, webhook_receiver.url, SECRET)
    github = GitHub(
        GitHubToken(github_forge.token), api_url=github_forge.api_url, web_url=github_forge.base_url
    )
    opened = github.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    webhook_receiver.wait_for(1)
    github.close_pull_request(REPO, opened.number)
    closed = webhook_receiver.wait_for(2)[1]
    assert parse_github(closed.headers, closed.body, SECRET) == PullRequestEvent(
        REPO, 1, PullRequestState.CLOSED, "proton/dev", "main"
    )


def test_a_git_push_to_the_forge_is_delivered_to_its_hooks(
    github_forge: TestForge, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    github_forge.create_repository(REPO)
    github_forge.add_webhook(REPO, webhook_receiver.url, SECRET)
    before = github_forge.branch_head(REPO, "main")
    url = f"{github_forge.base_url}/{REPO}.git".replace(
        "://", f"://x-access-token:{github_forge.token}@"
    )
    work = tmp_path / "work"
    env = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"}
    for command in (
        ["git", "clone", "-q", url, str(work)],
        [
            "git",
            "-C",
            str(work),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "empty",
        ],
        ["git", "-C", str(work), "push", "-q", "origin", "main"],
    ):
        subprocess.run(command, check=True, timeout=60, env=env, capture_output=True)
    (received,) = webhook_receiver.wait_for(1)
    event = parse_github(received.headers, received.body, SECRET)
    assert isinstance(event, PushEvent) and event.before == before
    assert event.after == github_forge.branch_head(REPO, "main") != before
    payload = json.loads(received.body)
    assert payload["head_commit"]["message"] == "empty"


def test_a_github_delivery_signed_with_another_secret_is_refused(
    github_forge: TestForge, webhook_receiver: WebhookReceiver
) -> None:
    github_forge.create_repository(REPO)
    head = github_forge.branch_head(REPO, "main")
    github_forge.deliver_push(webhook_receiver.url, "another", REPO, "main", None, head)
    (received,) = webhook_receiver.wait_for(1)
    with pytest.raises(WebhookRefused, match="does not match its body"):
        parse_github(received.headers, received.body, SECRET)
    tampered = received.body.replace(b"team/templates", b"team/elsewhere")
    with pytest.raises(WebhookRefused):
        parse_github(received.headers, tampered, "another")
    unsigned = {k: v for k, v in received.headers.items() if k != "x-hub-signature-256"}
    with pytest.raises(WebhookRefused, match="no X-Hub-Signature-256 header"):
        parse_github(unsigned, received.body, "another")


def test_github_events_baryon_does_not_act_on_are_none() -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    headers = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature(body, SECRET)}
    assert parse_github(headers, body, SECRET) is None
    tag = json.dumps(
        {
            "ref": "refs/tags/v1",
            "before": "0" * 40,
            "after": "a" * 40,
            "repository": {"full_name": REPO},
        }
    ).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(tag, SECRET)}
    assert parse_github(headers, tag, SECRET) is None


def test_a_github_form_encoded_delivery_is_read_from_its_payload_field() -> None:
    payload = {
        "ref": "refs/heads/main",
        "before": "b" * 40,
        "after": "a" * 40,
        "repository": {"full_name": REPO},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signature(body, SECRET),
    }
    assert parse_github(headers, body, SECRET) == PushEvent(REPO, "main", "b" * 40, "a" * 40)


def test_a_signed_body_without_the_fields_an_event_needs_is_refused_naming_the_field() -> None:
    body = json.dumps({"ref": "refs/heads/main", "before": "b" * 40, "after": "a" * 40}).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature(body, SECRET)}
    with pytest.raises(WebhookRefused, match=r"no object repository"):
        parse_github(headers, body, SECRET)
    body = b"[1, 2"
    headers["X-Hub-Signature-256"] = signature(body, SECRET)
    with pytest.raises(WebhookRefused, match="not JSON"):
        parse_github(headers, body, SECRET)


def test_a_body_over_the_limit_or_a_connection_without_a_secret_is_refused() -> None:
    huge = b" " * (MAX_WEBHOOK_BYTES + 1)
    with pytest.raises(WebhookRefused, match="more than the"):
        parse_github({"X-Hub-Signature-256": signature(huge, SECRET)}, huge, SECRET)
    body = b"{}"
    with pytest.raises(WebhookRefused, match="no webhook secret is configured"):
        parse_github({"X-Hub-Signature-256": signature(body, "")}, body, "")
    with pytest.raises(WebhookRefused, match="no webhook secret is configured"):
        parse_gitlab({"X-Gitlab-Token": ""}, body, "")
    with pytest.raises(WebhookRefused, match="no webhook secret is configured"):
        parse_bitbucket({"X-Hub-Signature": signature(body, "")}, body, "")


# ---- GitLab


def _gitlab_push(ref: str = "refs/heads/main") -> bytes:
    return json.dumps(
        {
            "object_kind": "push",
            "ref": ref,
            "before": "0" * 40,
            "after": "c" * 40,
            "project": {"path_with_namespace": "group/sub/templates"},
        }
    ).encode()


def test_a_gitlab_push_with_the_secret_token_is_a_push_event() -> None:
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
    assert parse_gitlab(headers, _gitlab_push(), SECRET) == PushEvent(
        "group/sub/templates", "main", None, "c" * 40
    )
    assert (
        parse_gitlab({"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": SECRET}, b"{}", SECRET)
        is None
    )


def test_a_gitlab_merge_request_hook_carries_the_merge_requests_state() -> None:
    body = json.dumps(
        {
            "object_kind": "merge_request",
            "project": {"path_with_namespace": "group/infra"},
            "object_attributes": {
                "iid": 7,
                "state": "merged",
                "source_branch": "proton/dev",
                "target_branch": "main",
            },
        }
    ).encode()
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SECRET}
    assert parse_gitlab(headers, body, SECRET) == PullRequestEvent(
        "group/infra", 7, PullRequestState.MERGED, "proton/dev", "main"
    )


def test_a_gitlab_hook_with_a_wrong_or_missing_token_is_refused() -> None:
    with pytest.raises(WebhookRefused, match="is not the secret token"):
        parse_gitlab(
            {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"}, _gitlab_push(), SECRET
        )
    with pytest.raises(WebhookRefused, match="no X-Gitlab-Token header"):
        parse_gitlab({"X-Gitlab-Event": "Push Hook"}, _gitlab_push(), SECRET)


# ---- Bitbucket Cloud


def _change(name: str | None, old: str | None, new: str | None) -> dict[str, object]:
    def side(sha: str | None) -> object:
        return None if sha is None else {"type": "branch", "name": name, "target": {"hash": sha}}

    return {"old": side(old), "new": side(new)}


def test_a_bitbucket_push_of_several_branches_is_one_event_per_branch() -> None:
    body = json.dumps(
        {
            "repository": {"full_name": "work/templates"},
            "push": {
                "changes": [
                    _change("main", "1" * 40, "2" * 40),
                    _change("feature", None, "3" * 40),
                    {
                        "old": {"type": "tag", "name": "v1", "target": {"hash": "4" * 40}},
                        "new": None,
                    },
                ]
            },
        }
    ).encode()
    headers = {"X-Event-Key": "repo:push", "X-Hub-Signature": signature(body, SECRET)}
    assert parse_bitbucket_all(headers, body, SECRET) == (
        PushEvent("work/templates", "main", "1" * 40, "2" * 40),
        PushEvent("work/templates", "feature", None, "3" * 40),
    )
    assert parse_bitbucket(headers, body, SECRET) == PushEvent(
        "work/templates", "main", "1" * 40, "2" * 40
    )


@pytest.mark.parametrize(
    ("key", "state", "expected"),
    [
        ("pullrequest:created", "OPEN", PullRequestState.OPEN),
        ("pullrequest:fulfilled", "MERGED", PullRequestState.MERGED),
        ("pullrequest:rejected", "DECLINED", PullRequestState.CLOSED),
    ],
)
def test_bitbucket_pull_request_events_carry_its_state(
    key: str, state: str, expected: PullRequestState
) -> None:
    body = json.dumps(
        {
            "repository": {"full_name": "work/infra"},
            "pullrequest": {
                "id": 3,
                "state": state,
                "source": {"branch": {"name": "proton/dev"}},
                "destination": {"branch": {"name": "main"}},
            },
        }
    ).encode()
    headers = {"X-Event-Key": key, "X-Hub-Signature": signature(body, SECRET)}
    assert parse_bitbucket(headers, body, SECRET) == PullRequestEvent(
        "work/infra", 3, expected, "proton/dev", "main"
    )


def test_a_bitbucket_delivery_with_a_wrong_or_missing_signature_is_refused() -> None:
    body = json.dumps({"repository": {"full_name": "w/r"}, "push": {"changes": []}}).encode()
    with pytest.raises(WebhookRefused, match="X-Hub-Signature does not match"):
        parse_bitbucket(
            {"X-Event-Key": "repo:push", "X-Hub-Signature": signature(body, "x")}, body, SECRET
        )
    with pytest.raises(WebhookRefused, match="no X-Hub-Signature header"):
        parse_bitbucket({"X-Event-Key": "repo:push"}, body, SECRET)
    assert (
        parse_bitbucket(
            {"X-Event-Key": "issue:created", "X-Hub-Signature": signature(body, SECRET)},
            body,
            SECRET,
        )
        is None
    )
