"""What an audit record says a call acted on: the resources' ARNs, and for a call that sets a
spec, the difference between the spec before and the one sent.

The ARNs come from the call's result where it names them (a new connection's id is known only
then), else from the request's names, so refused and failed calls name their resource too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.arns import Arns
from baryon.store.tables import Component, Environment, Service, ServiceInstance, ServicePipeline

# Operations that set a spec, and the request member that holds it.
SPEC_MEMBERS: Mapping[str, str] = {
    "CreateEnvironment": "spec",
    "UpdateEnvironment": "spec",
    "CreateService": "spec",
    "UpdateService": "spec",
    "CreateServiceInstance": "spec",
    "UpdateServiceInstance": "spec",
    "UpdateServicePipeline": "spec",
    "CreateComponent": "serviceSpec",
    "UpdateComponent": "serviceSpec",
}

# A diff is kept to this many characters; longer specs are compared by size alone, so a
# hostile spec cannot make the (quadratic at worst) line matcher stall a request.
MAX_DIFF_CHARS = 64 * 1024
MAX_DIFF_LINES = 5000


def sends_spec(operation: str, request: Mapping[str, Any]) -> bool:
    """Whether the call sets a spec: only then has it a diff, and a spec before to read (an
    UpdateServiceInstance to a new minor without a spec keeps the one it has)."""
    member = SPEC_MEMBERS.get(operation)
    return member is not None and isinstance(request.get(member), str)


def current_spec(session: Session, operation: str, request: Mapping[str, Any]) -> str | None:
    """The spec the call's resource has now (None: no such resource yet, or no spec)."""
    name = request.get("name")
    if operation.endswith("Environment"):
        row: Any = session.scalars(select(Environment).where(Environment.name == name)).first()
        return row.spec if row else None
    if operation.endswith("ServiceInstance"):
        row = session.scalars(
            select(ServiceInstance).where(
                ServiceInstance.service_name == request.get("serviceName"),
                ServiceInstance.name == name,
            )
        ).first()
        return row.spec if row else None
    if operation.endswith("ServicePipeline"):
        row = session.scalars(
            select(ServicePipeline)
            .join(Service, Service.id == ServicePipeline.service_id)
            .where(Service.name == request.get("serviceName"))
        ).first()
        return row.spec if row else None
    if operation.endswith("Service"):
        row = session.scalars(select(Service).where(Service.name == name)).first()
        return row.spec if row else None
    if operation.endswith("Component"):
        row = session.scalars(select(Component).where(Component.name == name)).first()
        return row.service_spec if row else None
    return None


def spec_diff(operation: str, request: Mapping[str, Any], before: str | None) -> str | None:
    """A unified diff of ``before`` and the spec the request sends (None: it sends none, or
    the same one)."""
    after = request.get(SPEC_MEMBERS.get(operation, ""))
    if not isinstance(after, str) or after == before:
        return None
    old_lines = (before or "").splitlines(keepends=True)
    new_lines = after.splitlines(keepends=True)
    if len(old_lines) > MAX_DIFF_LINES or len(new_lines) > MAX_DIFF_LINES:
        return (
            f"(spec changed: {len(old_lines)} lines before, {len(new_lines)} after; "
            "too long to compare line by line)\n"
        )
    lines = difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile="spec (before)" if before is not None else "/dev/null",
        tofile="spec (after)",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if len(text) > MAX_DIFF_CHARS:
        return text[:MAX_DIFF_CHARS] + f"\n(diff cut at {MAX_DIFF_CHARS} characters)\n"
    return text


# Nouns of Proton's and Baryon's operations, longest first so that ServiceInstance is not
# taken for Service.
_NOUNS = (
    "EnvironmentTemplateVersion",
    "ServiceTemplateVersion",
    "EnvironmentTemplate",
    "ServiceTemplate",
    "ServiceInstance",
    "ServicePipeline",
    "Service",
    "Environment",
    "Component",
    "Repository",
    "Deployment",
)


def request_arns(arns: Arns, operation: str, request: Mapping[str, Any]) -> tuple[str, ...]:
    """The ARNs a request names, by its operation's noun and its name members."""
    for member in ("resourceArn", "arn"):
        if isinstance(request.get(member), str):
            return (request[member],)
    noun = next((noun for noun in _NOUNS if noun in operation), None)
    name = _text(request, "name")
    if noun is None:
        return ()
    if noun.endswith("TemplateVersion"):
        kind = "environment-template" if noun.startswith("Environment") else "service-template"
        template, major, minor = (
            _text(request, "templateName"),
            request.get("majorVersion"),
            request.get("minorVersion"),
        )
        if template and major and minor:
            return (arns.make(f"{kind}/{template}:{major}.{minor}"),)
        return (arns.template(kind, template),) if template else ()
    if noun.endswith("Template"):
        kind = "environment-template" if noun.startswith("Environment") else "service-template"
        template = name or _text(request, "templateName")
        return (arns.template(kind, template),) if template else ()
    service = _text(request, "serviceName")
    if noun == "ServiceInstance":
        instance = name or _text(request, "serviceInstanceName")
        return (arns.service_instance(service, instance),) if service and instance else ()
    if noun == "ServicePipeline":
        return (arns.service_pipeline(service),) if service else ()
    if noun == "Service":
        service = name or service
        return (arns.service(service),) if service else ()
    if noun == "Environment":
        environment = name or _text(request, "environmentName")
        return (arns.environment(environment),) if environment else ()
    if noun == "Component":
        component = name or _text(request, "componentName")
        return (arns.component(component),) if component else ()
    if noun == "Repository":
        provider = _text(request, "provider")
        return (arns.repository(provider, name),) if provider and name else ()
    deployment = _text(request, "id") or _text(request, "deploymentId")
    return (arns.deployment(deployment),) if deployment else ()


def result_arns(result: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The ARNs a result names: its own ``arn``, and each top-level resource's."""
    if not isinstance(result, Mapping):
        return ()
    found = [result["arn"]] if isinstance(result.get("arn"), str) else []
    for value in result.values():
        # A list of resources a change acted on (RollbackResources' rollbacks) names each.
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, Mapping) and isinstance(entry.get("arn"), str):
                found.append(entry["arn"])
    return tuple(found)


def _text(request: Mapping[str, Any], member: str) -> str:
    value = request.get(member)
    return value if isinstance(value, str) else ""
