"""The People page: an admin sees people, robots and teams, creates a team, adds a member and
grants a role through the baryon model's operations; a user without the roles sees no link
and no forms, and is refused if it posts anyway."""

from __future__ import annotations

from datetime import UTC, datetime

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.operations.portal_users import create_user
from tests.web.conftest import PASSWORD, USER, Portal


def test_an_admin_creates_a_team_adds_a_member_and_grants_a_role(signed_in: Portal) -> None:
    runtime = signed_in.runtime
    with runtime.identity_db.session(write=True) as session:
        identities.create_user(session, "ci-bot", UserKind.ROBOT, datetime.now(UTC))
    page = signed_in.client.get("/portal/people")
    assert page.status_code == 200
    assert 'href="/portal/people"' in page.text and 'id="create-team"' in page.text
    assert "ci-bot" in page.text and USER in page.text

    made = signed_in.post("/portal/people/teams", {"name": "payments", "role": "developer"})
    assert made.status_code == 303
    added = signed_in.post("/portal/people/members", {"team": "payments", "user": "ci-bot"})
    assert added.status_code == 303
    granted = signed_in.post("/portal/people/grants", {"role": "viewer", "grantee": "user:ci-bot"})
    assert granted.status_code == 303
    with runtime.identity_db.session() as session:
        robot = identities.get_user(session, "ci-bot")
        team = identities.get_team(session, "payments")
    assert (robot.roles, robot.teams, team.roles) == (("viewer",), ("payments",), ("developer",))
    page = signed_in.client.get("/portal/people")
    assert '<th scope="row">payments</th><td>developer</td><td>1</td>' in page.text


def test_a_user_without_roles_sees_no_link_or_forms_and_is_refused(portal: Portal) -> None:
    with portal.runtime.db.session(write=True) as session:
        create_user(session, "nobody-much", PASSWORD, datetime.now(UTC))  # not the first: no role
    assert portal.sign_in("nobody-much").status_code == 303
    home = portal.client.get("/portal/")
    assert 'href="/portal/people"' not in home.text
    refused = portal.post("/portal/people/teams", {"name": "sneaky"})
    assert refused.status_code == 403
    with portal.runtime.identity_db.session() as session:
        assert [t.name for t in identities.list_teams(session)] == []


def test_a_viewer_reads_the_page_without_the_forms(portal: Portal) -> None:
    with portal.runtime.db.session(write=True) as session:
        create_user(session, "vera", PASSWORD, datetime.now(UTC))
        identities.grant_user_role(session, "vera", "viewer")
    assert portal.sign_in("vera").status_code == 303
    page = portal.client.get("/portal/people")
    assert page.status_code == 200 and USER in page.text
    assert 'id="create-team"' not in page.text and 'id="grant-role"' not in page.text
