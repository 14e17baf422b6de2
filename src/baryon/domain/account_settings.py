"""Account-wide settings: the pipeline roles and the pipeline provisioning repository."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from baryon.domain.errors import InvalidInput
from baryon.domain.repositories import require_registered
from baryon.store.tables import AccountSettingsRow

_ROW_ID = 1


def read(session: Session) -> AccountSettingsRow | None:
    return session.get(AccountSettingsRow, _ROW_ID)


def update(
    session: Session,
    *,
    pipeline_service_role_arn: str | None,
    pipeline_codebuild_role_arn: str | None,
    pipeline_repository: Mapping[str, Any] | None,
    delete_pipeline_repository: bool,
) -> AccountSettingsRow:
    if delete_pipeline_repository and pipeline_repository:
        raise InvalidInput(
            "Set either pipelineProvisioningRepository or deletePipelineProvisioningRepository, "
            "not both."
        )
    row = session.get(AccountSettingsRow, _ROW_ID, with_for_update=True)
    if row is None:
        row = AccountSettingsRow(id=_ROW_ID)
        session.add(row)
    # An empty string clears a role (the model's RoleArnOrEmptyString); absent keeps it.
    if pipeline_service_role_arn is not None:
        row.pipeline_service_role_arn = pipeline_service_role_arn or None
    if pipeline_codebuild_role_arn is not None:
        row.pipeline_codebuild_role_arn = pipeline_codebuild_role_arn or None
    if pipeline_repository:
        # Self-managed pipelines go there by pull request (domain/pull_requests.py).
        require_registered(
            session,
            pipeline_repository["provider"],
            pipeline_repository["name"],
            "pipelineProvisioningRepository",
        )
        row.pipeline_repository = {
            "provider": pipeline_repository["provider"],
            "name": pipeline_repository["name"],
            "branch": pipeline_repository["branch"],
        }
    if delete_pipeline_repository:
        row.pipeline_repository = None
    session.flush()
    return row
