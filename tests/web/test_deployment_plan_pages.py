"""The deployment page shows what a Terraform deployment planned (its summary, each resource
change, the plan's JSON) and a program's output lines as its log; a deployment with no plan
shows no plan section."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from markupsafe import escape
from sqlalchemy import select

from baryon.domain.deployments import log_event
from baryon.operations.terraform_state import TerraformStates
from baryon.store.tables import Deployment
from tests.web.conftest import ROLE, Portal, finish

pytestmark = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)

PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        {"address": "terraform_data.network", "change": {"actions": ["create"]}},
        {"address": "terraform_data.subnet[0]", "change": {"actions": ["delete", "create"]}},
        {"address": "terraform_data.kept", "change": {"actions": ["no-op"]}},
    ],
}
SUMMARY = "Plan: 2 to add, 0 to change, 1 to destroy."


def _deployment_id(portal: Portal) -> str:
    response = portal.post(
        "/portal/new/environment?template=network&version=1.0",
        {
            "mode": "form",
            "name": "dev",
            "description": "",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert response.status_code == 303, response.text
    with portal.runtime.db.session() as session:
        return session.scalars(select(Deployment.id)).one()


def test_a_terraform_deployment_page_shows_its_plan_and_each_change(signed_in: Portal) -> None:
    deployment_id = _deployment_id(signed_in)
    states = TerraformStates(signed_in.runtime.db, signed_in.runtime.box)
    states.save_plan(deployment_id, SUMMARY, json.dumps(PLAN))
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}").text
    assert f'<p id="plan-summary">{SUMMARY}</p>' in page
    assert "<code>terraform_data.network</code></td><td>create</td>" in page
    assert "<code>terraform_data.subnet[0]</code></td><td>delete then create</td>" in page
    assert "terraform_data.kept</code>" not in page  # left as it is: not a change
    assert escape(json.dumps(PLAN)) in page  # the raw plan, behind its disclosure
    live = signed_in.client.get(f"/portal/deployments/{deployment_id}/live").text
    assert SUMMARY in live  # appears while the deployment runs, without a reload


def test_a_deployment_without_a_plan_shows_no_plan_section(signed_in: Portal) -> None:
    deployment_id = _deployment_id(signed_in)
    finish(signed_in.runtime)
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}")
    assert page.status_code == 200
    assert 'id="plan-summary"' not in page.text and "Plan as JSON" not in page.text


def test_a_programs_output_lines_are_the_deployments_log(signed_in: Portal) -> None:
    deployment_id = _deployment_id(signed_in)
    with signed_in.runtime.db.session(write=True) as session:
        log_event(session, deployment_id, "$ make provision", datetime.now(UTC))
        log_event(session, deployment_id, "bucket <made> & tagged", datetime.now(UTC))
    page = signed_in.client.get(f"/portal/deployments/{deployment_id}").text
    assert "$ make provision" in page and escape("bucket <made> & tagged") in page
