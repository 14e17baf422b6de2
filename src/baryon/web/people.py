"""The People page: users, robots and teams with their roles; create a team, add a member,
grant a role. Every action is the baryon model's operation (operations/identities.py), so
the policies decide here as they do for the API: the page hides the forms a visitor may not
use, and the operation refuses them if asked anyway."""

from __future__ import annotations

from starlette.responses import Response

from baryon.operations import identities
from baryon.service_models import baryon
from baryon.web import urls
from baryon.web.http import PortalError, Visit

PAGE_SIZE = 100  # per list; the page says when there are more (the API pages them all)
ROLE_SUGGESTIONS = ("admin", "platform", "developer", "viewer")


def people_url(action: str | None = None) -> str:
    return urls.PREFIX + "/people" + (f"/{action}" if action else "")


def index(visit: Visit) -> Response:
    users = identities.list_users(visit.context("ListUsers"), {"maxResults": PAGE_SIZE})
    teams = identities.list_teams(visit.context("ListTeams"), {"maxResults": PAGE_SIZE})
    return visit.page(
        "people.html",
        people=[u for u in users["users"] if u["kind"] == baryon.UserKind.PERSON],
        robots=[u for u in users["users"] if u["kind"] == baryon.UserKind.ROBOT],
        more_users=bool(users.get("nextToken")),
        teams=teams["teams"],
        more_teams=bool(teams.get("nextToken")),
        roles=ROLE_SUGGESTIONS,
        people_url=people_url,
    )


def _field(visit: Visit, name: str, label: str) -> str:
    value = visit.form.get(name, "").strip()
    if not value:
        raise PortalError(f"{label} is required.")
    return value


def create_team(visit: Visit) -> Response:
    request: baryon.CreateTeamInput = {"name": _field(visit, "name", "A team name")}
    description = visit.form.get("description", "").strip()
    if description:
        request["description"] = description
    role = visit.form.get("role", "").strip()
    if role:
        request["roles"] = [role]
    identities.create_team(visit.context("CreateTeam"), request)
    return visit.redirect(people_url(), f"Created team {request['name']}.")


def add_member(visit: Visit) -> Response:
    team, user = _field(visit, "team", "A team"), _field(visit, "user", "A user")
    answer = identities.add_team_member(
        visit.context("AddTeamMember"), {"teamName": team, "userName": user}
    )
    said = "is now" if answer["changed"] else "already was"
    return visit.redirect(people_url(), f"{user} {said} a member of {team}.")


def grant_role(visit: Visit) -> Response:
    role = _field(visit, "role", "A role")
    grantee = _field(visit, "grantee", "Who gets the role")
    kind, _, name = grantee.partition(":")
    request: baryon.GrantRoleInput = {"role": role}
    if kind == "team" and name:
        request["teamName"] = name
    elif kind == "user" and name:
        request["userName"] = name
    else:
        raise PortalError("Choose a user, a robot or a team to grant the role to.")
    answer = identities.grant_role(visit.context("GrantRole"), request)
    said = "now has" if answer["changed"] else "already had"
    return visit.redirect(people_url(), f"{name} {said} the role {role}.")
