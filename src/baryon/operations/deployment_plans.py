"""GetDeploymentPlan (the ``baryon`` model) and the portal's view of the same plan: what a
Terraform deployment planned before it applied anything.

The Terraform provisioner keeps each deployment's plan (its summary line and `terraform show
-json` of the plan file) sealed in the store (operations/terraform_state.py). The API, the CLI
(through the API) and the deployment page read it here, so that all three show the same plan;
the page also lists each resource change, read from the plan's own JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from baryon.domain import deployments
from baryon.operations.context import RequestContext
from baryon.operations.errors import NotFound
from baryon.operations.registry import baryon_operation
from baryon.operations.terraform_state import TerraformStates
from baryon.service_models.baryon import (
    DeploymentPlanEngine,
    GetDeploymentPlanInput,
    GetDeploymentPlanOutput,
)


@dataclass(frozen=True)
class PlannedChange:
    """One resource instance the plan touches: Terraform's address and its actions, in order
    (a replacement is ``("delete", "create")`` or ``("create", "delete")``)."""

    address: str
    actions: tuple[str, ...]

    @property
    def words(self) -> str:
        return " then ".join(self.actions)


@dataclass(frozen=True)
class DeploymentPlan:
    engine: DeploymentPlanEngine
    summary: str
    plan_json: str
    changes: tuple[PlannedChange, ...]  # resources the plan does something to ("no-op" left out)


@baryon_operation("GetDeploymentPlan")
def get_deployment_plan(
    ctx: RequestContext, request: GetDeploymentPlanInput
) -> GetDeploymentPlanOutput:
    plan = deployment_plan(ctx, request["id"])
    if plan is None:
        raise NotFound(
            f"The deployment '{request['id']}' has no saved plan: only Terraform deployments "
            "keep one, from the moment Terraform has planned (CloudFormation and CodeBuild "
            "deployments make none)."
        )
    return {"summary": plan.summary, "planJson": plan.plan_json, "engine": plan.engine}


def deployment_plan(ctx: RequestContext, deployment_id: str) -> DeploymentPlan | None:
    """The deployment's saved plan, or None when it has none; NotFound for no such deployment."""
    with ctx.db.session() as session:
        deployments.find_deployment(session, deployment_id)
    # Only the Terraform provisioner saves plans: the engine is known from where it is kept.
    saved = TerraformStates(ctx.db, ctx.runtime.box).plan(deployment_id)
    if saved is None:
        return None
    return DeploymentPlan(
        DeploymentPlanEngine.TERRAFORM,
        saved.summary,
        saved.plan_json,
        planned_changes(saved.plan_json),
    )


def planned_changes(plan_json: str) -> tuple[PlannedChange, ...]:
    """The changes in ``resource_changes`` of Terraform's plan JSON; nothing for a plan that
    is not such a document (it is shown raw all the same)."""
    try:
        plan = json.loads(plan_json)
    except ValueError:
        return ()
    found = plan.get("resource_changes") if isinstance(plan, dict) else None
    if not isinstance(found, list):
        return ()
    changes = (_change(entry) for entry in found if isinstance(entry, dict))
    return tuple(change for change in changes if change is not None)


def _change(entry: dict[str, Any]) -> PlannedChange | None:
    change = entry.get("change")
    actions = change.get("actions") if isinstance(change, dict) else None
    if not isinstance(actions, list) or actions == ["no-op"]:
        return None
    return PlannedChange(str(entry.get("address", "")), tuple(str(action) for action in actions))
