"""The oracle itself: GitHub's OpenAPI descriptions catch a request, an answer or a webhook
payload that drifted from GitHub's API, so the forge tests can fail."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.github_openapi import (
    OpenApiViolation,
    rest_description,
    webhook_description,
)
from tests.support.test_forge import TestForge, running_forge

REPO = "team/infra"
HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "test",
}


def _headers(forge: TestForge) -> dict[str, str]:
    return {**HEADERS, "Authorization": f"Bearer {forge.token}"}


def test_a_misspelt_body_member_fails_the_test_that_sent_it(tmp_path: Path) -> None:
    undeclared = "'bsae', which the description does not declare"
    with pytest.raises(AssertionError, match=undeclared), running_forge(tmp_path) as forge:
        forge.create_repository(REPO)
        forge.commit(REPO, "feature", {"a": b"a"}, "a")
        answer = httpx.post(
            f"{forge.api_url}/repos/{REPO}/pulls",
            json={"title": "t", "head": "feature", "bsae": "main"},
            headers=_headers(forge),
        )
        assert answer.status_code == 400
        assert forge.pulls(REPO) == []  # refused, not half-done


def test_an_unknown_query_parameter_or_a_value_outside_the_enum_is_a_violation(
    github_forge: TestForge,
) -> None:
    github_forge.create_repository(REPO)
    answer = httpx.get(
        f"{github_forge.api_url}/repos/{REPO}/pulls",
        params={"state": "opened", "heads": "team:x"},
        headers=_headers(github_forge),
    )
    assert answer.status_code == 400
    (violation,) = github_forge.violations
    assert "'opened' is not one of ['open', 'closed', 'all']" in violation
    assert "query parameter 'heads' is not one pulls/list has" in violation
    github_forge.violations.clear()


def test_an_endpoint_github_does_not_have_is_a_violation(github_forge: TestForge) -> None:
    answer = httpx.get(
        f"{github_forge.api_url}/repos/{REPO}/pullrequests", headers=_headers(github_forge)
    )
    assert answer.status_code == 400
    assert "API has no such operation" in github_forge.violations.pop()


def test_a_github_operation_the_test_forge_does_not_answer_is_a_violation(
    github_forge: TestForge,
) -> None:
    answer = httpx.get(f"{github_forge.api_url}/user", headers=_headers(github_forge))
    assert answer.status_code == 404
    assert "GET /user (users/get-authenticated) is not answered" in github_forge.violations.pop()


def test_a_request_without_githubs_headers_is_a_violation(github_forge: TestForge) -> None:
    github_forge.create_repository(REPO)
    httpx.get(
        f"{github_forge.api_url}/repos/{REPO}",
        headers={**_headers(github_forge), "X-GitHub-Api-Version": "2021-01-01"},
    )
    assert "is not a version GitHub has" in github_forge.violations.pop()


def test_a_wrongly_typed_member_and_a_missing_required_one_are_violations() -> None:
    description = rest_description()
    body = json.dumps({"title": "t", "head": "x", "base": "main", "draft": "yes"}).encode()
    with pytest.raises(OpenApiViolation, match="draft: 'yes' is not of type 'boolean'"):
        description.check_request("POST", "/repos/o/r/pulls", "", body, "application/json")
    with pytest.raises(OpenApiViolation, match="'base' is a required property"):
        description.check_request(
            "POST", "/repos/o/r/pulls", "", b'{"head": "x"}', "application/json"
        )
    with pytest.raises(OpenApiViolation, match="'abc' is not of type 'integer'"):
        description.check_request("GET", "/repos/o/r/pulls/abc", "", b"", None)
    with pytest.raises(OpenApiViolation, match="'closing' is not one of"):
        description.check_request(
            "PATCH", "/repos/o/r/pulls/1", "", b'{"state": "closing"}', "application/json"
        )


def test_an_answer_missing_what_github_always_sends_is_a_violation(
    github_forge: TestForge,
) -> None:
    github_forge.create_repository(REPO)
    github_forge.commit(REPO, "feature", {"a": b"a"}, "a")
    created = httpx.post(
        f"{github_forge.api_url}/repos/{REPO}/pulls",
        json={"title": "t", "head": "feature", "base": "main"},
        headers=_headers(github_forge),
    )
    assert created.status_code == 201
    pull = created.json()
    rest_description().check_response("POST", f"/repos/{REPO}/pulls", 201, created.content)
    del pull["merge_commit_sha"]
    with pytest.raises(OpenApiViolation, match="'merge_commit_sha' is a required property"):
        rest_description().check_response(
            "GET", f"/repos/{REPO}/pulls/1", 200, json.dumps(pull).encode()
        )
    with pytest.raises(OpenApiViolation, match="lists no 202 answer"):
        rest_description().check_response("GET", f"/repos/{REPO}/pulls/1", 202, created.content)


def test_a_webhook_payload_that_drifted_is_a_violation(github_forge: TestForge) -> None:
    github_forge.create_repository(REPO)
    head = github_forge.branch_head(REPO, "main")
    push = github_forge.push_payload(REPO, "main", None, head)
    webhook_description().check("push", push)
    del push["after"]
    with pytest.raises(OpenApiViolation, match="'after' is a required property"):
        webhook_description().check("push", push)
    github_forge.commit(REPO, "feature", {"a": b"a"}, "a")
    created = httpx.post(
        f"{github_forge.api_url}/repos/{REPO}/pulls",
        json={"title": "t", "head": "feature", "base": "main"},
        headers=_headers(github_forge),
    )
    assert created.status_code == 201
    opened = github_forge.pull_request_payload(REPO, github_forge.pull(REPO, 1), "opened")
    webhook_description().check("pull_request", opened)
    with pytest.raises(OpenApiViolation, match="no 'pull_request' event with action 'merged'"):
        webhook_description().check("pull_request", {**opened, "action": "merged"})
    opened["pull_request"]["number"] = "1"
    with pytest.raises(OpenApiViolation, match="'1' is not of type 'integer'"):
        webhook_description().check("pull_request", opened)


def test_github_enterprise_is_checked_against_its_own_description(
    enterprise_forge: TestForge,
) -> None:
    assert enterprise_forge.description.name == "ghes-3.19"
    enterprise_forge.create_repository(REPO)
    answer = httpx.get(
        f"{enterprise_forge.api_url}/repos/{REPO}", headers=_headers(enterprise_forge)
    )
    assert answer.status_code == 200 and answer.json()["full_name"] == REPO
    outside = httpx.get(
        f"{enterprise_forge.base_url}/repos/{REPO}", headers=_headers(enterprise_forge)
    )
    assert outside.status_code == 404  # the API lives under /api/v3 only
