"""The portal's drift pages, on SQLite and PostgreSQL: a resource's drift page shows each open
item with both values and its decisions, the resource page links to it with the count, the
fleet's drift page lists items by template, and Ignore needs a reason and a date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from baryon.auth.identities import grant_user_role
from baryon.domain import drift
from baryon.domain.drift import CheckMethod, DriftKind, DriftTarget, Observation, ObservedDrift
from baryon.operations import in_process
from baryon.operations.errors import Forbidden, NotFound
from baryon.operations.portal_users import create_user
from baryon.operations.registry import handler_for
from baryon.service_models import BARYON
from baryon.store.tables import DriftCheckRow, DriftItemRow
from tests.web.conftest import PASSWORD, ROLE, USER, Portal, finish

ENV_URL = "/portal/new/environment?template=network&version=1.0"
PAGE = "/portal/environments/dev/drift"
DEVELOPER = "devon"


def _environment_with_drift(portal: Portal) -> str:
    form = {
        "mode": "form",
        "name": "dev",
        "role": ROLE,
        "input-vpc_cidr": "10.0.0.0/16",
        "input-size": "large",
    }
    assert portal.post(ENV_URL, form).status_code == 303
    finish(portal.runtime)
    runtime = portal.runtime
    arn = runtime.arns.environment("dev")
    seen = ObservedDrift(
        "Bucket",
        "AWS::S3::Bucket",
        "dev-artifacts",
        "/Properties/VersioningConfiguration/Status",
        "Enabled",
        "Suspended",
        DriftKind.NOT_EQUAL,
    )
    with runtime.db.session(write=True) as session:
        target = DriftTarget(arn, "environment", "dev", None, "network")
        check = drift.request_check(session, target, "user/someone", datetime.now(UTC))
        observation = Observation(CheckMethod.CLOUDFORMATION, 1, 0, (seen,))
        drift.record_observation(session, check, observation, {"size": "large"}, datetime.now(UTC))
    return arn


def _item(portal: Portal) -> DriftItemRow:
    with portal.runtime.db.session() as session:
        return session.scalars(select(DriftItemRow)).one()


def test_a_resources_drift_page_shows_each_item_with_both_values(signed_in: Portal) -> None:
    _environment_with_drift(signed_in)

    page = signed_in.client.get(PAGE)

    assert page.status_code == 200
    assert "/Properties/VersioningConfiguration/Status" in page.text
    assert "Enabled" in page.text and "Suspended" in page.text
    assert "Re-apply" in page.text and "Ignore" in page.text
    assert ">Accept<" not in page.text  # template-bound: nothing to accept into the spec
    resource = signed_in.client.get("/portal/environments/dev")
    assert "Drift (1 open)" in resource.text
    fleet = signed_in.client.get("/portal/drift?template=network")
    assert fleet.status_code == 200
    assert f'href="{PAGE}"' in fleet.text


def test_ignoring_needs_a_reason_and_then_hides_the_item_until_its_date(
    signed_in: Portal,
) -> None:
    _environment_with_drift(signed_in)
    item = _item(signed_in)
    until = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()

    refused = signed_in.post(PAGE, {"item": item.id, "decision": "IGNORE", "until": until})
    assert refused.status_code == 303
    assert _item(signed_in).status == "OPEN"

    ignored = signed_in.post(
        PAGE, {"item": item.id, "decision": "IGNORE", "until": until, "reason": "migration"}
    )

    assert ignored.status_code == 303
    decided = _item(signed_in)
    assert (decided.status, decided.reason, decided.decided_by) == (
        "IGNORED",
        "migration",
        f"user/{USER}",
    )
    assert "ignored until" in signed_in.client.get(PAGE).text


def test_check_now_asks_for_a_check_as_the_signed_in_user(signed_in: Portal) -> None:
    _environment_with_drift(signed_in)

    assert signed_in.post(PAGE, {"action": "check"}).status_code == 303

    with signed_in.runtime.db.session() as session:
        waiting = session.scalars(
            select(DriftCheckRow).where(DriftCheckRow.status == "QUEUED")
        ).one()
    assert waiting.requested_by == f"user/{USER}"


def _developer(portal: Portal) -> str:
    """A second person, a developer (the first is an admin)."""
    with portal.runtime.db.session(write=True) as session:
        create_user(session, DEVELOPER, PASSWORD, datetime.now(UTC))
        grant_user_role(session, DEVELOPER, "developer")
    return DEVELOPER


def test_a_developer_reads_an_environments_drift_but_neither_checks_nor_decides_it(
    signed_in: Portal,
) -> None:
    _environment_with_drift(signed_in)
    item = _item(signed_in)
    signed_in.client.cookies.clear()
    assert signed_in.sign_in(_developer(signed_in), PASSWORD).status_code == 303

    page = signed_in.client.get(PAGE)

    assert page.status_code == 200
    assert "Suspended" in page.text
    assert 'id="check-drift"' not in page.text and "Re-apply" not in page.text
    assert signed_in.post(PAGE, {"action": "check"}).status_code == 403
    refused = signed_in.post(PAGE, {"item": item.id, "decision": "REAPPLY"})
    assert refused.status_code == 403
    assert _item(signed_in).status == "OPEN"


def test_a_check_naming_several_resources_is_decided_for_each(signed_in: Portal) -> None:
    _environment_with_drift(signed_in)
    handler = handler_for(BARYON, "StartDriftCheck")
    assert handler is not None
    runtime = signed_in.runtime
    context = in_process.context(
        runtime, in_process.portal_caller(_developer(signed_in)), "StartDriftCheck"
    )
    instance = {
        "resourceType": "SERVICE_INSTANCE",
        "serviceName": "shop",
        "serviceInstanceName": "one",
    }
    environment = {"resourceType": "ENVIRONMENT", "environmentName": "dev"}

    with pytest.raises(Forbidden) as refused:
        handler(context, {"resources": [instance, environment]})
    assert "environment/dev" in refused.value.message
    # The instance alone gets past the policies (and is then not found: it does not exist).
    with pytest.raises(NotFound):
        handler(context, {"resources": [instance]})
    with pytest.raises(Forbidden):
        handler(context, {"templateName": "webapp", "templateType": "SERVICE"})
    with runtime.db.session() as session:
        # Only the check the environment's drift came from: none of these asked for one.
        assert len(session.scalars(select(DriftCheckRow)).all()) == 1
