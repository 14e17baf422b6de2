"""The portal offers only what the policies allow: a viewer sees no fleet upgrade, no create
button in the catalog, no audit link, and the fleet upgrade page offers it no confirm button;
a platform engineer sees them all. Asking anyway is tests/web/test_portal_actions_authorized.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.auth.roles import BuiltinRole
from baryon.operations.portal_passwords import hash_password
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.web.conftest import PASSWORD, ROLE, Portal, add_version, finish

pytestmark = pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)

FLEET_UPGRADE = "/portal/fleet/environment/network/upgrade/minor"


def _as(portal: Portal, name: str, role: BuiltinRole) -> None:
    with portal.runtime.db.session(write=True) as session:
        identities.create_user(
            session,
            name,
            UserKind.PERSON,
            datetime.now(UTC),
            password_hash=hash_password(PASSWORD),
            roles=(role.value,),
        )
    portal.client.cookies.clear()  # a fresh browser
    assert portal.sign_in(name, PASSWORD).status_code == 303


@pytest.fixture
def fleet_behind_a_minor(signed_in: Portal) -> Portal:
    created = signed_in.post(
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
    assert finish(signed_in.runtime) == 1
    add_version(signed_in.runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA, minor=1)
    return signed_in


@pytest.mark.parametrize(
    ("role", "offered"),
    [(BuiltinRole.PLATFORM, True), (BuiltinRole.VIEWER, False)],
    ids=["platform", "viewer"],
)
def test_fleet_upgrades_catalog_creation_and_the_audit_link_follow_the_policies(
    fleet_behind_a_minor: Portal, role: BuiltinRole, offered: bool
) -> None:
    portal = fleet_behind_a_minor
    _as(portal, f"someone-{role}", role)

    fleet = portal.client.get("/portal/fleet")
    assert fleet.status_code == 200
    assert ('id="upgrade-environment-network-environment-minor"' in fleet.text) is offered
    assert ('href="/portal/audit"' in fleet.text) is offered

    upgrade = portal.client.get(FLEET_UPGRADE)
    assert upgrade.status_code == 200
    assert ('id="confirm-fleet-upgrade"' in upgrade.text) is offered
    assert ('id="fleet-upgrade-not-allowed"' in upgrade.text) is not offered

    catalog = portal.client.get("/portal/templates")
    assert catalog.status_code == 200
    assert (">Create environment</a>" in catalog.text) is offered
    version = portal.client.get("/portal/templates/environment/network/1.1")
    assert version.status_code == 200
    assert ("Create an environment from 1.1" in version.text) is offered
