"""The People page: users, robots and teams with their roles, searched by name and paged by
the server (the identity store may hold any number of them); create a team, add or remove a
member, grant or revoke a role. Every action is the baryon model's operation
(operations/identities.py), so the policies decide here as they do for the API: the page hides
the forms a visitor may not use, and the operation refuses them (403) if asked anyway."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from baryon.operations import identities
from baryon.operations.resource_lists import MAX_SEARCH, PAGE_SIZE
from baryon.service_models import baryon
from baryon.web import urls
from baryon.web.http import PortalError, Visit

ROLE_SUGGESTIONS = ("admin", "platform", "developer", "viewer")
# The two lists page apart: each has its own position in the address.
USERS_AFTER, TEAMS_AFTER = "after", "teams_after"


def people_url(action: str | None = None, **query: str) -> str:
    path = urls.PREFIX + "/people" + (f"/{action}" if action else "")
    kept = {key: value for key, value in query.items() if value}
    return path + (f"?{urlencode(kept)}" if kept else "")


def index(visit: Visit) -> Response:
    search = visit.query("q").strip()
    if len(search) > MAX_SEARCH:
        raise PortalError(f"The search is longer than {MAX_SEARCH} characters.")
    users_after, teams_after = visit.query(USERS_AFTER), visit.query(TEAMS_AFTER)
    user_request: baryon.ListUsersInput = {"maxResults": PAGE_SIZE}
    team_request: baryon.ListTeamsInput = {"maxResults": PAGE_SIZE}
    if search:
        user_request["nameContains"] = team_request["nameContains"] = search
    if users_after:
        user_request["nextToken"] = users_after
    if teams_after:
        team_request["nextToken"] = teams_after
    users = identities.list_users(visit.context("ListUsers"), user_request)
    teams = identities.list_teams(visit.context("ListTeams"), team_request)

    def page_of(**positions: str) -> str:
        return people_url(q=search, **positions)

    return visit.page(
        "people.html",
        users=users["users"],
        teams=teams["teams"],
        search=search,
        # Each list pages on its own and keeps the other's position.
        users_first=page_of(teams_after=teams_after) if users_after else None,
        users_next=(
            page_of(after=users["nextToken"], teams_after=teams_after)
            if users.get("nextToken")
            else None
        ),
        teams_first=page_of(after=users_after) if teams_after else None,
        teams_next=(
            page_of(after=users_after, teams_after=teams["nextToken"])
            if teams.get("nextToken")
            else None
        ),
        roles=ROLE_SUGGESTIONS,
        people_url=people_url,
    )


def _field(visit: Visit, name: str, label: str) -> str:
    value = visit.form.get(name, "").strip()
    if not value:
        raise PortalError(f"{label} is required.")
    return value


def _back(visit: Visit) -> str:
    """The page the form was on (its search and positions), else the first."""
    return people_url(
        q=visit.form.get("q", ""),
        after=visit.form.get(USERS_AFTER, ""),
        teams_after=visit.form.get(TEAMS_AFTER, ""),
    )


def create_team(visit: Visit) -> Response:
    request: baryon.CreateTeamInput = {"name": _field(visit, "name", "A team name")}
    description = visit.form.get("description", "").strip()
    if description:
        request["description"] = description
    role = visit.form.get("role", "").strip()
    if role:
        request["roles"] = [role]
    identities.create_team(visit.context("CreateTeam"), request)
    return visit.redirect(_back(visit), f"Created team {request['name']}.")


def add_member(visit: Visit) -> Response:
    team, user = _field(visit, "team", "A team"), _field(visit, "user", "A user")
    answer = identities.add_team_member(
        visit.context("AddTeamMember"), {"teamName": team, "userName": user}
    )
    said = "is now" if answer["changed"] else "already was"
    return visit.redirect(_back(visit), f"{user} {said} a member of {team}.")


def remove_member(visit: Visit) -> Response:
    team, user = _field(visit, "team", "A team"), _field(visit, "user", "A user")
    answer = identities.remove_team_member(
        visit.context("RemoveTeamMember"), {"teamName": team, "userName": user}
    )
    said = "is no longer" if answer["changed"] else "was not"
    return visit.redirect(_back(visit), f"{user} {said} a member of {team}.")


def _role_request(visit: Visit) -> tuple[str, baryon.GrantRoleInput]:
    """Who the form names (a user, a robot or a team) and the role, as GrantRole and
    RevokeRole both take them."""
    role = _field(visit, "role", "A role")
    kind = visit.form.get("kind", "")
    if kind not in ("user", "team"):
        raise PortalError("Choose whether a user (or robot) or a team gets the role.")
    name = _field(visit, "name", "Who gets the role")
    request: baryon.GrantRoleInput = {"role": role}
    if kind == "team":
        request["teamName"] = name
    else:
        request["userName"] = name
    return name, request


def grant_role(visit: Visit) -> Response:
    name, request = _role_request(visit)
    answer = identities.grant_role(visit.context("GrantRole"), request)
    said = "now has" if answer["changed"] else "already had"
    return visit.redirect(_back(visit), f"{name} {said} the role {request['role']}.")


def revoke_role(visit: Visit) -> Response:
    name, request = _role_request(visit)
    answer = identities.revoke_role(visit.context("RevokeRole"), request)
    said = "no longer has" if answer["changed"] else "did not have"
    return visit.redirect(_back(visit), f"{name} {said} the role {request['role']}.")
