"""Users, robots, teams and role grants through the baryon model: what the API and the portal
call (auth/identities.py holds the rules; ``baryon users|teams`` work on a data directory's
store directly). They are registered operations, so the policies decide who may call them:
the built-in policies give the changes to admins alone, and every role may read them.

Everything lives in the identity database (the home region's), whichever region a call is
signed for, as IAM is global in AWS. A grant, a revocation, a removal from a team or a deleted
user counts from the grantee's next call: every call reads its principal afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import InstrumentedAttribute, Session

from baryon.auth import identities
from baryon.auth.identities import TeamRecord, UserRecord
from baryon.auth.principals import PrincipalKind
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon
from baryon.store.tables import Team, User

_KINDS = {
    baryon.UserKind.PERSON: identities.UserKind.PERSON,
    baryon.UserKind.ROBOT: identities.UserKind.ROBOT,
}


def user_view(user: UserRecord) -> baryon.User:
    view: baryon.User = {
        "name": user.name,
        "kind": baryon.UserKind(user.kind.value.upper()),
        "roles": list(user.roles),
        "teams": list(user.teams),
        "createdAt": user.created_at,
    }
    if user.display_name:
        view["displayName"] = user.display_name
    if user.email:
        view["email"] = user.email
    if user.oidc_issuer:
        view["oidcIssuer"] = user.oidc_issuer
    return view


def team_view(team: TeamRecord, *, members: bool = True) -> baryon.Team:
    view: baryon.Team = {
        "name": team.name,
        "description": team.description,
        "roles": list(team.roles),
        "memberCount": len(team.members),
        "createdAt": team.created_at,
    }
    if members:
        view["members"] = list(team.members)
    return view


def _name_contains(column: InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    """Any case, ``%`` and ``_`` taken literally (the portal's lists search alike)."""
    return func.lower(column).contains(text.lower(), autoescape=True)


@contextmanager
def _identity_session(ctx: RequestContext, *, write: bool = False) -> Iterator[Session]:
    """A transaction in the identity database, its mistakes the model's errors."""
    try:
        with ctx.runtime.identity_db.session(write=write) as session:
            yield session
    except identities.UnknownIdentity as error:
        raise NotFound(error.message) from error
    except identities.IdentityExists as error:
        raise Conflict(error.message, field=("name",)) from error
    except identities.InvalidIdentity as error:
        raise InvalidInput(error.message) from error


# --- users and robots -----------------------------------------------------------------------


@baryon_operation("ListUsers")
def list_users(ctx: RequestContext, request: baryon.ListUsersInput) -> baryon.ListUsersOutput:
    kind = request.get("kind")
    team = request.get("teamName")
    search = request.get("nameContains")
    selection = identities.user_selection(_KINDS[kind] if kind else None, team)
    if search:
        selection = selection.where(_name_contains(User.name, search))
    with _identity_session(ctx) as session:
        rows, next_token = ctx.page(
            session,
            selection,
            [User.name],
            request,
            scope={"kind": kind, "teamName": team, "nameContains": search},
        )
        found = identities.user_records(session, [row[0] for row in rows])
    return {"users": [user_view(user) for user in found], "nextToken": next_token}


@baryon_operation("GetUser")
def get_user(ctx: RequestContext, request: baryon.GetUserInput) -> baryon.GetUserOutput:
    with _identity_session(ctx) as session:
        return {"user": user_view(identities.get_user(session, request["name"]))}


@baryon_operation("CreateUser")
def create_user(ctx: RequestContext, request: baryon.CreateUserInput) -> baryon.CreateUserOutput:
    """Exactly the roles asked for: the CLI's "the first person is an admin" is for a new
    install's first command, and a call through the API always has someone behind it."""
    kind = _KINDS[request.get("kind") or baryon.UserKind.PERSON]
    with _identity_session(ctx, write=True) as session:
        identities.create_user(
            session,
            request["name"],
            kind,
            ctx.now,
            display_name=request.get("displayName"),
            email=request.get("email"),
            roles=request.get("roles") or (),
            teams=request.get("teams") or (),
        )
        return {"user": user_view(identities.get_user(session, request["name"]))}


@baryon_operation("DeleteUser")
def delete_user(ctx: RequestContext, request: baryon.DeleteUserInput) -> baryon.DeleteUserOutput:
    principal = ctx.principal
    if principal.kind in (PrincipalKind.USER, PrincipalKind.ROBOT) and (
        principal.name == request["name"]
    ):
        # The call would cut off the one making it mid-request; another admin (or the CLI on
        # the server's machine) can do it.
        raise Conflict("You cannot delete yourself.", field=("name",))
    with _identity_session(ctx, write=True) as session:
        identities.delete_user(session, request["name"])
    return {}


# --- teams ----------------------------------------------------------------------------------


@baryon_operation("ListTeams")
def list_teams(ctx: RequestContext, request: baryon.ListTeamsInput) -> baryon.ListTeamsOutput:
    search = request.get("nameContains")
    selection = identities.team_selection()
    if search:
        selection = selection.where(_name_contains(Team.name, search))
    with _identity_session(ctx) as session:
        rows, next_token = ctx.page(
            session, selection, [Team.name], request, scope={"nameContains": search}
        )
        found = identities.team_records(session, [row[0] for row in rows])
    return {"teams": [team_view(team, members=False) for team in found], "nextToken": next_token}


@baryon_operation("GetTeam")
def get_team(ctx: RequestContext, request: baryon.GetTeamInput) -> baryon.GetTeamOutput:
    with _identity_session(ctx) as session:
        return {"team": team_view(identities.get_team(session, request["name"]))}


@baryon_operation("CreateTeam")
def create_team(ctx: RequestContext, request: baryon.CreateTeamInput) -> baryon.CreateTeamOutput:
    name = request["name"]
    with _identity_session(ctx, write=True) as session:
        identities.create_team(session, name, ctx.now, request.get("description") or "")
        for role in request.get("roles") or ():
            identities.grant_team_role(session, name, role)
        return {"team": team_view(identities.get_team(session, name))}


@baryon_operation("DeleteTeam")
def delete_team(ctx: RequestContext, request: baryon.DeleteTeamInput) -> baryon.DeleteTeamOutput:
    with _identity_session(ctx, write=True) as session:
        identities.delete_team(session, request["name"])
    return {}


@baryon_operation("AddTeamMember")
def add_team_member(
    ctx: RequestContext, request: baryon.AddTeamMemberInput
) -> baryon.AddTeamMemberOutput:
    with _identity_session(ctx, write=True) as session:
        changed = identities.add_member(session, request["teamName"], request["userName"])
    return {"changed": changed}


@baryon_operation("RemoveTeamMember")
def remove_team_member(
    ctx: RequestContext, request: baryon.RemoveTeamMemberInput
) -> baryon.RemoveTeamMemberOutput:
    with _identity_session(ctx, write=True) as session:
        changed = identities.remove_member(session, request["teamName"], request["userName"])
    return {"changed": changed}


# --- role grants ----------------------------------------------------------------------------


@baryon_operation("GrantRole")
def grant_role(ctx: RequestContext, request: baryon.GrantRoleInput) -> baryon.GrantRoleOutput:
    user, team = _grantee(request)
    with _identity_session(ctx, write=True) as session:
        if user is not None:
            changed = identities.grant_user_role(session, user, request["role"])
        else:
            changed = identities.grant_team_role(session, team, request["role"])
    return {"changed": changed}


@baryon_operation("RevokeRole")
def revoke_role(ctx: RequestContext, request: baryon.RevokeRoleInput) -> baryon.RevokeRoleOutput:
    user, team = _grantee(request)
    with _identity_session(ctx, write=True) as session:
        if user is not None:
            changed = identities.revoke_user_role(session, user, request["role"])
        else:
            changed = identities.revoke_team_role(session, team, request["role"])
    return {"changed": changed}


def _grantee(request: baryon.GrantRoleInput | baryon.RevokeRoleInput) -> tuple[str | None, str]:
    """(user, None) or (None, team): exactly one of them must be named."""
    user, team = request.get("userName"), request.get("teamName")
    if (user is None) == (team is None):
        raise InvalidInput("Name exactly one of userName and teamName.", field=("userName",))
    return user, team or ""
