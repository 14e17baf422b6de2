"""Forges' REST APIs: pull requests and default branches on GitHub (and GitHub Enterprise
Server), GitLab and Bitbucket Cloud, each behind the Forge protocol of base.py."""

from baryon.git.forges.base import Forge, ForgeError, ForgeLimits, PullRequest, PullRequestState
from baryon.git.forges.bitbucket import Bitbucket, BitbucketAppPassword, BitbucketToken
from baryon.git.forges.clients import forge_client
from baryon.git.forges.github import GitHub, GitHubToken
from baryon.git.forges.github_app import GitHubApp
from baryon.git.forges.gitlab import GitLab

__all__ = [
    "Bitbucket",
    "BitbucketAppPassword",
    "BitbucketToken",
    "Forge",
    "ForgeError",
    "ForgeLimits",
    "GitHub",
    "GitHubApp",
    "GitHubToken",
    "GitLab",
    "PullRequest",
    "PullRequestState",
    "forge_client",
]
