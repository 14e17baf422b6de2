"""The 7 environment account connection operations.

The caller's account decides what a call sees and may do: a key made for an environment
account (``baryon keys create --account``) requests, updates and deletes that account's
connections; the management account's keys accept, reject and list them. The front door lets
an environment account's key call nothing else (auth/account_access.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baryon.auth.access_keys import account_of
from baryon.domain import environment_account_connections as connections
from baryon.domain import idempotency
from baryon.domain.environment_account_connections import ConnectionRoles, NewConnection
from baryon.domain.tags import set_tags
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.store.tables import EnvironmentAccountConnectionRow


def caller_account(ctx: RequestContext) -> str:
    # Keys live in the home region (runtime.identity_db), whatever region is asked.
    return account_of(ctx.runtime.identity_db, ctx.caller, ctx.settings.account_id)


def _view(row: EnvironmentAccountConnectionRow) -> proton.EnvironmentAccountConnection:
    view: proton.EnvironmentAccountConnection = {
        "arn": row.arn,
        "environmentAccountId": row.environment_account_id,
        "environmentName": row.environment_name,
        "id": row.id,
        "lastModifiedAt": row.last_modified_at,
        "managementAccountId": row.management_account_id,
        "requestedAt": row.requested_at,
        "roleArn": row.role_arn or "",
        "status": proton.EnvironmentAccountConnectionStatus(row.status),
    }
    if row.codebuild_role_arn:
        view["codebuildRoleArn"] = row.codebuild_role_arn
    if row.component_role_arn:
        view["componentRoleArn"] = row.component_role_arn
    return view


def _summary(row: EnvironmentAccountConnectionRow) -> proton.EnvironmentAccountConnectionSummary:
    summary: proton.EnvironmentAccountConnectionSummary = {
        "arn": row.arn,
        "environmentAccountId": row.environment_account_id,
        "environmentName": row.environment_name,
        "id": row.id,
        "lastModifiedAt": row.last_modified_at,
        "managementAccountId": row.management_account_id,
        "requestedAt": row.requested_at,
        "roleArn": row.role_arn or "",
        "status": proton.EnvironmentAccountConnectionStatus(row.status),
    }
    if row.component_role_arn:
        summary["componentRoleArn"] = row.component_role_arn
    return summary


def _roles(request: Mapping[str, Any]) -> ConnectionRoles:
    return ConnectionRoles(
        role_arn=request.get("roleArn"),
        codebuild_role_arn=request.get("codebuildRoleArn"),
        component_role_arn=request.get("componentRoleArn"),
    )


@proton_operation("CreateEnvironmentAccountConnection")
def create_environment_account_connection(
    ctx: RequestContext, request: proton.CreateEnvironmentAccountConnectionInput
) -> proton.CreateEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    # Tokens are each account's own: two accounts may pick the same one.
    scope = f"{ctx.operation}:{account}"
    with ctx.db.session(write=True) as session:
        previous = idempotency.recall(session, scope, request, ctx.now)
        if previous is not None:
            existing = connections.find_connection(session, previous)
            if existing is not None:
                return {"environmentAccountConnection": _view(existing)}
        row = connections.create_connection(
            session,
            ctx.arns,
            caller_account=account,
            new=NewConnection(
                environment_name=request["environmentName"],
                management_account_id=request["managementAccountId"],
                roles=_roles(request),
            ),
            now=ctx.now,
        )
        if request.get("tags"):
            set_tags(session, row.arn, request["tags"])
        idempotency.remember(session, scope, request, row.id, ctx.now)
        return {"environmentAccountConnection": _view(row)}


@proton_operation("GetEnvironmentAccountConnection")
def get_environment_account_connection(
    ctx: RequestContext, request: proton.GetEnvironmentAccountConnectionInput
) -> proton.GetEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    with ctx.db.session() as session:
        row = connections.get_connection(session, request["id"], account)
        return {"environmentAccountConnection": _view(row)}


@proton_operation("UpdateEnvironmentAccountConnection")
def update_environment_account_connection(
    ctx: RequestContext, request: proton.UpdateEnvironmentAccountConnectionInput
) -> proton.UpdateEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    with ctx.db.session(write=True) as session:
        row = connections.update_connection(
            session, request["id"], account, _roles(request), ctx.now
        )
        return {"environmentAccountConnection": _view(row)}


@proton_operation("DeleteEnvironmentAccountConnection")
def delete_environment_account_connection(
    ctx: RequestContext, request: proton.DeleteEnvironmentAccountConnectionInput
) -> proton.DeleteEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    with ctx.db.session(write=True) as session:
        row = connections.delete_connection(session, request["id"], account)
        return {"environmentAccountConnection": _view(row)}


@proton_operation("AcceptEnvironmentAccountConnection")
def accept_environment_account_connection(
    ctx: RequestContext, request: proton.AcceptEnvironmentAccountConnectionInput
) -> proton.AcceptEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    with ctx.db.session(write=True) as session:
        row = connections.accept_connection(session, request["id"], account, ctx.now)
        return {"environmentAccountConnection": _view(row)}


@proton_operation("RejectEnvironmentAccountConnection")
def reject_environment_account_connection(
    ctx: RequestContext, request: proton.RejectEnvironmentAccountConnectionInput
) -> proton.RejectEnvironmentAccountConnectionOutput:
    account = caller_account(ctx)
    with ctx.db.session(write=True) as session:
        row = connections.reject_connection(session, request["id"], account, ctx.now)
        return {"environmentAccountConnection": _view(row)}


@proton_operation("ListEnvironmentAccountConnections")
def list_environment_account_connections(
    ctx: RequestContext, request: proton.ListEnvironmentAccountConnectionsInput
) -> proton.ListEnvironmentAccountConnectionsOutput:
    account = caller_account(ctx)
    requested_by = proton.EnvironmentAccountConnectionRequesterAccountType(request["requestedBy"])
    statuses = sorted(set(request.get("statuses") or []))
    environment_name = request.get("environmentName")
    table = EnvironmentAccountConnectionRow
    stmt = connections.listing(account, requested_by, environment_name, statuses)
    # A token works only for the account and the filters it was issued with.
    scope = {
        "account": account,
        "requestedBy": requested_by.value,
        "environmentName": environment_name,
        "statuses": statuses,
    }
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session, stmt, [table.requested_at, table.id], request, scope=scope
        )
        return {
            "environmentAccountConnections": [_summary(row[0]) for row in rows],
            "nextToken": next_token,
        }
