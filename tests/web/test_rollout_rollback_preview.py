"""A rollout's rollback by hand is previewed first, through the portal as a person does it:
the preview page names each resource and the version it goes back to, the roll back button
carries the preview's token, a stale token is refused, and each rollback deployment reverses
the rollout's and is on the audit trail. An automatic rollback records what it acted on."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from baryon.domain import rollout_progress, rollouts
from baryon.domain.rollouts import NewRollout, RolloutPlan, WaveSpec
from baryon.service_models.baryon import RolloutTemplateType
from baryon.store.tables import (
    AuditRecordRow,
    Deployment,
    Environment,
    RolloutEventRow,
    RolloutRow,
    RolloutTargetRow,
)
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, USER, Portal, add_version, finish

ACTOR = f"user/{USER}"
PLAN = RolloutPlan(waves=(WaveSpec(count=1), WaveSpec()))
TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')


def _succeeded_rollout(portal: Portal) -> str:
    """dev (wave 1) and prod (wave 2) moved from network 1.0 to 1.1 by a finished rollout."""
    for name in ("dev", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        new_environment = "/portal/new/environment?template=network&version=1.0"
        assert portal.post(new_environment, form).status_code == 303
    finish(portal.runtime)
    add_version(portal.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    runtime, now = portal.runtime, datetime.now(UTC)
    new = NewRollout("up", RolloutTemplateType.ENVIRONMENT, "network", 1, 1, PLAN)
    with runtime.db.session(write=True) as session:
        rollout_id = rollouts.create(session, runtime.arns, new, ACTOR, now).id
        rollouts.mark_previewed(session, rollout_id, None, ACTOR, now)
        rollouts.approve(session, rollout_id, ACTOR, None, now)
        rollouts.start(session, rollout_id, ACTOR, now)
    assert _settle(portal, rollout_id) == "SUCCEEDED"
    return rollout_id


def _settle(portal: Portal, rollout_id: str, looks: int = 12) -> str:
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


def _versions(portal: Portal) -> dict[str, str]:
    with portal.runtime.db.session() as session:
        return {
            env.name: f"{env.template_major}.{env.template_minor}"
            for env in session.scalars(select(Environment))
        }


def _rolled_back_linked(portal: Portal, rollout_id: str, wave: int | None = None) -> int:
    """How many of the rollout's targets were rolled back, each by a deployment reversing
    the rollout's own."""
    with portal.runtime.db.session() as session:
        stmt = select(RolloutTargetRow).where(RolloutTargetRow.rollout_id == rollout_id)
        if wave is not None:
            stmt = stmt.where(RolloutTargetRow.wave == wave)
        back = [t for t in session.scalars(stmt) if t.state == "ROLLED_BACK"]
        for target in back:
            deployment = session.get(Deployment, target.rollback_deployment_id)
            assert deployment is not None
            assert deployment.reverses_deployment_id == target.deployment_id
        return len(back)


def _audited(portal: Portal, operation: str) -> list[str]:
    with portal.runtime.db.session() as session:
        return list(
            session.scalars(
                select(AuditRecordRow.result).where(AuditRecordRow.operation == operation)
            )
        )


def test_a_waves_rollback_is_previewed_and_goes_only_with_a_current_token(
    signed_in: Portal,
) -> None:
    rollout_id = _succeeded_rollout(signed_in)
    page = signed_in.client.get(f"/portal/rollouts/{rollout_id}")
    # A finished rollout offers the whole rollout's rollback; any wave is asked by its number.
    assert f'href="/portal/rollouts/{rollout_id}/rollback"' in page.text

    shown = signed_in.client.get(f"/portal/rollouts/{rollout_id}/rollback?wave=2")
    assert shown.status_code == 200, shown.text
    table = shown.text.split('id="rollback-resources"')[1].split("</table>")[0]
    assert "prod" in table and "dev" not in table  # only wave 2's resource
    assert "version 1.0" in table  # what it goes back to
    match = TOKEN.search(shown.text)
    assert match is not None
    token = match.group(1)

    stale = signed_in.post(
        f"/portal/rollouts/{rollout_id}/rollback", {"wave": "2", "token": "0" * 32}
    )
    assert stale.status_code == 409 and "preview the rollback again" in stale.text
    # A different scope than the one previewed is refused too.
    other = signed_in.post(f"/portal/rollouts/{rollout_id}/rollback", {"token": token})
    assert other.status_code == 409
    assert _versions(signed_in) == {"dev": "1.1", "prod": "1.1"}

    done = signed_in.post(f"/portal/rollouts/{rollout_id}/rollback", {"wave": "2", "token": token})
    assert done.status_code == 303, done.text
    assert _settle(signed_in, rollout_id) == "HALTED"
    assert _versions(signed_in) == {"dev": "1.1", "prod": "1.0"}
    assert _rolled_back_linked(signed_in, rollout_id, wave=2) == 1
    assert sorted(_audited(signed_in, "RollbackRollout")) == ["FAILED", "FAILED", "SUCCEEDED"]
    with signed_in.runtime.db.session() as session:
        events = session.scalars(
            select(RolloutEventRow.message).where(RolloutEventRow.rollout_id == rollout_id)
        ).all()
    assert any(
        "Rollback preview, wave 2: environment 'prod' goes back" in e and "version 1.0" in e
        for e in events
    )


def test_a_whole_rollouts_rollback_is_previewed_and_takes_every_wave_back(
    signed_in: Portal,
) -> None:
    rollout_id = _succeeded_rollout(signed_in)
    shown = signed_in.client.get(f"/portal/rollouts/{rollout_id}/rollback")
    assert shown.status_code == 200, shown.text
    table = shown.text.split('id="rollback-resources"')[1].split("</table>")[0]
    # Newest wave first, each with the version it goes back to.
    assert table.index("prod") < table.index("dev")
    assert table.count("version 1.0") == 2
    match = TOKEN.search(shown.text)
    assert match is not None

    # The fleet moves after the preview (dev's last deployment is another): the token is
    # stale; back as it was, the same token is current again.
    with signed_in.runtime.db.session(write=True) as session:
        dev = session.scalars(select(Environment).where(Environment.name == "dev")).one()
        last, dev.last_attempted_deployment_id = dev.last_attempted_deployment_id, None
    stale = signed_in.post(f"/portal/rollouts/{rollout_id}/rollback", {"token": match.group(1)})
    assert stale.status_code == 409 and "stale" in stale.text
    with signed_in.runtime.db.session(write=True) as session:
        dev = session.scalars(select(Environment).where(Environment.name == "dev")).one()
        dev.last_attempted_deployment_id = last

    done = signed_in.post(f"/portal/rollouts/{rollout_id}/rollback", {"token": match.group(1)})
    assert done.status_code == 303, done.text
    assert _settle(signed_in, rollout_id) == "ROLLED_BACK"
    assert _versions(signed_in) == {"dev": "1.0", "prod": "1.0"}
    assert _rolled_back_linked(signed_in, rollout_id) == 2
    assert sorted(_audited(signed_in, "RollbackRollout")) == ["FAILED", "SUCCEEDED"]
