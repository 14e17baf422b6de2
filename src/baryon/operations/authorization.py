"""May this principal make this call? The one decision every front door gets (api/, web/, the
CLI through the API), taken before an operation's handler runs (operations/registry.py).

A denial raises Forbidden, which the API answers with AccessDeniedException and the portal
with a 403 page.

The resource a call is about is built from its request (the names it carries) and, for a
change to something that exists, from the store (its template, major version, environment
and tags: what Proton's IAM condition keys said). Reads are decided from the request alone:
they are the most frequent calls, the built-in roles all allow them, and a List decides once
for the whole list (its results are not filtered per policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from baryon.auth.policies import ResourceFacts, ResourceKind, decide, is_read
from baryon.auth.policies.stored import policies_in_force
from baryon.auth.principals import PrincipalKind
from baryon.domain.arns import Arns, parse_arn
from baryon.operations.context import RequestContext
from baryon.operations.errors import Forbidden
from baryon.store import tables as t
from baryon.store.database import Database

# Callers whose reach is settled elsewhere: Baryon itself (sync, imports) may do anything;
# an environment account's key and a provisioning program's key are held to their scope by
# api/front_door.py (auth/account_access.py, auth/scoped_access.py) before any operation.
_UNPOLICED = frozenset({PrincipalKind.SYSTEM, PrincipalKind.ACCOUNT, PrincipalKind.PROGRAM})


def authorize(
    context: RequestContext, service: str, operation: str, request: Mapping[str, Any]
) -> None:
    """Raises Forbidden when no policy lets ``context.principal`` make this call."""
    principal = context.principal
    if principal.kind in _UNPOLICED:
        return
    resource = resource_facts(context, operation, request)
    policies = policies_in_force(context.db, context.policy_generation)
    decision = decide(policies, principal, operation, resource)
    if decision.allowed:
        return
    why = (
        f"because {', '.join(decision.reasons)} forbids it"
        if decision.reasons
        else "because no policy allows it"
    )
    raise Forbidden(
        f"User: {principal.label} is not authorized to perform: {service}:{operation} "
        f"on resource: {resource.label} {why}"
    )


def allows(context: RequestContext, operation: str, request: Mapping[str, Any]) -> bool:
    """Whether ``authorize`` would let this call through: what the portal asks before it
    shows an action (asking anyway still meets ``authorize``)."""
    principal = context.principal
    if principal.kind in _UNPOLICED:
        return True
    resource = resource_facts(context, operation, request)
    policies = policies_in_force(context.db, context.policy_generation)
    return decide(policies, principal, operation, resource).allowed


def resource_facts(
    context: RequestContext, operation: str, request: Mapping[str, Any]
) -> ResourceFacts:
    """What ``operation`` with ``request`` is about, as policies see it."""
    build = _BUILDERS.get(operation)
    if build is None:
        return _account(context.arns)
    if is_read(operation):
        return build(_Lookup(context.arns, None), request)
    with context.db.single_read_session() as session:
        return build(_Lookup(context.arns, session), request)


def facts_for_arn(db: Database, arns: Arns, arn: str) -> ResourceFacts:
    """What a resource named by its ARN is, as a change to it would be decided
    (``baryon policy test``)."""
    with db.session() as session:
        return _facts_for_arn(_Lookup(arns, session), arn, {})


def environment_facts(session: Session, arns: Arns, name: str) -> ResourceFacts:
    """An environment as a change to it would be decided: what approval rules see of the
    environment a deployment runs in."""
    return _environment("name")(_Lookup(arns, session), {"name": name})


class _Lookup:
    """ARNs, and the store when the decision may read it (changes; None for reads)."""

    def __init__(self, arns: Arns, session: Session | None) -> None:
        self.arns, self.session = arns, session

    def tags(self, arn: str) -> dict[str, str]:
        if self.session is None:
            return {}
        rows = self.session.execute(_TAGS_OF, {"arns": [arn]})
        return {key: value for _, key, value in rows}

    def with_environment_tags(
        self, arn: str | None, environment: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The tags of ``arn`` (none for None) and of ``environment`` (none for ""), in one
        statement: a change to what runs in an environment is decided on both."""
        environment_arn = self.arns.environment(environment) if environment else None
        wanted = [found for found in (arn, environment_arn) if found]
        if self.session is None or not wanted:
            return {}, {}
        own: dict[str, str] = {}
        of_environment: dict[str, str] = {}
        rows = self.session.execute(_TAGS_OF, {"arns": wanted})
        for resource_arn, key, value in rows:
            if resource_arn == arn:
                own[key] = value
            if resource_arn == environment_arn:
                of_environment[key] = value
        return own, of_environment

    def get(self, row_type: type[Any], **where: Any) -> Any:
        if self.session is None:
            return None
        return self.session.scalars(_first_by(row_type, tuple(sorted(where))), where).first()


