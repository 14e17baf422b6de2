"""Which provisioner deploys a rendered section: the engine asks by the section's
provisioning engine and gets the interface, never the class (ARCHITECTURE rule 7)."""

from __future__ import annotations

from dataclasses import dataclass

from baryon.cloud.clients import cloud_client
from baryon.provisioners.applied_sections import AppliedSectionsFor
from baryon.provisioners.base import Provisioner, ProvisioningEngine
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
)
from baryon.provisioners.program_credentials import ResourceKeys, sts_role_assumer
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
    engine: ProvisioningEngine, settings: Settings, parts: ProvisionerParts | None = None
) -> Provisioner | None:
    """The provisioner for a section's engine; None for an engine Baryon cannot provision
    with yet, or (without ``parts``) one that runs programs."""
    if engine == ProvisioningEngine.CLOUDFORMATION:
        # The process's shared client (cloud/clients.py), looked up per operation.
        return CloudFormationProvisioner(
            lambda: cloud_client(settings, "cloudformation"),
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
        # A value that is neither raises here, failing the deployment with it, not silently.
        if CodeBuildRunsOn(settings.codebuild_runs_on) == CodeBuildRunsOn.AWS:
            return CodeBuildOnAwsProvisioner(
                AwsCodeBuildConfig.from_settings(settings),
                parts.keys,
                parts.applied_sections(ProvisioningEngine.CODEBUILD),
                sts_role_assumer(settings),
                cloud_clients(settings),
            )
        return CodeBuildProvisioner(
            CodeBuildConfig.from_settings(settings),
            parts.runner,
            parts.keys,
            parts.applied_sections(ProvisioningEngine.CODEBUILD),
            sts_role_assumer(settings),
            cloud_secret_reader(settings),
        )
    return None


def deploying_provisioners(
    settings: Settings, parts: ProvisionerParts | None = None
) -> list[Provisioner]:
    """Every provisioner Baryon deploys with: what a resource may hold is theirs to remove."""
    found = (provisioner_for(engine, settings, parts) for engine in ProvisioningEngine)
    return [provisioner for provisioner in found if provisioner is not None]


def unsupported_message(engine: ProvisioningEngine) -> str:
    """Why a section of ``engine`` does not deploy (its deployment ends FAILED with it)."""
    return f"{engine.value} provisioning is not available in this Baryon server yet."
