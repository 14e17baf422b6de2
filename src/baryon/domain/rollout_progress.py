"""One look at a rollout: follow its deployments, start what its wave may start, judge its
gates, watch its bake clock, move it on.

The rollout job (engine/rollouts.py) calls ``look`` in one transaction with the rollout's row
locked, so two workers never move one rollout at once, and a look that dies half-way leaves
nothing behind: the next look starts from what the store says. A deployment is started and
recorded on its target in that same transaction, so none is started twice or lost. Every
look is idempotent: it acts only on what the store says is due.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import (
    approval_gate,
    deployments,
    environments,
    fleet_previews,
    rollbacks,
    services,
)
from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, DomainError
from baryon.domain.rollouts import (
    ENGINE,
    FINISHED,
    awaiting_approval,
    begin_rollback,
    pause_locked,
    plan_of,
    record,
    resource_of,
    rollback_policy,
    stop_clocks,
    target_label,
    targets_of,
    wave_of,
)
from baryon.service_models.baryon import (
    RolloutFailureAction,
    RolloutGateKind,
    RolloutGateVerdict,
    RolloutState,
    RolloutTargetState,
    RolloutToleranceMode,
    RolloutToleranceScope,
    RolloutWaveState,
)
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    DeploymentUpdateType,
)
from baryon.store.tables import (
    Deployment,
    Environment,
    FleetPreviewItemRow,
    RolloutGateRow,
    RolloutRow,
    RolloutTargetRow,
    RolloutWaveRow,
    ServiceInstance,
)

# CloudWatch's alarm states (StateValue).
ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
_FAILED_DEPLOYMENT = frozenset(
    {
        DeploymentStatus.FAILED,
        DeploymentStatus.CANCELLED,
        DeploymentStatus.DELETE_COMPLETE,
        DeploymentStatus.DELETE_FAILED,
    }
)


@dataclass(frozen=True)
class AlarmReading:
    """The watched alarms' states as the cloud reported them (a name it does not know is
    absent), or why they could not be read."""

    states: dict[str, str]
    error: str | None = None


def alarms_due(session: Session, rollout_id: str) -> tuple[str, ...]:
    """The alarms the next look judges: those of a running rollout whose wave bakes."""
    rollout = session.get(RolloutRow, rollout_id)
    if rollout is None or rollout.state != RolloutState.RUNNING or not rollout.current_wave:
        return ()
    wave = wave_of(session, rollout.id, rollout.current_wave)
    if wave.state != RolloutWaveState.BAKING:
        return ()
    return plan_of(rollout).alarm_names


def look(
    session: Session, arns: Arns, rollout_id: str, alarms: AlarmReading | None, now: datetime
) -> bool:
    """Moves the rollout on as far as it can now; True while it needs another look."""
    rollout = session.get(RolloutRow, rollout_id, with_for_update=True)
    if rollout is None or rollout.state in FINISHED or not rollout.current_wave:
        return False
    _follow(session, rollout, now)
    if rollout.state == RolloutState.RUNNING:
        _advance(session, arns, rollout, alarms, now)
    elif rollout.state == RolloutState.ROLLING_BACK:
        _roll_back(session, arns, rollout, now)
    if rollout.state in (RolloutState.RUNNING, RolloutState.ROLLING_BACK):
        return True
    # Paused, halted or finished: deployments already started are still followed to their end.
    return rollout.state not in FINISHED and any(
        target.state in (RolloutTargetState.DEPLOYING, RolloutTargetState.ROLLING_BACK)
        for target in targets_of(session, rollout.id)
    )


def _advance(
    session: Session, arns: Arns, rollout: RolloutRow, alarms: AlarmReading | None, now: datetime
) -> None:
    """Moves a running rollout as far as it can in this look: a wave that deployed bakes,
    one that baked hands over to the next, which starts deploying. Alarms are judged only for
    the wave that was baking when they were read; a wave that starts baking in this look
    waits for the next look's reading."""
    read_for = rollout.current_wave
    if wave_of(session, rollout.id, read_for).state != RolloutWaveState.BAKING:
        read_for = 0
    watched = bool(plan_of(rollout).alarm_names)
    while rollout.state == RolloutState.RUNNING:
        wave = wave_of(session, rollout.id, rollout.current_wave)
        step = (wave.number, wave.state)
        if wave.state == RolloutWaveState.DEPLOYING:
            _deploy(session, arns, rollout, wave, now)
        elif wave.state == RolloutWaveState.BAKING:
            if watched and wave.number != read_for:
                return
            _bake(session, rollout, wave, alarms, now)
        if (wave.number, wave.state) == step and rollout.current_wave == wave.number:
            return  # nothing more moves before the next look


