"""What a scoped key (auth/scoped_keys.py) may call: its own resource, nothing else.

A program deploying one resource reports on it (NotifyResourceDeploymentStatusChange naming
that resource), reads it and what it stands on (Get* of the resource, of its service and of
its environment, as Proton's service-instance-deployed waiter and the samples' scripts do),
and reads its own outputs (List*Outputs: the CDK pipeline sample does). Every other call,
and any of these naming another resource, is refused: a leaked key can change nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from baryon.store.database import Database
from baryon.store.tables import Component, ServiceInstance

_ARN_PREFIX_PARTS = 5  # arn:aws:proton:<region>:<account>:<resource path>


@dataclass(frozen=True)
class ScopedResource:
    """The Proton names a scoped key's resource answers to, and those of its neighbours."""

    arn: str
    environment: str | None = None
    service: str | None = None
    instance: str | None = None  # with service: a service instance
    pipeline: bool = False  # with service: the service's pipeline
    component: str | None = None


def scoped_resource(db: Database, arn: str) -> ScopedResource:
    """The resource and its neighbours (an instance's environment, a component's environment
    and the instance it is attached to), read from the store."""
    parts = arn.split(":", _ARN_PREFIX_PARTS)
    path = parts[-1].split("/") if len(parts) > _ARN_PREFIX_PARTS else []
    if len(path) == 2 and path[0] == "environment":
        return ScopedResource(arn, environment=path[1])
    if len(path) == 3 and path[0] == "service" and path[2] == "pipeline":
        return ScopedResource(arn, service=path[1], pipeline=True)
    if len(path) == 4 and path[0] == "service" and path[2] == "service-instance":
        with db.session() as session:
            environment = session.scalar(
                select(ServiceInstance.environment_name).where(
                    ServiceInstance.service_name == path[1], ServiceInstance.name == path[3]
                )
            )
        return ScopedResource(arn, environment=environment, service=path[1], instance=path[3])
    if len(path) == 2 and path[0] == "component":
        with db.session() as session:
            row = session.execute(
                select(
                    Component.environment_name,
                    Component.service_name,
                    Component.service_instance_name,
                ).where(Component.name == path[1])
            ).first()
        if row is None:
            return ScopedResource(arn, component=path[1])
        return ScopedResource(
            arn,
            environment=row.environment_name,
            service=row.service_name,
            instance=row.service_instance_name,
            component=path[1],
        )
    return ScopedResource(arn)


def _same(value: Any, allowed: str | None) -> bool:
    return allowed is not None and value == allowed


# operation -> whether the request stays within the scoped resource.
_RULES: dict[str, Callable[[ScopedResource, Mapping[str, Any]], bool]] = {
    "NotifyResourceDeploymentStatusChange": lambda r, p: p.get("resourceArn") == r.arn,
    "GetEnvironment": lambda r, p: _same(p.get("name"), r.environment),
    "GetService": lambda r, p: _same(p.get("name"), r.service),
    "GetServiceInstance": lambda r, p: (
        _same(p.get("serviceName"), r.service) and _same(p.get("name"), r.instance)
    ),
    "GetComponent": lambda r, p: _same(p.get("name"), r.component),
    "ListEnvironmentOutputs": lambda r, p: (
        r.service is None and r.component is None and _same(p.get("environmentName"), r.environment)
    ),
    "ListServiceInstanceOutputs": lambda r, p: (
        r.component is None
        and _same(p.get("serviceName"), r.service)
        and _same(p.get("serviceInstanceName"), r.instance)
    ),
    "ListServicePipelineOutputs": lambda r, p: (
        r.pipeline and _same(p.get("serviceName"), r.service)
    ),
    "ListComponentOutputs": lambda r, p: _same(p.get("componentName"), r.component),
}


def may_call(db: Database, resource_arn: str, operation: str, params: Mapping[str, Any]) -> bool:
    """Whether a key scoped to ``resource_arn`` may make this call."""
    rule = _RULES.get(operation)
    if rule is None:
        return False
    return rule(scoped_resource(db, resource_arn), params)


def refusal(operation: str, resource_arn: str) -> str:
    """The AccessDeniedException message for a call outside the key's resource."""
    return (
        f"This access key may act only on {resource_arn} (it was issued for one deployment "
        f"run); {operation} on another resource, or any other call, is not allowed."
    )
