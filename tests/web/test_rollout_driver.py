"""What keeps a rollout moving and what stops it on purpose, driven look by look at chosen
times on the portal's store (SQLite and PostgreSQL): a wave that requires approval waits,
paused and saying why, until ApproveRollout; a deployment past the target deadline counts as
failed; a look that fails for good halts the rollout with its error; the sweep queues a look
for a rollout left without one; a deployment's end wakes its rollout at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from baryon.domain import rollout_progress, rollouts
from baryon.domain.errors import Conflict, InvalidInput
from baryon.domain.rollouts import NewRollout, RolloutPlan, Tolerance, WaveSpec
from baryon.engine import rollouts as rollout_engine
from baryon.engine.handlers import JobContext
from baryon.runtime import build_runtime
from baryon.service_models.baryon import RolloutTemplateType
from baryon.settings import load_settings
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import Deployment, Job, RolloutRow, RolloutTargetRow, RolloutWaveRow
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, USER, Portal, add_version, finish

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ACTOR = f"user/{USER}"


def _running(portal: Portal, plan: RolloutPlan) -> str:
    """dev and prod on network 1.0, 1.1 published, and a started rollout of both to 1.1."""
    for name in ("dev", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        new_environment = "/portal/new/environment?template=network&version=1.0"
        assert portal.post(new_environment, form).status_code == 303
    finish(portal.runtime)
    add_version(portal.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    new = NewRollout("driven", RolloutTemplateType.ENVIRONMENT, "network", 1, 1, plan)
    runtime = portal.runtime
    with runtime.db.session(write=True) as session:
        rollout_id = rollouts.create(session, runtime.arns, new, ACTOR, T0).id
        rollouts.mark_previewed(session, rollout_id, None, ACTOR, T0)
        rollouts.approve(session, rollout_id, ACTOR, None, T0)
        rollouts.start(session, rollout_id, ACTOR, T0)
    return rollout_id


def _look(portal: Portal, rollout_id: str, at: datetime) -> None:
    with portal.runtime.db.session(write=True) as session:
        rollout_progress.look(session, portal.runtime.arns, rollout_id, None, at)


def _where(portal: Portal, rollout_id: str) -> tuple[str, str | None, list[str]]:
    with portal.runtime.db.session() as session:
        row = session.get(RolloutRow, rollout_id)
        assert row is not None
        waves = [wave.state for wave in rollouts.waves_of(session, rollout_id)]
        return row.state, row.state_message, waves


def _deployments(portal: Portal) -> int:
    with portal.runtime.db.session() as session:
        return len(session.scalars(select(Deployment.id)).all())


def _looks(portal: Portal, rollout_id: str, status: JobStatus) -> list[Job]:
    with portal.runtime.db.session() as session:
        found = session.scalars(
            select(Job).where(Job.kind == JobKind.ROLLOUT, Job.status == status)
        ).all()
        return [job for job in found if job.payload == {"rollout_id": rollout_id}]


def test_a_wave_that_requires_approval_waits_paused_until_a_person_approves_it(
    signed_in: Portal,
) -> None:
    plan = RolloutPlan(waves=(WaveSpec(count=1), WaveSpec(requires_approval=True)))
    rollout_id = _running(signed_in, plan)
    _look(signed_in, rollout_id, T0)  # dev deploys
    finish(signed_in.runtime)
    _look(signed_in, rollout_id, T0)  # wave 1 passes its gates; wave 2 waits
    assert _where(signed_in, rollout_id) == (
        "PAUSED",
        "waiting for approval of wave 2",
        ["DONE", "PENDING"],
    )
    deployed = _deployments(signed_in)
    _look(signed_in, rollout_id, T0 + timedelta(days=1))
    assert _deployments(signed_in) == deployed  # prod waits, however long
    with (
        pytest.raises(Conflict, match="waits for approval"),
        signed_in.runtime.db.session(write=True) as session,
    ):
        rollouts.resume(session, rollout_id, ACTOR, T0 + timedelta(days=1))

    approved_at = T0 + timedelta(days=1, minutes=1)
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.approve(session, rollout_id, "user/lee", "prod looks calm", approved_at)
    with signed_in.runtime.db.session() as session:
        wave = session.get(RolloutWaveRow, rollouts.wave_of(session, rollout_id, 2).id)
        assert wave is not None
        assert (wave.approved_by, wave.approved_at) == ("user/lee", approved_at)
    assert _where(signed_in, rollout_id) == ("RUNNING", None, ["DONE", "DEPLOYING"])
    _look(signed_in, rollout_id, approved_at)  # prod deploys
    assert _deployments(signed_in) == deployed + 1
    finish(signed_in.runtime)
    _look(signed_in, rollout_id, approved_at)
    assert _where(signed_in, rollout_id)[0] == "SUCCEEDED"


def test_the_first_wave_cannot_require_approval(signed_in: Portal) -> None:
    plan = RolloutPlan(waves=(WaveSpec(count=1, requires_approval=True), WaveSpec()))
    with pytest.raises(InvalidInput, match="covers wave 1"):
        _running(signed_in, plan)


def test_a_deployment_past_the_target_deadline_counts_as_failed_until_resumed(
    signed_in: Portal,
) -> None:
    plan = RolloutPlan(
        waves=(WaveSpec(count=1), WaveSpec()),
        tolerance=Tolerance(count=0),
        target_deadline_seconds=60,
    )
    rollout_id = _running(signed_in, plan)
    _look(signed_in, rollout_id, T0)  # dev deploys, started at T0
    _look(signed_in, rollout_id, T0 + timedelta(seconds=59))
    assert _where(signed_in, rollout_id) == ("RUNNING", None, ["DEPLOYING", "PENDING"])
    _look(signed_in, rollout_id, T0 + timedelta(seconds=61))
    state, message, waves = _where(signed_in, rollout_id)
    assert (state, waves) == ("HALTED", ["HALTED", "PENDING"])
    assert "exceed the failure tolerance of 0" in (message or "")
    with signed_in.runtime.db.session() as session:
        (target,) = rollouts.targets_of(session, rollout_id, 1)
        assert (target.state, target.past_deadline) == ("DEPLOYING", True)
        assert "ran past the target deadline of 60 s" in (target.reason or "")

    # It ends well after all, yet still counts as failed: resuming while it was in flight
    # would not have cleared it; a person resuming now does.
    finish(signed_in.runtime)
    later = T0 + timedelta(minutes=5)
    _look(signed_in, rollout_id, later)
    with signed_in.runtime.db.session() as session:
        (target,) = rollouts.targets_of(session, rollout_id, 1)
        assert (target.state, target.past_deadline) == ("SUCCEEDED", True)
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.resume(session, rollout_id, ACTOR, later)
    _look(signed_in, rollout_id, later)  # wave 1 passes (nothing left to deploy), prod deploys
    assert _where(signed_in, rollout_id) == ("RUNNING", None, ["DONE", "DEPLOYING"])


def test_a_pause_moves_the_target_deadline_later_by_the_time_spent_paused(
    signed_in: Portal,
) -> None:
    plan = RolloutPlan(
        waves=(WaveSpec(count=1), WaveSpec()),
        tolerance=Tolerance(count=0),
        target_deadline_seconds=60,
    )
    rollout_id = _running(signed_in, plan)
    _look(signed_in, rollout_id, T0)  # dev deploys, started at T0: due at T0 + 60 s
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.pause(session, rollout_id, ACTOR, None, T0 + timedelta(seconds=30))
    _look(signed_in, rollout_id, T0 + timedelta(seconds=100))  # paused: the pause is not late
    assert _where(signed_in, rollout_id) == ("PAUSED", "paused by hand", ["DEPLOYING", "PENDING"])
    with signed_in.runtime.db.session(write=True) as session:
        # Paused for 100 s: due at T0 + 160 s.
        rollouts.resume(session, rollout_id, ACTOR, T0 + timedelta(seconds=130))
    _look(signed_in, rollout_id, T0 + timedelta(seconds=159))
    assert _where(signed_in, rollout_id) == ("RUNNING", None, ["DEPLOYING", "PENDING"])
    with signed_in.runtime.db.session() as session:
        (target,) = rollouts.targets_of(session, rollout_id, 1)
        assert target.past_deadline is False
    _look(signed_in, rollout_id, T0 + timedelta(seconds=161))
    state, _, waves = _where(signed_in, rollout_id)
    assert (state, waves) == ("HALTED", ["HALTED", "PENDING"])
    with signed_in.runtime.db.session() as session:
        (target,) = rollouts.targets_of(session, rollout_id, 1)
        assert target.past_deadline is True


def test_a_look_that_fails_for_good_halts_the_rollout_with_its_error(
    signed_in: Portal,
) -> None:
    rollout_id = _running(signed_in, RolloutPlan(waves=(WaveSpec(count=1), WaveSpec())))
    _look(signed_in, rollout_id, T0)
    context = JobContext(signed_in.runtime, 0, 5, 5)
    rollout_engine.give_up(context, {"rollout_id": rollout_id}, "OperationalError: gone away")
    state, message, waves = _where(signed_in, rollout_id)
    assert (state, waves) == ("HALTED", ["HALTED", "PENDING"])
    assert message == "the rollout engine could not move it on: OperationalError: gone away"
    # Its deployment in flight is still followed, and a person can move it on again.
    finish(signed_in.runtime)
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.resume(session, rollout_id, ACTOR, T0 + timedelta(minutes=1))
    _look(signed_in, rollout_id, T0 + timedelta(minutes=1))
    assert _where(signed_in, rollout_id)[0:3:2] == ("RUNNING", ["DONE", "DEPLOYING"])


def test_the_sweep_queues_one_look_for_a_rollout_left_without_one(signed_in: Portal) -> None:
    rollout_id = _running(signed_in, RolloutPlan(waves=(WaveSpec(count=1), WaveSpec())))
    runtime = signed_in.runtime
    with runtime.db.session(write=True) as session:
        assert rollout_engine.sweep(session, T0) == []  # start queued its look
        # The look is lost: its job failed for good and its give-up was never written.
        session.execute(
            update(Job).where(Job.kind == JobKind.ROLLOUT).values(status=JobStatus.FAILED)
        )
    with runtime.db.session(write=True) as session:
        assert rollout_engine.sweep(session, T0) == [rollout_id]
    with runtime.db.session(write=True) as session:
        assert rollout_engine.sweep(session, T0) == []  # one look, however often it sweeps
    assert len(_looks(signed_in, rollout_id, JobStatus.QUEUED)) == 1


def test_the_sweep_comes_back_after_the_interval_its_setting_names(tmp_path: Path) -> None:
    environ = {"BARYON_ROLLOUT_SWEEP_SECONDS": "7"}
    runtime = build_runtime(load_settings({"data_dir": tmp_path / "data"}, environ=environ))
    try:
        before = datetime.now(UTC)
        rollout_engine.run_sweep(JobContext(runtime, 0, 1, 5), {})
        after = datetime.now(UTC)
        with runtime.db.session() as session:
            (next_sweep,) = session.scalars(
                select(Job.run_after).where(
                    Job.kind == JobKind.ROLLOUT_SWEEP, Job.status == JobStatus.QUEUED
                )
            ).all()
    finally:
        runtime.close()
    assert before + timedelta(seconds=7) <= next_sweep <= after + timedelta(seconds=7)


def test_a_rollout_deployment_that_ends_wakes_the_rollout_at_once(signed_in: Portal) -> None:
    rollout_id = _running(signed_in, RolloutPlan(waves=(WaveSpec(count=1), WaveSpec())))
    _look(signed_in, rollout_id, T0)  # dev deploys
    runtime = signed_in.runtime
    far = datetime.now(UTC) + timedelta(hours=1)
    with runtime.db.session(write=True) as session:
        # The next tick is an hour away.
        session.execute(update(Job).where(Job.kind == JobKind.ROLLOUT).values(run_after=far))
        target = session.scalars(
            select(RolloutTargetRow).where(RolloutTargetRow.rollout_id == rollout_id)
        ).first()
        assert target is not None and target.deployment_id is not None
    assert finish(runtime) == 1
    (waiting,) = _looks(signed_in, rollout_id, JobStatus.QUEUED)
    assert waiting.run_after <= datetime.now(UTC)


def test_the_rollout_page_offers_approve_wave_instead_of_resume_while_a_wave_waits(
    signed_in: Portal,
) -> None:
    plan = RolloutPlan(
        waves=(WaveSpec(count=1), WaveSpec(requires_approval=True)), target_deadline_seconds=900
    )
    rollout_id = _running(signed_in, plan)
    _look(signed_in, rollout_id, T0)
    finish(signed_in.runtime)
    _look(signed_in, rollout_id, T0)
    page = f"/portal/rollouts/{rollout_id}"
    shown = signed_in.client.get(page).text
    assert 'id="rollout-approve-wave"' in shown and "Approve wave 2" in shown
    assert 'id="rollout-resume"' not in shown
    assert "needs approval" in shown and "running over 900 s counts as failed" in shown
    answer = signed_in.post(f"{page}/approve", {"wave": "2", "reason": "calm"})
    assert answer.status_code == 303
    assert _where(signed_in, rollout_id)[0] == "RUNNING"
    shown = signed_in.client.get(page).text
    assert f"approved by user/{USER}" in shown and 'id="rollout-approve-wave"' not in shown
