"""The rollout job: one look at a rollout (domain/rollout_progress.py), then the next one
queued while it runs.

A look reads the watched CloudWatch alarms first, outside any transaction (slow I/O never
holds the store), then moves the rollout in one transaction that also queues the next look.
A worker killed at any point leaves either the whole look or none of it, and the job's lease
brings the look back on another worker: nothing is lost, and nothing is started twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from baryon.cloud.clients import cloud_client
from baryon.domain import rollouts
from baryon.domain.rollout_progress import AlarmReading, alarms_due, look
from baryon.engine.handlers import JobContext, register_job
from baryon.settings import Settings
from baryon.store.jobs import JobKind, forget_finished

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
        again = look(session, runtime.arns, rollout_id, reading, now)
        if again:
            rollout = rollouts.find(session, rollout_id)
            rollouts.ask_for_look(session, rollout, now, runtime.settings.rollout_tick_seconds)
        forget_finished(session, [JobKind.ROLLOUT], before=now - _KEEP_FINISHED_LOOKS)
    runtime.job_wakeup.set()  # deployments it started are ready for this process's workers


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # The rollout stays as it was: the next command on it (resume, cancel, roll back) queues
    # a new look, so nothing is stuck for good.
    log.error("A look at rollout %s failed for good: %s", payload["rollout_id"], error)


register_job(JobKind.ROLLOUT, run, give_up)
