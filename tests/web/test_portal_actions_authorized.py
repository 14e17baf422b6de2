"""Every portal action that changes a deployed resource goes through the API's registered
operation, so it is authorized and audited as a boto3 call would be: a viewer (T1's role) is
refused each with the 403 page, nothing changes, and the denial is in the audit trail under
the portal's door; an admin's same post goes through (so each refusal is the policy's).

No worker runs: each deployment is ended as a worker would end it (outcomes.record).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.auth.roles import BuiltinRole
from baryon.domain import outcomes
from baryon.operations.portal_passwords import hash_password
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store.tables import AuditRecordRow, Deployment
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import PASSWORD, ROLE, USER, Portal, add_version, finish

# Authorization is decided the same way on both engines; one is enough here.
pytestmark = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)

VIEWER = "vic"
PAGE = "/portal/environments/dev"


def _deployed(admin: Portal) -> None:
    created = admin.post(
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
    assert created.status_code == 303, created.text
    assert finish(admin.runtime) == 1


def _published_minor(admin: Portal) -> None:
    _deployed(admin)
    add_version(admin.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)


def _updating(admin: Portal) -> None:
    _deployed(admin)
    edit = admin.post(f"{PAGE}/edit", {"mode": "form", "input-size": "large"})
    assert edit.status_code == 303, edit.text


def _failed(admin: Portal, *, rollback_failed: bool = False) -> str:
    _updating(admin)
    with admin.runtime.db.session() as session:
        running = session.scalars(
            select(Deployment.id).where(Deployment.status == "IN_PROGRESS")
        ).one()
    with admin.runtime.db.session(write=True) as session:
        outcomes.record(
            session,
            admin.runtime.arns,
            running,
            outcomes.Result("FAILED", "Bucket UPDATE_FAILED", rollback_failed=rollback_failed),
            datetime.now(UTC),
        )
    return running


@dataclass(frozen=True)
class Action:
    """A portal post, the state it needs (made by the admin) and the operation it calls."""

    path: str
    operation: str
    prepare: Callable[[Portal], dict[str, str]]
    service: str = "proton"


ACTIONS = {
    "edit the spec": Action(
        f"{PAGE}/edit",
        "UpdateEnvironment",
        lambda admin: (_deployed(admin), {"mode": "form", "input-size": "large"})[1],
    ),
    "upgrade to a minor": Action(
        f"{PAGE}/upgrade/minor",
        "UpdateEnvironment",
        lambda admin: (_published_minor(admin), {"major": "1", "minor": "1"})[1],
    ),
    "cancel": Action(
        f"{PAGE}/cancel", "CancelEnvironmentDeployment", lambda admin: (_updating(admin), {})[1]
    ),
    "retry": Action(
        f"{PAGE}/retry",
        "RetryDeployment",
        lambda admin: {"deployment": _failed(admin)},
        "baryon",
    ),
    "continue the rollback": Action(
        f"{PAGE}/continue-rollback",
        "ContinueUpdateRollback",
        lambda admin: (_failed(admin, rollback_failed=True), {})[1],
        "baryon",
    ),
    "fleet rollout": Action(
        "/portal/fleet/environment/network/upgrade/minor",
        "UpdateEnvironment",
        lambda admin: (_published_minor(admin), {})[1],
    ),
}


def _deployments(portal: Portal) -> list[tuple[str, str]]:
    with portal.runtime.db.session() as session:
        return [
            (row.id, row.status)
            for row in session.scalars(select(Deployment).order_by(Deployment.id))
        ]


def _as(portal: Portal, name: str) -> None:
    portal.client.cookies.clear()  # a fresh browser
    assert portal.sign_in(name, PASSWORD).status_code == 303


@pytest.mark.parametrize("name", list(ACTIONS))
def test_a_viewer_is_refused_each_portal_action_with_the_403_page(
    signed_in: Portal, name: str
) -> None:
    action = ACTIONS[name]
    form = action.prepare(signed_in)
    with signed_in.runtime.db.session(write=True) as session:
        identities.create_user(
            session,
            VIEWER,
            UserKind.PERSON,
            datetime.now(UTC),
            password_hash=hash_password(PASSWORD),
            roles=(BuiltinRole.VIEWER.value,),
        )
    before = _deployments(signed_in)

    _as(signed_in, VIEWER)
    refused = signed_in.post(action.path, form)
    assert refused.status_code == 403, refused.text
    assert "Not allowed" in refused.text
    assert f"is not authorized to perform: {action.service}:{action.operation}" in refused.text
    assert _deployments(signed_in) == before
    with signed_in.runtime.db.session() as session:
        denied = session.scalars(
            select(AuditRecordRow).where(AuditRecordRow.result == AuditResult.DENIED.value)
        ).all()
    assert [(r.principal, r.door, r.operation) for r in denied] == [
        (f"user/{VIEWER}", AuditDoor.PORTAL.value, action.operation)
    ]

    _as(signed_in, USER)
    allowed = signed_in.post(action.path, form)
    assert allowed.status_code == 303, allowed.text
    assert _deployments(signed_in) != before
