"""The portal's rollout pages, on SQLite and PostgreSQL: the index lists rollouts, a rollout's
page shows its waves, gate verdicts, resources and events and offers the actions its state
allows; Start, Pause, Resume and Cancel go through the operations and move the rollout, and
its live region follows the rollout job's looks (run here in process). Where an approval rule
refuses a rollout's approval to its creator, their page says so in place of Approve."""

from __future__ import annotations

from datetime import UTC, datetime

from baryon.auth import identities
from baryon.domain import approval_gate, rollout_progress, rollouts
from baryon.domain.rollouts import NewRollout, RolloutPlan, WaveSpec
from baryon.operations import approval_rules, in_process
from baryon.service_models.baryon import RolloutTemplateType
from baryon.store.tables import RolloutRow
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import ROLE, USER, Portal, add_version, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"


def _rollout(portal: Portal) -> str:
    """Three environments on network 1.0, and an approved rollout of them to 1.1."""
    for name in ("dev", "stage", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        assert portal.post(ENV_URL, form).status_code == 303
    finish(portal.runtime)
    add_version(portal.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    runtime, now = portal.runtime, datetime.now(UTC)
    plan = RolloutPlan(waves=(WaveSpec(count=1), WaveSpec()), concurrency=2)
    new = NewRollout("network-1-1", RolloutTemplateType.ENVIRONMENT, "network", 1, 1, plan)
    with runtime.db.session(write=True) as session:
        rollout_id = rollouts.create(session, runtime.arns, new, f"user/{USER}", now).id
    with runtime.db.session(write=True) as session:
        rollouts.mark_previewed(session, rollout_id, None, f"user/{USER}", now)
    with runtime.db.session(write=True) as session:
        rollouts.approve(session, rollout_id, "user/approver", None, now)
    return rollout_id


def _look(portal: Portal, rollout_id: str) -> None:
    runtime = portal.runtime
    with runtime.db.session(write=True) as session:
        rollout_progress.look(session, runtime.arns, rollout_id, None, datetime.now(UTC))


def _state(portal: Portal, rollout_id: str) -> str:
    with portal.runtime.db.session() as session:
        row = session.get(RolloutRow, rollout_id)
        assert row is not None
        return row.state


def test_the_rollout_pages_show_waves_and_resources_and_steer_it(signed_in: Portal) -> None:
    rollout_id = _rollout(signed_in)
    page = f"/portal/rollouts/{rollout_id}"

    index = signed_in.client.get("/portal/rollouts")
    assert index.status_code == 200
    assert f'href="{page}"' in index.text and "network-1-1" in index.text
    shown = signed_in.client.get(page)
    assert shown.status_code == 200
    assert 'id="rollout-start"' in shown.text and 'id="rollout-pause"' not in shown.text
    assert shown.text.count("canary") == 1 and "Created: 3 resources" in shown.text

    assert signed_in.post(f"{page}/start").status_code == 303
    assert _state(signed_in, rollout_id) == "RUNNING"
    _look(signed_in, rollout_id)  # wave 1 (dev) deploys
    live = signed_in.client.get(f"{page}/live")
    assert 'data-active="true"' in live.text and "1 deploying" in live.text

    assert signed_in.post(f"{page}/pause", {"reason": "lunch"}).status_code == 303
    assert _state(signed_in, rollout_id) == "PAUSED"
    finish(signed_in.runtime)
    _look(signed_in, rollout_id)  # paused: the deployment in flight is followed, nothing starts
    paused = signed_in.client.get(page)
    assert "1 succeeded, 0 deploying, 2 pending" in paused.text and "lunch" in paused.text
    assert 'id="rollout-resume"' in paused.text

    assert signed_in.post(f"{page}/resume").status_code == 303
    _look(signed_in, rollout_id)  # wave 1 passes its deployment gate and bakes (0 s)
    _look(signed_in, rollout_id)  # ... and wave 2 starts
    _look(signed_in, rollout_id)
    running = signed_in.client.get(page)
    # Strict tolerance 0: one deployment in flight at a time, whatever the concurrency.
    assert "1 succeeded, 1 deploying, 1 pending" in running.text
    assert "Wave 1 passed its gates; wave 2 deploys." in running.text

    assert signed_in.post(f"{page}/cancel", {"reason": "enough"}).status_code == 303
    assert _state(signed_in, rollout_id) == "CANCELLED"
    done = signed_in.client.get(page)
    assert 'id="rollout-cancel"' not in done.text and "Cancelled: enough" in done.text


def test_an_action_the_rollouts_state_does_not_allow_is_refused(signed_in: Portal) -> None:
    rollout_id = _rollout(signed_in)

    refused = signed_in.post(f"/portal/rollouts/{rollout_id}/resume")

    assert refused.status_code in (303, 409)
    assert _state(signed_in, rollout_id) == "APPROVED"
    assert signed_in.post(f"/portal/rollouts/{rollout_id}/explode").status_code != 303


PROD_RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.kind == "environment" && resource.name == "prod" };
"""


def test_the_creator_held_by_a_rule_is_told_who_approves_in_place_of_approve(
    signed_in: Portal,
) -> None:
    for name in ("dev", "prod"):
        form = {"mode": "form", "name": name, "role": ROLE, "input-vpc_cidr": "10.0.0.0/16"}
        assert signed_in.post(ENV_URL, form).status_code == 303
    finish(signed_in.runtime)
    runtime, now, creator = signed_in.runtime, datetime.now(UTC), f"user/{USER}"
    add_version(runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    plan = RolloutPlan(waves=(WaveSpec(count=1), WaveSpec(requires_approval=True)))
    new = NewRollout("held", RolloutTemplateType.ENVIRONMENT, "network", 1, 1, plan)
    principal = identities.principal_for(runtime.identity_db, in_process.portal_caller(USER))
    rules = approval_rules.RulePolicy(principal, runtime.arns, 24.0)
    with runtime.db.session(write=True) as session:
        approval_rules.put_rule(session, "prod", PROD_RULE, creator, now)
    with runtime.db.session(write=True) as session, approval_gate.in_effect(rules):
        rollout_id = rollouts.create(session, runtime.arns, new, creator, now).id
        rollouts.mark_previewed(session, rollout_id, None, creator, now)
    page = f"/portal/rollouts/{rollout_id}"

    shown = signed_in.client.get(page).text
    assert 'id="rollout-approve"' not in shown
    assert 'id="rollout-approve-refused"' in shown
    assert "approval rule prod holds resources of this rollout" in shown
    assert "someone other than you who may approve rollouts approves it" in shown
    refused = signed_in.post(f"{page}/approve")  # the server refuses it all the same
    assert refused.status_code == 403
    assert _state(signed_in, rollout_id) == "PREVIEWED"

    with runtime.db.session(write=True) as session:
        rollouts.approve(session, rollout_id, "user/approver", None, now)
        rollouts.start(session, rollout_id, creator, now)
    _look(signed_in, rollout_id)  # dev deploys
    finish(runtime)
    _look(signed_in, rollout_id)  # wave 1 passes; wave 2 (prod) waits for approval
    assert _state(signed_in, rollout_id) == "PAUSED"
    waiting = signed_in.client.get(page).text
    assert 'id="rollout-approve-wave"' not in waiting and 'id="rollout-resume"' not in waiting
    assert "approval rule prod holds resources of wave 2" in waiting
