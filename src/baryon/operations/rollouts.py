"""The baryon model's rollouts: plan, preview, approve, start, steer and read them.

Each is a registered operation (authorized and audited by operations/registry.py); the
changes are one transaction each in domain/rollouts.py, and the rollout job moves a started
rollout on (engine/rollouts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from baryon.domain import rollouts
from baryon.domain.rollouts import (
    NewRollout,
    ResourceRef,
    RolloutPlan,
    Selection,
    Tolerance,
    WaveSpec,
)
from baryon.operations import rollbacks as rollback_previews
from baryon.operations.context import RequestContext
from baryon.operations.fleet_previews import ResourceChange, preview_changes
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import ResourceKey, environment_key, instance_key

# A loss as PreviewRollback writes it: the same preview, per resource.
from baryon.operations.rollbacks import loss_output
from baryon.service_models import baryon
from baryon.service_models.baryon import (
    RolloutFailureAction,
    RolloutTargetState,
    RolloutTemplateType,
    RolloutToleranceMode,
    RolloutToleranceScope,
)
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import (
    RolloutEventRow,
    RolloutGateRow,
    RolloutRow,
    RolloutTargetRow,
)

_LATEST_EVENTS = 200
_LATEST_GATES = 200


def _plan(request: baryon.CreateRolloutInput) -> RolloutPlan:
    selection = request.get("selection") or {}
    tolerance = request.get("failureTolerance")
    return RolloutPlan(
        selection=Selection(
            current_versions=tuple(selection.get("currentVersions") or ()),
            environments=tuple(selection.get("environments") or ()),
            services=tuple(selection.get("services") or ()),
            tags=tuple((tag["key"], tag["value"]) for tag in selection.get("tags") or ()),
            resources=tuple(
                ResourceRef(
                    ref.get("environmentName"),
                    ref.get("serviceName"),
                    ref.get("serviceInstanceName"),
                )
                for ref in selection.get("resources") or ()
            ),
        ),
        waves=tuple(
            WaveSpec(
                wave.get("count"),
                wave.get("percent"),
                wave.get("bakeSeconds"),
                bool(wave.get("requiresApproval")),
            )
            for wave in request["waves"]
        ),
        concurrency=request.get("concurrency") or 10,
        tolerance=Tolerance(
            count=tolerance["count"],
            mode=RolloutToleranceMode(tolerance.get("mode") or RolloutToleranceMode.STRICT),
            scope=RolloutToleranceScope(tolerance.get("scope") or RolloutToleranceScope.OVERALL),
        )
        if tolerance
        else Tolerance(),
        alarm_names=tuple(request.get("alarmNames") or ()),
        bake_seconds=request.get("bakeSeconds") or 0,
        on_failure=RolloutFailureAction(request.get("onFailure") or RolloutFailureAction.HALT),
        target_deadline_seconds=request.get("targetDeadlineSeconds"),
    )


def rollout_view(session: Session, rollout: RolloutRow) -> baryon.Rollout:
    plan = rollouts.plan_of(rollout)
    counted: dict[str, int] = {
        state: count
        for state, count in session.execute(
            select(RolloutTargetRow.state, func.count())
            .where(RolloutTargetRow.rollout_id == rollout.id)
            .group_by(RolloutTargetRow.state)
        ).all()
    }
    waves = rollouts.waves_of(session, rollout.id)
    view: baryon.Rollout = {
        "id": rollout.id,
        "name": rollout.name,
        "templateType": RolloutTemplateType(
            "ENVIRONMENT" if rollout.template_kind == "ENVIRONMENT" else "SERVICE"
        ),
        "templateName": rollout.template_name,
        "targetTemplateVersion": f"{rollout.target_major}.{rollout.target_minor}",
        "state": baryon.RolloutState(rollout.state),
        "currentWave": rollout.current_wave,
        "waveCount": len(waves),
        "targetCount": sum(counted.values()),
        "counts": {
            "pending": counted.get(RolloutTargetState.PENDING, 0),
            "deploying": counted.get(RolloutTargetState.DEPLOYING, 0)
            + counted.get(RolloutTargetState.ROLLING_BACK, 0),
            "succeeded": counted.get(RolloutTargetState.SUCCEEDED, 0),
            "failed": counted.get(RolloutTargetState.FAILED, 0)
            + counted.get(RolloutTargetState.ROLLBACK_FAILED, 0),
            "skipped": counted.get(RolloutTargetState.SKIPPED, 0)
            + counted.get(RolloutTargetState.CANCELLED, 0),
            "rolledBack": counted.get(RolloutTargetState.ROLLED_BACK, 0),
        },
        "concurrency": plan.concurrency,
        "failureTolerance": {
            "count": plan.tolerance.count,
            "mode": plan.tolerance.mode,
            "scope": plan.tolerance.scope,
        },
        "onFailure": plan.on_failure,
        "alarmNames": list(plan.alarm_names),
        "bakeSeconds": plan.bake_seconds,
        "createdBy": rollout.created_by,
        "createdAt": rollout.created_at,
    }
    optional = {
        "stateMessage": rollout.state_message,
        "previewId": rollout.preview_id,
        "supersedes": rollout.supersedes,
        "supersededBy": rollout.superseded_by,
        "approvedBy": rollout.approved_by,
        "approvedAt": rollout.approved_at,
        "approvalRules": rollout.approval_rules,
        "approvalReason": rollout.approval_reason,
        "startedAt": rollout.started_at,
        "finishedAt": rollout.finished_at,
        "targetDeadlineSeconds": plan.target_deadline_seconds,
    }
    for member, value in optional.items():
        if value is not None:
            view[member] = value  # type: ignore[literal-required]
    return view


def _now() -> datetime:
    return datetime.now(UTC)


def _changed(
    ctx: RequestContext, change: Callable[[Session, datetime], RolloutRow]
) -> baryon.Rollout:
    """Runs ``change(session, now)`` in one transaction; returns the rollout's view."""
    with ctx.db.session(write=True) as session:
        rollout = change(session, _now())
        session.flush()
        view = rollout_view(session, rollout)
    ctx.jobs_enqueued()
    return view