# --- following deployments --------------------------------------------------------------------


def _follow(session: Session, rollout: RolloutRow, now: datetime) -> None:
    deadline = plan_of(rollout).target_deadline_seconds
    for target in targets_of(session, rollout.id):
        if target.state == RolloutTargetState.DEPLOYING:
            ended = _ended(session, target.deployment_id)
            if ended is True:
                target.state = RolloutTargetState.SUCCEEDED
            elif isinstance(ended, str):
                target.state = RolloutTargetState.FAILED
                target.reason = ended
            elif deadline is not None and not target.past_deadline:
                _check_deadline(session, rollout, target, deadline, now)
        elif target.state == RolloutTargetState.ROLLING_BACK:
            ended = _ended(session, target.rollback_deployment_id)
            if ended is True:
                target.state = RolloutTargetState.ROLLED_BACK
                target.reason = None
            elif isinstance(ended, str):
                target.state = RolloutTargetState.ROLLBACK_FAILED
                target.reason = ended


def _check_deadline(
    session: Session, rollout: RolloutRow, target: RolloutTargetRow, deadline: int, now: datetime
) -> None:
    """A deployment running past the deadline counts as failed from then on (it is still
    followed: a rollback waits for it, and it may yet end either way). Time the rollout spent
    paused does not count: each pause moves the deadline later (rollouts.end_pause), and the
    pause under way counts for nothing yet."""
    deployment = session.get(Deployment, target.deployment_id)
    if deployment is None:
        return
    due = target.deadline_at or deployment.created_at + timedelta(seconds=deadline)
    if rollout.paused_at is not None:
        due += max(now - rollout.paused_at, timedelta(0))
    if now < due:
        return
    target.past_deadline = True
    target.reason = (
        f"deployment {deployment.id} ran past the target deadline of {deadline} s; "
        "counted as failed"
    )
    record(
        session,
        rollout,
        ENGINE,
        f"{target.resource_arn}: deployment {deployment.id} ran past the target deadline of "
        f"{deadline} s; counted as failed.",
        now,
    )


def _ended(session: Session, deployment_id: str | None) -> bool | str | None:
    """True: succeeded; a reason: it failed; None: still running."""
    deployment = session.get(Deployment, deployment_id) if deployment_id else None
    if deployment is None:
        return f"its deployment {deployment_id} was deleted"
    if deployment.status == DeploymentStatus.SUCCEEDED:
        return True
    if deployment.status in _FAILED_DEPLOYMENT:
        detail = f": {deployment.status_message}" if deployment.status_message else ""
        return f"deployment {deployment.id} ended {deployment.status}{detail}"
    return None


# --- a wave deploys ---------------------------------------------------------------------------


def _failures(session: Session, rollout: RolloutRow, wave: RolloutWaveRow) -> int:
    scope = plan_of(rollout).tolerance.scope
    return sum(
        1
        for target in targets_of(
            session, rollout.id, wave.number if scope == RolloutToleranceScope.WAVE else None
        )
        if target.state == RolloutTargetState.FAILED or target.past_deadline
    )


