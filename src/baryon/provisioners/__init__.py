"""Provisioners: one small interface, one module per engine (ARCHITECTURE rule 7)."""

from baryon.provisioners.base import (
    DeploymentIO,
    Outcome,
    ProvisionedResource,
    Provisioner,
    StackSpec,
)
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.provisioners.names import stack_name_for

__all__ = [
    "CloudFormationProvisioner",
    "DeploymentIO",
    "Outcome",
    "ProvisionedResource",
    "Provisioner",
    "StackSpec",
    "stack_name_for",
]