# Built once (building a select and its cache key costs more than running it: issue 17).
_TAGS_OF = select(t.Tag.resource_arn, t.Tag.key, t.Tag.value).where(
    t.Tag.resource_arn.in_(bindparam("arns", expanding=True))
)


_FIRST_BY: dict[tuple[type[Any], tuple[str, ...]], Select[Any]] = {}


def _first_by(row_type: type[Any], keys: tuple[str, ...]) -> Select[Any]:
    stmt = _FIRST_BY.get((row_type, keys))
    if stmt is None:
        stmt = select(row_type).filter_by(**{key: bindparam(key) for key in keys}).limit(1)
        _FIRST_BY[row_type, keys] = stmt  # a handful of (type, keys) pairs in all
    return stmt


Builder = Callable[[_Lookup, Mapping[str, Any]], ResourceFacts]


def _requested_tags(request: Mapping[str, Any]) -> dict[str, str]:
    tags = request.get("tags") or []
    return {tag["key"]: tag["value"] for tag in tags if "key" in tag and "value" in tag}


def _major_upgrade(request: Mapping[str, Any], current: int | None) -> bool:
    wanted = request.get("templateMajorVersion")
    return wanted is not None and current is not None and wanted != str(current)


def _account(arns: Arns) -> ResourceFacts:
    return ResourceFacts(ResourceKind.ACCOUNT, "", arn=arns.make(f"account/{arns.account_id}"))


def _template(template_kind: str) -> Callable[[str], Builder]:
    environment = template_kind == "ENVIRONMENT"
    arn_type = f"{template_kind.lower()}-template"

    def for_key(key: str) -> Builder:
        def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
            name = request.get(key) or ""
            arn = lookup.arns.template(arn_type, name)
            return ResourceFacts(
                ResourceKind.TEMPLATE,
                name,
                arn=arn,
                tags=lookup.tags(arn),
                request_tags=_requested_tags(request),
                environment_template=name if environment else "",
                service_template="" if environment else name,
            )

        return build

    return for_key


def _template_version(template_kind: str) -> Builder:
    environment = template_kind == "ENVIRONMENT"
    arn_type = f"{template_kind.lower()}-template"

    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        name = request.get("templateName") or ""
        major, minor = request.get("majorVersion") or "", request.get("minorVersion") or ""
        version = f"{major}.{minor}" if major and minor else major
        full = f"{name}:{version}" if version else name
        arn = lookup.arns.make(f"{arn_type}/{full}")
        return ResourceFacts(
            ResourceKind.TEMPLATE_VERSION,
            full,
            arn=arn,
            template_major_version=major,
            tags=lookup.tags(arn) if major and minor else {},
            request_tags=_requested_tags(request),
            environment_template=name if environment else "",
            service_template="" if environment else name,
        )

    return build


def _environment(key: str) -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        name = request.get(key) or ""
        arn = lookup.arns.environment(name)
        row = lookup.get(t.Environment, name=name)
        tags = lookup.tags(arn)  # an environment's own tags are its environment's
        return ResourceFacts(
            ResourceKind.ENVIRONMENT,
            name,
            arn=arn,
            environment=name,
            environment_template=row.template_name if row else request.get("templateName", ""),
            template_major_version=(
                str(row.template_major) if row else request.get("templateMajorVersion", "")
            ),
            tags=tags,
            environment_tags=tags,
            request_tags=_requested_tags(request),
            major_upgrade=_major_upgrade(request, row.template_major if row else None),
        )

    return build


def _service(key: str) -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        name = request.get(key) or ""
        arn = lookup.arns.service(name)
        row = lookup.get(t.Service, name=name)
        return ResourceFacts(
            ResourceKind.SERVICE,
            name,
            arn=arn,
            service=name,
            service_template=row.template_name if row else request.get("templateName", ""),
            template_major_version=(
                str(row.template_major) if row else request.get("templateMajorVersion", "")
            ),
            tags=lookup.tags(arn),
            request_tags=_requested_tags(request),
        )

    return build


