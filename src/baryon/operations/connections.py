"""The baryon model's connections: how Baryon reaches a git provider.

Secrets are sealed with the master key before they reach the database and are never
returned; a connection's view says only which kind of credentials it holds.
"""

from __future__ import annotations

from sqlalchemy import select

from baryon.domain import repositories
from baryon.domain.errors import InvalidInput
from baryon.domain.git import ConnectionSecrets
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.runtime import Runtime
from baryon.service_models import baryon
from baryon.store.tables import Connection

# Where a provider sends webhooks, under the API's own address.
WEBHOOK_PATH = "/_baryon/git/webhooks/"


def connection_view(ctx: RequestContext, row: Connection) -> baryon.Connection:
    secrets = secrets_of(ctx, row)
    view: baryon.Connection = {
        "arn": row.arn,
        "name": row.name,
        "provider": baryon.ConnectionProvider(row.provider),
        "baseUrl": row.base_url,
        "credentialKind": secrets.kind,
        "createdAt": row.created_at,
    }
    if secrets.webhook_secret:
        view["webhookUrl"] = webhook_url(ctx, row)
    return view


def webhook_url(ctx: RequestContext, row: Connection) -> str:
    base = ctx.settings.public_url.rstrip("/") if ctx.settings.public_url else ""
    return f"{base}{WEBHOOK_PATH}{row.name}"


def secrets_of(ctx: RequestContext, row: Connection) -> ConnectionSecrets:
    return secrets_of_row(ctx.runtime, row)


def secrets_of_row(runtime: Runtime, row: Connection) -> ConnectionSecrets:
    """The connection's secrets, opened with the master key (the one place that does)."""
    if row.secrets_ciphertext is None:
        return ConnectionSecrets()
    return ConnectionSecrets.from_json(runtime.box.open(row.secrets_ciphertext))


@baryon_operation("CreateConnection")
def create_connection(
    ctx: RequestContext, request: baryon.CreateConnectionInput
) -> baryon.CreateConnectionOutput:
    secrets = ConnectionSecrets(
        token=request.get("token"),
        github_app_id=request.get("githubAppId"),
        github_app_private_key=request.get("githubAppPrivateKey"),
        username=request.get("username"),
        password=request.get("password"),
        ssh_private_key=request.get("sshPrivateKey"),
        webhook_secret=request.get("webhookSecret"),
    )
    new = repositories.NewConnection(
        name=request["name"],
        provider=baryon.ConnectionProvider(request["provider"]),
        base_url=request.get("baseUrl"),
        secrets=secrets,
        arn=request.get("arn"),
    )
    _check_local(ctx, new)
    sealed = ctx.runtime.box.seal(secrets.to_json()) if secrets != ConnectionSecrets() else None
    with ctx.db.session(write=True) as session:
        row = repositories.create_connection(session, ctx.arns, new, sealed, ctx.now)
        return {"connection": connection_view(ctx, row)}


def _check_local(ctx: RequestContext, new: repositories.NewConnection) -> None:
    local = new.base_url is not None and new.base_url.startswith(("/", "file:"))
    if local and ctx.settings.git_local_remotes == "refuse":
        raise InvalidInput(
            "baseUrl: this Baryon refuses repositories on its own disk (git_local_remotes); "
            "give an https:// or ssh:// address.",
            field=("baseUrl",),
        )


@baryon_operation("GetConnection")
def get_connection(
    ctx: RequestContext, request: baryon.GetConnectionInput
) -> baryon.GetConnectionOutput:
    with ctx.db.session() as session:
        row = repositories.get_connection(session, request["arn"])
        return {"connection": connection_view(ctx, row)}


@baryon_operation("DeleteConnection")
def delete_connection(
    ctx: RequestContext, request: baryon.DeleteConnectionInput
) -> baryon.DeleteConnectionOutput:
    with ctx.db.session(write=True) as session:
        row = repositories.delete_connection(session, request["arn"])
        return {"connection": connection_view(ctx, row)}


@baryon_operation("ListConnections")
def list_connections(
    ctx: RequestContext, request: baryon.ListConnectionsInput
) -> baryon.ListConnectionsOutput:
    if ctx.settings.git_hosting:
        # Made on first use, in a transaction of its own: the listing reads only.
        with ctx.db.session(write=True) as session:
            repositories.ensure_hosted_connection(session, ctx.arns, ctx.now)
    with ctx.db.session() as session:
        rows, next_token = ctx.page(session, select(Connection), [Connection.name], request)
        return {
            "connections": [connection_view(ctx, row[0]) for row in rows],
            "nextToken": next_token,
        }
