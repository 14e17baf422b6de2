"""From a registered repository to the means of reaching it: a git remote (fetch, read,
commit, push) and, on a forge, its pull request API. One place decides, from the
repository's connection, which URL, which credentials and which forge client; the workers
(template and service sync, pull requests) and the operations all ask here.
"""

from __future__ import annotations

from pathlib import Path

from baryon.domain import repositories
from baryon.domain.errors import InvalidInput
from baryon.domain.git import ConnectionSecrets
from baryon.git.access import RepositoryAccess
from baryon.git.credentials import GitCredentials
from baryon.git.forges import forge_client
from baryon.git.forges.base import Forge
from baryon.git.hosting import HostedRepositories
from baryon.git.limits import GitLimits
from baryon.git.remote import GitRemote
from baryon.operations.connections import secrets_of_row
from baryon.runtime import Runtime
from baryon.service_models.baryon import ConnectionProvider
from baryon.store.tables import Connection


class GitAccess:
    """The RepositoryFinder of git/access.py, reading connections from the store."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        settings = runtime.settings
        self.hosted: HostedRepositories | None = (
            HostedRepositories(settings.data_dir / "git") if settings.git_hosting else None
        )
        self._cache_dir = Path(settings.git_cache_dir)
        self._limits = GitLimits()

    def repository(self, provider: str, name: str) -> RepositoryAccess:
        with self._runtime.db.session() as session:
            row = repositories.get_repository(session, provider, name)
            connection = repositories.get_connection(session, row.connection_arn)
            secrets = self.secrets(connection)
            kind = ConnectionProvider(connection.provider)
            base_url = connection.base_url
        return self.reach(kind, base_url, secrets, provider, name)

    def secrets(self, connection: Connection) -> ConnectionSecrets:
        return secrets_of_row(self._runtime, connection)

    def reach(
        self,
        kind: ConnectionProvider,
        base_url: str | None,
        secrets: ConnectionSecrets,
        provider: str,
        name: str,
    ) -> RepositoryAccess:
        forge: Forge | None = None
        if kind == ConnectionProvider.BARYON:
            if self.hosted is None:
                raise InvalidInput(
                    f"The repository '{name}' is on Baryon's own git server, which this "
                    "process does not serve (embedded mode only)."
                )
            # Workers share the server's disk in embedded mode: no HTTP round trip.
            url = str(self.hosted.ensure(name))
            credentials = GitCredentials()
        elif kind == ConnectionProvider.GIT:
            assert base_url is not None  # check_connection requires it
            joiner = "" if base_url.endswith(("/", ":")) else "/"
            url = f"{base_url}{joiner}{name}.git"
            credentials = GitCredentials(
                username=secrets.username or ("git" if secrets.token else None),
                password=secrets.password or secrets.token,
                ssh_private_key=secrets.ssh_private_key,
            )
        else:
            forge = forge_for(kind, base_url, secrets)
            url = forge.clone_url(name)
            # Per use: a GitHub App's token belongs to the repository's installation and
            # expires within the hour; a RepositoryAccess lives for one job.
            credentials = forge.git_credentials(name)
        remote = GitRemote(url, credentials, self._cache_dir, self._limits)
        return RepositoryAccess(provider, name, kind, remote, forge)

    def ensure_hosted(self, name: str) -> None:
        if self.hosted is not None:
            self.hosted.ensure(name)


def forge_for(kind: ConnectionProvider, base_url: str | None, secrets: ConnectionSecrets) -> Forge:
    """The REST client of a forge connection."""
    return forge_client(
        kind.value,
        base_url=base_url,
        token=secrets.token,
        app_id=secrets.github_app_id,
        app_private_key=secrets.github_app_private_key,
        username=secrets.username,
        password=secrets.password,
    )