def _deploy(
    session: Session, arns: Arns, rollout: RolloutRow, wave: RolloutWaveRow, now: datetime
) -> None:
    plan = plan_of(rollout)
    tolerance = plan.tolerance
    targets = targets_of(session, rollout.id, wave.number)
    failures = _failures(session, rollout, wave)
    if failures > tolerance.count:
        _fail_wave(
            session,
            rollout,
            wave,
            f"{failures} failed deployments exceed the failure tolerance of {tolerance.count}",
            RolloutGateKind.DEPLOYMENTS,
            now,
        )
        return
    limit = plan.concurrency
    if tolerance.mode == RolloutToleranceMode.STRICT:
        # No more in flight than could fail without breaching the tolerance, plus one.
        limit = min(limit, tolerance.count - failures + 1)
    in_flight = sum(1 for target in targets if target.state == RolloutTargetState.DEPLOYING)
    for target in targets:
        if in_flight >= limit:
            break
        if target.state == RolloutTargetState.PENDING:
            _start_forward(session, arns, rollout, target, now)
            if target.state == RolloutTargetState.DEPLOYING:
                in_flight += 1
    if any(
        target.state in (RolloutTargetState.PENDING, RolloutTargetState.DEPLOYING)
        for target in targets
    ):
        return
    failures = _failures(session, rollout, wave)
    if failures > tolerance.count:
        return  # the next look fails the wave, with the count it then sees
    counts = {
        state: sum(1 for target in targets if target.state == state)
        for state in (
            RolloutTargetState.SUCCEEDED,
            RolloutTargetState.FAILED,
            RolloutTargetState.SKIPPED,
        )
    }
    late = sum(1 for target in targets if target.past_deadline)
    _gate(
        session,
        rollout,
        wave,
        RolloutGateKind.DEPLOYMENTS,
        RolloutGateVerdict.PASS,
        f"{counts[RolloutTargetState.SUCCEEDED]} succeeded, {counts[RolloutTargetState.FAILED]} "
        f"failed (tolerance {tolerance.count}), {counts[RolloutTargetState.SKIPPED]} skipped"
        + (f", {late} past the target deadline" if late else ""),
        now,
    )
    wave.state = RolloutWaveState.BAKING
    wave.baked_seconds = 0.0
    wave.clock_started_at = now
    record(
        session,
        rollout,
        ENGINE,
        f"Wave {wave.number} deployed; its gates are watched for {wave.bake_seconds} s.",
        now,
    )


def _start_forward(
    session: Session, arns: Arns, rollout: RolloutRow, target: RolloutTargetRow, now: datetime
) -> None:
    row = resource_of(session, target, lock=True)
    skipped = _why_not(row, target)
    if (
        skipped is None
        and row is not None
        and (row.template_major, row.template_minor)
        == (
            rollout.target_major,
            rollout.target_minor,
        )
    ):
        skipped = f"already on {rollout.target_major}.{rollout.target_minor}"
    if skipped is not None:
        target.state = RolloutTargetState.SKIPPED
        target.reason = skipped
        record(session, rollout, ENGINE, f"Skipped {target.resource_arn}: {skipped}.", now)
        return
    assert row is not None
    target.attempts += 1
    try:
        deployment_id = _deploy_version(
            session, arns, target, rollout.target_major, rollout.target_minor, now
        )
    except DomainError as exc:
        target.state = RolloutTargetState.FAILED
        target.reason = exc.message
        return
    target.state = RolloutTargetState.DEPLOYING
    target.deployment_id = deployment_id
    target.baseline_deployment_id = deployment_id  # the rollout's own: not a change by hand
    target.reason = None
    deadline = plan_of(rollout).target_deadline_seconds
    target.deadline_at = now + timedelta(seconds=deadline) if deadline is not None else None
    if rollout.preview_id is not None and target.attempts == 1:
        _carry_preview(session, rollout.preview_id, target, deployment_id)


