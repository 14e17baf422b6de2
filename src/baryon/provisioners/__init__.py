"""Provisioners: one small interface, one module per engine (ARCHITECTURE rule 7)."""

from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    InputsFile,
    Outcome,
    OutcomeStatus,
    ProvisionedResource,
    Provisioner,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
    ResourceKind,
)
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.provisioners.names import resource_stack_name, stack_name_for

__all__ = [
    "CloudFormationProvisioner",
    "DeployRequest",
    "DeploymentIO",
    "InputsFile",
    "Outcome",
    "OutcomeStatus",
    "ProvisionedResource",
    "Provisioner",
    "ProvisioningEngine",
    "RenderedSection",
    "ResourceIdentity",
    "ResourceKind",
    "resource_stack_name",
    "stack_name_for",
]
