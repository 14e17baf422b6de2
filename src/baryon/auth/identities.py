"""Users, robots and teams, the roles granted to them, and the principal a caller stands for.

A user is a person (who signs in to the portal with a password or OpenID Connect) or a robot
(which only has access keys). Teams hold users; roles are granted to users and to teams, and a
principal's roles are its own grants plus its teams'. Everything here lives in the identity
database (the home region's, ``Runtime.identity_db``), as IAM is global in AWS.

Functions taking a ``Session`` run inside the caller's transaction; ``principal_for`` reads
with a bare connection, once per request.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    String,
    bindparam,
    cast,
    delete,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.auth.access_keys import StoredKey, open_sealed
from baryon.auth.master_key import SecretBox
from baryon.auth.principals import PORTAL_PREFIX, Principal, PrincipalKind
from baryon.auth.roles import BuiltinRole
from baryon.auth.scoped_keys import is_scoped_key_id
from baryon.store.database import Database
from baryon.store.tables import (
    AccessKey,
    PolicyGeneration,
    ScopedAccessKey,
    Team,
    TeamMember,
    TeamRoleGrant,
    User,
    UserRoleGrant,
)

# The same names as portal users always had (operations/portal_users.py): fullmatch only.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
ROLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
MAX_DESCRIPTION = 1024

# The robot that keys of nobody act as (keys made before keys had owners, and keys made
# without --user): it has the admin role whatever the grants say.
BUILTIN_ROBOT = "admin"
BUILTIN_ROBOT_PRINCIPAL = Principal(
    PrincipalKind.ROBOT, BUILTIN_ROBOT, roles=frozenset({BuiltinRole.ADMIN.value})
)


class UserKind(StrEnum):
    PERSON = "person"  # signs in to the portal (password or OpenID Connect), may have keys
    ROBOT = "robot"  # access keys only: a pipeline, a script


class IdentityError(Exception):
    """A user, team or grant cannot be made or changed; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidIdentity(IdentityError):
    """A name, role or description that is not allowed."""


class IdentityExists(IdentityError):
    """The user or team already exists."""


class UnknownIdentity(IdentityError):
    """No such user or team."""


@dataclass(frozen=True)
class UserRecord:
    name: str
    kind: UserKind
    created_at: datetime
    display_name: str | None = None
    email: str | None = None
    oidc_issuer: str | None = None  # set for people who sign in with OpenID Connect
    roles: tuple[str, ...] = ()  # granted to the user itself, not through teams
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeamRecord:
    name: str
    description: str
    created_at: datetime
    members: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


def check_name(name: str, what: str = "user") -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidIdentity(
            f"A {what} name has 1 to 64 characters: letters, digits, '.', '_', '@' and '-', "
            "starting with a letter or a digit."
        )


def check_role(role: str) -> None:
    if not ROLE_PATTERN.fullmatch(role):
        raise InvalidIdentity(
            f"The role {role[:80]!r} is not a role name: 1 to 64 letters, digits, '.', '_' "
            "and '-', starting with a letter or a digit (built-in roles: "
            + ", ".join(r.value for r in BuiltinRole)
            + ")."
        )


# --- users and robots -----------------------------------------------------------------------


