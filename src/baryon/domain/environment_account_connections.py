"""Environment account connections: an environment account lets the management account's
environments deploy into it, as a role of its own.

Proton's rules: the environment account requests a connection (PENDING) naming the management
account and the environment it is for; the management account accepts it (CONNECTED) or
rejects it (REJECTED, for good: a rejected connection can be neither accepted nor used). Only a
CONNECTED connection for an environment of that name may be named by CreateEnvironment or
UpdateEnvironment, and only the environment account updates or deletes it. A connection an
environment uses cannot be rejected; deleting it is allowed, and the environment then deploys
nothing until it names a new accepted connection from the same account (its resources stay
where they are, for their owner to clean up).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.resources import register_resource_type
from baryon.service_models.proton import (
    EnvironmentAccountConnectionRequesterAccountType as RequestedBy,
)
from baryon.service_models.proton import EnvironmentAccountConnectionStatus as Status
from baryon.store.tables import Environment, EnvironmentAccountConnectionRow, Tag

ARN_TYPE = "environment-account-connection"
# Connections an environment account may hold for one environment at a time: a REJECTED one
# is over, so a new request may follow it.
_OPEN = (Status.PENDING, Status.CONNECTED)


@dataclass(frozen=True)
class ConnectionRoles:
    """The roles of the environment account a connection deploys as (None: not given)."""

    role_arn: str | None = None
    codebuild_role_arn: str | None = None
    component_role_arn: str | None = None

    def given(self) -> dict[str, str]:
        return {
            column: value
            for column, value in (
                ("role_arn", self.role_arn),
                ("codebuild_role_arn", self.codebuild_role_arn),
                ("component_role_arn", self.component_role_arn),
            )
            if value
        }


@dataclass(frozen=True)
class NewConnection:
    environment_name: str
    management_account_id: str
    roles: ConnectionRoles


_MEMBERS = {
    "role_arn": "roleArn",
    "codebuild_role_arn": "codebuildRoleArn",
    "component_role_arn": "componentRoleArn",
}


def connection_arn(arns: Arns, connection_id: str) -> str:
    return arns.make(f"{ARN_TYPE}/{connection_id}")


def _check_roles(roles: ConnectionRoles, environment_account: str) -> None:
    """The roles are the environment account's own: Baryon assumes them there."""
    for column, arn in roles.given().items():
        account = arn.split(":")[4] if arn.count(":") >= 5 else ""
        if account != environment_account:
            member = _MEMBERS[column]
            raise InvalidInput.at(
                (member,),
                f"the role {arn} is not in the environment account {environment_account}; "
                "a connection deploys as roles of the account that requests it.",
            )


