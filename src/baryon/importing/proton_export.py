"""What an export directory says, typed: Proton's templates, versions and resources as the AWS
CLI printed them, checked (export_directory.py reads them).

Names follow Proton's members; ``None`` means the member (or the file that holds it) was not
in the export, which is not the same as empty: an export without ``outputs.json`` says
nothing about outputs, one with an empty list says there are none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    ServiceStatus,
    TemplateType,
    TemplateVersionStatus,
)


@dataclass(frozen=True)
class ExportedOutput:
    key: str
    value: str


@dataclass(frozen=True)
class ExportedProvisionedResource:
    name: str
    identifier: str
    engine: str | None  # CLOUDFORMATION | TERRAFORM


@dataclass(frozen=True)
class ExportedTag:
    key: str
    value: str


@dataclass(frozen=True)
class ExportedRepositoryBranch:
    """A self-managed environment's provisioningRepository (Proton's RepositoryBranch)."""

    provider: str
    name: str
    branch: str

    def __str__(self) -> str:
        return f"{self.provider} repository {self.name} (branch {self.branch})"


@dataclass(frozen=True)
class ExportedTemplate:
    kind: TemplateType
    name: str
    arn: str
    display_name: str | None
    description: str | None
    encryption_key: str | None
    # ENVIRONMENT: provisioning; SERVICE: pipelineProvisioning (CUSTOMER_MANAGED or None).
    provisioning: str | None
    recommended_version: str | None
    created_at: datetime
    tags: tuple[ExportedTag, ...] | None
    file: str


@dataclass(frozen=True)
class ExportedVersion:
    kind: TemplateType
    template_name: str
    major: int
    minor: int
    arn: str
    status: TemplateVersionStatus
    description: str | None
    schema: str | None
    # Service template versions: (environment template, major version).
    compatible_environment_templates: tuple[tuple[str, int], ...]
    supported_component_sources: tuple[str, ...]
    created_at: datetime
    file: str

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def key(self) -> VersionKey:
        return VersionKey(self.kind, self.template_name, self.major, self.minor)


@dataclass(frozen=True, order=True)
class VersionKey:
    """Which template version: kind, template name, major, minor."""

    kind: TemplateType
    template_name: str
    major: int
    minor: int

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        word = "environment" if self.kind == TemplateType.ENVIRONMENT else "service"
        return f"{word} template {self.template_name} {self.number}"


@dataclass(frozen=True)
class Deployed:
    """What every deployed Proton resource reports about its deployments."""

    status: DeploymentStatus
    status_message: str | None
    last_succeeded_deployment_id: str | None
    created_at: datetime
    last_attempted_at: datetime | None
    last_succeeded_at: datetime | None
    outputs: tuple[ExportedOutput, ...] | None
    provisioned_resources: tuple[ExportedProvisionedResource, ...] | None


@dataclass(frozen=True)
class ExportedEnvironment:
    name: str
    arn: str
    template_name: str
    major: int
    minor: int
    spec: str | None
    description: str | None
    proton_service_role_arn: str | None
    codebuild_role_arn: str | None
    component_role_arn: str | None
    environment_account_connection_id: str | None
    provisioning: str | None
    provisioning_repository: ExportedRepositoryBranch | None
    deployed: Deployed
    tags: tuple[ExportedTag, ...] | None
    file: str

    @property
    def version(self) -> VersionKey:
        return VersionKey(TemplateType.ENVIRONMENT, self.template_name, self.major, self.minor)

    @property
    def has_provisioning_repository(self) -> bool:
        return self.provisioning_repository is not None


@dataclass(frozen=True)
class ExportedInstance:
    service_name: str
    name: str
    arn: str
    environment_name: str
    template_name: str
    major: int
    minor: int
    spec: str | None
    deployed: Deployed
    tags: tuple[ExportedTag, ...] | None
    file: str

    @property
    def version(self) -> VersionKey:
        return VersionKey(TemplateType.SERVICE, self.template_name, self.major, self.minor)


@dataclass(frozen=True)
class ExportedPipeline:
    service_name: str
    arn: str
    template_name: str
    major: int
    minor: int
    spec: str | None
    deployed: Deployed

    @property
    def version(self) -> VersionKey:
        return VersionKey(TemplateType.SERVICE, self.template_name, self.major, self.minor)


@dataclass(frozen=True)
class ExportedService:
    name: str
    arn: str
    template_name: str
    spec: str
    description: str | None
    status: ServiceStatus
    repository_connection_arn: str | None
    repository_id: str | None
    branch_name: str | None
    created_at: datetime
    pipeline: ExportedPipeline | None
    instances: tuple[ExportedInstance, ...]
    tags: tuple[ExportedTag, ...] | None
    file: str


@dataclass(frozen=True)
class ExportedComponent:
    name: str
    arn: str
    environment_name: str
    service_name: str | None
    service_instance_name: str | None
    description: str | None
    service_spec: str | None
    # From the exported GetDeployment of its last successful deployment, when there is one:
    # GetComponent does not return the IaC.
    template_file: str | None
    deployed: Deployed
    tags: tuple[ExportedTag, ...] | None
    file: str


@dataclass(frozen=True)
class ExportedAccountSettings:
    pipeline_service_role_arn: str | None
    pipeline_codebuild_role_arn: str | None


class BundleForm(StrEnum):
    """How a bundle sits in ``bundles/``."""

    ARCHIVE = "ARCHIVE"  # <template>-<M>.<m>.tar.gz (or .tgz, .tar, .zip)
    FOLDER = "FOLDER"  # <template>/v<M>.<m>/
    SYNC_FOLDER = "SYNC_FOLDER"  # <template>/v<M>/, as in a template sync repository


@dataclass(frozen=True)
class BundleSource:
    """A bundle found in ``bundles/``: for one version, or (SYNC_FOLDER) a major version."""

    kind: TemplateType | None  # None: under bundles/ directly, for either kind
    template_name: str
    major: int
    minor: int | None  # None for a SYNC_FOLDER
    form: BundleForm
    path: str  # the archive file, or the folder, inside the export directory


@dataclass(frozen=True)
class StackOwner:
    """A Proton resource as its stacks' ``proton:*`` tags name it."""

    type: DeploymentTargetResourceType
    # The ARN the stack's tags carry: the resource's own, but a pipeline's stack carries its
    # service's (proton:service).
    tag_arn: str


@dataclass(frozen=True)
class ProtonExport:
    account_settings: ExportedAccountSettings | None
    templates: tuple[ExportedTemplate, ...]
    versions: tuple[ExportedVersion, ...]
    environments: tuple[ExportedEnvironment, ...]
    services: tuple[ExportedService, ...]
    components: tuple[ExportedComponent, ...]
    bundles: tuple[BundleSource, ...]
    warnings: tuple[str, ...] = field(default=())

    def template(self, kind: TemplateType, name: str) -> ExportedTemplate | None:
        return next((t for t in self.templates if t.kind == kind and t.name == name), None)

    def version(self, key: VersionKey) -> ExportedVersion | None:
        return next((v for v in self.versions if v.key == key), None)

    def environment(self, name: str) -> ExportedEnvironment | None:
        return next((e for e in self.environments if e.name == name), None)

    def service(self, name: str) -> ExportedService | None:
        return next((s for s in self.services if s.name == name), None)