def _carry_preview(
    session: Session, preview_id: str, target: RolloutTargetRow, deployment_id: str
) -> None:
    """The first forward deployment executes the change set (or applies the plan) that the
    approved fleet preview kept for this resource. A later attempt (after a rollback) deploys
    a resource the preview no longer describes, so it plans afresh."""
    item = session.scalars(
        select(FleetPreviewItemRow).where(
            FleetPreviewItemRow.preview_id == preview_id,
            FleetPreviewItemRow.target_arn == target.resource_arn,
        )
    ).first()
    if (
        item is None
        or item.deployment_id is not None
        or item.status
        not in (
            fleet_previews.ItemStatus.CHANGE,
            fleet_previews.ItemStatus.NO_CHANGE,
        )
    ):
        return
    deployment = session.get(Deployment, deployment_id)
    assert deployment is not None
    deployment.fleet_preview_item_id = item.id
    item.deployment_id = deployment_id
    item.status = fleet_previews.ItemStatus.DEPLOYING


def _why_not(row: Environment | ServiceInstance | None, target: RolloutTargetRow) -> str | None:
    """Why the rollout must leave this resource alone, or None."""
    if row is None:
        return "the resource was deleted"
    if row.last_attempted_deployment_id != target.baseline_deployment_id:
        return (
            f"changed by hand during the rollout (deployment {row.last_attempted_deployment_id}, "
            "not started by the rollout); not overwritten"
        )
    if row.deployment_status in deployments.ACTIVE:
        return f"a deployment is in progress ({row.last_attempted_deployment_id})"
    return None


def _deploy_version(
    session: Session, arns: Arns, target: RolloutTargetRow, major: int, minor: int, now: datetime
) -> str:
    """Starts the deployment that puts ``target`` on ``major.minor`` with its spec as it is,
    as UpdateServiceInstance / UpdateEnvironment would; returns its id."""
    row = resource_of(session, target)
    assert row is not None
    if major > row.template_major:
        kind, wanted_major = DeploymentUpdateType.MAJOR_VERSION, str(major)
    elif major == row.template_major:
        kind, wanted_major = DeploymentUpdateType.MINOR_VERSION, None
    else:
        raise Conflict(
            f"{target.resource_arn} is on major version {row.template_major}; going back to "
            f"{major}.{minor} needs a rollback of its own."
        )
    if target.resource_kind == DeploymentTargetResourceType.ENVIRONMENT:
        environment = environments.update_environment(
            session,
            arns,
            name=target.environment_name,
            deployment_type=kind,
            spec=None,
            major=wanted_major,
            minor=str(minor),
            settings=environments.EnvironmentSettings(),
            now=now,
        )
        deployment_id = environment.last_attempted_deployment_id
    else:
        instance = services.update_service_instance(
            session,
            arns,
            service_name=target.service_name or "",
            name=target.instance_name or "",
            deployment_type=kind,
            spec=None,
            major=wanted_major,
            minor=str(minor),
            client_token=None,
            now=now,
        )
        deployment_id = instance.last_attempted_deployment_id
    assert deployment_id is not None
    return deployment_id


# --- gates and the bake clock -----------------------------------------------------------------


def judge_alarms(names: tuple[str, ...], reading: AlarmReading | None) -> tuple[str, str]:
    """(verdict, evidence): an alarm in ALARM fails; INSUFFICIENT_DATA, a missing alarm or
    an unreadable cloud is inconclusive (never a pass)."""
    if reading is None or reading.error is not None:
        why = reading.error if reading is not None else "not read"
        return RolloutGateVerdict.INCONCLUSIVE, f"the alarms could not be read: {why}"
    firing = [name for name in names if reading.states.get(name) == ALARM]
    if firing:
        return RolloutGateVerdict.FAIL, "in ALARM: " + ", ".join(firing)
    unknown = [name for name in names if reading.states.get(name) not in (OK, ALARM)]
    if unknown:
        described = ", ".join(f"{name} ({reading.states.get(name, 'missing')})" for name in unknown)
        return RolloutGateVerdict.INCONCLUSIVE, "no verdict from " + described
    return RolloutGateVerdict.PASS, "OK: " + ", ".join(names)


