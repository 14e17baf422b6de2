"""The baryon model's approvals: list them, look at one (with the preview of what its
deployment would change), approve or reject it, and edit the rules that ask for them.

Each is a registered operation, so the API, the CLI (through the API) and the portal take the
same decision, authorized and audited alike (operations/registry.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from baryon.domain import approvals, deployments
from baryon.domain.approval_gate import ApprovalStatus
from baryon.domain.errors import DomainError
from baryon.domain.plan import TemplatePlan
from baryon.operations import approval_rules, previews
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import load
from baryon.operations.previews import FileDiff, InputState, Preview
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import (
    ResourceKey,
    environment_key,
    instance_key,
    pipeline_key,
)
from baryon.service_models import baryon
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import ApprovalRow, ApprovalRuleRow, Deployment, TemplateVersion

_CHANGES = {
    InputState.ADDED: baryon.PreviewChange.ADDED,
    InputState.REMOVED: baryon.PreviewChange.REMOVED,
    InputState.CHANGED: baryon.PreviewChange.CHANGED,
    InputState.SAME: baryon.PreviewChange.UNCHANGED,
}


def approval_view(row: ApprovalRow, deployment: Deployment | None) -> baryon.Approval:
    # A finished deployment may have been deleted since (DeleteDeployment): the approval stays.
    view: baryon.Approval = {
        "deploymentId": row.deployment_id,
        "targetArn": row.target_arn,
        "targetResourceType": deployment.target_type if deployment else "",
        "environmentName": deployment.environment_name if deployment else "",
        "operation": deployment.operation if deployment else "",
        "deploymentStatus": deployment.status if deployment else "DELETED",
        "status": baryon.ApprovalStatus(row.status),
        "requestedBy": row.requested_by,
        "rules": list(row.rules),
        "reason": row.reason,
        "requestedAt": row.requested_at,
        "expiresAt": row.expires_at,
    }
    if deployment is not None:
        for member, value in (
            ("serviceName", deployment.service_name),
            ("serviceInstanceName", deployment.service_instance_name),
            ("componentName", deployment.component_name),
        ):
            if value is not None:
                view[member] = value  # type: ignore[literal-required]
    if row.decided_by is not None:
        view["decidedBy"] = row.decided_by
    if row.decided_at is not None:
        view["decidedAt"] = row.decided_at
    if row.comment:
        view["comment"] = row.comment
    return view


def _listing(status: str | None) -> Select[tuple[ApprovalRow, Deployment]]:
    stmt = select(ApprovalRow, Deployment).outerjoin(
        Deployment, Deployment.id == ApprovalRow.deployment_id
    )
    return stmt.where(ApprovalRow.status == status) if status else stmt


@baryon_operation("ListApprovals")
def list_approvals(
    ctx: RequestContext, request: baryon.ListApprovalsInput
) -> baryon.ListApprovalsOutput:
    status = request.get("status")
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            _listing(status),
            [ApprovalRow.requested_at, ApprovalRow.deployment_id],
            request,
            scope={"status": status} if status else {},
            descending=True,
        )
        output: baryon.ListApprovalsOutput = {
            "approvals": [approval_view(row[0], row[1]) for row in rows]
        }
        if next_token:
            output["nextToken"] = next_token
        return output


@dataclass(frozen=True)
class ApprovalDetail:
    """One approval as the portal and GetApproval show it."""

    approval: baryon.Approval
    preview: Preview | None  # while it waits and renders a template
    preview_problem: str | None = None  # why there is no preview


def approval_detail(ctx: RequestContext, deployment_id: str) -> ApprovalDetail:
    with ctx.db.session() as session:
        row = approvals.find(session, deployment_id)
        deployment = session.get(Deployment, deployment_id)
        view = approval_view(row, deployment)
        if row.status != ApprovalStatus.PENDING or deployment is None:
            return ApprovalDetail(view, None)
        preview, problem = _preview(session, ctx, deployment)
        return ApprovalDetail(view, preview, problem)


def _key(deployment: Deployment) -> ResourceKey | None:
    target = DeploymentTargetResourceType(deployment.target_type)
    if target == DeploymentTargetResourceType.ENVIRONMENT:
        return environment_key(deployment.environment_name)
    if target == DeploymentTargetResourceType.SERVICE_INSTANCE:
        assert deployment.service_name and deployment.service_instance_name
        return instance_key(deployment.service_name, deployment.service_instance_name)
    if target == DeploymentTargetResourceType.SERVICE_PIPELINE:
        assert deployment.service_name
        return pipeline_key(deployment.service_name)
    return None


def _preview(
    session: Session, ctx: RequestContext, deployment: Deployment
) -> tuple[Preview | None, str | None]:
    """What the held deployment deploys against what runs now, rendered as an update's
    preview is (operations/previews.py): byte for byte what its job will hand over."""
    plan = deployments.plan_of(deployment)
    key = _key(deployment)
    if key is None or not isinstance(plan, TemplatePlan):
        kind = deployment.target_type.lower().replace("_", " ")
        return None, f"A {deployment.operation.lower()} of a {kind} has no template preview."
    version = session.get(TemplateVersion, plan.template_version_id)
    if version is None:
        return None, "The template version it deploys was deleted."
    try:
        return previews.build(session, ctx, load(session, key), version, plan.spec), None
    except DomainError as exc:
        return None, exc.message


def _wire_preview(preview: Preview) -> baryon.ApprovalPreview:
    wire: baryon.ApprovalPreview = {
        "currentTemplateVersion": preview.current,
        "targetTemplateVersion": preview.target,
        "changed": preview.changed,
        "inputs": [
            _input(change.name, change.state, change.before, change.after)
            for change in preview.inputs
        ],
        "files": [_file(diff) for diff in preview.files],
    }
    if preview.problem is not None:
        wire["problem"] = preview.problem
    if preview.note is not None:
        wire["note"] = preview.note
    return wire


def _file(diff: FileDiff) -> baryon.PreviewFile:
    wire: baryon.PreviewFile = {"path": diff.name, "changed": diff.changed}
    if diff.before is not None:
        wire["currentText"] = diff.before
    if diff.after is not None:
        wire["proposedText"] = diff.after
    return wire


def _input(
    name: str, state: InputState, before: object, after: object
) -> baryon.PreviewInputChange:
    wire: baryon.PreviewInputChange = {"name": name, "change": _CHANGES[state]}
    if state != InputState.ADDED:
        wire["currentValue"] = json.dumps(before)
    if state != InputState.REMOVED:
        wire["proposedValue"] = json.dumps(after)
    return wire


@baryon_operation("GetApproval")
def get_approval(ctx: RequestContext, request: baryon.GetApprovalInput) -> baryon.GetApprovalOutput:
    detail = approval_detail(ctx, request["deploymentId"])
    output: baryon.GetApprovalOutput = {"approval": detail.approval}
    if detail.preview is not None:
        output["preview"] = _wire_preview(detail.preview)
    return output


@baryon_operation("ApproveDeployment")
def approve_deployment(
    ctx: RequestContext, request: baryon.ApproveDeploymentInput
) -> baryon.ApproveDeploymentOutput:
    deployment_id = request["deploymentId"]
    with ctx.db.session(write=True) as session:
        row = approvals.approve(
            session, deployment_id, ctx.principal.label, request.get("comment"), ctx.now
        )
        output: baryon.ApproveDeploymentOutput = {
            "approval": approval_view(row, session.get(Deployment, deployment_id))
        }
    ctx.jobs_enqueued()
    return output


@baryon_operation("RejectDeployment")
def reject_deployment(
    ctx: RequestContext, request: baryon.RejectDeploymentInput
) -> baryon.RejectDeploymentOutput:
    deployment_id = request["deploymentId"]
    with ctx.db.session(write=True) as session:
        row = approvals.reject(
            session, ctx.arns, deployment_id, ctx.principal.label, request.get("comment"), ctx.now
        )
        return {"approval": approval_view(row, session.get(Deployment, deployment_id))}


def _rule_view(row: ApprovalRuleRow) -> baryon.ApprovalRule:
    return {
        "name": row.name,
        "policy": row.text,
        "updatedBy": row.updated_by,
        "updatedAt": row.updated_at,
    }


@baryon_operation("ListApprovalRules")
def list_approval_rules(
    ctx: RequestContext, request: baryon.ListApprovalRulesInput
) -> baryon.ListApprovalRulesOutput:
    with ctx.db.session() as session:
        return {"rules": [_rule_view(row) for row in approval_rules.list_rules(session)]}


@baryon_operation("PutApprovalRule")
def put_approval_rule(
    ctx: RequestContext, request: baryon.PutApprovalRuleInput
) -> baryon.PutApprovalRuleOutput:
    with ctx.db.session(write=True) as session:
        row = approval_rules.put_rule(
            session, request["name"], request["policy"], ctx.principal.label, ctx.now
        )
        return {"rule": _rule_view(row)}


@baryon_operation("DeleteApprovalRule")
def delete_approval_rule(
    ctx: RequestContext, request: baryon.DeleteApprovalRuleInput
) -> baryon.DeleteApprovalRuleOutput:
    with ctx.db.session(write=True) as session:
        return {"rule": _rule_view(approval_rules.delete_rule(session, request["name"]))}
