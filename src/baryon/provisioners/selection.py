"""Which provisioner deploys a rendered section: the engine asks by the section's
provisioning engine and gets the interface, never the class (ARCHITECTURE rule 7)."""

from __future__ import annotations

from baryon.cloud.clients import cloud_client
from baryon.provisioners.base import Provisioner, ProvisioningEngine
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.settings import Settings


def provisioner_for(engine: ProvisioningEngine, settings: Settings) -> Provisioner | None:
    """The provisioner for a section's engine; None for an engine Baryon cannot provision
    with yet (Terraform and CodeBuild sections render, but do not deploy)."""
    if engine == ProvisioningEngine.CLOUDFORMATION:
        # The process's shared client (cloud/clients.py), looked up per operation.
        return CloudFormationProvisioner(
            lambda: cloud_client(settings, "cloudformation"),
            timeout=settings.deployment_timeout_seconds,
            poll_initial=settings.deployment_poll_seconds,
        )
    return None


def deploying_provisioners(settings: Settings) -> list[Provisioner]:
    """Every provisioner Baryon deploys with: what a resource may hold is theirs to remove."""
    found = (provisioner_for(engine, settings) for engine in ProvisioningEngine)
    return [provisioner for provisioner in found if provisioner is not None]


def unsupported_message(engine: ProvisioningEngine) -> str:
    """Why a section of ``engine`` does not deploy (its deployment ends FAILED with it)."""
    return (
        f"{engine.value} provisioning is not available in this Baryon server yet; "
        "only CloudFormation bundles deploy."
    )