@baryon_operation("CreateRollout")
def create_rollout(
    ctx: RequestContext, request: baryon.CreateRolloutInput
) -> baryon.CreateRolloutOutput:
    new = NewRollout(
        name=request["name"],
        template_type=request["templateType"],
        template_name=request["templateName"],
        target_major=int(request["targetMajorVersion"]),
        target_minor=int(request["targetMinorVersion"]),
        plan=_plan(request),
        supersedes=request.get("supersedes"),
    )
    actor = ctx.principal.label
    view = _changed(ctx, lambda session, now: rollouts.create(session, ctx.arns, new, actor, now))
    return {"rollout": view}


@baryon_operation("GetRollout")
def get_rollout(ctx: RequestContext, request: baryon.GetRolloutInput) -> baryon.GetRolloutOutput:
    with ctx.db.session() as session:
        rollout = rollouts.find(session, request["id"])
        gates = session.scalars(
            select(RolloutGateRow)
            .where(RolloutGateRow.rollout_id == rollout.id)
            .order_by(RolloutGateRow.id.desc())
            .limit(_LATEST_GATES)
        ).all()
        events = session.scalars(
            select(RolloutEventRow)
            .where(RolloutEventRow.rollout_id == rollout.id)
            .order_by(RolloutEventRow.id.desc())
            .limit(_LATEST_EVENTS)
        ).all()
        sizes: dict[int, int] = {
            number: count
            for number, count in session.execute(
                select(RolloutTargetRow.wave, func.count())
                .where(RolloutTargetRow.rollout_id == rollout.id)
                .group_by(RolloutTargetRow.wave)
            ).all()
        }
        now = _now()
        waves: list[baryon.RolloutWave] = []
        for wave in rollouts.waves_of(session, rollout.id):
            baked = wave.baked_seconds
            if wave.clock_started_at is not None:
                baked += max((now - wave.clock_started_at).total_seconds(), 0.0)
            item: baryon.RolloutWave = {
                "number": wave.number,
                "state": baryon.RolloutWaveState(wave.state),
                "targetCount": sizes.get(wave.number, 0),
                "bakeSeconds": wave.bake_seconds,
                "bakedSeconds": int(min(baked, wave.bake_seconds)),
            }
            if wave.started_at is not None:
                item["startedAt"] = wave.started_at
            if wave.finished_at is not None:
                item["finishedAt"] = wave.finished_at
            if wave.requires_approval:
                item["requiresApproval"] = True
            if wave.approved_at is not None:
                item["approvedBy"] = wave.approved_by
                item["approvedAt"] = wave.approved_at
            if wave.approval_rules:
                item["approvalRules"] = list(wave.approval_rules)
            waves.append(item)
        return {
            "rollout": rollout_view(session, rollout),
            "waves": waves,
            "gates": [
                {
                    "wave": gate.wave,
                    "gate": baryon.RolloutGateKind(gate.gate),
                    "verdict": baryon.RolloutGateVerdict(gate.verdict),
                    "evidence": gate.evidence,
                    "at": gate.at,
                }
                for gate in gates
            ],
            "events": [
                {"at": event.at, "actor": event.actor, "message": event.message} for event in events
            ],
        }


