"""Finds the resource an ARN names, for operations that take any ARN (the tag operations).

Each resource family registers how to check its ARNs exist; families built later add theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.arns import Arns, parse_arn
from baryon.domain.errors import NotFound
from baryon.domain.templates import TemplateKind
from baryon.store.tables import (
    Component,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

Exists = Callable[[Session, str], bool]
_RESOLVERS: dict[str, Exists] = {}

_TEMPLATE_PATH = re.compile(r"(?P<name>[^:/]+)(?::(?P<major>\d+)\.(?P<minor>\d+))?", re.ASCII)


def register_resource_type(resource_type: str, exists: Exists) -> None:
    _RESOLVERS[resource_type] = exists


def ensure_exists(session: Session, arns: Arns, arn: str) -> None:
    parsed = parse_arn(arn)
    resolver = _RESOLVERS.get(parsed.resource_type) if parsed else None
    if (
        parsed is None
        or resolver is None
        or parsed.region != arns.region
        or parsed.account_id != arns.account_id
        or not resolver(session, parsed.resource_path)
    ):
        raise NotFound(f"The resource '{arn}' was not found.")


def _template_resolver(kind: TemplateKind) -> Exists:
    def exists(session: Session, path: str) -> bool:
        match = _TEMPLATE_PATH.fullmatch(path)
        if not match:
            return False
        stmt = select(Template.id).where(
            Template.kind == kind.value, Template.name == match["name"]
        )
        if match["major"] is not None:
            stmt = (
                select(TemplateVersion.id)
                .join(Template, Template.id == TemplateVersion.template_id)
                .where(
                    Template.kind == kind.value,
                    Template.name == match["name"],
                    TemplateVersion.major == int(match["major"]),
                    TemplateVersion.minor == int(match["minor"]),
                )
            )
        return session.scalar(stmt.limit(1)) is not None

    return exists


def _environment_exists(session: Session, path: str) -> bool:
    return session.scalar(select(Environment.id).where(Environment.name == path)) is not None


def _service_path_exists(session: Session, path: str) -> bool:
    """``service/<name>``, ``.../service-instance/<name>`` or ``.../pipeline``."""
    parts = path.split("/")
    if len(parts) == 1:
        return session.scalar(select(Service.id).where(Service.name == parts[0])) is not None
    if len(parts) == 3 and parts[1] == "service-instance":
        stmt = select(ServiceInstance.id).where(
            ServiceInstance.service_name == parts[0], ServiceInstance.name == parts[2]
        )
        return session.scalar(stmt) is not None
    if len(parts) == 2 and parts[1] == "pipeline":
        stmt = (
            select(ServicePipeline.id)
            .join(Service, Service.id == ServicePipeline.service_id)
            .where(Service.name == parts[0])
        )
        return session.scalar(stmt) is not None
    return False


for _kind in TemplateKind:
    register_resource_type(_kind.arn_type, _template_resolver(_kind))
register_resource_type("environment", _environment_exists)
register_resource_type(
    "component",
    lambda session, path: (
        session.scalar(select(Component.id).where(Component.name == path)) is not None
    ),
)
register_resource_type("service", _service_path_exists)
