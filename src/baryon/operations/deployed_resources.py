"""Environments, service instances and pipelines seen the same way: each is a deployed
resource with a template version, a spec, inputs, outputs and deployments. Reading one with
where it stands, redeploying its spec, upgrading it and cancelling its deployment are written
once against this module.

Changes are the API's registered operations, called in process (see below).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import deployments, environments, fleet, services, versions
from baryon.domain.templates import TemplateKind
from baryon.operations import environments as environment_operations
from baryon.operations import service_instances as instance_operations
from baryon.operations import services as service_operations
from baryon.operations.context import RequestContext
from baryon.operations.deployment_history import (
    deployments_of,
    events_of,
    provisioned_resources,
    queued,
)
from baryon.operations.fleet import Standing, instances_with_status, standing
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, PIPELINE, ResourceKey
from baryon.service_models import proton
from baryon.service_models.proton import DeploymentStatus, DeploymentUpdateType
from baryon.store import spec_texts
from baryon.store.tables import (
    Deployment,
    DeploymentEvent,
    Environment,
    ProvisionedResourceRow,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

Row = Environment | ServiceInstance | ServicePipeline
_EVENTS_ON_RESOURCE_PAGE = 12
_HISTORY_ON_RESOURCE_PAGE = 10


class Upgrade(StrEnum):
    """To the recommended minor version of the deployed major, or to a newer major."""

    MINOR = "minor"
    MAJOR = "major"

    @property
    def deployment_type(self) -> DeploymentUpdateType:
        if self is Upgrade.MINOR:
            return DeploymentUpdateType.MINOR_VERSION
        return DeploymentUpdateType.MAJOR_VERSION

    @property
    def behind(self) -> fleet.VersionStatus:
        """The version status of the resources this upgrade moves."""
        if self is Upgrade.MINOR:
            return fleet.VersionStatus.BEHIND_MINOR
        return fleet.VersionStatus.BEHIND_MAJOR

    def target(self, where: Standing) -> tuple[int, int] | None:
        return where.minor_target if self is Upgrade.MINOR else where.major_target


@dataclass
class Loaded:
    key: ResourceKey
    row: Row
    template: Template
    service: Service | None
    version: TemplateVersion | None  # the deployed version (None if it was deleted)

    @property
    def schema(self) -> versions.VersionSchema | None:
        if self.version is None or not self.version.schema_text:
            return None
        return versions.version_schema(self.version)

    @property
    def input_type(self) -> str | None:
        schema = self.schema
        if schema is None:
            return None
        return {
            ENVIRONMENT: schema.environment_input_type,
            INSTANCE: schema.service_input_type,
            PIPELINE: schema.pipeline_input_type,
        }[self.key.kind]

    @property
    def busy(self) -> bool:
        return self.row.deployment_status in deployments.ACTIVE


def load(session: Session, key: ResourceKey, *, lock: bool = False) -> Loaded:
    service = None
    row: Row
    if key.kind == ENVIRONMENT:
        row = environments.find_environment(session, key.name, lock=lock)
        template_id = row.template_id
    elif key.kind == INSTANCE:
        service = services.find_service(session, key.service or "")
        row = services.find_instance(session, key.service or "", key.name, lock=lock)
        template_id = row.template_id
    else:
        service = services.find_service(session, key.service or "")
        row = services.find_pipeline(session, service, lock=lock)
        template_id = service.template_id
    template = session.get(Template, template_id)
    assert template is not None
    version = session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id,
            TemplateVersion.major == row.template_major,
            TemplateVersion.minor == row.template_minor,
        )
    ).first()
    # Pages show the spec after the session has ended: read it (and the service's) now.
    spec_texts.read_texts(row, service)
    return Loaded(key, row, template, service, version)


def deployed_resource(ctx: RequestContext, key: ResourceKey) -> Loaded:
    with ctx.db.session() as session:
        return load(session, key)


@dataclass(frozen=True)
class ResourceStatus:
    """Everything a resource's page shows, live while it deploys."""

    loaded: Loaded
    template_kind: TemplateKind
    standing: Standing
    attempted: Deployment | None  # the last deployment attempted
    events: list[DeploymentEvent]  # the latest of ``attempted``'s, while it runs
    outputs: dict[str, str]  # of the last deployment that succeeded
    provisioned: list[ProvisionedResourceRow]
    history: list[Deployment]  # the latest deployments, newest first
    instances: list[tuple[ServiceInstance, str]]  # an environment's, with version status
    busy: bool  # it or one of its instances is deploying
    can_cancel: bool
    arn: str
    queued: frozenset[str]  # of ``attempted`` and ``history``, those no worker has claimed yet


