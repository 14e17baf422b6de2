"""Rolling back a whole rollout, driven look by look on the portal's store (SQLite and
PostgreSQL): every wave that deployed goes back, newest first, each resource by a new
deployment that reverses the rollout's; and a resource belongs to one unfinished rollout at a
time unless the new one supersedes the old."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baryon.domain import rollout_progress, rollouts
from baryon.domain.errors import Conflict
from baryon.domain.rollouts import NewRollout, RolloutPlan, WaveSpec
from baryon.service_models.baryon import RolloutTemplateType
from baryon.store.tables import Deployment, Environment, RolloutRow, RolloutTargetRow
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, USER, Portal, add_version, finish

ACTOR = f"user/{USER}"
PLAN = RolloutPlan(waves=(WaveSpec(count=1), WaveSpec()))


def _fleet(portal: Portal) -> None:
    for name in ("dev", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        new_environment = "/portal/new/environment?template=network&version=1.0"
        assert portal.post(new_environment, form).status_code == 303
    finish(portal.runtime)
    add_version(portal.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)


def _new(name: str, supersedes: str | None = None) -> NewRollout:
    kind = RolloutTemplateType.ENVIRONMENT
    return NewRollout(name, kind, "network", 1, 1, PLAN, supersedes=supersedes)


def _settle(portal: Portal, rollout_id: str, looks: int = 12) -> str:
    """Looks and finishes deployments until the rollout needs no more looks."""
    runtime = portal.runtime
    for _ in range(looks):
        with runtime.db.session(write=True) as session:
            again = rollout_progress.look(
                session, runtime.arns, rollout_id, None, datetime.now(UTC)
            )
        finish(runtime)
        if not again:
            break
    with runtime.db.session() as session:
        row = session.get(RolloutRow, rollout_id)
        assert row is not None
        return row.state


def test_rolling_back_a_rollout_takes_every_wave_back_newest_first(signed_in: Portal) -> None:
    _fleet(signed_in)
    runtime, now = signed_in.runtime, datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        rollout_id = rollouts.create(session, runtime.arns, _new("up"), ACTOR, now).id
        rollouts.mark_previewed(session, rollout_id, None, ACTOR, now)
        rollouts.approve(session, rollout_id, ACTOR, None, now)
        rollouts.start(session, rollout_id, ACTOR, now)
    assert _settle(signed_in, rollout_id) == "SUCCEEDED"

    with runtime.db.session(write=True) as session:
        _, _, token = rollouts.plan_rollback(session, runtime.arns, rollout_id, None)
        rollouts.rollback(
            session, runtime.arns, rollout_id, None, ACTOR, datetime.now(UTC), token=token
        )
    assert _settle(signed_in, rollout_id) == "ROLLED_BACK"

    with runtime.db.session() as session:
        for environment in session.query(Environment):
            assert (environment.template_major, environment.template_minor) == (1, 0)
        targets = session.query(RolloutTargetRow).order_by(RolloutTargetRow.wave).all()
        assert [t.state for t in targets] == ["ROLLED_BACK", "ROLLED_BACK"]
        back = [session.get(Deployment, t.rollback_deployment_id) for t in targets]
        assert [b.reverses_deployment_id for b in back if b] == [t.deployment_id for t in targets]
        # Newest wave first: prod (wave 2) went back before dev (wave 1).
        assert back[1] is not None and back[0] is not None
        assert back[1].created_at <= back[0].created_at


def test_a_resource_is_in_one_unfinished_rollout_unless_superseded(signed_in: Portal) -> None:
    _fleet(signed_in)
    runtime, now = signed_in.runtime, datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        first = rollouts.create(session, runtime.arns, _new("first"), ACTOR, now).id
    with (
        pytest.raises(Conflict, match="already in the unfinished rollout"),
        runtime.db.session(write=True) as session,
    ):
        rollouts.create(session, runtime.arns, _new("second"), ACTOR, now)
    with runtime.db.session(write=True) as session:
        second = rollouts.create(session, runtime.arns, _new("second", first), ACTOR, now).id
    with runtime.db.session() as session:
        old = session.get(RolloutRow, first)
        assert old is not None and (old.state, old.superseded_by) == ("SUPERSEDED", second)
