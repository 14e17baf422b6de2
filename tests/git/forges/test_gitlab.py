"""GitLab: merge requests opened once, read back in each state, closed; errors worded with
what GitLab said."""

from __future__ import annotations

import pytest

from baryon.git.forges import ForgeError, GitLab, PullRequest, PullRequestState
from tests.git.forges.fakes import FakeGitLab

PROJECT = "platform/infra/environments"
URL = "https://gitlab.example.com"


@pytest.fixture
def gitlab() -> FakeGitLab:
    fake = FakeGitLab(token="glpat-test")
    fake.add_repository(PROJECT, "proton/dev")
    return fake


def _client(fake: FakeGitLab, token: str | None = None) -> GitLab:
    return GitLab(token or fake.token, base_url=URL, transport=fake.transport())


def test_a_merge_request_is_opened_once_and_read_back_open(gitlab: FakeGitLab) -> None:
    client = _client(gitlab)
    opened = client.open_pull_request(
        PROJECT, head="proton/dev", base="main", title="Deploy", body="why"
    )
    again = client.open_pull_request(
        PROJECT, head="proton/dev", base="main", title="Deploy", body="why"
    )
    assert (
        opened
        == again
        == PullRequest(
            1,
            f"{URL}/{PROJECT}/-/merge_requests/1",
            PullRequestState.OPEN,
            "proton/dev",
            "main",
            None,
        )
    )
    assert gitlab.posts() == 1
    assert gitlab.pulls[PROJECT][0].description == "why"
    # The project is named by its URL-encoded path, and the token goes in PRIVATE-TOKEN.
    first = gitlab.requests[0]
    assert b"/projects/platform%2Finfra%2Fenvironments/" in first.url.raw_path
    assert first.headers["private-token"] == "glpat-test"


def test_a_merged_merge_request_reads_merged_with_its_merge_commit(gitlab: FakeGitLab) -> None:
    client = _client(gitlab)
    opened = client.open_pull_request(PROJECT, head="proton/dev", base="main", title="t", body="")
    gitlab.merge(PROJECT, opened.number, "a" * 40)
    merged = client.pull_request(PROJECT, opened.number)
    assert merged.state == PullRequestState.MERGED and merged.merge_sha == "a" * 40


def test_closing_a_merge_request_leaves_it_closed(gitlab: FakeGitLab) -> None:
    client = _client(gitlab)
    opened = client.open_pull_request(PROJECT, head="proton/dev", base="main", title="t", body="")
    client.close_pull_request(PROJECT, opened.number)
    closed = client.pull_request(PROJECT, opened.number)
    assert closed.state == PullRequestState.CLOSED and closed.merge_sha is None
    put = gitlab.requests[-2]
    assert put.method == "PUT" and put.content == b'{"state_event":"close"}'


def test_a_merge_request_opened_by_another_worker_meanwhile_is_returned(
    gitlab: FakeGitLab,
) -> None:
    client = _client(gitlab)
    first = client.open_pull_request(PROJECT, head="proton/dev", base="main", title="t", body="")
    gitlab.lagging_lists = 1  # the look-up misses it; the create answers 409
    again = client.open_pull_request(PROJECT, head="proton/dev", base="main", title="t", body="")
    assert again == first
    assert [r.method for r in gitlab.requests[-3:]] == ["GET", "POST", "GET"]
    assert len(gitlab.pulls[PROJECT]) == 1


def test_default_branch_clone_url_and_git_credentials(gitlab: FakeGitLab) -> None:
    gitlab.add_repository("platform/templates", default="trunk")
    client = _client(gitlab)
    assert client.default_branch("platform/templates") == "trunk"
    assert client.clone_url(PROJECT) == f"{URL}/{PROJECT}.git"
    credentials = client.git_credentials()
    assert (credentials.username, credentials.password) == ("oauth2", "glpat-test")
    assert GitLab("t", base_url=f"{URL}/api/v4/").clone_url("a/b") == f"{URL}/a/b.git"


def test_gitlab_errors_name_gitlab_the_project_and_what_it_said(gitlab: FakeGitLab) -> None:
    with pytest.raises(ForgeError) as refused:
        _client(gitlab, "wrong").default_branch(PROJECT)
    assert refused.value.status == 401
    assert refused.value.message.startswith(
        "GitLab (gitlab.example.com) refused the credentials for project "
        "platform/infra/environments (401): 401 Unauthorized."
    )
    with pytest.raises(ForgeError) as missing:
        _client(gitlab).default_branch("platform/nothing")
    assert "project platform/nothing was not found" in missing.value.message
    assert "404 Project Not Found" in missing.value.message
    with pytest.raises(ForgeError) as invalid:
        _client(gitlab).open_pull_request(PROJECT, head="nope", base="main", title="t", body="")
    assert invalid.value.status == 400
    assert "Source branch does not exist; Validate branches" in invalid.value.message
    with pytest.raises(ForgeError, match="merge request !9 of platform/infra/environments"):
        _client(gitlab).pull_request(PROJECT, 9)


def test_project_names_that_could_reach_other_paths_are_refused(gitlab: FakeGitLab) -> None:
    client = _client(gitlab)
    for name in ("solo", "a/../b", "a/b c", "a/b/c/d/e/f"):
        with pytest.raises(ForgeError, match="is not a repository name"):
            client.default_branch(name)
    assert gitlab.requests == []
