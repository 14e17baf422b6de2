"""The rollout job: one look at a rollout (domain/rollout_progress.py), then the next one
queued while it runs.

A look reads the watched CloudWatch alarms first, outside any transaction (slow I/O never
holds the store), then moves the rollout in one transaction that also queues the next look.
A worker killed at any point leaves either the whole look or none of it, and the job's lease
brings the look back on another worker: nothing is lost, and nothing is started twice.

Nothing may leave a rollout without its driver: a look that fails for good halts the rollout
with the error as its reason, a deployment's end asks for a look at once (domain/outcomes.py),
and a sweep every ``rollout_sweep_seconds`` (settings.py) queues a look for any rollout that
needs one and has none waiting or running (a look deleted, or lost with a give-up that could
not be written).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.cloud.clients import cloud_client
from baryon.domain import rollouts
from baryon.domain.audit_changes import SystemChange, record_system_change
from baryon.domain.rollout_progress import AlarmReading, alarms_due, look
from baryon.engine.handlers import JobContext, register_job
from baryon.service_models.baryon import AuditResult, RolloutState, RolloutTargetState
from baryon.settings import Settings
from baryon.store import jobs
from baryon.store.jobs import JobKind, JobStatus, forget_finished
from baryon.store.tables import Job, RolloutRow

log = logging.getLogger(__name__)

# Finished looks are deleted after this long: a running rollout makes one every tick.
_KEEP_FINISHED_LOOKS = timedelta(hours=1)


def read_alarms(settings: Settings, names: tuple[str, ...]) -> AlarmReading:
    """The alarms' states on the configured cloud (absent: the cloud does not know it)."""
    try:
        answer = cloud_client(settings, "cloudwatch").describe_alarms(
            AlarmNames=list(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
    except (BotoCoreError, ClientError) as exc:
        return AlarmReading({}, error=str(exc))
    states = {
        alarm["AlarmName"]: alarm["StateValue"]
        for kind in ("MetricAlarms", "CompositeAlarms")
        for alarm in answer.get(kind, [])
    }
    return AlarmReading(states)


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    rollout_id = payload["rollout_id"]
    with runtime.db.session() as session:
        names = alarms_due(session, rollout_id)
    reading = read_alarms(runtime.settings, names) if names else None
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        rollout = session.get(RolloutRow, rollout_id, with_for_update=True)
        was = rollout.state if rollout is not None else None
        again = look(session, runtime.arns, rollout_id, reading, now)
        if rollout is not None and (was, rollout.state) == (
            RolloutState.RUNNING,
            RolloutState.ROLLING_BACK,
        ):
            _audit_automatic_rollback(session, context, rollout, now)
        if again:
            rollout = rollouts.find(session, rollout_id)
            rollouts.ask_for_look(session, rollout, now, runtime.settings.rollout_tick_seconds)
        forget_finished(session, [JobKind.ROLLOUT], before=now - _KEEP_FINISHED_LOOKS)
    runtime.job_wakeup.set()  # deployments it started are ready for this process's workers


def _audit_automatic_rollback(
    session: Session, context: JobContext, rollout: RolloutRow, now: datetime
) -> None:
    """A look that moves a running rollout to ROLLING_BACK does so on its own (a failed gate
    with onFailure ROLLBACK_WAVE): the audit trail records it as RollbackRollout by Baryon
    itself, under the rollout's approval, naming the resources that go back
    (domain/approval_gate.py says why it waits for nobody)."""
    going = (RolloutTargetState.SUCCEEDED, RolloutTargetState.DEPLOYING)
    change = SystemChange(
        operation="RollbackRollout",
        resources=tuple(
            target.resource_arn
            for target in rollouts.targets_of(session, rollout.id, rollout.current_wave)
            if target.state in going
        ),
        result=AuditResult.SUCCEEDED,
    )
    region = context.runtime.settings.region
    record_system_change(session, change, region=region, job_id=context.job_id, now=now)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    """Every retry failed: the rollout halts saying why (resume, roll back or cancel moves it
    again). If even that cannot be written, the sweep queues a new look later."""
    log.error("A look at rollout %s failed for good: %s", payload["rollout_id"], error)
    with context.runtime.db.session(write=True) as session:
        rollouts.halt_on_engine_failure(session, payload["rollout_id"], error, datetime.now(UTC))


def ensure_sweep(db: Any) -> None:
    """Starts the sweep (a worker's start-up): one waiting job, whoever asks."""
    with db.session(write=True) as session:
        jobs.enqueue_once(session, JobKind.ROLLOUT_SWEEP, {}, datetime.now(UTC))


def sweep(session: Session, now: datetime) -> list[str]:
    """Queues a look for every rollout that needs one and has none QUEUED or RUNNING (a
    running look whose worker died is re-claimed when its lease lapses); returns their ids."""
    live = {
        payload.get("rollout_id")
        for payload in session.scalars(
            select(Job.payload).where(
                Job.kind == JobKind.ROLLOUT,
                Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
            )
        )
    }
    revived = [
        rollout_id for rollout_id in rollouts.needing_looks(session) if rollout_id not in live
    ]
    for rollout_id in revived:
        rollout = rollouts.find(session, rollout_id)
        rollouts.record(
            session, rollout, rollouts.ENGINE, "No look was coming: one is queued.", now
        )
        rollouts.ask_for_look(session, rollout, now)
    return revived


def _sweep_every(settings: Settings) -> timedelta:
    """When the next sweep runs after this one: the setting, read on every sweep."""
    return timedelta(seconds=settings.rollout_sweep_seconds)


def run_sweep(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        revived = sweep(session, now)
        jobs.enqueue_once(
            session, JobKind.ROLLOUT_SWEEP, {}, now, run_after=now + _sweep_every(runtime.settings)
        )
        forget_finished(session, [JobKind.ROLLOUT_SWEEP], before=now - _KEEP_FINISHED_LOOKS)
    if revived:
        log.warning("Rollouts without a look, queued one: %s", ", ".join(revived))
        runtime.job_wakeup.set()


def give_up_sweep(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # The sweep must outlive its own failures (the database was away, say): queue the next.
    log.error("The rollout sweep failed for good: %s", error)
    now = datetime.now(UTC)
    every = _sweep_every(context.runtime.settings)
    with context.runtime.db.session(write=True) as session:
        jobs.enqueue_once(session, JobKind.ROLLOUT_SWEEP, {}, now, run_after=now + every)


register_job(JobKind.ROLLOUT, run, give_up)
register_job(JobKind.ROLLOUT_SWEEP, run_sweep, give_up_sweep)
