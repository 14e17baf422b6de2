"""From a connection's provider, address and credentials to the forge client that speaks
its API."""

from __future__ import annotations

import pytest

from baryon.git.forges import (
    Bitbucket,
    ForgeError,
    GitHub,
    GitLab,
    PullRequestState,
    forge_client,
)
from tests.support.test_forge import TestForge


def test_a_github_connection_at_a_base_url_reaches_that_forge(github_forge: TestForge) -> None:
    github_forge.create_repository("team/infra")
    github_forge.commit("team/infra", "proton/dev", {"a.tf": b"a"}, "a")
    forge = forge_client("GITHUB", base_url=github_forge.base_url, token=github_forge.token)
    assert isinstance(forge, GitHub)
    opened = forge.open_pull_request(
        "team/infra", head="proton/dev", base="main", title="t", body="b"
    )
    assert opened.state == PullRequestState.OPEN
    assert forge.clone_url("team/infra") == f"{github_forge.base_url}/team/infra.git"


def test_a_github_enterprise_connection_reaches_its_api_v3(enterprise_forge: TestForge) -> None:
    enterprise_forge.create_repository("team/infra")
    forge = forge_client(
        "GITHUB_ENTERPRISE", base_url=enterprise_forge.api_url, token=enterprise_forge.token
    )
    assert forge.default_branch("team/infra") == "main"


def test_each_provider_gets_its_client_and_git_user() -> None:
    assert forge_client("GITHUB", token="t").clone_url("o/r") == "https://github.com/o/r.git"
    gitlab = forge_client("GITLAB", token="glpat")
    assert isinstance(gitlab, GitLab) and gitlab.git_credentials().username == "oauth2"
    by_password = forge_client("BITBUCKET", username="me", password="app")
    assert isinstance(by_password, Bitbucket)
    assert by_password.clone_url("w/r") == "https://bitbucket.org/w/r.git"
    assert forge_client("BITBUCKET", token="bb").git_credentials().username == "x-token-auth"


@pytest.mark.parametrize(
    ("provider", "given", "message"),
    [
        ("GITHUB", {}, "needs a token or a GitHub App"),
        ("GITHUB_ENTERPRISE", {"token": "t"}, "needs its API address"),
        ("GITLAB", {"username": "u", "password": "p"}, "needs an access token"),
        ("BITBUCKET", {}, "needs a user name and app password, or an access token"),
        ("GIT", {"token": "t"}, "GIT has no pull request API"),
    ],
)
def test_a_connection_missing_what_its_forge_needs_is_refused(
    provider: str, given: dict[str, str], message: str
) -> None:
    with pytest.raises(ForgeError, match=message):
        forge_client(provider, **given)
