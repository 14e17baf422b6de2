"""Connections and repositories: registering, finding and deleting them, with Proton's rules
(a repository in use by a sync configuration or as a provisioning repository stays)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.git import (
    HOSTED_CONNECTION_NAME,
    ConnectionSecrets,
    check_connection,
    check_repository_name,
)
from baryon.service_models.baryon import ConnectionProvider
from baryon.store.tables import (
    AccountSettingsRow,
    Connection,
    Environment,
    Repository,
    ServiceSyncConfigRow,
    TemplateSyncConfigRow,
)


@dataclass(frozen=True)
class NewConnection:
    name: str
    provider: ConnectionProvider
    base_url: str | None
    secrets: ConnectionSecrets
    arn: str | None = None  # an existing CodeStar connection's ARN to register under


def create_connection(
    session: Session, arns: Arns, new: NewConnection, sealed_secrets: bytes | None, now: datetime
) -> Connection:
    check_connection(new.provider, new.base_url, new.secrets)
    arn = new.arn or arns.connection(str(uuid.uuid4()))
    if new.arn and ":baryon:" in new.arn:
        raise InvalidInput(
            "arn: register only a CodeStar connection's ARN; Baryon names its own connections.",
            field=("arn",),
        )
    taken = session.scalar(
        select(Connection.name).where((Connection.name == new.name) | (Connection.arn == arn))
    )
    if taken is not None:
        raise Conflict(f"A connection named '{new.name}' or with ARN '{arn}' already exists.")
    row = Connection(
        arn=arn,
        name=new.name,
        provider=new.provider,
        base_url=(new.base_url or None),
        secrets_ciphertext=sealed_secrets,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def ensure_hosted_connection(session: Session, arns: Arns, now: datetime) -> Connection:
    """Baryon's own git server's connection, made the first time it is asked for."""
    row = session.scalar(select(Connection).where(Connection.name == HOSTED_CONNECTION_NAME))
    if row is None:
        row = Connection(
            arn=arns.connection(HOSTED_CONNECTION_NAME),
            name=HOSTED_CONNECTION_NAME,
            provider=ConnectionProvider.BARYON,
            base_url=None,
            secrets_ciphertext=None,
            created_at=now,
        )
        session.add(row)
        session.flush()
    return row


def get_connection(session: Session, arn: str, *, lock: bool = False) -> Connection:
    stmt = select(Connection).where(Connection.arn == arn)
    row = session.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        raise NotFound(
            f"The connection '{arn}' was not found; register it with CreateConnection "
            "(baryon connection create) first."
        )
    return row


def delete_connection(session: Session, arn: str) -> Connection:
    row = get_connection(session, arn, lock=True)
    if row.provider == ConnectionProvider.BARYON:
        raise Conflict("Baryon's own git server's connection cannot be deleted.")
    users = session.scalar(
        select(func.count()).select_from(Repository).where(Repository.connection_arn == arn)
    )
    if users:
        raise Conflict(
            f"The connection '{row.name}' is used by {users} repository(ies); delete them first."
        )
    session.delete(row)
    session.flush()
    return row


def create_repository(
    session: Session,
    arns: Arns,
    *,
    provider: str,
    name: str,
    connection_arn: str,
    encryption_key: str | None,
    now: datetime,
) -> tuple[Repository, Connection]:
    check_repository_name(name)
    if encryption_key:
        raise InvalidInput(
            "encryptionKey: customer-managed encryption keys are not yet available in Baryon; "
            "leave encryptionKey out.",
            field=("encryptionKey",),
        )
    try:
        connection = get_connection(session, connection_arn)
    except NotFound as exc:
        # CreateRepository models no ResourceNotFound: the member is at fault.
        raise InvalidInput(exc.message, field=("connectionArn",)) from exc
    if find_repository(session, provider, name) is not None:
        raise Conflict(f"The repository '{name}' of provider {provider} is already registered.")
    row = Repository(
        arn=arns.repository(provider, name),
        provider=provider,
        name=name,
        connection_arn=connection_arn,
        encryption_key=None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, connection


def find_repository(session: Session, provider: str, name: str) -> Repository | None:
    return session.scalar(
        select(Repository).where(Repository.provider == provider, Repository.name == name)
    )


def get_repository(session: Session, provider: str, name: str) -> Repository:
    row = find_repository(session, provider, name)
    if row is None:
        raise NotFound(f"The repository '{name}' of provider {provider} was not found.")
    return row


def require_registered(session: Session, provider: str, name: str, field: str) -> Repository:
    """A request that names a repository (sync configs, provisioning repositories) needs it
    registered with CreateRepository, as Proton did."""
    row = find_repository(session, provider, name)
    if row is None:
        raise InvalidInput(
            f"{field}: the repository '{name}' of provider {provider} is not registered; "
            "register it with CreateRepository first.",
            field=(field,),
        )
    return row


def delete_repository(session: Session, provider: str, name: str) -> Repository:
    row = get_repository(session, provider, name)
    users = _users(session, provider, name)
    if users:
        raise Conflict(f"The repository '{name}' is in use by {'; '.join(users)}.")
    session.delete(row)
    session.flush()
    return row


def _users(session: Session, provider: str, name: str) -> list[str]:
    found = [
        f"the template sync configuration of {t}"
        for t in session.scalars(
            select(TemplateSyncConfigRow.template_name).where(
                TemplateSyncConfigRow.repository_provider == provider,
                TemplateSyncConfigRow.repository_name == name,
            )
        )
    ]
    found += [
        f"the service sync configuration of {s}"
        for s in session.scalars(
            select(ServiceSyncConfigRow.service_name).where(
                ServiceSyncConfigRow.repository_provider == provider,
                ServiceSyncConfigRow.repository_name == name,
            )
        )
    ]
    mine = {"provider": provider, "name": name}
    for env_name, repository in session.execute(
        select(Environment.name, Environment.provisioning_repository).where(
            Environment.provisioning_repository.is_not(None)
        )
    ):
        if repository and {k: repository.get(k) for k in mine} == mine:
            found.append(f"environment {env_name} (its provisioning repository)")
    settings = session.get(AccountSettingsRow, 1)
    repository = settings.pipeline_repository if settings else None
    if repository and {k: repository.get(k) for k in mine} == mine:
        found.append("the account settings (pipeline provisioning repository)")
    return found