def _service_instance(name_key: str, service_key: str = "serviceName") -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        service, name = request.get(service_key) or "", request.get(name_key) or ""
        arn = lookup.arns.service_instance(service, name)
        row = lookup.get(t.ServiceInstance, service_name=service, name=name)
        parent = lookup.get(t.Service, name=service) if row is None else None
        template = row.template_name if row else (parent.template_name if parent else "")
        major = row.template_major if row else (parent.template_major if parent else None)
        tags, environment_tags = lookup.with_environment_tags(
            arn, row.environment_name if row else ""
        )
        return ResourceFacts(
            ResourceKind.SERVICE_INSTANCE,
            f"{service}/{name}",
            arn=arn,
            service=service,
            environment=row.environment_name if row else "",
            service_template=template,
            template_major_version=str(major) if major is not None else "",
            tags=tags,
            environment_tags=environment_tags,
            request_tags=_requested_tags(request),
            major_upgrade=_major_upgrade(request, row.template_major if row else None),
        )

    return build


def _pipeline(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    service = request.get("serviceName") or ""
    arn = lookup.arns.service_pipeline(service)
    parent = lookup.get(t.Service, name=service)
    row = lookup.get(t.ServicePipeline, service_id=parent.id) if parent else None
    return ResourceFacts(
        ResourceKind.PIPELINE,
        service,
        arn=arn,
        service=service,
        service_template=parent.template_name if parent else "",
        template_major_version=str(row.template_major) if row else "",
        tags=lookup.tags(lookup.arns.service(service)),
        major_upgrade=_major_upgrade(request, row.template_major if row else None),
    )


def _component(key: str) -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        name = request.get(key) or ""
        arn = lookup.arns.component(name)
        row = lookup.get(t.Component, name=name)
        environment = row.environment_name if row else request.get("environmentName", "")
        tags, environment_tags = lookup.with_environment_tags(arn, environment)
        return ResourceFacts(
            ResourceKind.COMPONENT,
            name,
            arn=arn,
            environment=environment,
            service=(row.service_name if row else request.get("serviceName")) or "",
            tags=tags,
            environment_tags=environment_tags,
            request_tags=_requested_tags(request),
        )

    return build


def _account_connection(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    connection_id = request.get("id") or ""
    row = lookup.get(t.EnvironmentAccountConnectionRow, id=connection_id) if connection_id else None
    environment = row.environment_name if row else request.get("environmentName", "")
    tags, environment_tags = lookup.with_environment_tags(row.arn if row else None, environment)
    return ResourceFacts(
        ResourceKind.CONNECTION,
        connection_id,
        arn=row.arn if row else "",
        environment=environment,
        tags=tags,
        environment_tags=environment_tags,
        request_tags=_requested_tags(request),
    )


def _forge_connection(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    arn = request.get("arn") or ""
    return ResourceFacts(ResourceKind.CONNECTION, request.get("name") or arn, arn=arn)


def _repository(name_key: str, provider_key: str) -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        name, provider = request.get(name_key) or "", request.get(provider_key) or ""
        arn = lookup.arns.repository(provider, name) if provider else ""
        return ResourceFacts(
            ResourceKind.REPOSITORY,
            name,
            arn=arn,
            tags=lookup.tags(arn) if arn else {},
            request_tags=_requested_tags(request),
        )

    return build


def _template_sync(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    name = request.get("templateName") or ""
    environment = request.get("templateType") == "ENVIRONMENT"
    return ResourceFacts(
        ResourceKind.SYNC_CONFIG,
        name,
        environment_template=name if environment else "",
        service_template="" if environment else name,
    )


def _service_sync(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    service = request.get("serviceName") or ""
    return ResourceFacts(ResourceKind.SYNC_CONFIG, service, service=service)


def _sync_blocker(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    row = lookup.get(t.SyncBlockerRow, id=request.get("id") or "")
    service = getattr(row, "service_name", None) or ""
    return ResourceFacts(ResourceKind.SYNC_CONFIG, service, service=service)


def _by_arn(key: str) -> Builder:
    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        return _facts_for_arn(lookup, request.get(key) or "", _requested_tags(request))

    return build


def _facts_for_arn(lookup: _Lookup, arn: str, request_tags: Mapping[str, str]) -> ResourceFacts:
    parsed = parse_arn(arn)
    if parsed is None:
        return ResourceFacts(ResourceKind.ACCOUNT, arn, arn=arn, request_tags=request_tags)
    kind, path = parsed.resource_type, parsed.resource_path
    facts: ResourceFacts
    if kind == "environment":
        facts = _environment("name")(lookup, {"name": path})
    elif kind == "service" and "/service-instance/" in path:
        service, _, instance = path.partition("/service-instance/")
        facts = _service_instance("name")(lookup, {"serviceName": service, "name": instance})
    elif kind == "service" and path.endswith("/pipeline"):
        facts = _pipeline(lookup, {"serviceName": path.removesuffix("/pipeline")})
    elif kind == "service":
        facts = _service("name")(lookup, {"name": path})
    elif kind == "component":
        facts = _component("name")(lookup, {"name": path})
    elif kind.endswith("-template") and ":" in path:
        name, _, version = path.partition(":")
        major, _, minor = version.partition(".")
        template_kind = kind.removesuffix("-template").upper()
        request = {"templateName": name, "majorVersion": major, "minorVersion": minor}
        facts = _template_version(template_kind)(lookup, request)
    elif kind.endswith("-template"):
        facts = _template(kind.removesuffix("-template").upper())("name")(lookup, {"name": path})
    elif kind == "repository":
        _provider, _, name = path.partition(":")
        facts = ResourceFacts(ResourceKind.REPOSITORY, name, arn=arn, tags=lookup.tags(arn))
    elif kind == "environment-account-connection":
        facts = _account_connection(lookup, {"id": path})
    elif kind == "deployment":
        return _deployment("id")(lookup, {"id": path})
    else:
        facts = ResourceFacts(ResourceKind.ACCOUNT, path, arn=arn, tags=lookup.tags(arn))
    return replace(facts, arn=arn, request_tags=request_tags)


def _deployment(key: str) -> Builder:
    """A deployment is decided as what it deploys: retrying an environment's is an environment
    change, an instance's a service change."""

    def build(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
        deployment_id = request.get(key) or ""
        row = lookup.get(t.Deployment, id=deployment_id)
        if row is None:
            return ResourceFacts(
                ResourceKind.DEPLOYMENT, deployment_id, arn=lookup.arns.deployment(deployment_id)
            )
        return _facts_for_arn(lookup, row.target_arn, {})

    return build


def _deployment_target(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    """A call that names its resource by parts (GetDeploymentPreview, ContinueUpdateRollback)."""
    if request.get("componentName"):
        return _component("componentName")(lookup, request)
    if request.get("serviceInstanceName"):
        return _service_instance("serviceInstanceName")(lookup, request)
    if request.get("serviceName"):
        return _pipeline(lookup, request)
    if request.get("environmentName"):
        return _environment("environmentName")(lookup, request)
    return _account(lookup.arns)


def _drift_item(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    """A drift decision is decided as the resource that drifted."""
    row = lookup.get(t.DriftItemRow, id=request.get("itemId") or "")
    if row is None:
        return _account(lookup.arns)
    return _facts_for_arn(lookup, row.resource_arn, {})


def _drift_check(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    """A check of one resource is decided as that resource; of a template's resources, as the
    template. A call naming several is decided here as the first, and each of the others on
    its own by the operation (operations/drift.py)."""
    refs = request.get("resources") or []
    if refs:
        return _deployment_target(lookup, refs[0])
    if request.get("templateName"):
        return _template(request.get("templateType") or "SERVICE")("templateName")(lookup, request)
    return _account(lookup.arns)


def _drift_listing(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    """One resource's items are decided as that resource; other lists, account-wide."""
    if request.get("resourceArn"):
        return _facts_for_arn(lookup, request["resourceArn"], {})
    return _account(lookup.arns)


def _account_wide(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    return _account(lookup.arns)


def _protected(lookup: _Lookup, request: Mapping[str, Any]) -> ResourceFacts:
    """Deletion protection names an environment or a service by type and name."""
    if request.get("resourceType") == "SERVICE":
        return _service("name")(lookup, request)
    return _environment("name")(lookup, request)


_ENVIRONMENT_TEMPLATE = _template("ENVIRONMENT")
_SERVICE_TEMPLATE = _template("SERVICE")

_BUILDERS: dict[str, Builder] = {
    # Templates and their versions.
    **{
        f"{verb}EnvironmentTemplate": _ENVIRONMENT_TEMPLATE("name")
        for verb in ("Create", "Update", "Delete", "Get")
    },
    **{
        f"{verb}ServiceTemplate": _SERVICE_TEMPLATE("name")
        for verb in ("Create", "Update", "Delete", "Get")
    },
    **{
        f"{verb}EnvironmentTemplateVersion": _template_version("ENVIRONMENT")
        for verb in ("Create", "Update", "Delete", "Get")
    },
    **{
        f"{verb}ServiceTemplateVersion": _template_version("SERVICE")
        for verb in ("Create", "Update", "Delete", "Get")
    },
    "ListEnvironmentTemplateVersions": _ENVIRONMENT_TEMPLATE("templateName"),
    "ListServiceTemplateVersions": _SERVICE_TEMPLATE("templateName"),
    "CreateBundleUpload": _ENVIRONMENT_TEMPLATE("templateName"),
    # Environments.
    **{
        f"{verb}Environment": _environment("name") for verb in ("Create", "Update", "Delete", "Get")
    },
    "CancelEnvironmentDeployment": _environment("environmentName"),
    "ListEnvironmentOutputs": _environment("environmentName"),
    "ListEnvironmentProvisionedResources": _environment("environmentName"),
    # Services, instances, pipelines, components.
    **{f"{verb}Service": _service("name") for verb in ("Create", "Update", "Delete", "Get")},
    **{f"{verb}ServiceInstance": _service_instance("name") for verb in ("Create", "Update", "Get")},
    "CancelServiceInstanceDeployment": _service_instance("serviceInstanceName"),
    "ListServiceInstanceOutputs": _service_instance("serviceInstanceName"),
    "ListServiceInstanceProvisionedResources": _service_instance("serviceInstanceName"),
    "GetServiceInstanceSyncStatus": _service_instance("serviceInstanceName"),
    "UpdateServicePipeline": _pipeline,
    "CancelServicePipelineDeployment": _pipeline,
    "ListServicePipelineOutputs": _pipeline,
    "ListServicePipelineProvisionedResources": _pipeline,
    **{f"{verb}Component": _component("name") for verb in ("Create", "Update", "Delete", "Get")},
    "CancelComponentDeployment": _component("componentName"),
    "ListComponentOutputs": _component("componentName"),
    "ListComponentProvisionedResources": _component("componentName"),
    # Connections and repositories.
    **{
        f"{verb}EnvironmentAccountConnection": _account_connection
        for verb in ("Create", "Update", "Delete", "Get", "Accept", "Reject")
    },
    **{
        f"{verb}Repository": _repository("name", "provider") for verb in ("Create", "Delete", "Get")
    },
    "GetRepositorySyncStatus": _repository("repositoryName", "repositoryProvider"),
    "ListRepositorySyncDefinitions": _repository("repositoryName", "repositoryProvider"),
    "CreateConnection": _forge_connection,
    "DeleteConnection": _forge_connection,
    "GetConnection": _forge_connection,
    # Sync configurations.
    **{
        f"{verb}TemplateSyncConfig": _template_sync
        for verb in ("Create", "Update", "Delete", "Get")
    },
    "GetTemplateSyncStatus": _template_sync,
    **{f"{verb}ServiceSyncConfig": _service_sync for verb in ("Create", "Update", "Delete", "Get")},
    "GetServiceSyncBlockerSummary": _service_sync,
    "UpdateServiceSyncBlocker": _sync_blocker,
    # Deployments: decided as the resource they deploy.
    "GetDeployment": _deployment("id"),
    "DeleteDeployment": _deployment("id"),
    "RetryDeployment": _deployment("id"),
    "GetDeploymentPlan": _deployment("id"),
    "GetDeploymentPreview": _deployment_target,
    "ContinueUpdateRollback": _deployment_target,
    "PreviewRollback": _deployment_target,
    "RollbackResource": _deployment_target,
    "GetDeploymentRollbacks": _deployment("id"),
    # Drift: a report and a check are the resource's; a decision, the drifted resource's.
    "GetDriftReport": _deployment_target,
    "StartDriftCheck": _drift_check,
    "ListDriftItems": _drift_listing,
    "DecideDriftItem": _drift_item,
    "NotifyResourceDeploymentStatusChange": _by_arn("resourceArn"),
    # Approvals: decided as the resource the waiting deployment deploys, so that a policy can
    # say who approves what ("team payments approves changes in payments-prod").
    "ApproveDeployment": _deployment("deploymentId"),
    "RejectDeployment": _deployment("deploymentId"),
    "GetApproval": _deployment("deploymentId"),
    "SetDeletionProtection": _protected,
    "GetDeletionProtection": _protected,
    # Tags.
    "TagResource": _by_arn("resourceArn"),
    "UntagResource": _by_arn("resourceArn"),
    "ListTagsForResource": _by_arn("resourceArn"),
    # Account-wide: settings, summaries, imports, policies, and lists without a scope.
    "UpdateAccountSettings": _account_wide,
}