def create_user(
    session: Session,
    name: str,
    kind: UserKind,
    now: datetime,
    *,
    password_hash: str = "",
    display_name: str | None = None,
    email: str | None = None,
    oidc: tuple[str, str] | None = None,
    roles: Collection[str] | None = None,
    teams: Iterable[str] = (),
) -> int:
    """A new user's id. ``roles`` None: admin when it is the first person (so that a new
    install's first ``baryon users create`` can do everything), else none. ``oidc`` is the
    (issuer, subject) the person signs in as. Teams must exist."""
    check_name(name)
    for role in roles or ():
        check_role(role)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise IdentityExists(f"The user '{name}' already exists.")
    if roles is None:
        first = kind is UserKind.PERSON and not _any_person(session)
        roles = (BuiltinRole.ADMIN.value,) if first else ()
    team_ids = [_team_id(session, team) for team in teams]
    user = User(
        name=name,
        kind=kind.value,
        password_hash=password_hash if kind is UserKind.PERSON else "",
        display_name=display_name[:256] if display_name else None,
        email=email[:320] if email else None,
        oidc_issuer=oidc[0] if oidc else None,
        oidc_subject=oidc[1] if oidc else None,
        failed_sign_ins=0,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name or identity
        raise IdentityExists(f"The user '{name}' already exists.") from exc
    session.add_all(UserRoleGrant(user_id=user.id, role=role) for role in set(roles))
    session.add_all(TeamMember(team_id=team_id, user_id=user.id) for team_id in set(team_ids))
    return user.id


def _any_person(session: Session) -> bool:
    return (
        session.scalar(select(User.id).where(User.kind == UserKind.PERSON.value).limit(1))
        is not None
    )


def user_id(session: Session, name: str) -> int:
    found = session.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise UnknownIdentity(f"There is no user '{name}'.")
    return found


def get_user(session: Session, name: str) -> UserRecord:
    row = session.scalars(select(User).where(User.name == name)).first()
    if row is None:
        raise UnknownIdentity(f"There is no user '{name}'.")
    return user_records(session, [row])[0]


def list_users(session: Session) -> list[UserRecord]:
    return user_records(session, list(session.scalars(select(User).order_by(User.name))))


def user_selection(kind: UserKind | None = None, team: str | None = None) -> Select[tuple[User]]:
    """The users (of one kind, in one team) for a caller that pages them itself."""
    stmt = select(User)
    if kind is not None:
        stmt = stmt.where(User.kind == kind.value)
    if team is not None:
        members = (
            select(TeamMember.user_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.name == team)
        )
        stmt = stmt.where(User.id.in_(members))
    return stmt


def user_records(session: Session, rows: list[User]) -> list[UserRecord]:
    """``rows`` as records, with their grants and teams read in two queries for them all."""
    ids = [row.id for row in rows]
    roles: dict[int, list[str]] = {}
    teams: dict[int, list[str]] = {}
    if ids:
        for uid, role in session.execute(
            select(UserRoleGrant.user_id, UserRoleGrant.role)
            .where(UserRoleGrant.user_id.in_(ids))
            .order_by(UserRoleGrant.role)
        ):
            roles.setdefault(uid, []).append(role)
        for uid, team in session.execute(
            select(TeamMember.user_id, Team.name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.user_id.in_(ids))
            .order_by(Team.name)
        ):
            teams.setdefault(uid, []).append(team)
    return [
        UserRecord(
            name=row.name,
            kind=UserKind(row.kind),
            created_at=row.created_at,
            display_name=row.display_name,
            email=row.email,
            oidc_issuer=row.oidc_issuer,
            roles=tuple(roles.get(row.id, ())),
            teams=tuple(teams.get(row.id, ())),
        )
        for row in rows
    ]


def delete_user(session: Session, name: str) -> None:
    """Its access keys, sessions, memberships and grants go with it (foreign keys cascade):
    a key must never outlive its owner and fall back to acting as the built-in robot."""
    uid = user_id(session, name)
    session.execute(delete(AccessKey).where(AccessKey.owner_id == uid))
    session.execute(delete(User).where(User.id == uid))


def grant_user_role(session: Session, name: str, role: str) -> bool:
    """False when the user already had the role."""
    check_role(role)
    uid = user_id(session, name)
    return _add_grant(session, UserRoleGrant(user_id=uid, role=role), (uid, role))


def revoke_user_role(session: Session, name: str, role: str) -> bool:
    """False when the user did not have the role (through a team does not count)."""
    uid = user_id(session, name)
    result = session.execute(
        delete(UserRoleGrant).where(UserRoleGrant.user_id == uid, UserRoleGrant.role == role)
    )
    return result.rowcount > 0


def _add_grant(
    session: Session, grant: UserRoleGrant | TeamRoleGrant, key: tuple[int, str]
) -> bool:
    """Adds ``grant`` (of primary key ``key``) unless it is there already: False then."""
    if session.get(type(grant), key) is not None:
        return False
    session.add(grant)
    return True


# --- teams ----------------------------------------------------------------------------------


def create_team(session: Session, name: str, now: datetime, description: str = "") -> int:
    check_name(name, "team")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidIdentity(f"A team description has at most {MAX_DESCRIPTION} characters.")
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise IdentityExists(f"The team '{name}' already exists.")
    team = Team(name=name, description=description, created_at=now)
    session.add(team)
    try:
        session.flush()
    except IntegrityError as exc:
        raise IdentityExists(f"The team '{name}' already exists.") from exc
    return team.id


def _team_id(session: Session, name: str) -> int:
    found = session.scalar(select(Team.id).where(Team.name == name))
    if found is None:
        raise UnknownIdentity(f"There is no team '{name}'.")
    return found


def get_team(session: Session, name: str) -> TeamRecord:
    row = session.scalars(select(Team).where(Team.name == name)).first()
    if row is None:
        raise UnknownIdentity(f"There is no team '{name}'.")
    return team_records(session, [row])[0]


def list_teams(session: Session) -> list[TeamRecord]:
    return team_records(session, list(session.scalars(select(Team).order_by(Team.name))))


def team_selection() -> Select[tuple[Team]]:
    """The teams, for a caller that pages them itself."""
    return select(Team)


def team_records(session: Session, rows: list[Team]) -> list[TeamRecord]:
    """``rows`` as records, with their members and grants read in two queries for them all."""
    ids = [row.id for row in rows]
    members: dict[int, list[str]] = {}
    roles: dict[int, list[str]] = {}
    if ids:
        for tid, user in session.execute(
            select(TeamMember.team_id, User.name)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id.in_(ids))
            .order_by(User.name)
        ):
            members.setdefault(tid, []).append(user)
        for tid, role in session.execute(
            select(TeamRoleGrant.team_id, TeamRoleGrant.role)
            .where(TeamRoleGrant.team_id.in_(ids))
            .order_by(TeamRoleGrant.role)
        ):
            roles.setdefault(tid, []).append(role)
    return [
        TeamRecord(
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            members=tuple(members.get(row.id, ())),
            roles=tuple(roles.get(row.id, ())),
        )
        for row in rows
    ]


