"""GetAccountSettings and UpdateAccountSettings."""

from __future__ import annotations

from typing import Any

from baryon.domain import account_settings
from baryon.operations.context import RequestContext
from baryon.operations.unbuilt import proton_operation
from baryon.service_models import proton


def _view(ctx: RequestContext, row: Any) -> proton.AccountSettings:
    repository = row.pipeline_repository if row else None
    branch: proton.RepositoryBranch | None = None
    if repository:
        branch = {
            "arn": ctx.arns.repository(repository["provider"], repository["name"]),
            "branch": repository["branch"],
            "name": repository["name"],
            "provider": proton.RepositoryProvider(repository["provider"]),
        }
    return {
        "pipelineServiceRoleArn": row.pipeline_service_role_arn if row else None,
        "pipelineCodebuildRoleArn": row.pipeline_codebuild_role_arn if row else None,
        "pipelineProvisioningRepository": branch,
    }


@proton_operation("GetAccountSettings")
def get_account_settings(
    ctx: RequestContext, request: proton.GetAccountSettingsInput
) -> proton.GetAccountSettingsOutput:
    with ctx.db.session() as session:
        return {"accountSettings": _view(ctx, account_settings.read(session))}


@proton_operation("UpdateAccountSettings")
def update_account_settings(
    ctx: RequestContext, request: proton.UpdateAccountSettingsInput
) -> proton.UpdateAccountSettingsOutput:
    with ctx.db.session(write=True) as session:
        row = account_settings.update(
            session,
            pipeline_service_role_arn=request.get("pipelineServiceRoleArn"),
            pipeline_codebuild_role_arn=request.get("pipelineCodebuildRoleArn"),
            pipeline_repository=request.get("pipelineProvisioningRepository"),
            delete_pipeline_repository=bool(request.get("deletePipelineProvisioningRepository")),
        )
        return {"accountSettings": _view(ctx, row)}
