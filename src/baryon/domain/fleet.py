"""How far deployed resources are behind their template's recommended version.

UP_TO_DATE: on the recommended minor of the newest published major. BEHIND_MINOR: on the
newest published major, below its recommended minor. BEHIND_MAJOR: a newer major is published.
Computed in SQL from pre-aggregated recommended versions, so it stays one query at 100,000
instances.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.orm import QueryableAttribute

from baryon.service_models.proton import TemplateVersionStatus
from baryon.store.tables import TemplateVersion


class VersionStatus(StrEnum):
    """Baryon's own (Proton names no such status): how far a resource is behind; the
    deployedTemplateVersionStatus filter of ListServiceInstances takes these values."""

    UP_TO_DATE = "UP_TO_DATE"
    BEHIND_MINOR = "BEHIND_MINOR"
    BEHIND_MAJOR = "BEHIND_MAJOR"


def with_version_status(
    stmt: Select[Any],
    template_id: ColumnElement[int] | QueryableAttribute[int],
    major: ColumnElement[int] | QueryableAttribute[int],
    minor: ColumnElement[int] | QueryableAttribute[int],
) -> tuple[Select[Any], ColumnElement[str]]:
    """Joins the recommended versions into ``stmt``; returns it and the status expression."""
    newest_major = (
        select(TemplateVersion.template_id, func.max(TemplateVersion.major).label("major"))
        .where(TemplateVersion.status == TemplateVersionStatus.PUBLISHED)
        .group_by(TemplateVersion.template_id)
        .subquery("newest_major")
    )
    newest_minor = (
        select(
            TemplateVersion.template_id,
            TemplateVersion.major,
            func.max(TemplateVersion.minor).label("minor"),
        )
        .where(TemplateVersion.status == TemplateVersionStatus.PUBLISHED)
        .group_by(TemplateVersion.template_id, TemplateVersion.major)
        .subquery("newest_minor")
    )
    stmt = stmt.outerjoin(newest_major, newest_major.c.template_id == template_id).outerjoin(
        newest_minor,
        and_(newest_minor.c.template_id == template_id, newest_minor.c.major == major),
    )
    status = case(
        (newest_major.c.major.is_(None), VersionStatus.UP_TO_DATE),
        (major < newest_major.c.major, VersionStatus.BEHIND_MAJOR),
        (
            and_(newest_minor.c.minor.is_not(None), minor < newest_minor.c.minor),
            VersionStatus.BEHIND_MINOR,
        ),
        else_=VersionStatus.UP_TO_DATE,
    )
    return stmt, status


def with_minor_available(
    stmt: Select[Any],
    template_id: ColumnElement[int] | QueryableAttribute[int],
    major: ColumnElement[int] | QueryableAttribute[int],
    minor: ColumnElement[int] | QueryableAttribute[int],
) -> tuple[Select[Any], ColumnElement[bool]]:
    """Joins the newest published minor of each resource's own major into ``stmt``; returns
    it and whether that minor is newer than the deployed one. Unlike BEHIND_MINOR this also
    holds for a resource behind a major: a MINOR_VERSION upgrade is open to it too."""
    own_major = (
        select(
            TemplateVersion.template_id,
            TemplateVersion.major,
            func.max(TemplateVersion.minor).label("minor"),
        )
        .where(TemplateVersion.status == TemplateVersionStatus.PUBLISHED)
        .group_by(TemplateVersion.template_id, TemplateVersion.major)
        .subquery("own_major_minor")
    )
    stmt = stmt.outerjoin(
        own_major, and_(own_major.c.template_id == template_id, own_major.c.major == major)
    )
    return stmt, and_(own_major.c.minor.is_not(None), minor < own_major.c.minor)