def delete_team(session: Session, name: str) -> None:
    session.execute(delete(Team).where(Team.id == _team_id(session, name)))


def add_member(session: Session, team: str, user: str) -> bool:
    """False when the user was already a member. A membership given here stays whatever an
    OpenID Connect provider later says of the user's groups."""
    key = (_team_id(session, team), user_id(session, user))
    member = session.get(TeamMember, key)
    if member is not None:
        changed = member.from_sign_in
        member.from_sign_in = False
        return changed
    session.add(TeamMember(team_id=key[0], user_id=key[1], from_sign_in=False))
    return True


def remove_member(session: Session, team: str, user: str) -> bool:
    result = session.execute(
        delete(TeamMember).where(
            TeamMember.team_id == _team_id(session, team),
            TeamMember.user_id == user_id(session, user),
        )
    )
    return result.rowcount > 0


def grant_team_role(session: Session, team: str, role: str) -> bool:
    check_role(role)
    tid = _team_id(session, team)
    return _add_grant(session, TeamRoleGrant(team_id=tid, role=role), (tid, role))


def revoke_team_role(session: Session, team: str, role: str) -> bool:
    tid = _team_id(session, team)
    result = session.execute(
        delete(TeamRoleGrant).where(TeamRoleGrant.team_id == tid, TeamRoleGrant.role == role)
    )
    return result.rowcount > 0


# --- OpenID Connect people ------------------------------------------------------------------


def oidc_user(session: Session, issuer: str, subject: str) -> tuple[int, str] | None:
    """The (id, name) of the person who signs in as ``subject`` at ``issuer``, if known."""
    row = session.execute(
        select(User.id, User.name).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    ).first()
    return None if row is None else (row.id, row.name)


