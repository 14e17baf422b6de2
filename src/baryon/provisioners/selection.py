"""Which provisioner deploys a rendered section: the engine asks by name and gets the
interface, never the class (ARCHITECTURE rule 7)."""

from __future__ import annotations

from baryon.cloud.clients import cloud_client
from baryon.provisioners.base import Provisioner
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.settings import Settings


def provisioner_for(engine: str, settings: Settings) -> Provisioner | None:
    """The provisioner for a rendered section's engine ("cloudformation", "terraform",
    "codebuild"); None for an engine Baryon cannot provision with yet."""
    if engine.lower() == "cloudformation":
        # The process's shared client (cloud/clients.py), looked up per operation.
        return CloudFormationProvisioner(
            lambda: cloud_client(settings, "cloudformation"),
            timeout=settings.deployment_timeout_seconds,
            poll_initial=settings.deployment_poll_seconds,
        )
    return None
