"""The portal's ways out of a failed deployment: a resource whose update failed with its
rollback shows a "Continue rollback" form (with the resources it may skip) and, once the
rollback is done, a "Retry" button; both call the same operations as the baryon API.

No worker runs here: each deployment is ended as a worker would end it (outcomes.record).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from baryon.domain import deployments, outcomes
from baryon.domain.deployments import Provisioned
from baryon.domain.plan import RecoveryPlan
from baryon.store.tables import Deployment, Environment
from tests.web.conftest import ROLE, Portal

ENV_URL = "/portal/new/environment?template=network&version=1.0"
PAGE = "/portal/environments/dev"


def _end_running(portal: Portal, result: outcomes.Result) -> Deployment:
    """Ends the one deployment in flight with ``result``; returns it as recorded."""
    with portal.runtime.db.session() as session:
        running = session.scalars(
            select(Deployment.id).where(Deployment.status == "IN_PROGRESS")
        ).one()
    with portal.runtime.db.session(write=True) as session:
        outcomes.record(session, portal.runtime.arns, running, result, datetime.now(UTC))
    with portal.runtime.db.session() as session:
        ended = session.get(Deployment, running)
        assert ended is not None
        session.expunge(ended)
        return ended


def _failed_with_its_rollback(signed_in: Portal) -> Deployment:
    created = signed_in.post(
        ENV_URL,
        {
            "mode": "form",
            "name": "dev",
            "description": "",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert created.status_code == 303, created.text
    resources = [
        Provisioned("Bucket", "dev-artifacts", "CLOUDFORMATION"),
        Provisioned("Cluster", "dev-cluster", "CLOUDFORMATION", simulated=True),
    ]
    _end_running(signed_in, outcomes.Result("SUCCEEDED", resources=resources))
    edit = signed_in.post(f"{PAGE}/edit", {"mode": "form", "input-size": "large"})
    assert edit.status_code == 303
    return _end_running(
        signed_in,
        outcomes.Result(
            "FAILED",
            "Bucket (AWS::S3::Bucket) UPDATE_FAILED: NoSuchBucket",
            rollback_failed=True,
        ),
    )


def test_a_simulated_resource_is_marked_on_the_resource_page(signed_in: Portal) -> None:
    _failed_with_its_rollback(signed_in)
    page = signed_in.client.get(PAGE).text
    cluster_row = page[page.index('<th scope="row">Cluster</th>') :]
    bucket_row = page[page.index('<th scope="row">Bucket</th>') :]
    assert 'class="simulated"' in cluster_row.split("</tr>")[0]
    assert 'class="simulated"' not in bucket_row.split("</tr>")[0]


def test_a_failed_rollback_is_continued_then_the_update_retried_from_the_page(
    signed_in: Portal,
) -> None:
    failed = _failed_with_its_rollback(signed_in)
    page = signed_in.client.get(PAGE).text
    assert "continue-rollback --environment dev" in page  # the status message says what to run
    assert 'id="continue-rollback"' in page and 'id="retry-deployment"' not in page
    assert 'name="skip" value="Bucket"' in page and 'name="skip" value="Cluster"' in page

    assert signed_in.post(f"{PAGE}/continue-rollback", {"skip": "Bucket"}).status_code == 303
    with signed_in.runtime.db.session() as session:
        recovery = session.scalars(
            select(Deployment).where(Deployment.status == "IN_PROGRESS")
        ).one()
        assert recovery.operation == "RECOVER"
        assert deployments.plan_of(recovery) == RecoveryPlan(("Bucket",))
    busy = signed_in.client.get(PAGE).text
    assert 'id="continue-rollback"' not in busy

    _end_running(signed_in, outcomes.Result("SUCCEEDED"))
    recovered = signed_in.client.get(PAGE).text
    assert 'id="continue-rollback"' not in recovered
    assert f'name="deployment" value="{failed.id}"' in recovered

    assert signed_in.post(f"{PAGE}/retry", {"deployment": failed.id}).status_code == 303
    with signed_in.runtime.db.session() as session:
        retried = session.scalars(
            select(Deployment).where(Deployment.status == "IN_PROGRESS")
        ).one()
        assert retried.id != failed.id and retried.operation == "DEPLOY"
        original = session.get(Deployment, failed.id)
        assert original is not None and retried.target_state == original.target_state
        assert session.scalars(select(Environment)).one().deployment_status == "IN_PROGRESS"


def test_continuing_a_rollback_that_did_not_fail_is_refused_with_the_reason(
    signed_in: Portal,
) -> None:
    created = signed_in.post(
        ENV_URL,
        {
            "mode": "form",
            "name": "dev",
            "description": "",
            "role": ROLE,
            "input-vpc_cidr": "10.0.0.0/16",
            "input-size": "small",
        },
    )
    assert created.status_code == 303
    _end_running(signed_in, outcomes.Result("SUCCEEDED"))
    refused = signed_in.post(f"{PAGE}/continue-rollback")
    assert refused.status_code == 303
    assert "no failed rollback to continue" in signed_in.client.get(PAGE).text
    with signed_in.runtime.db.session() as session:
        assert session.scalars(select(Deployment)).all()[0].operation == "DEPLOY"
        assert len(session.scalars(select(Deployment)).all()) == 1
