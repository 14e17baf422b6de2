"""A registered repository, ready to be read and written, as the workers receive it.

Which URL, credentials and forge client a repository needs is decided from its connection by
the application layer (operations/git_access.py); workers know only this shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from baryon.git.forges.base import Forge
from baryon.git.remote import GitRemote
from baryon.service_models.baryon import ConnectionProvider


@dataclass(frozen=True)
class RepositoryAccess:
    provider: str  # the Proton provider the repository is registered under
    name: str  # "owner/name"
    connection_provider: ConnectionProvider
    remote: GitRemote
    forge: Forge | None  # None: plain git or Baryon's own server (pushed branches, no PRs)


class RepositoryFinder(Protocol):
    def repository(self, provider: str, name: str) -> RepositoryAccess:
        """Raises the domain's NotFound when the repository or its connection is gone."""
