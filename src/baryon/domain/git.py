"""Git's concepts as Baryon's rules see them: connections and their secrets, repository
names, sync scopes and pull request states. No git is spoken here (that is git/)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from baryon.domain.errors import InvalidInput
from baryon.service_models.baryon import ConnectionCredentialKind, ConnectionProvider
from baryon.store import jobs
from baryon.store.jobs import JobKind

# "owner/name" as Proton's RepositoryName; GitLab groups may nest ("group/sub/name").
_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100}){1,4}$")

# The connection every embedded Baryon has: its own git server.
HOSTED_CONNECTION_NAME = "baryon"


class SyncScope(StrEnum):
    """What a sync attempt row is about."""

    REPOSITORY = "REPOSITORY"  # a branch of a repository (GetRepositorySyncStatus)
    TEMPLATE = "TEMPLATE"  # one template (GetTemplateSyncStatus)
    INSTANCE = "INSTANCE"  # one service instance (GetServiceInstanceSyncStatus)


class PullRequestStatus(StrEnum):
    OPEN = "OPEN"
    MERGED = "MERGED"  # merged; the deployment waits for the customer's CI to report
    CLOSED = "CLOSED"  # closed unmerged: the deployment was cancelled
    ENDED = "ENDED"  # the deployment ended (reported, timed out, superseded): not watched


# Providers whose REST API opens pull requests; the others get a pushed branch.
FORGES = frozenset(
    {
        ConnectionProvider.GITHUB,
        ConnectionProvider.GITHUB_ENTERPRISE,
        ConnectionProvider.BITBUCKET,
        ConnectionProvider.GITLAB,
    }
)


@dataclass(frozen=True)
class ConnectionSecrets:
    """What a connection authenticates with; stored sealed under the master key."""

    token: str | None = None
    github_app_id: str | None = None
    github_app_private_key: str | None = None
    username: str | None = None
    password: str | None = None
    ssh_private_key: str | None = None
    webhook_secret: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, text: str) -> ConnectionSecrets:
        values = json.loads(text)
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    @property
    def kind(self) -> ConnectionCredentialKind:
        if self.github_app_id:
            return ConnectionCredentialKind.GITHUB_APP
        if self.token:
            return ConnectionCredentialKind.TOKEN
        if self.username:
            return ConnectionCredentialKind.USER_PASSWORD
        if self.ssh_private_key:
            return ConnectionCredentialKind.SSH_KEY
        return ConnectionCredentialKind.NONE


def check_connection(
    provider: ConnectionProvider, base_url: str | None, secrets: ConnectionSecrets
) -> None:
    """The combinations a provider can use; each refusal names the member at fault."""
    if provider == ConnectionProvider.BARYON:
        raise InvalidInput(
            "provider: BARYON is Baryon's own git server; its connection exists already "
            f"(named {HOSTED_CONNECTION_NAME!r}).",
            field=("provider",),
        )
    if provider in (ConnectionProvider.GITHUB_ENTERPRISE, ConnectionProvider.GIT) and not base_url:
        raise InvalidInput(
            f"baseUrl: a {provider} connection needs the address of its host.", field=("baseUrl",)
        )
    if bool(secrets.github_app_id) != bool(secrets.github_app_private_key):
        raise InvalidInput(
            "githubAppId and githubAppPrivateKey go together.", field=("githubAppPrivateKey",)
        )
    if secrets.github_app_id and provider not in (
        ConnectionProvider.GITHUB,
        ConnectionProvider.GITHUB_ENTERPRISE,
    ):
        raise InvalidInput(
            f"githubAppId: a GitHub App works only with GitHub, not {provider}.",
            field=("githubAppId",),
        )
    if bool(secrets.username) != bool(secrets.password):
        raise InvalidInput("username and password go together.", field=("password",))
    if secrets.ssh_private_key and provider != ConnectionProvider.GIT:
        raise InvalidInput(
            "sshPrivateKey: only plain git (provider GIT) connects over SSH.",
            field=("sshPrivateKey",),
        )
    chosen = [
        name
        for name, given in (
            ("token", secrets.token),
            ("githubAppId", secrets.github_app_id),
            ("username", secrets.username),
            ("sshPrivateKey", secrets.ssh_private_key),
        )
        if given
    ]
    if len(chosen) > 1:
        raise InvalidInput(
            f"{chosen[1]}: give one kind of credentials, not {' and '.join(chosen)}.",
            field=(chosen[1],),
        )
    if provider in FORGES and not chosen:
        raise InvalidInput(
            f"token: a {provider} connection needs credentials for the provider's API "
            "(a token, a GitHub App, or a user name and app password).",
            field=("token",),
        )


def check_repository_name(name: str, field: str = "name") -> None:
    if not _REPOSITORY_NAME.match(name) or any(
        part in (".", "..") or part.endswith(".lock") for part in name.split("/")
    ):
        raise InvalidInput(
            f"{field}: {name!r} is not a repository name; use owner/name (letters, digits, "
            "'.', '_' and '-').",
            field=(field,),
        )


def branch_changed(
    session: Session, provider: str, name: str, branch: str, sha: str | None, now: datetime
) -> None:
    """Every way of learning that a branch moved (a push to Baryon's own server, a webhook, a
    poll) ends here: one REPOSITORY_CHANGED job (engine/repository_changes.py) per branch and
    head, enqueued in the caller's transaction. ``sha`` None: the branch was deleted."""
    payload = {"provider": provider, "name": name, "branch": branch, "sha": sha}
    jobs.enqueue_once(session, JobKind.REPOSITORY_CHANGED, payload, now)


def start_polling(session: Session, now: datetime) -> None:
    """Something is watched now (a sync config, a pull request): make sure the poll job runs.
    It stops rescheduling itself once nothing is watched."""
    jobs.enqueue_once(session, JobKind.POLL_REPOSITORIES, {}, now)