def free_user_name(session: Session, wanted: str) -> str:
    """``wanted`` made a valid user name nobody has: a provider's name never takes over an
    existing user (``alice`` at the provider is ``alice-2`` here if a local alice exists)."""
    base = re.sub(r"[^A-Za-z0-9._@-]", "-", wanted)[:56].lstrip("._@-") or "user"
    taken = set(
        session.scalars(select(User.name).where(User.name.like(base.replace("%", "") + "%")))
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def set_sign_in_teams(session: Session, uid: int, teams: Collection[str], now: datetime) -> None:
    """Makes the user's memberships from sign-in exactly ``teams`` (creating missing teams);
    memberships given by hand are kept."""
    wanted: dict[str, int] = {}
    for name in teams:
        if not NAME_PATTERN.fullmatch(name):
            continue  # a group that cannot be a team name is ignored, never fatal
        tid = session.scalar(select(Team.id).where(Team.name == name))
        if tid is None:
            tid = create_team(session, name, now, "Made by an OpenID Connect sign-in.")
        wanted[name] = tid
    current = {
        m.team_id: m for m in session.scalars(select(TeamMember).where(TeamMember.user_id == uid))
    }
    for tid, member in current.items():
        if member.from_sign_in and tid not in wanted.values():
            session.delete(member)
    for tid in wanted.values():
        if tid not in current:
            session.add(TeamMember(team_id=tid, user_id=uid, from_sign_in=True))


# --- who a caller is ------------------------------------------------------------------------


def _facts(owner: Select[Any]) -> list[Select[Any]]:
    """Rows (what, value, NULL) saying who the user ``owner`` selects is: 'name' and 'kind',
    then one 'role' or 'team' row for each own grant, each team, and each team's grant. The
    third column is the key statement's secret (see ``_BY_KEY``), NULL in every fact row."""
    uid = owner.scalar_subquery()
    return [
        select(literal_column("'name'"), User.name, null()).where(User.id == uid),
        select(literal_column("'kind'"), User.kind, null()).where(User.id == uid),
        select(literal_column("'role'"), UserRoleGrant.role, null()).where(
            UserRoleGrant.user_id == uid
        ),
        select(literal_column("'team'"), Team.name, null())
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == uid),
        select(literal_column("'role'"), TeamRoleGrant.role, null())
        .join(TeamMember, TeamMember.team_id == TeamRoleGrant.team_id)
        .where(TeamMember.user_id == uid),
    ]


_KEY_ID = bindparam("key_id")
_PORTAL_NAME = bindparam("name")
# One statement per request, each part an indexed lookup (the key id and user name are unique,
# grants and memberships are keyed by user).
_KEY_PARTS = (
    # 'key' row: the key exists; its value the account it acts for (None: the management one),
    # its third column the sealed secret, so that the API's signature check and the principal
    # are one read (``key_and_principal``); 'owned' row: it has an owner. The first part
    # gives the union its column types: the secret's is binary on both engines.
    select(literal_column("'key'"), AccessKey.account_id, AccessKey.secret_ciphertext).where(
        AccessKey.access_key_id == _KEY_ID
    ),
    select(literal_column("'owned'"), null(), null()).where(
        AccessKey.access_key_id == _KEY_ID, AccessKey.owner_id.is_not(None)
    ),
    *_facts(select(AccessKey.owner_id).where(AccessKey.access_key_id == _KEY_ID)),
)
_BY_KEY = union_all(*_KEY_PARTS)
# The API's statement adds the policy generation of the same database (auth/policies/
# stored.py), which every decision needs afresh: one round trip answers the signature check,
# who the caller is and which policies are in force.
_GENERATION = "generation"
_GENERATION_PART = select(
    literal_column(f"'{_GENERATION}'"), cast(PolicyGeneration.generation, String), null()
).where(PolicyGeneration.id == 1)
_BY_KEY_FOR_API = union_all(*_KEY_PARTS, _GENERATION_PART)
_PORTAL_PARTS = _facts(select(User.id).where(User.name == _PORTAL_NAME))
_BY_PORTAL_NAME = union_all(*_PORTAL_PARTS)
# The portal's visit reads its user with the generation, as the API reads a key with it.
_BY_PORTAL_NAME_FOR_VISIT = union_all(*_PORTAL_PARTS, _GENERATION_PART)
_SCOPED_KEY = select(ScopedAccessKey.resource_arn).where(ScopedAccessKey.access_key_id == _KEY_ID)

