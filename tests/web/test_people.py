"""The People page: an admin sees people, robots and teams, creates a team, adds and removes a
member, grants and revokes a role through the baryon model's operations; the lists are searched
and paged by the server; a user without the roles sees no link and no forms (a viewer no
remove or revoke buttons), and is refused if it posts anyway."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from baryon.auth import identities
from baryon.auth.identities import UserKind
from baryon.operations.portal_users import create_user
from baryon.operations.resource_lists import PAGE_SIZE
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
    granted = signed_in.post(
        "/portal/people/grants", {"role": "viewer", "kind": "user", "name": "ci-bot"}
    )
    assert granted.status_code == 303
    with runtime.identity_db.session() as session:
        robot = identities.get_user(session, "ci-bot")
        team = identities.get_team(session, "payments")
    assert (robot.roles, robot.teams, team.roles) == (("viewer",), ("payments",), ("developer",))
    page = signed_in.client.get("/portal/people")
    assert 'id="revoke-team-payments-developer"' in page.text
    assert 'id="revoke-user-ci-bot-viewer"' in page.text
    assert 'id="remove-ci-bot-from-payments"' in page.text

    removed = signed_in.post(
        "/portal/people/members/remove", {"team": "payments", "user": "ci-bot"}
    )
    assert removed.status_code == 303
    revoked = signed_in.post(
        "/portal/people/grants/revoke", {"role": "developer", "kind": "team", "name": "payments"}
    )
    assert revoked.status_code == 303
    with runtime.identity_db.session() as session:
        robot = identities.get_user(session, "ci-bot")
        team = identities.get_team(session, "payments")
    assert (robot.roles, robot.teams, team.roles, team.members) == (("viewer",), (), (), ())


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
    assert "revoke-user-" not in page.text and "remove-" not in page.text
    # The first user is an admin with its own grant: a viewer may not take it away.
    refused = portal.post(
        "/portal/people/grants/revoke", {"role": "admin", "kind": "user", "name": USER}
    )
    assert refused.status_code == 403
    with portal.runtime.identity_db.session(write=True) as session:
        identities.create_team(session, "ops", datetime.now(UTC), "")
        identities.add_member(session, "ops", USER)
    refused = portal.post("/portal/people/members/remove", {"team": "ops", "user": USER})
    assert refused.status_code == 403
    with portal.runtime.identity_db.session() as session:
        assert identities.get_user(session, USER).roles == ("admin",)
        assert identities.get_team(session, "ops").members == (USER,)


def test_the_lists_are_searched_and_paged_by_the_server(signed_in: Portal) -> None:
    now = datetime.now(UTC)
    with signed_in.runtime.identity_db.session(write=True) as session:
        for number in range(PAGE_SIZE + 5):
            identities.create_user(session, f"bot-{number:03d}", UserKind.ROBOT, now)
            identities.create_team(session, f"squad-{number:03d}", now, "")
    first = signed_in.client.get("/portal/people")
    assert "bot-000" in first.text and f"bot-{PAGE_SIZE:03d}" not in first.text
    assert "squad-000" in first.text and f"squad-{PAGE_SIZE:03d}" not in first.text
    users_next = re.search(r'id="users-next-page"|href="([^"]+)" id="users-next-page"', first.text)
    assert users_next is not None and users_next.group(1)
    second = signed_in.client.get(html.unescape(users_next.group(1)))
    assert f"bot-{PAGE_SIZE + 4:03d}" in second.text and "bot-000<" not in second.text
    assert "squad-000" in second.text  # the teams stay on their first page
    assert 'id="users-first-page"' in second.text

    found = signed_in.client.get("/portal/people", params={"q": "BOT-01"})
    rows = re.findall(r'<th scope="row">(bot-\d+)', found.text)
    assert rows == [f"bot-{n:03d}" for n in range(10, 20)]
    assert 'No team\'s name contains "BOT-01"' in found.text
    assert not re.findall(r'<th scope="row">squad-', found.text)
    assert 'id="users-next-page"' not in found.text