@baryon_operation("ListRollouts")
def list_rollouts(
    ctx: RequestContext, request: baryon.ListRolloutsInput
) -> baryon.ListRolloutsOutput:
    stmt = select(RolloutRow)
    scope: dict[str, str] = {}
    if state := request.get("state"):
        stmt = stmt.where(RolloutRow.state == state)
        scope["state"] = state
    if template_name := request.get("templateName"):
        stmt = stmt.where(RolloutRow.template_name == template_name)
        scope["templateName"] = template_name
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            stmt,
            [RolloutRow.created_at, RolloutRow.id],
            request,
            scope=scope,
            descending=True,
        )
        output: baryon.ListRolloutsOutput = {
            "rollouts": [rollout_view(session, row[0]) for row in rows]
        }
    if next_token:
        output["nextToken"] = next_token
    return output


def target_view(target: RolloutTargetRow) -> baryon.RolloutTarget:
    view: baryon.RolloutTarget = {
        "resourceArn": target.resource_arn,
        "resourceType": target.resource_kind,
        "environmentName": target.environment_name,
        "wave": target.wave,
        "state": baryon.RolloutTargetState(target.state),
        "fromTemplateVersion": f"{target.from_major}.{target.from_minor}",
    }
    optional = {
        "serviceName": target.service_name,
        "serviceInstanceName": target.instance_name,
        "reason": target.reason,
        "deploymentId": target.deployment_id,
        "rollbackDeploymentId": target.rollback_deployment_id,
        "pastDeadline": True if target.past_deadline else None,
        "approvalRules": target.approval_rules,
    }
    for member, value in optional.items():
        if value is not None:
            view[member] = value  # type: ignore[literal-required]
    return view


@baryon_operation("ListRolloutTargets")
def list_rollout_targets(
    ctx: RequestContext, request: baryon.ListRolloutTargetsInput
) -> baryon.ListRolloutTargetsOutput:
    rollout_id = request["id"]
    stmt = select(RolloutTargetRow).where(RolloutTargetRow.rollout_id == rollout_id)
    scope: dict[str, str | int] = {"id": rollout_id}
    if (wave := request.get("wave")) is not None:
        stmt = stmt.where(RolloutTargetRow.wave == wave)
        scope["wave"] = wave
    if state := request.get("state"):
        stmt = stmt.where(RolloutTargetRow.state == state)
        scope["state"] = state
    with ctx.db.session() as session:
        rollouts.find(session, rollout_id)
        rows, next_token = ctx.page(
            session, stmt, [RolloutTargetRow.position, RolloutTargetRow.id], request, scope=scope
        )
        output: baryon.ListRolloutTargetsOutput = {"targets": [target_view(row[0]) for row in rows]}
    if next_token:
        output["nextToken"] = next_token
    return output


@baryon_operation("PreviewRollout")
def preview_rollout(
    ctx: RequestContext, request: baryon.PreviewRolloutInput
) -> baryon.PreviewRolloutOutput:
    """The rollout's change goes to a fleet preview (operations/fleet_previews.py: per
    resource the rendered diff and a kept change set or plan, planned by a job); approval
    waits for it to be READY, and each first deployment runs exactly what it kept."""
    actor = ctx.principal.label
    with ctx.db.session() as session:
        rollout = rollouts.find(session, request["id"])
        rollouts.check_previewable(rollout)
        changes = [
            ResourceChange(_key(target), rollout.target_major, rollout.target_minor)
            for target in rollouts.targets_of(session, rollout.id)
        ]
        name = rollout.name
    preview_id = preview_changes(ctx, changes, description=f"Rollout {name} ({request['id']})")
    view = _changed(
        ctx,
        lambda session, now: rollouts.mark_previewed(
            session, request["id"], preview_id, actor, now
        ),
    )
    return {"rollout": view}


def _key(target: RolloutTargetRow) -> ResourceKey:
    if target.resource_kind == DeploymentTargetResourceType.ENVIRONMENT:
        return environment_key(target.environment_name)
    return instance_key(target.service_name or "", target.instance_name or "")


@baryon_operation("ApproveRollout")
def approve_rollout(
    ctx: RequestContext, request: baryon.ApproveRolloutInput
) -> baryon.ApproveRolloutOutput:
    """The caller approves the rollout (or the wave it waits for). The approval rules in
    effect are the caller's (operations/registry.py): judged afresh when the caller created
    the rollout, and refused (AccessDenied, audited as denied) when one would hold a
    resource it moves (domain/rollouts.py)."""
    actor = ctx.principal.label
    comment = request.get("comment")
    view = _changed(
        ctx,
        lambda session, now: rollouts.approve(session, request["id"], actor, comment, now),
    )
    return {"rollout": view}


@baryon_operation("StartRollout")
def start_rollout(
    ctx: RequestContext, request: baryon.StartRolloutInput
) -> baryon.StartRolloutOutput:
    actor = ctx.principal.label
    view = _changed(ctx, lambda session, now: rollouts.start(session, request["id"], actor, now))
    return {"rollout": view}