def create_connection(
    session: Session,
    arns: Arns,
    *,
    caller_account: str,
    new: NewConnection,
    now: datetime,
) -> EnvironmentAccountConnectionRow:
    """A request from ``caller_account`` (the environment account), PENDING until the
    management account accepts or rejects it."""
    if new.management_account_id != arns.account_id:
        raise InvalidInput.at(
            ("managementAccountId",),
            f"this Baryon manages account {arns.account_id}, not "
            f"{new.management_account_id}; name {arns.account_id} as the management account.",
        )
    if caller_account == new.management_account_id:
        raise InvalidInput.at(
            ("managementAccountId",),
            "an environment account connection is requested from the environment account, "
            "with a key of that account (baryon keys create --account <environment account "
            "id>), never from the management account itself.",
        )
    if not new.roles.role_arn:
        raise InvalidInput.at(
            ("roleArn",),
            "a connection needs the role of the environment account that environments deploy as.",
        )
    _check_roles(new.roles, caller_account)
    taken = session.scalar(
        select(EnvironmentAccountConnectionRow.id).where(
            EnvironmentAccountConnectionRow.environment_account_id == caller_account,
            EnvironmentAccountConnectionRow.management_account_id == new.management_account_id,
            EnvironmentAccountConnectionRow.environment_name == new.environment_name,
            EnvironmentAccountConnectionRow.status.in_(_OPEN),
        )
    )
    if taken is not None:
        raise Conflict(
            f"Account {caller_account} already has the environment account connection {taken} "
            f"for environment '{new.environment_name}'; update or delete it instead."
        )
    connection_id = str(uuid.uuid4())
    row = EnvironmentAccountConnectionRow(
        id=connection_id,
        arn=connection_arn(arns, connection_id),
        environment_account_id=caller_account,
        management_account_id=new.management_account_id,
        environment_name=new.environment_name,
        status=Status.PENDING,
        role_arn=new.roles.role_arn,
        codebuild_role_arn=new.roles.codebuild_role_arn,
        component_role_arn=new.roles.component_role_arn,
        requested_at=now,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    return row


def find_connection(
    session: Session, connection_id: str, *, lock: bool = False
) -> EnvironmentAccountConnectionRow | None:
    stmt = select(EnvironmentAccountConnectionRow).where(
        EnvironmentAccountConnectionRow.id == connection_id
    )
    return session.scalar(stmt.with_for_update() if lock else stmt)


def get_connection(
    session: Session, connection_id: str, caller_account: str, *, lock: bool = False
) -> EnvironmentAccountConnectionRow:
    """A connection the caller is a party to; another account's is not found, as in AWS."""
    row = find_connection(session, connection_id, lock=lock)
    if row is None or caller_account not in (
        row.environment_account_id,
        row.management_account_id,
    ):
        raise NotFound(f"The environment account connection '{connection_id}' was not found.")
    return row


def _require_environment_account(row: EnvironmentAccountConnectionRow, caller: str) -> None:
    if caller != row.environment_account_id:
        raise InvalidInput(
            f"The environment account connection '{row.id}' is changed from its environment "
            f"account ({row.environment_account_id}), not from account {caller}."
        )


def _require_management_account(row: EnvironmentAccountConnectionRow, caller: str) -> None:
    if caller != row.management_account_id:
        raise InvalidInput(
            f"The environment account connection '{row.id}' is accepted or rejected by its "
            f"management account ({row.management_account_id}), not by account {caller}."
        )


def update_connection(
    session: Session,
    connection_id: str,
    caller_account: str,
    roles: ConnectionRoles,
    now: datetime,
) -> EnvironmentAccountConnectionRow:
    """New roles; environments that use the connection deploy as them from their next
    deployment on."""
    row = get_connection(session, connection_id, caller_account, lock=True)
    _require_environment_account(row, caller_account)
    if row.status == Status.REJECTED:
        raise Conflict(
            f"The environment account connection '{row.id}' was rejected and cannot be "
            "changed or used; request a new one."
        )
    _check_roles(roles, row.environment_account_id)
    for column, value in roles.given().items():
        setattr(row, column, value)
    row.last_modified_at = now
    session.flush()
    return row


def delete_connection(
    session: Session, connection_id: str, caller_account: str
) -> EnvironmentAccountConnectionRow:
    """Allowed while environments use it (Proton's rule): they then deploy nothing until they
    name a new accepted connection."""
    row = get_connection(session, connection_id, caller_account, lock=True)
    _require_environment_account(row, caller_account)
    session.execute(delete(Tag).where(Tag.resource_arn == row.arn))
    session.delete(row)
    session.flush()
    return row


def accept_connection(
    session: Session, connection_id: str, caller_account: str, now: datetime
) -> EnvironmentAccountConnectionRow:
    row = get_connection(session, connection_id, caller_account, lock=True)
    _require_management_account(row, caller_account)
    if row.status == Status.REJECTED:
        raise Conflict(
            f"The environment account connection '{row.id}' was rejected; a rejected "
            "connection cannot be accepted. The environment account can request a new one."
        )
    if row.status != Status.CONNECTED:  # accepting twice changes nothing
        row.status = Status.CONNECTED
        row.last_modified_at = now
    return row


def reject_connection(
    session: Session, connection_id: str, caller_account: str, now: datetime
) -> EnvironmentAccountConnectionRow:
    row = get_connection(session, connection_id, caller_account, lock=True)
    _require_management_account(row, caller_account)
    users = environments_using(session, row.id)
    if users:
        raise Conflict(
            f"The environment account connection '{row.id}' is used by environment(s) "
            f"{', '.join(users)}; a connection in use cannot be rejected."
        )
    if row.status != Status.REJECTED:  # rejecting twice changes nothing
        row.status = Status.REJECTED
        row.last_modified_at = now
    return row


def environments_using(session: Session, connection_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Environment.name)
            .where(Environment.environment_account_connection_id == connection_id)
            .order_by(Environment.name)
        )
    )


