"""CreateRepository, GetRepository, ListRepositories, DeleteRepository.

A repository is a name in one of Proton's provider name spaces, reached through the
connection its ``connectionArn`` names (operations/connections.py). A repository on Baryon's
own git server is created (empty, branch ``main``) when it is registered, so that a platform
team can push to it at once.
"""

from __future__ import annotations

from sqlalchemy import select

from baryon.domain import repositories
from baryon.domain.tags import set_tags
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton
from baryon.service_models.baryon import ConnectionProvider
from baryon.store.tables import Repository


def _view(row: Repository) -> proton.Repository:
    return {
        "arn": row.arn,
        "connectionArn": row.connection_arn,
        "name": row.name,
        "provider": proton.RepositoryProvider(row.provider),
    }


@proton_operation("CreateRepository")
def create_repository(
    ctx: RequestContext, request: proton.CreateRepositoryInput
) -> proton.CreateRepositoryOutput:
    with ctx.db.session(write=True) as session:
        if ctx.settings.git_hosting:
            repositories.ensure_hosted_connection(session, ctx.arns, ctx.now)
        row, connection = repositories.create_repository(
            session,
            ctx.arns,
            provider=request["provider"],
            name=request["name"],
            connection_arn=request["connectionArn"],
            encryption_key=request.get("encryptionKey"),
            now=ctx.now,
        )
        if request.get("tags"):
            set_tags(session, row.arn, request["tags"])
        if connection.provider == ConnectionProvider.BARYON:
            # Inside the transaction: a repository registered is a repository one can push to.
            ctx.runtime.git_access.ensure_hosted(row.name)
        return {"repository": _view(row)}


@proton_operation("GetRepository")
def get_repository(
    ctx: RequestContext, request: proton.GetRepositoryInput
) -> proton.GetRepositoryOutput:
    with ctx.db.session() as session:
        row = repositories.get_repository(session, request["provider"], request["name"])
        return {"repository": _view(row)}


@proton_operation("DeleteRepository")
def delete_repository(
    ctx: RequestContext, request: proton.DeleteRepositoryInput
) -> proton.DeleteRepositoryOutput:
    # Baryon's own server keeps the repository's content: deleting a registration never
    # deletes anyone's commits.
    with ctx.db.session(write=True) as session:
        row = repositories.delete_repository(session, request["provider"], request["name"])
        return {"repository": _view(row)}


@proton_operation("ListRepositories")
def list_repositories(
    ctx: RequestContext, request: proton.ListRepositoriesInput
) -> proton.ListRepositoriesOutput:
    with ctx.db.session() as session:
        stmt = select(Repository)
        rows, next_token = ctx.page(
            session, stmt, [Repository.provider, Repository.name], request
        )
        return {
            "repositories": [
                {
                    "arn": r[0].arn,
                    "connectionArn": r[0].connection_arn,
                    "name": r[0].name,
                    "provider": proton.RepositoryProvider(r[0].provider),
                }
                for r in rows
            ],
            "nextToken": next_token,
        }
