"""Rows to API dicts. Each function builds one modeled shape; the serializer drops nothing
but unset members, so what is returned here is exactly what clients see."""

from __future__ import annotations

from typing import Any

from baryon.domain.arns import Arns
from baryon.domain.template_versions import version_arn
from baryon.domain.templates import TemplateKind, template_arn
from baryon.store.tables import Template, TemplateVersion


def template(arns: Arns, row: Template, recommended: str | None) -> dict[str, Any]:
    view = template_summary(arns, row, recommended)
    view["encryptionKey"] = row.encryption_key
    return view


def template_summary(arns: Arns, row: Template, recommended: str | None) -> dict[str, Any]:
    provisioning_member = (
        "provisioning" if row.kind == TemplateKind.ENVIRONMENT.value else "pipelineProvisioning"
    )
    return {
        "arn": template_arn(arns, row),
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        provisioning_member: row.provisioning,
        "recommendedVersion": recommended,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def version_summary(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> dict[str, Any]:
    return {
        "arn": version_arn(arns, template_row, row),
        "templateName": template_row.name,
        "majorVersion": str(row.major),
        "minorVersion": str(row.minor),
        "recommendedMinorVersion": None if recommended_minor is None else str(recommended_minor),
        "status": row.status,
        "statusMessage": row.status_message,
        "description": row.description,
        "createdAt": row.created_at,
        "lastModifiedAt": row.last_modified_at,
    }


def version(
    arns: Arns, template_row: Template, row: TemplateVersion, recommended_minor: int | None
) -> dict[str, Any]:
    view = version_summary(arns, template_row, row, recommended_minor)
    view["schema"] = row.schema_text
    if template_row.kind == TemplateKind.SERVICE.value:
        view["compatibleEnvironmentTemplates"] = row.compatible_environment_templates or []
        view["supportedComponentSources"] = row.supported_component_sources
    return view
