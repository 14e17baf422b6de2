"""Bitbucket Cloud: pull requests opened once, read back in each state, declined; app
password or access token; errors worded with what Bitbucket said."""

from __future__ import annotations

import pytest

from baryon.git.forges import (
    Bitbucket,
    BitbucketAppPassword,
    BitbucketToken,
    ForgeError,
    PullRequest,
    PullRequestState,
)
from tests.git.forges.fakes import FakeBitbucket

REPO = "platform/infra"
API = "https://api.bitbucket.example/2.0"
WEB = "https://bitbucket.example"


@pytest.fixture
def bitbucket() -> FakeBitbucket:
    fake = FakeBitbucket(token="bb-access-token")
    fake.app_password = "app-pass"
    fake.add_repository(REPO, "proton/dev", 'quote"d')
    return fake


def _client(
    fake: FakeBitbucket, auth: BitbucketAppPassword | BitbucketToken | None = None
) -> Bitbucket:
    return Bitbucket(
        auth or BitbucketAppPassword("builder", "app-pass"),
        api_url=API,
        web_url=WEB,
        transport=fake.transport(),
    )


def test_a_pull_request_is_opened_once_and_read_back_open(bitbucket: FakeBitbucket) -> None:
    client = _client(bitbucket)
    opened = client.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    again = client.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    assert (
        opened
        == again
        == PullRequest(
            1, f"{WEB}/{REPO}/pull-requests/1", PullRequestState.OPEN, "proton/dev", "main", None
        )
    )
    assert bitbucket.posts() == 1
    listed = bitbucket.requests[0].url.params
    assert listed["state"] == "OPEN"
    assert listed["q"] == 'source.branch.name = "proton/dev" AND destination.branch.name = "main"'


def test_a_branch_name_with_a_quote_is_quoted_in_the_query(bitbucket: FakeBitbucket) -> None:
    client = _client(bitbucket)
    client.open_pull_request(REPO, head='quote"d', base="main", title="t", body="b")
    assert 'source.branch.name = "quote\\"d"' in bitbucket.requests[0].url.params["q"]


def test_merged_and_declined_pull_requests_read_merged_and_closed(
    bitbucket: FakeBitbucket,
) -> None:
    client = _client(bitbucket, BitbucketToken("bb-access-token"))
    opened = client.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    bitbucket.merge(REPO, opened.number, "c" * 40)
    merged = client.pull_request(REPO, opened.number)
    assert merged.state == PullRequestState.MERGED and merged.merge_sha == "c" * 40
    second = client.open_pull_request(REPO, head="proton/dev", base="main", title="t", body="b")
    assert second.number == 2
    client.close_pull_request(REPO, second.number)
    assert client.pull_request(REPO, second.number).state == PullRequestState.CLOSED
    assert bitbucket.requests[-2].url.path.endswith("/pullrequests/2/decline")


def test_default_branch_clone_url_and_git_credentials(bitbucket: FakeBitbucket) -> None:
    by_password = _client(bitbucket)
    assert by_password.default_branch(REPO) == "main"
    assert by_password.clone_url(REPO) == f"{WEB}/{REPO}.git"
    credentials = by_password.git_credentials()
    assert (credentials.username, credentials.password) == ("builder", "app-pass")
    by_token = _client(bitbucket, BitbucketToken("bb-access-token")).git_credentials()
    assert (by_token.username, by_token.password) == ("x-token-auth", "bb-access-token")


def test_bitbucket_errors_name_bitbucket_the_repository_and_what_it_said(
    bitbucket: FakeBitbucket,
) -> None:
    with pytest.raises(ForgeError) as refused:
        _client(bitbucket, BitbucketAppPassword("builder", "wrong")).default_branch(REPO)
    assert refused.value.status == 401
    assert "Bitbucket refused the credentials for repository platform/infra" in str(refused.value)
    with pytest.raises(ForgeError) as missing:
        _client(bitbucket).default_branch("platform/nothing")
    assert "Repository platform/nothing not found" in missing.value.message
    with pytest.raises(ForgeError) as invalid:
        _client(bitbucket).open_pull_request(REPO, head="nope", base="main", title="t", body="")
    assert invalid.value.status == 400
    assert invalid.value.message.endswith("(400): source: Branch not found.")
    with pytest.raises(ForgeError, match="pull request #5 of platform/infra was not found"):
        _client(bitbucket).pull_request(REPO, 5)