def _gate(
    session: Session,
    rollout: RolloutRow,
    wave: RolloutWaveRow,
    gate: RolloutGateKind,
    verdict: str,
    evidence: str,
    now: datetime,
) -> None:
    """Records a verdict, unless it repeats the wave's last one of that gate (alarms are
    read on every look while a wave bakes)."""
    last = session.scalars(
        select(RolloutGateRow)
        .where(
            RolloutGateRow.rollout_id == rollout.id,
            RolloutGateRow.wave == wave.number,
            RolloutGateRow.gate == gate,
        )
        .order_by(RolloutGateRow.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.verdict == verdict and last.evidence == evidence:
        return
    session.add(
        RolloutGateRow(
            rollout_id=rollout.id,
            wave=wave.number,
            gate=gate,
            verdict=verdict,
            evidence=evidence,
            at=now,
        )
    )


def _bake(
    session: Session,
    rollout: RolloutRow,
    wave: RolloutWaveRow,
    alarms: AlarmReading | None,
    now: datetime,
) -> None:
    names = plan_of(rollout).alarm_names
    if names:
        verdict, evidence = judge_alarms(names, alarms)
        _gate(session, rollout, wave, RolloutGateKind.ALARMS, verdict, evidence, now)
        if verdict == RolloutGateVerdict.FAIL:
            _fail_wave(session, rollout, wave, evidence, RolloutGateKind.ALARMS, now)
            return
        if verdict == RolloutGateVerdict.INCONCLUSIVE:
            pause_locked(
                session,
                rollout,
                ENGINE,
                f"wave {wave.number}'s alarm gate is inconclusive "
                f"({evidence}); a person decides: resume, roll back or cancel",
                now,
            )
            return
    started = wave.clock_started_at or now
    baked = wave.baked_seconds + max((now - started).total_seconds(), 0.0)
    if baked < wave.bake_seconds:
        return
    _gate(
        session,
        rollout,
        wave,
        RolloutGateKind.BAKE,
        RolloutGateVerdict.PASS,
        f"baked {baked:.0f} s of {wave.bake_seconds} s",
        now,
    )
    wave.baked_seconds = baked
    wave.clock_started_at = None
    wave.state = RolloutWaveState.DONE
    wave.finished_at = now
    following = session.scalars(
        select(RolloutWaveRow).where(
            RolloutWaveRow.rollout_id == rollout.id, RolloutWaveRow.number == wave.number + 1
        )
    ).first()
    if following is None:
        rollout.state = RolloutState.SUCCEEDED
        rollout.finished_at = now
        record(session, rollout, ENGINE, f"Wave {wave.number} passed its gates; succeeded.", now)
        return
    rollout.current_wave = following.number
    if awaiting_approval(following):
        record(
            session,
            rollout,
            ENGINE,
            f"Wave {wave.number} passed its gates; wave {following.number} waits for approval.",
            now,
        )
        pause_locked(
            session, rollout, ENGINE, f"waiting for approval of wave {following.number}", now
        )
        return
    following.state = RolloutWaveState.DEPLOYING
    following.started_at = now
    record(
        session,
        rollout,
        ENGINE,
        f"Wave {wave.number} passed its gates; wave {following.number} deploys.",
        now,
    )


def _fail_wave(
    session: Session,
    rollout: RolloutRow,
    wave: RolloutWaveRow,
    reason: str,
    gate: RolloutGateKind,
    now: datetime,
) -> None:
    _gate(session, rollout, wave, gate, RolloutGateVerdict.FAIL, reason, now)
    if plan_of(rollout).on_failure == RolloutFailureAction.ROLLBACK_WAVE:
        rollout.state_message = f"wave {wave.number} failed: {reason}"
        begin_rollback(
            session, rollout, wave, "WAVE", ENGINE, f"wave {wave.number} ({reason})", now
        )
        return
    stop_clocks(session, rollout, now)
    wave.state = RolloutWaveState.HALTED
    rollout.state = RolloutState.HALTED
    rollout.state_message = f"wave {wave.number} failed: {reason}"
    record(
        session,
        rollout,
        ENGINE,
        f"Halted: wave {wave.number} failed ({reason}); deployments in flight finish.",
        now,
    )


# --- rolling back -----------------------------------------------------------------------------


def _roll_back(session: Session, arns: Arns, rollout: RolloutRow, now: datetime) -> None:
    wave = wave_of(session, rollout.id, rollout.current_wave)
    targets = targets_of(session, rollout.id, wave.number)
    in_flight = sum(1 for target in targets if target.state == RolloutTargetState.ROLLING_BACK)
    limit = plan_of(rollout).concurrency
    for target in targets:
        if in_flight >= limit:
            break
        if target.state == RolloutTargetState.SUCCEEDED:
            _start_back(session, arns, rollout, target, now)
            if target.state == RolloutTargetState.ROLLING_BACK:
                in_flight += 1
    if any(
        target.state
        in (
            RolloutTargetState.DEPLOYING,
            RolloutTargetState.SUCCEEDED,
            RolloutTargetState.ROLLING_BACK,
        )
        for target in targets
    ):
        return  # forward deployments in flight are rolled back once they end
    wave.state = RolloutWaveState.ROLLED_BACK
    wave.finished_at = now
    failed = sum(1 for target in targets if target.state == RolloutTargetState.ROLLBACK_FAILED)
    note = f" ({failed} could not be rolled back)" if failed else ""
    if rollout.rollback_scope == "ALL":
        earlier = session.scalars(
            select(RolloutWaveRow)
            .where(
                RolloutWaveRow.rollout_id == rollout.id,
                RolloutWaveRow.number < wave.number,
                RolloutWaveRow.state == RolloutWaveState.DONE,
            )
            .order_by(RolloutWaveRow.number.desc())
            .limit(1)
        ).first()
        if earlier is not None:
            rollout.current_wave = earlier.number
            earlier.state = RolloutWaveState.ROLLING_BACK
            record(
                session,
                rollout,
                ENGINE,
                f"Wave {wave.number} rolled back{note}; wave {earlier.number} rolls back.",
                now,
            )
            return
        rollout.state = RolloutState.ROLLED_BACK
        rollout.rollback_scope = None
        rollout.finished_at = now
        record(session, rollout, ENGINE, f"Rolled back{note}.", now)
        return
    rollout.state = RolloutState.HALTED
    rollout.rollback_scope = None
    record(
        session,
        rollout,
        ENGINE,
        f"Wave {wave.number} rolled back{note}; halted: resume deploys it again.",
        now,
    )


def _start_back(
    session: Session, arns: Arns, rollout: RolloutRow, target: RolloutTargetRow, now: datetime
) -> None:
    row = resource_of(session, target, lock=True)
    skipped = _why_not(row, target)
    if skipped is not None:
        # Changed by hand since the rollout moved it: a person's change is not undone.
        target.state = RolloutTargetState.SKIPPED
        target.reason = f"not rolled back: {skipped}"
        record(session, rollout, ENGINE, f"Not rolled back {target.resource_arn}: {skipped}.", now)
        return
    assert row is not None
    policy = rollback_policy(rollout, target)
    try:
        # Back to the resource's last known good before the rollout's deployment (its version
        # and spec), as a new deployment linked to the one it reverses. The rollback's preview
        # covers it, so it takes no rollback preview token; the rules that held it when a
        # person asked for the rollback hold it now, on their behalf (domain/approval_gate.py).
        with approval_gate.in_effect(policy) if policy is not None else nullcontext():
            deployment = rollbacks.start_rollback(
                session, arns, row, target.deployment_id, now, token=None
            )
    except DomainError as exc:
        target.state = RolloutTargetState.ROLLBACK_FAILED
        target.reason = exc.message
        return
    target.state = RolloutTargetState.ROLLING_BACK
    target.rollback_deployment_id = deployment.id
    target.baseline_deployment_id = deployment.id
    held = approval_gate.pending(session, deployment.id)
    if held is not None:
        record(
            session,
            rollout,
            ENGINE,
            f"The rollback of {target_label(target)} (deployment {deployment.id}) waits for "
            f"approval ({held.reason}), requested by {held.requested_by}: someone else "
            f"approves it (baryon approvals approve {deployment.id}, or the portal's "
            "Approvals page).",
            now,
        )
