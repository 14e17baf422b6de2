"""Environments, service instances and pipelines seen the same way: each is a deployed
resource with a template version, a spec, inputs, outputs and deployments. The pages for
status, spec edits, upgrades and cancels are written once against this module.

Changes go through the domain functions the API operations call, in one write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.bundles.schema import TemplateSchema
from baryon.domain import deployments, environments, services, versions
from baryon.domain.arns import Arns
from baryon.domain.environments import EnvironmentSettings
from baryon.store.tables import (
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)
from baryon.web import forms, urls

ENVIRONMENT, INSTANCE, PIPELINE = "environment", "instance", "pipeline"
Row = Environment | ServiceInstance | ServicePipeline


@dataclass(frozen=True)
class ResourceKey:
    kind: str  # environment | instance | pipeline
    name: str  # the environment's or instance's name; the service's for a pipeline
    service: str | None = None

    @property
    def label(self) -> str:
        if self.kind == ENVIRONMENT:
            return f"environment {self.name}"
        if self.kind == INSTANCE:
            return f"service instance {self.name} of {self.service}"
        return f"pipeline of service {self.service}"

    @property
    def title(self) -> str:
        return self.label[0].upper() + self.label[1:]

    @property
    def type_words(self) -> str:
        return {ENVIRONMENT: "Environment", INSTANCE: "Service instance", PIPELINE: "Pipeline"}[
            self.kind
        ]

    def url(self, *action: str) -> str:
        if self.kind == ENVIRONMENT:
            return urls.environment(self.name, *action)
        if self.kind == INSTANCE:
            return urls.instance(self.service or "", self.name, *action)
        return urls.pipeline(self.service or "", *action)

    def arn(self, arns: Arns) -> str:
        if self.kind == ENVIRONMENT:
            return arns.environment(self.name)
        if self.kind == INSTANCE:
            return arns.service_instance(self.service or "", self.name)
        return arns.service_pipeline(self.service or "")

    def history_filters(self) -> dict[str, str]:
        if self.kind == ENVIRONMENT:
            return {"environment": self.name, "type": deployments.ENVIRONMENT}
        if self.kind == INSTANCE:
            return {"service": self.service or "", "instance": self.name}
        return {"service": self.service or "", "type": deployments.SERVICE_PIPELINE}


def environment_key(name: str) -> ResourceKey:
    return ResourceKey(ENVIRONMENT, name)


def instance_key(service: str, name: str) -> ResourceKey:
    return ResourceKey(INSTANCE, name, service)


def pipeline_key(service: str) -> ResourceKey:
    return ResourceKey(PIPELINE, service, service)


@dataclass
class Loaded:
    key: ResourceKey
    row: Row
    template: Template
    service: Service | None
    version: TemplateVersion | None  # the deployed version (None if it was deleted)

    @property
    def schema(self) -> TemplateSchema | None:
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
    def raw_inputs(self) -> dict[str, Any] | None:
        """The inputs the spec names (defaults not filled in)."""
        if self.key.kind == ENVIRONMENT:
            return forms.environment_inputs(self.row.spec)
        if self.key.kind == INSTANCE:
            return forms.instance_inputs(self.row.spec, self.key.name)
        return forms.pipeline_inputs(self.row.spec)

    @property
    def busy(self) -> bool:
        return self.row.deployment_status in deployments.ACTIVE

    def spec_with_inputs(self, values: dict[str, Any]) -> str:
        if self.key.kind == ENVIRONMENT:
            return forms.environment_spec(values)
        if self.key.kind == INSTANCE:
            return forms.with_instance_inputs(self.row.spec, self.key.name, values)
        return forms.with_pipeline_inputs(self.row.spec, values)


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
    return Loaded(key, row, template, service, version)


def start_update(
    session: Session,
    arns: Arns,
    key: ResourceKey,
    *,
    deployment_type: str,
    spec: str | None,
    major: str | None,
    minor: str | None,
    now: datetime,
) -> None:
    """UpdateEnvironment, UpdateServiceInstance or UpdateServicePipeline."""
    if key.kind == ENVIRONMENT:
        environments.update_environment(
            session,
            arns,
            name=key.name,
            deployment_type=deployment_type,
            spec=spec,
            major=major,
            minor=minor,
            settings=EnvironmentSettings(),
            now=now,
        )
    elif key.kind == INSTANCE:
        services.update_service_instance(
            session,
            arns,
            service_name=key.service or "",
            name=key.name,
            deployment_type=deployment_type,
            spec=spec,
            major=major,
            minor=minor,
            client_token=None,
            now=now,
        )
    else:
        if spec is None:
            service = services.find_service(session, key.service or "")
            spec = services.find_pipeline(session, service).spec or ""
        services.update_service_pipeline(
            session,
            arns,
            service_name=key.service or "",
            deployment_type=deployment_type,
            spec=spec,
            major=major,
            minor=minor,
            now=now,
        )


def start_cancel(session: Session, key: ResourceKey, now: datetime) -> None:
    """CancelEnvironmentDeployment, CancelServiceInstanceDeployment or
    CancelServicePipelineDeployment."""
    if key.kind == ENVIRONMENT:
        environment = environments.find_environment(session, key.name, lock=True)
        deployments.request_cancel(session, environment, environments.label(environment), now)
    elif key.kind == INSTANCE:
        instance = services.find_instance(session, key.service or "", key.name, lock=True)
        deployments.request_cancel(session, instance, f"Service instance '{key.name}'", now)
    else:
        service = services.find_service(session, key.service or "", lock=True)
        pipeline = services.find_pipeline(session, service, lock=True)
        if not services.cancel_waiting_pipeline(session, service, now):
            deployments.request_cancel(
                session, pipeline, f"The pipeline of service '{service.name}'", now
            )