def listing(
    caller_account: str,
    requested_by: RequestedBy,
    environment_name: str | None,
    statuses: Sequence[str],
) -> Select[tuple[EnvironmentAccountConnectionRow]]:
    """The connections the caller's account holds in the role it names."""
    table = EnvironmentAccountConnectionRow
    side = (
        table.management_account_id
        if requested_by == RequestedBy.MANAGEMENT_ACCOUNT
        else table.environment_account_id
    )
    stmt = select(table).where(side == caller_account)
    if environment_name:
        stmt = stmt.where(table.environment_name == environment_name)
    if statuses:
        stmt = stmt.where(table.status.in_(list(statuses)))
    return stmt


# --- what environments may name -------------------------------------------------------------


def usable_connection(
    session: Session, connection_id: str, environment_name: str, management_account: str
) -> EnvironmentAccountConnectionRow:
    """The connection an environment names in CreateEnvironment or UpdateEnvironment: it must
    exist, be CONNECTED and be for that environment (Proton's rules)."""
    field = ("environmentAccountConnectionId",)
    row = find_connection(session, connection_id)
    if row is None or row.management_account_id != management_account:
        raise InvalidInput.at(
            field, f"the environment account connection '{connection_id}' was not found."
        )
    if row.status != Status.CONNECTED:
        raise InvalidInput.at(
            field,
            f"the environment account connection '{connection_id}' is {row.status}; only an "
            "accepted (CONNECTED) connection can be used.",
        )
    if row.environment_name != environment_name:
        raise InvalidInput.at(
            field,
            f"the environment account connection '{connection_id}' is for environment "
            f"'{row.environment_name}', not '{environment_name}'.",
        )
    return row


@dataclass(frozen=True)
class EnvironmentAccount:
    """Where an environment (and what runs in it) deploys: an environment account, as the
    roles its connection names."""

    account_id: str
    role_arn: str | None
    codebuild_role_arn: str | None
    component_role_arn: str | None


class ConnectionUnavailable(Exception):
    """An environment's connection was deleted (or is no longer CONNECTED): it deploys
    nothing until it names a new accepted connection."""


def environment_account(session: Session, environment: Environment) -> EnvironmentAccount | None:
    """The account ``environment`` deploys into; None for the management account itself.
    Raises ConnectionUnavailable when its connection is gone or not CONNECTED."""
    connection_id = environment.environment_account_connection_id
    if not connection_id:
        return None
    row = find_connection(session, connection_id)
    if row is None or row.status != Status.CONNECTED:
        state = "was deleted" if row is None else f"is {row.status}"
        raise ConnectionUnavailable(
            f"The environment account connection {connection_id} of environment "
            f"'{environment.name}' {state}: nothing deploys into account "
            f"{environment.environment_account_id} until the environment account requests a "
            "new connection, the management account accepts it, and UpdateEnvironment names "
            "it (environmentAccountConnectionId)."
        )
    return EnvironmentAccount(
        row.environment_account_id,
        row.role_arn,
        row.codebuild_role_arn,
        row.component_role_arn,
    )


@dataclass(frozen=True)
class DeployingRoles:
    """The roles an environment's resources deploy as."""

    role_arn: str | None  # CloudFormation's service role, the role programs act as
    codebuild_role_arn: str | None
    component_role_arn: str | None


def deploying_roles(session: Session, environment: Environment) -> DeployingRoles:
    """An environment's own roles or, when it deploys into an environment account, its
    connection's (Proton: the connection's roleArn, codebuildRoleArn and componentRoleArn). A
    connection that is gone leaves none: the deploy job stops on it (environment_account)."""
    if not environment.environment_account_connection_id:
        return DeployingRoles(
            environment.proton_service_role_arn,
            environment.codebuild_role_arn,
            environment.component_role_arn,
        )
    try:
        account = environment_account(session, environment)
    except ConnectionUnavailable:
        account = None
    if account is None:
        return DeployingRoles(None, None, None)
    return DeployingRoles(account.role_arn, account.codebuild_role_arn, account.component_role_arn)


register_resource_type(
    ARN_TYPE,
    lambda session, path: find_connection(session, path) is not None,
)
