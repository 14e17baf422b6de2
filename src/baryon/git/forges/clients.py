"""The forge client for a connection: its provider, address and credentials in, the REST
client that speaks that forge's API out. The caller (operations/) holds the connection;
this knows only the strings it is handed."""

from __future__ import annotations

from baryon.git.forges.base import Forge, ForgeError
from baryon.git.forges.bitbucket import (
    BITBUCKET_API,
    Bitbucket,
    BitbucketAppPassword,
    BitbucketToken,
)
from baryon.git.forges.github import GitHub, GitHubToken
from baryon.git.forges.github_app import GitHubApp
from baryon.git.forges.gitlab import GITLAB, GitLab


def forge_client(
    provider: str,
    *,
    base_url: str | None = None,
    token: str | None = None,
    app_id: str | None = None,
    app_private_key: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> Forge:
    """``provider`` is a connection's: GITHUB, GITHUB_ENTERPRISE, GITLAB or BITBUCKET.

    A base URL is the API's address: GitHub Enterprise's ``https://<host>/api/v3`` (or the
    host), a self-managed GitLab's address, or, for GITHUB and BITBUCKET, a stand-in that
    serves the API and git from one root (a proxy, or the tests' forge)."""
    if provider in ("GITHUB", "GITHUB_ENTERPRISE"):
        auth: GitHubToken | GitHubApp
        if app_id and app_private_key:
            auth = GitHubApp(app_id, app_private_key)
        elif token:
            auth = GitHubToken(token)
        else:
            raise ForgeError(f"A {provider} connection needs a token or a GitHub App.")
        if provider == "GITHUB_ENTERPRISE":
            if not base_url:
                raise ForgeError("A GITHUB_ENTERPRISE connection needs its API address.")
            return GitHub.enterprise(base_url, auth)
        if base_url:
            return GitHub(auth, api_url=base_url, web_url=base_url)
        return GitHub(auth)
    if provider == "GITLAB":
        if not token:
            raise ForgeError("A GITLAB connection needs an access token.")
        return GitLab(token, base_url=base_url or GITLAB)
    if provider == "BITBUCKET":
        bitbucket_auth: BitbucketAppPassword | BitbucketToken
        if username and password:
            bitbucket_auth = BitbucketAppPassword(username, password)
        elif token:
            bitbucket_auth = BitbucketToken(token)
        else:
            raise ForgeError(
                "A BITBUCKET connection needs a user name and app password, or an access token."
            )
        if base_url:
            api_url = base_url.rstrip("/")
            return Bitbucket(bitbucket_auth, api_url=api_url, web_url=api_url.removesuffix("/2.0"))
        return Bitbucket(bitbucket_auth, api_url=BITBUCKET_API)
    raise ForgeError(f"{provider} has no pull request API that Baryon speaks.")
