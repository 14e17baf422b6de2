"""A rollout's gates and clocks, driven look by look at chosen times on the portal's store
(SQLite and PostgreSQL): the bake clock counts only time the rollout runs (a pause stops
it), an alarm in INSUFFICIENT_DATA pauses the rollout for a person, ALARM fails the wave,
and a verdict is judged only from alarms read for a wave already baking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from baryon.domain import rollout_progress, rollouts
from baryon.domain.rollout_progress import AlarmReading, judge_alarms
from baryon.domain.rollouts import NewRollout, RolloutPlan, WaveSpec, wave_sizes
from baryon.service_models.baryon import RolloutTemplateType
from baryon.store.tables import RolloutGateRow, RolloutRow, RolloutWaveRow
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, USER, Portal, add_version, finish

T0 = datetime(2026, 12, 1, tzinfo=UTC)
OK = AlarmReading({"errors": "OK"})


@pytest.mark.parametrize(
    ("reading", "verdict"),
    [
        (AlarmReading({"errors": "OK", "latency": "OK"}), "PASS"),
        (AlarmReading({"errors": "ALARM", "latency": "OK"}), "FAIL"),
        (AlarmReading({"errors": "OK", "latency": "INSUFFICIENT_DATA"}), "INCONCLUSIVE"),
        (AlarmReading({"errors": "OK"}), "INCONCLUSIVE"),  # latency: no such alarm
        (AlarmReading({}, error="endpoint not answering"), "INCONCLUSIVE"),
        (None, "INCONCLUSIVE"),
    ],
    ids=["ok", "alarm", "insufficient-data", "missing", "unreadable", "unread"],
)
def test_an_alarm_gate_passes_only_when_every_alarm_is_ok(
    reading: AlarmReading | None, verdict: str
) -> None:
    assert judge_alarms(("errors", "latency"), reading)[0] == verdict


def test_waves_take_counts_or_shares_and_the_last_takes_the_rest() -> None:
    specs = (WaveSpec(count=3), WaveSpec(percent=50), WaveSpec(count=1))
    assert wave_sizes(60, specs) == [3, 30, 27]
    assert wave_sizes(2, specs) == [2, 0, 0]


def _running(portal: Portal) -> str:
    for name in ("dev", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        new_environment = "/portal/new/environment?template=network&version=1.0"
        assert portal.post(new_environment, form).status_code == 303
    finish(portal.runtime)
    add_version(portal.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    plan = RolloutPlan(
        waves=(WaveSpec(count=1, bake_seconds=60), WaveSpec()),
        alarm_names=("errors",),
        bake_seconds=30,
    )
    new = NewRollout("gated", RolloutTemplateType.ENVIRONMENT, "network", 1, 1, plan)
    runtime, actor = portal.runtime, f"user/{USER}"
    with runtime.db.session(write=True) as session:
        rollout_id = rollouts.create(session, runtime.arns, new, actor, T0).id
        rollouts.mark_previewed(session, rollout_id, None, actor, T0)
        rollouts.approve(session, rollout_id, actor, None, T0)
        rollouts.start(session, rollout_id, actor, T0)
    return rollout_id


def _look(portal: Portal, rollout_id: str, at: datetime, reading: AlarmReading | None) -> None:
    with portal.runtime.db.session(write=True) as session:
        rollout_progress.look(session, portal.runtime.arns, rollout_id, reading, at)


def _where(portal: Portal, rollout_id: str) -> tuple[str, list[str]]:
    with portal.runtime.db.session() as session:
        row = session.get(RolloutRow, rollout_id)
        assert row is not None
        return row.state, [wave.state for wave in rollouts.waves_of(session, rollout_id)]


def test_the_bake_clock_stops_while_paused_and_insufficient_data_pauses(
    signed_in: Portal,
) -> None:
    rollout_id = _running(signed_in)
    _look(signed_in, rollout_id, T0, None)  # dev deploys
    finish(signed_in.runtime)
    _look(signed_in, rollout_id, T0, None)  # deployed: baking from T0, judged from the next look
    _look(signed_in, rollout_id, T0 + timedelta(seconds=10), OK)
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.pause(session, rollout_id, "user/x", "look closer", T0 + timedelta(seconds=20))
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.resume(session, rollout_id, "user/x", T0 + timedelta(hours=1))
    # 20 s before the pause and 39 s since the resume: not yet the 60 s bake.
    _look(signed_in, rollout_id, T0 + timedelta(hours=1, seconds=39), OK)
    assert _where(signed_in, rollout_id) == ("RUNNING", ["BAKING", "PENDING"])
    _look(signed_in, rollout_id, T0 + timedelta(hours=1, seconds=41), OK)
    assert _where(signed_in, rollout_id) == ("RUNNING", ["DONE", "DEPLOYING"])

    later = T0 + timedelta(hours=2)
    _look(signed_in, rollout_id, later, None)  # prod deploys
    finish(signed_in.runtime)
    _look(signed_in, rollout_id, later, None)
    _look(signed_in, rollout_id, later, AlarmReading({"errors": "INSUFFICIENT_DATA"}))
    state, waves = _where(signed_in, rollout_id)
    assert (state, waves) == ("PAUSED", ["DONE", "BAKING"])
    with signed_in.runtime.db.session() as session:
        row = session.get(RolloutRow, rollout_id)
        assert row is not None and "inconclusive" in (row.state_message or "")
        wave = session.get(RolloutWaveRow, rollouts.wave_of(session, rollout_id, 2).id)
        assert wave is not None and wave.clock_started_at is None  # its clock stopped too
        verdicts = [
            (gate.wave, gate.gate, gate.verdict)
            for gate in session.query(RolloutGateRow).order_by(RolloutGateRow.id)
        ]
    assert verdicts == [
        (1, "DEPLOYMENTS", "PASS"),
        (1, "ALARMS", "PASS"),
        (1, "BAKE", "PASS"),
        (2, "DEPLOYMENTS", "PASS"),
        (2, "ALARMS", "INCONCLUSIVE"),
    ]

    # Resumed with the alarm firing: the wave fails and (on_failure HALT) the rollout halts.
    with signed_in.runtime.db.session(write=True) as session:
        rollouts.resume(session, rollout_id, "user/x", later + timedelta(minutes=1))
    _look(signed_in, rollout_id, later + timedelta(minutes=2), AlarmReading({"errors": "ALARM"}))
    assert _where(signed_in, rollout_id) == ("HALTED", ["DONE", "HALTED"])