@baryon_operation("PauseRollout")
def pause_rollout(
    ctx: RequestContext, request: baryon.PauseRolloutInput
) -> baryon.PauseRolloutOutput:
    actor = ctx.principal.label
    reason = request.get("reason")
    view = _changed(
        ctx,
        lambda session, now: rollouts.pause(session, request["id"], actor, reason, now),
    )
    return {"rollout": view}


@baryon_operation("ResumeRollout")
def resume_rollout(
    ctx: RequestContext, request: baryon.ResumeRolloutInput
) -> baryon.ResumeRolloutOutput:
    actor = ctx.principal.label
    view = _changed(ctx, lambda session, now: rollouts.resume(session, request["id"], actor, now))
    return {"rollout": view}


@baryon_operation("CancelRollout")
def cancel_rollout(
    ctx: RequestContext, request: baryon.CancelRolloutInput
) -> baryon.CancelRolloutOutput:
    actor = ctx.principal.label
    reason = request.get("reason")
    view = _changed(
        ctx,
        lambda session, now: rollouts.cancel(session, request["id"], actor, reason, now),
    )
    return {"rollout": view}


@baryon_operation("PreviewRolloutRollback")
def preview_rollout_rollback(
    ctx: RequestContext, request: baryon.PreviewRolloutRollbackInput
) -> baryon.PreviewRolloutRollbackOutput:
    """Each resource the rollback would take back, with R4's preview of it (operations/
    rollbacks.py: the last known good, the rendered difference, what cannot be undone), and
    the one token RollbackRollout takes."""
    wave = request.get("wave")
    with ctx.db.session() as session:
        rollout, planned, token = rollouts.plan_rollback(session, ctx.arns, request["id"], wave)
        rollout_id = rollout.id
        shown = [_planned_resource(one) for one in planned]
    resources = [_with_preview(ctx, key, one) for key, one in shown]
    output: baryon.PreviewRolloutRollbackOutput = {
        "id": rollout_id,
        "resources": resources,
        "previewToken": token,
    }
    if wave is not None:
        output["wave"] = wave
    return output


def _planned_resource(
    one: rollouts.TargetRollback,
) -> tuple[ResourceKey | None, baryon.RolloutRollbackResource]:
    """One resource of the plan as the wire names it (its rendered preview follows); no key
    when it can be previewed no further (deleted, or nothing to go back to)."""
    target = one.target
    shown: baryon.RolloutRollbackResource = {
        "resourceArn": target.resource_arn,
        "resourceType": target.resource_kind,
        "environmentName": target.environment_name,
        "wave": target.wave,
        "changed": False,
        "changedFiles": [],
        "losses": [],
    }
    if target.resource_kind != DeploymentTargetResourceType.ENVIRONMENT:
        shown["serviceName"] = target.service_name or ""
        shown["serviceInstanceName"] = target.instance_name or ""
    if one.reverses is not None:
        shown["reversesDeploymentId"] = one.reverses
    if one.back_to is not None:
        shown["targetDeploymentId"] = one.back_to.deployment_id
        shown["targetTemplateMajorVersion"] = str(one.back_to.major)
        shown["targetTemplateMinorVersion"] = str(one.back_to.minor)
        if one.back_to.spec:
            shown["targetSpec"] = one.back_to.spec
    if one.problem is not None:
        shown["problem"] = one.problem
    if one.token is None:
        return None, shown
    return _key(target), shown


def _with_preview(
    ctx: RequestContext, key: ResourceKey | None, shown: baryon.RolloutRollbackResource
) -> baryon.RolloutRollbackResource:
    """``shown`` with R4's rollback preview of the resource: what changes and what is lost."""
    if key is None:
        return shown
    found = rollback_previews.preview_rollback(ctx, key, shown.get("reversesDeploymentId"))
    shown["currentTemplateMajorVersion"] = found.current_major
    shown["currentTemplateMinorVersion"] = found.current_minor
    if found.problem is not None:
        shown["problem"] = found.problem
    if found.preview is not None:
        shown["changed"] = found.preview.changed
        shown["changedFiles"] = [diff.name for diff in found.preview.files if diff.changed]
        if found.preview.note is not None:
            shown["note"] = found.preview.note
    shown["losses"] = [loss_output(loss) for loss in found.losses]
    return shown


@baryon_operation("RollbackRollout")
def rollback_rollout(
    ctx: RequestContext, request: baryon.RollbackRolloutInput
) -> baryon.RollbackRolloutOutput:
    """Starts the rollback PreviewRolloutRollback showed (its token), or refuses: preview
    again."""
    actor = ctx.principal.label
    wave = request.get("wave")
    view = _changed(
        ctx,
        lambda session, now: rollouts.rollback(
            session, ctx.arns, request["id"], wave, actor, now, token=request["previewToken"]
        ),
    )
    return {"rollout": view}
