"""What a deployment stuck in a failed rollback tells its reader to run next.

Its own module so that recording an outcome (domain/outcomes.py) can word the hint without
importing the recovery actions, which read outcomes themselves.
"""

from __future__ import annotations

from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import Deployment


def cli_target(deployment: Deployment) -> str:
    """The ``baryon deployment continue-rollback`` options naming the deployment's resource."""
    if deployment.target_type == DeploymentTargetResourceType.SERVICE_INSTANCE:
        return f"--service {deployment.service_name} --instance {deployment.service_instance_name}"
    if deployment.target_type == DeploymentTargetResourceType.SERVICE_PIPELINE:
        return f"--service {deployment.service_name} --pipeline"
    if deployment.target_type == DeploymentTargetResourceType.COMPONENT:
        return f"--component {deployment.component_name}"
    return f"--environment {deployment.environment_name}"


def recovery_hint(deployment: Deployment) -> str:
    return (
        "Nothing deploys until the rollback is continued: run "
        f"`baryon deployment continue-rollback {cli_target(deployment)}` (add "
        "`--skip LOGICAL_ID` for a resource that cannot roll back), or call the baryon API's "
        "ContinueUpdateRollback; then deploy again."
    )
