"""Which deployed resource a page or an action is about: an environment, a service instance or
a service pipeline, each a resource with a template version, a spec and deployments."""

from __future__ import annotations

from dataclasses import dataclass

from baryon.domain.arns import Arns
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import Deployment

ENVIRONMENT, INSTANCE, PIPELINE = "environment", "instance", "pipeline"


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

    def arn(self, arns: Arns) -> str:
        if self.kind == ENVIRONMENT:
            return arns.environment(self.name)
        if self.kind == INSTANCE:
            return arns.service_instance(self.service or "", self.name)
        return arns.service_pipeline(self.service or "")

    def history_filters(self) -> dict[str, str]:
        if self.kind == ENVIRONMENT:
            return {"environment": self.name, "type": DeploymentTargetResourceType.ENVIRONMENT}
        if self.kind == INSTANCE:
            return {"service": self.service or "", "instance": self.name}
        return {
            "service": self.service or "",
            "type": DeploymentTargetResourceType.SERVICE_PIPELINE,
        }


def environment_key(name: str) -> ResourceKey:
    return ResourceKey(ENVIRONMENT, name)


def instance_key(service: str, name: str) -> ResourceKey:
    return ResourceKey(INSTANCE, name, service)


def pipeline_key(service: str) -> ResourceKey:
    return ResourceKey(PIPELINE, service, service)


def target_of(deployment: Deployment) -> ResourceKey:
    """The resource ``deployment`` deploys (which may be gone since)."""
    if deployment.target_type == DeploymentTargetResourceType.ENVIRONMENT:
        return environment_key(deployment.environment_name or "")
    if deployment.target_type == DeploymentTargetResourceType.SERVICE_INSTANCE:
        return instance_key(deployment.service_name or "", deployment.service_instance_name or "")
    return pipeline_key(deployment.service_name or "")
