"""Which provisioner deploys a rendered section: the engine asks by the section's
provisioning engine and gets the interface, never the class (ARCHITECTURE rule 7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baryon.cloud.clients import cloud_client
from baryon.git.access import RepositoryAccess
from baryon.provisioners.applied_sections import AppliedSections, AppliedSectionsFor
from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    Outcome,
    Provisioner,
    ProvisioningEngine,
    ResourceIdentity,
    ResourceKind,
)
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.provisioners.codebuild import (
    CodeBuildConfig,
    CodeBuildProvisioner,
    cloud_secret_reader,
)
from baryon.provisioners.codebuild_aws import (
    AwsCodeBuildConfig,
    CodeBuildOnAwsProvisioner,
    CodeBuildRunsOn,
    cloud_clients,
    ran_on_aws_codebuild,
)
from baryon.provisioners.program_credentials import ResourceKeys, sts_role_assumer
from baryon.provisioners.pull_request import (
    ProvisioningRepository,
    PullRequestProvisioner,
    PullRequestTarget,
)
from baryon.provisioners.terraform import (
    TerraformConfig,
    TerraformProvisioner,
    TerraformStateAccess,
)
from baryon.runner import Runner
from baryon.settings import Settings


@dataclass(frozen=True)
class ProvisionerParts:
    """What provisioners that run programs need besides the settings, built by the
    composition root (provisioners reach neither the store nor the master key themselves)."""

    runner: Runner
    keys: ResourceKeys  # auth/scoped_keys.ScopedKeys
    applied_sections: AppliedSectionsFor  # store/applied_sections.AppliedSections per engine
    terraform_states: TerraformStateAccess  # operations/terraform_state.TerraformStates


def provisioner_for(
    engine: ProvisioningEngine,
    settings: Settings,
    parts: ProvisionerParts | None = None,
    account_role_arn: str | None = None,
) -> Provisioner | None:
    """The provisioner for a section's engine; None for an engine Baryon cannot provision
    with yet, or (without ``parts``) one that runs programs. ``account_role_arn``: the
    resource's ResourceIdentity.account_role_arn, the environment account's role it acts as
    (programs get the resource's role_arn, which is then that account's too)."""
    if engine == ProvisioningEngine.CLOUDFORMATION:
        # The process's shared client (cloud/clients.py), looked up per operation.
        return CloudFormationProvisioner(
            lambda: cloud_client(settings, "cloudformation", account_role_arn),
            timeout=settings.deployment_timeout_seconds,
            poll_initial=settings.deployment_poll_seconds,
        )
    if engine == ProvisioningEngine.TERRAFORM and parts is not None:
        return TerraformProvisioner(
            TerraformConfig.from_settings(settings, settings.resolved_program_api_endpoint),
            parts.runner,
            parts.terraform_states,
            parts.keys,
            parts.applied_sections(ProvisioningEngine.TERRAFORM),
            sts_role_assumer(settings),
        )
    if engine == ProvisioningEngine.CODEBUILD and parts is not None:
        return _codebuild_provisioner(settings, parts)
    return None


def self_managed_repository(
    kind: ResourceKind,
    engine: ProvisioningEngine,
    environment_repository: ProvisioningRepository | None,
    pipeline_repository: ProvisioningRepository | None,
) -> ProvisioningRepository | None:
    """Where a resource is proposed by pull request instead of deployed (Proton's
    self-managed provisioning), None when Baryon deploys it. An environment with a
    provisioning repository sends itself, its service instances and its components there,
    whatever their engine (one that is not Terraform then fails, as Proton refused it); a
    pipeline goes to the account's pipeline repository when it is Terraform."""
    if kind == ResourceKind.SERVICE_PIPELINE:
        return pipeline_repository if engine == ProvisioningEngine.TERRAFORM else None
    return environment_repository


def pull_request_provisioner(access: RepositoryAccess, target: PullRequestTarget) -> Provisioner:
    """The provisioner of a self-managed resource (self_managed_repository said where)."""
    return PullRequestProvisioner(access, target)


def _codebuild_provisioner(settings: Settings, parts: ProvisionerParts) -> Provisioner:
    runs = parts.applied_sections(ProvisioningEngine.CODEBUILD)
    on_baryon = CodeBuildProvisioner(
        CodeBuildConfig.from_settings(settings),
        parts.runner,
        parts.keys,
        runs,
        sts_role_assumer(settings),
        cloud_secret_reader(settings),
    )
    on_aws = CodeBuildOnAwsProvisioner(
        AwsCodeBuildConfig.from_settings(settings),
        parts.keys,
        runs,
        sts_role_assumer(settings),
        cloud_clients(settings),
    )
    # A value that is neither raises here, failing the deployment with it, not silently.
    return CodeBuildWhereItRan(CodeBuildRunsOn(settings.codebuild_runs_on), on_baryon, on_aws, runs)


class CodeBuildWhereItRan:
    """settings.codebuild_runs_on may change while resources stand: a deploy runs where the
    setting says now, but what a deploy left (commands run on a worker, or a project on AWS
    CodeBuild) is deleted, cancelled and reported by the provisioner that left it, known from
    the resource's kept section. Each call judges afresh from the store, so a call repeated
    after a crash reaches the same provisioner as the first."""

    engine = ProvisioningEngine.CODEBUILD

    def __init__(
        self,
        runs_on: CodeBuildRunsOn,
        on_baryon: Provisioner,
        on_aws: Provisioner,
        runs: AppliedSections,
    ) -> None:
        self._on_baryon, self._on_aws, self._runs = on_baryon, on_aws, runs
        self._configured = on_aws if runs_on == CodeBuildRunsOn.AWS else on_baryon

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        return self._configured.deploy(request, io)

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        return self._where_it_ran(resource).destroy(resource, io)

    def cancel(self, resource: ResourceIdentity) -> None:
        self._where_it_ran(resource).cancel(resource)

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        return self._where_it_ran(resource).status(resource)

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        return self._where_it_ran(resource).continue_rollback(resource, resources_to_skip, io)

    def _where_it_ran(self, resource: ResourceIdentity) -> Provisioner:
        last = self._runs.last(resource.arn)
        if last is None:
            return self._configured  # nothing kept: either answers "nothing here"
        if ran_on_aws_codebuild(last.section):
            return self._on_aws
        return self._on_baryon


def deploying_provisioners(
    settings: Settings, parts: ProvisionerParts | None = None, account_role_arn: str | None = None
) -> list[Provisioner]:
    """Every provisioner Baryon deploys with: what a resource may hold is theirs to remove."""
    found = (
        provisioner_for(engine, settings, parts, account_role_arn) for engine in ProvisioningEngine
    )
    return [provisioner for provisioner in found if provisioner is not None]


def unsupported_message(engine: ProvisioningEngine) -> str:
    """Why a section of ``engine`` does not deploy (its deployment ends FAILED with it)."""
    return f"{engine.value} provisioning is not available in this Baryon server yet."
