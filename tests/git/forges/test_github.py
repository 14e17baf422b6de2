"""GitHub and GitHub Enterprise through the test forge: every request the client sends, and
every answer it reads, is checked against GitHub's published OpenAPI description."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from baryon.git.forges import (
    ForgeError,
    GitHub,
    GitHubApp,
    GitHubToken,
    PullRequest,
    PullRequestState,
)
from tests.support.test_forge import TestForge

REPO = "team/infra"
HEAD = "proton/environment-dev"


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _client(forge: TestForge, auth: GitHubToken | GitHubApp | None = None, **kw: object) -> GitHub:
    return GitHub(
        auth or GitHubToken(forge.token),
        api_url=forge.api_url,
        web_url=forge.base_url,
        **kw,  # type: ignore[arg-type]
    )


def _with_branch(forge: TestForge) -> str:
    forge.create_repository(REPO)
    return forge.commit(REPO, HEAD, {"environments/dev/main.tf": b"# dev\n"}, "Deploy dev")


def test_a_pull_request_is_opened_once_and_read_back_open(github_forge: TestForge) -> None:
    _with_branch(github_forge)
    github = _client(github_forge)
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="Deploy", body="why")
    again = github.open_pull_request(REPO, head=HEAD, base="main", title="Deploy", body="why")
    assert (
        again
        == opened
        == PullRequest(
            1, f"{github_forge.base_url}/{REPO}/pull/1", PullRequestState.OPEN, HEAD, "main", None
        )
    )
    assert len(github_forge.pulls(REPO)) == 1
    assert github.pull_request(REPO, 1) == opened
    stored = github_forge.pull(REPO, 1)
    assert (stored.title, stored.body) == ("Deploy", "why")


def test_a_merged_pull_request_reads_merged_with_the_merge_commit_of_its_base(
    github_forge: TestForge,
) -> None:
    head = _with_branch(github_forge)
    github = _client(github_forge)
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    merge = github_forge.merge(REPO, opened.number)
    merged = github.pull_request(REPO, opened.number)
    assert merged.state == PullRequestState.MERGED and merged.merge_sha == merge
    assert github_forge.branch_head(REPO, "main") == merge
    parents = _git(
        "--git-dir", str(github_forge.repository(REPO).path), "log", "-1", "--format=%P", merge
    )
    assert head in parents.split()
    # Once merged, a new pull request of the same branches is a new one, not the merged one.
    github_forge.commit(REPO, HEAD, {"environments/dev/main.tf": b"# dev 2\n"}, "Deploy again")
    second = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    assert second.number == 2 and second.state == PullRequestState.OPEN


def test_closing_a_pull_request_leaves_it_closed_unmerged(github_forge: TestForge) -> None:
    _with_branch(github_forge)
    github = _client(github_forge)
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    github.close_pull_request(REPO, opened.number)
    closed = github.pull_request(REPO, opened.number)
    assert closed.state == PullRequestState.CLOSED and closed.merge_sha is None
    assert github_forge.pull(REPO, opened.number).state == "closed"


def test_a_pull_request_closed_on_the_forge_reads_closed(github_forge: TestForge) -> None:
    _with_branch(github_forge)
    github = _client(github_forge)
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    github_forge.close(REPO, opened.number)
    assert github.pull_request(REPO, opened.number).state == PullRequestState.CLOSED


def test_default_branch_is_the_repositorys(github_forge: TestForge) -> None:
    github_forge.create_repository("team/templates", default_branch="trunk")
    assert _client(github_forge).default_branch("team/templates") == "trunk"


def test_refused_credentials_name_github_the_repository_and_what_it_said(
    github_forge: TestForge,
) -> None:
    github_forge.create_repository(REPO)
    with pytest.raises(ForgeError) as refused:
        _client(github_forge, GitHubToken("ghp_wrong")).default_branch(REPO)
    assert refused.value.status == 401
    assert "GitHub refused the credentials for repository team/infra" in refused.value.message
    assert "Bad credentials" in refused.value.message


def test_an_unknown_repository_is_not_found_or_not_visible(github_forge: TestForge) -> None:
    with pytest.raises(ForgeError) as missing:
        _client(github_forge).default_branch("team/nothing")
    assert missing.value.status == 404
    assert "repository team/nothing was not found" in missing.value.message
    with pytest.raises(ForgeError) as no_pull:
        github_forge.create_repository(REPO)
        _client(github_forge).pull_request(REPO, 42)
    assert "pull request #42 of team/infra was not found" in no_pull.value.message


def test_a_refused_pull_request_quotes_githubs_validation_message(github_forge: TestForge) -> None:
    github_forge.create_repository(REPO)
    with pytest.raises(ForgeError) as refused:
        _client(github_forge).open_pull_request(
            REPO, head="no-such-branch", base="main", title="t", body="b"
        )
    assert refused.value.status == 422
    assert "Validation Failed" in refused.value.message
    assert "PullRequest.head: invalid" in refused.value.message


def test_names_that_could_reach_other_api_paths_are_refused_before_any_request(
    github_forge: TestForge,
) -> None:
    github = _client(github_forge)
    for name in ("team", "team/infra/pulls", "../etc", "team/..", "team/in fra", "t/%2e%2e"):
        with pytest.raises(ForgeError, match="is not a repository name"):
            github.default_branch(name)
    with pytest.raises(ForgeError, match="not a branch name"):
        github.open_pull_request(REPO, head="a b", base="main", title="t", body="b")
    assert github_forge.requests == []


def test_git_clones_and_pushes_with_the_clone_url_and_credentials(
    github_forge: TestForge, tmp_path: Path
) -> None:
    _with_branch(github_forge)
    github = _client(github_forge)
    url = github.clone_url(REPO)
    assert url == f"{github_forge.base_url}/{REPO}.git"
    credentials = github.git_credentials(REPO)
    assert credentials.username == "x-access-token" and credentials.password == github_forge.token
    authed = url.replace("://", f"://{credentials.username}:{credentials.password}@")
    work = tmp_path / "work"
    _git("clone", "--quiet", authed, str(work))
    assert (work / "README.md").read_bytes() == b"# test\n"
    (work / "new.txt").write_text("pushed\n")
    _git("add", "new.txt", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "new", cwd=work)
    _git("push", "--quiet", "origin", "main", cwd=work)
    assert github_forge.files(REPO, "main")["new.txt"] == b"pushed\n"
    wrong = url.replace("://", "://x-access-token:ghp_wrong@")
    refused = subprocess.run(
        ["git", "ls-remote", wrong],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    assert refused.returncode != 0


# ---- GitHub Enterprise Server


def test_github_enterprise_is_reached_under_api_v3_and_serves_git_from_its_root(
    enterprise_forge: TestForge,
) -> None:
    _with_branch(enterprise_forge)
    assert enterprise_forge.api_url.endswith("/api/v3")
    github = GitHub.enterprise(enterprise_forge.api_url, GitHubToken(enterprise_forge.token))
    assert github.name.startswith("GitHub Enterprise (127.0.0.1:")
    assert github.clone_url(REPO) == f"{enterprise_forge.base_url}/{REPO}.git"
    assert github.default_branch(REPO) == "main"
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    assert opened.url == f"{enterprise_forge.base_url}/{REPO}/pull/1"
    enterprise_forge.merge(REPO, opened.number)
    assert github.pull_request(REPO, opened.number).state == PullRequestState.MERGED
    # The host alone means the same API.
    host_only = GitHub.enterprise(enterprise_forge.base_url, GitHubToken(enterprise_forge.token))
    assert host_only.default_branch(REPO) == "main"
    assert {r.operation_id for r in enterprise_forge.requests} >= {
        "repos/get",
        "pulls/list",
        "pulls/create",
        "pulls/get",
    }


def test_a_github_enterprise_address_that_is_not_one_is_refused() -> None:
    with pytest.raises(ForgeError, match="is not an API address"):
        GitHub.enterprise("github.example.com", GitHubToken("t"))


# ---- GitHub App


def _app(forge: TestForge, accounts: list[str]) -> GitHubApp:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forge.register_app("31337", key.public_key(), accounts)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # GitHub's .pem is PKCS#1
        serialization.NoEncryption(),
    ).decode()
    return GitHubApp("31337", pem)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_github_app_opens_pull_requests_with_one_cached_installation_token(
    github_forge: TestForge,
) -> None:
    _with_branch(github_forge)
    github = _client(github_forge, _app(github_forge, ["team"]))
    opened = github.open_pull_request(REPO, head=HEAD, base="main", title="t", body="b")
    assert github.pull_request(REPO, opened.number).state == PullRequestState.OPEN
    assert github.default_branch(REPO) == "main"
    assert github_forge.installation_token_requests() == 1
    assert sum(r.operation_id == "apps/get-repo-installation" for r in github_forge.requests) == 1


def test_an_installation_token_is_replaced_shortly_before_it_expires(
    github_forge: TestForge,
) -> None:
    _with_branch(github_forge)
    clock = _Clock()
    github = _client(github_forge, _app(github_forge, ["team"]), clock=clock)
    first = github.git_credentials(REPO).password
    clock.now += timedelta(minutes=50)
    assert github.git_credentials(REPO).password == first
    clock.now += timedelta(minutes=6)  # within five minutes of the hour
    second = github.git_credentials(REPO).password
    assert second != first and github_forge.installation_token_requests() == 2


def test_an_installation_token_pushes_with_git(github_forge: TestForge, tmp_path: Path) -> None:
    _with_branch(github_forge)
    github = _client(github_forge, _app(github_forge, ["team"]))
    credentials = github.git_credentials(REPO)
    assert credentials.username == "x-access-token"
    assert credentials.password is not None and credentials.password.startswith("ghs_")
    url = github.clone_url(REPO).replace("://", f"://x-access-token:{credentials.password}@")
    _git("clone", "--quiet", url, str(tmp_path / "work"))
    assert (tmp_path / "work" / "README.md").exists()


def test_an_app_not_installed_on_the_repositorys_account_is_told_so(
    github_forge: TestForge,
) -> None:
    github_forge.create_repository("others/infra")
    github = _client(github_forge, _app(github_forge, ["team"]))
    with pytest.raises(ForgeError) as missing:
        github.default_branch("others/infra")
    assert missing.value.status == 404
    assert "the GitHub App 31337's installation on others/infra was not found" in str(missing.value)


def test_git_credentials_without_a_repository_need_an_app_installed_once(
    github_forge: TestForge,
) -> None:
    once = _client(github_forge, _app(github_forge, ["team"]))
    assert (once.git_credentials().password or "").startswith("ghs_")
    twice = _client(github_forge, _app(github_forge, ["team", "others"]))
    with pytest.raises(ForgeError, match="installed on 2 accounts; name the repository"):
        twice.git_credentials()


def test_an_app_whose_key_github_does_not_know_is_refused(github_forge: TestForge) -> None:
    github_forge.create_repository(REPO)
    _app(github_forge, ["team"])  # registers another key than the one used below
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ForgeError) as refused:
        _client(github_forge, GitHubApp("31337", pem)).default_branch(REPO)
    assert refused.value.status == 401 and "refused the credentials" in refused.value.message


def test_a_private_key_that_is_not_one_is_refused_naming_the_app() -> None:
    with pytest.raises(ForgeError, match="GitHub App 7: the private key is not a PEM"):
        GitHub(GitHubApp("7", "-----BEGIN RSA PRIVATE KEY-----\nnope\n"))