def resource_status(ctx: RequestContext, key: ResourceKey) -> ResourceStatus:
    with ctx.db.session() as session:
        loaded = load(session, key)
        row = loaded.row
        arn = key.arn(ctx.arns)
        attempted = (
            session.get(Deployment, row.last_attempted_deployment_id)
            if row.last_attempted_deployment_id
            else None
        )
        events: list[DeploymentEvent] = []
        if attempted is not None and attempted.status in deployments.ACTIVE:
            all_events, _ = events_of(session, attempted.id)
            events = all_events[-_EVENTS_ON_RESOURCE_PAGE:]
        instances = []
        if key.kind == ENVIRONMENT:
            instances = instances_with_status(session, environment_id=row.id)
        busy = loaded.busy or any(i.deployment_status in deployments.ACTIVE for i, _ in instances)
        history = deployments_of(session, arn, _HISTORY_ON_RESOURCE_PAGE)
        return ResourceStatus(
            loaded=loaded,
            template_kind=TemplateKind(loaded.template.kind),
            standing=standing(session, loaded.template.id, row.template_major, row.template_minor),
            attempted=attempted,
            events=events,
            outputs=deployments.outputs_of(session, row.last_succeeded_deployment_id),
            provisioned=provisioned_resources(session, arn),
            history=history,
            instances=instances,
            busy=busy,
            can_cancel=row.deployment_status == DeploymentStatus.IN_PROGRESS,
            arn=arn,
            queued=queued(session, [*history, *([attempted] if attempted else [])]),
        )


def upgrade_target(session: Session, loaded: Loaded, upgrade: Upgrade) -> TemplateVersion | None:
    """The published version ``upgrade`` takes ``loaded`` to; None if it is already there."""
    where = standing(
        session, loaded.template.id, loaded.row.template_major, loaded.row.template_minor
    )
    wanted = upgrade.target(where)
    if wanted is None:
        return None
    return versions.published_version(session, loaded.template, *wanted)


# --- changes --------------------------------------------------------------------------------
#
# Each change is the API's own registered operation (UpdateEnvironment, UpdateServiceInstance,
# UpdateServicePipeline, Cancel*Deployment), called in process: the portal and the fleet are
# authorized and audited exactly as a boto3 client making the same call would be.


def redeploy_spec(ctx: RequestContext, key: ResourceKey, spec: str) -> None:
    """Deploys ``spec`` with the version the resource runs (deployment type CURRENT_VERSION)."""
    _update(ctx, key, DeploymentUpdateType.CURRENT_VERSION, spec=spec)


def upgrade(
    ctx: RequestContext, key: ResourceKey, upgrade: Upgrade, major: int, minor: int
) -> None:
    """Upgrades to exactly ``major.minor`` (the version the user was shown), same spec."""
    _update(
        ctx,
        key,
        upgrade.deployment_type,
        major=str(major) if upgrade is Upgrade.MAJOR else None,
        minor=str(minor),
    )


def _update(
    ctx: RequestContext,
    key: ResourceKey,
    deployment_type: DeploymentUpdateType,
    *,
    spec: str | None = None,
    major: str | None = None,
    minor: str | None = None,
) -> None:
    """UpdateEnvironment, UpdateServiceInstance or UpdateServicePipeline."""
    if key.kind == ENVIRONMENT:
        environment: proton.UpdateEnvironmentInput = {
            "name": key.name,
            "deploymentType": deployment_type,
        }
        if spec is not None:
            environment["spec"] = spec
        if major is not None:
            environment["templateMajorVersion"] = major
        if minor is not None:
            environment["templateMinorVersion"] = minor
        environment_operations.update_environment(ctx, environment)
    elif key.kind == INSTANCE:
        instance: proton.UpdateServiceInstanceInput = {
            "serviceName": key.service or "",
            "name": key.name,
            "deploymentType": deployment_type,
        }
        if spec is not None:
            instance["spec"] = spec
        if major is not None:
            instance["templateMajorVersion"] = major
        if minor is not None:
            instance["templateMinorVersion"] = minor
        instance_operations.update_service_instance(ctx, instance)
    else:
        if spec is None:  # UpdateServicePipeline always names a spec: the one it runs
            with ctx.db.session() as session:
                service = services.find_service(session, key.service or "")
                spec = services.find_pipeline(session, service).spec or ""
        pipeline: proton.UpdateServicePipelineInput = {
            "serviceName": key.service or "",
            "deploymentType": deployment_type,
            "spec": spec,
        }
        if major is not None:
            pipeline["templateMajorVersion"] = major
        if minor is not None:
            pipeline["templateMinorVersion"] = minor
        service_operations.update_service_pipeline(ctx, pipeline)


def cancel_deployment(ctx: RequestContext, key: ResourceKey) -> None:
    """CancelEnvironmentDeployment, CancelServiceInstanceDeployment or
    CancelServicePipelineDeployment."""
    if key.kind == ENVIRONMENT:
        environment_operations.cancel_environment_deployment(ctx, {"environmentName": key.name})
    elif key.kind == INSTANCE:
        instance_operations.cancel_service_instance_deployment(
            ctx, {"serviceName": key.service or "", "serviceInstanceName": key.name}
        )
    else:
        service_operations.cancel_service_pipeline_deployment(
            ctx, {"serviceName": key.service or ""}
        )