# (what, value, sealed secret or None)
_FactRows = Sequence[Row[Any]]


def principal_for(db: Database, caller: str) -> Principal:
    """The principal a request's caller stands for: ``portal:<user name>`` for a signed-in
    portal user, else the id of the access key that signed it. A caller that is none of
    those (a key deleted mid-request) is a user with no roles: it may do nothing."""
    with db.single_read() as connection:
        if caller.startswith(PORTAL_PREFIX):
            name = caller[len(PORTAL_PREFIX) :]
            rows = connection.execute(_BY_PORTAL_NAME, {"name": name}).all()
            return _principal(name, rows)
        if is_scoped_key_id(caller):
            arn = connection.execute(_SCOPED_KEY, {"key_id": caller}).scalar()
            return Principal(PrincipalKind.PROGRAM, arn or caller)
        rows = connection.execute(_BY_KEY, {"key_id": caller}).all()
    return _key_principal(caller, rows)


@dataclass(frozen=True)
class VisitorAndGeneration:
    """A portal visitor's principal and the policy generation of the identity database
    (None when it has no such row yet), read together."""

    principal: Principal
    policy_generation: int | None


def visitor_and_generation(db: Database, user_name: str) -> VisitorAndGeneration:
    """``principal_for`` a portal user (``portal:<user_name>``; "" for a visitor not signed in)
    and the policy generation in one statement, for a portal visit: read afresh by every
    visit, as the API reads its key, so an edit or a revoked role counts from the next page."""
    with db.single_read() as connection:
        rows = connection.execute(_BY_PORTAL_NAME_FOR_VISIT, {"name": user_name}).all()
    generation = next((value for what, value, _ in rows if what == _GENERATION), None)
    facts = [row for row in rows if row[0] != _GENERATION]
    return VisitorAndGeneration(
        _principal(user_name, facts), None if generation is None else int(generation)
    )


@dataclass(frozen=True)
class KeyAndPrincipal:
    """An operator's key as the database holds it now, who it acts as, and the policy
    generation of that database (None when it has no such row yet), read together."""

    key: StoredKey
    principal: Principal
    policy_generation: int | None


def key_and_principal(db: Database, box: SecretBox, access_key_id: str) -> KeyAndPrincipal | None:
    """``read_key``, ``principal_for`` and the policy generation in one statement, for the
    API's front door: every request still reads them afresh (a deleted key, a revoked role, a
    left team or an edited policy counts from the next request, on every replica), at the cost
    of one indexed round trip, not three. None when there is no such key (a scoped key's id
    included: those live elsewhere)."""
    with db.single_read() as connection:
        rows = connection.execute(_BY_KEY_FOR_API, {"key_id": access_key_id}).all()
    sealed = next((secret for what, _, secret in rows if what == "key"), None)
    if sealed is None:
        return None
    account = next(value for what, value, _ in rows if what == "key")
    generation = next((value for what, value, _ in rows if what == _GENERATION), None)
    facts = [row for row in rows if row[0] != _GENERATION]
    return KeyAndPrincipal(
        StoredKey(open_sealed(box, sealed), account),
        _key_principal(access_key_id, facts),
        None if generation is None else int(generation),
    )


def _key_principal(caller: str, rows: _FactRows) -> Principal:
    found = {row[0] for row in rows}
    account = next((row[1] for row in rows if row[0] == "key"), None)
    if account is not None:
        return Principal(PrincipalKind.ACCOUNT, account)
    if "key" in found and "owned" not in found:
        return BUILTIN_ROBOT_PRINCIPAL
    return _principal(caller, rows)


def _principal(fallback_name: str, rows: _FactRows) -> Principal:
    facts: dict[str, list[str]] = {}
    for what, value, _ in rows:
        if value is not None:
            facts.setdefault(what, []).append(value)
    if "name" not in facts:
        return Principal(PrincipalKind.USER, fallback_name)
    kind = PrincipalKind.ROBOT if facts["kind"] == [UserKind.ROBOT.value] else PrincipalKind.USER
    return Principal(
        kind,
        facts["name"][0],
        teams=frozenset(facts.get("team", ())),
        roles=frozenset(facts.get("role", ())),
    )
