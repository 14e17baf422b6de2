"""Users, robots, teams and grants (auth/identities.py), and the principal each kind of caller
stands for: a portal user, an owned key, a key of nobody, an environment account's key, a
provisioning program's key, and a caller that is none of them. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from baryon.auth import identities
from baryon.auth.access_keys import create_access_key
from baryon.auth.identities import (
    BUILTIN_ROBOT_PRINCIPAL,
    IdentityExists,
    InvalidIdentity,
    UnknownIdentity,
    UserKind,
    principal_for,
)
from baryon.auth.principals import Principal, PrincipalKind
from baryon.auth.scoped_keys import issue_scoped_key
from baryon.operations.context import RequestContext
from baryon.operations.portal_users import UserError, create_user, set_password
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """Both engines: the principal's one statement (a UNION ALL of literal-tagged rows) must
    mean the same to SQLite and to PostgreSQL."""
    url = ""
    if request.param == "postgresql":
        server: Any = request.getfixturevalue("postgres_server")
        url = server.create_database()
    runtime = build_runtime(Settings(data_dir=tmp_path, database_url=url))
    yield runtime
    runtime.close()


def _payments_team(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        identities.create_team(session, "payments", NOW, "Pays")
        identities.grant_team_role(session, "payments", "developer")
        identities.create_user(session, "dana", UserKind.PERSON, NOW, roles=("viewer",))
        identities.add_member(session, "payments", "dana")


def test_a_portal_user_has_its_own_roles_and_its_teams_roles(runtime: Runtime) -> None:
    _payments_team(runtime)
    assert principal_for(runtime.db, "portal:dana") == Principal(
        PrincipalKind.USER,
        "dana",
        teams=frozenset({"payments"}),
        roles=frozenset({"viewer", "developer"}),
    )


def test_a_key_acts_as_the_robot_that_owns_it(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        robot = identities.create_user(session, "ci", UserKind.ROBOT, NOW, teams=["payments"])
    key = create_access_key(runtime.db, runtime.box, "ci", owner_id=robot)
    assert principal_for(runtime.db, key.access_key_id) == Principal(
        PrincipalKind.ROBOT, "ci", teams=frozenset({"payments"}), roles=frozenset({"developer"})
    )


def test_a_key_of_a_person_acts_as_that_person(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session() as session:
        dana = identities.user_id(session, "dana")
    key = create_access_key(runtime.db, runtime.box, "laptop", owner_id=dana)
    assert principal_for(runtime.db, key.access_key_id) == principal_for(runtime.db, "portal:dana")


def test_a_key_of_nobody_acts_as_the_builtin_admin_robot(runtime: Runtime) -> None:
    key = create_access_key(runtime.db, runtime.box, "old key")
    assert principal_for(runtime.db, key.access_key_id) == BUILTIN_ROBOT_PRINCIPAL
    assert BUILTIN_ROBOT_PRINCIPAL.roles == {"admin"}


def test_the_migration_made_the_builtin_robot_an_admin(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        robot = identities.get_user(session, "admin")
    assert (robot.kind, robot.roles) == (UserKind.ROBOT, ("admin",))


def test_an_environment_accounts_key_is_that_account(runtime: Runtime) -> None:
    key = create_access_key(runtime.db, runtime.box, "tenant", account_id="210987654321")
    assert principal_for(runtime.db, key.access_key_id) == Principal(
        PrincipalKind.ACCOUNT, "210987654321"
    )


def test_a_programs_scoped_key_is_the_resource_it_is_scoped_to(runtime: Runtime) -> None:
    arn = "arn:aws:proton:us-east-1:123456789012:environment/dev"
    key = issue_scoped_key(runtime.db, runtime.box, arn, 600)
    assert principal_for(runtime.db, key.access_key_id) == Principal(PrincipalKind.PROGRAM, arn)


@pytest.mark.parametrize("caller", ["BARYGONEGONEGONEGONE", "portal:nobody"])
def test_a_caller_nobody_knows_has_no_roles(runtime: Runtime, caller: str) -> None:
    principal = principal_for(runtime.db, caller)
    assert (principal.kind, principal.roles, principal.teams) == (
        PrincipalKind.USER,
        frozenset(),
        frozenset(),
    )


def test_a_deleted_users_keys_go_with_it_instead_of_acting_as_admin(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        robot = identities.create_user(session, "ci", UserKind.ROBOT, NOW)
    key = create_access_key(runtime.db, runtime.box, "ci", owner_id=robot)
    with runtime.db.session(write=True) as session:
        identities.delete_user(session, "ci")
    assert principal_for(runtime.db, key.access_key_id).roles == frozenset()


def test_the_principal_is_read_in_one_statement(runtime: Runtime) -> None:
    _payments_team(runtime)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    # A lone read runs on the read engine (its own pool on PostgreSQL): both are counted.
    engines = {runtime.db.engine, runtime.db.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        context = RequestContext(runtime, "ListEnvironments", "r", "portal:dana", NOW)
        assert context.principal.roles == {"viewer", "developer"}
        assert context.principal is context.principal
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    # SQLite's connection opens with BEGIN (store/database.py); the reads are what count.
    assert len([s for s in statements if not s.startswith("BEGIN")]) == 1


def test_the_first_person_is_an_admin_and_the_next_is_not(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        create_user(session, "first", "a long enough password", NOW)
        create_user(session, "second", "a long enough password", NOW)
    assert principal_for(runtime.db, "portal:first").roles == {"admin"}
    assert principal_for(runtime.db, "portal:second").roles == frozenset()


def test_a_robot_never_gets_a_password(runtime: Runtime) -> None:
    with runtime.db.session(write=True) as session:
        identities.create_user(session, "ci", UserKind.ROBOT, NOW)
    with pytest.raises(UserError), runtime.db.session(write=True) as session:
        set_password(session, "ci", "a long enough password", NOW)


def test_teams_list_their_members_and_roles_and_users_their_teams(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        identities.grant_user_role(session, "dana", "platform")
        assert not identities.grant_user_role(session, "dana", "platform")
        team = identities.get_team(session, "payments")
        user = identities.get_user(session, "dana")
    assert (team.members, team.roles, team.description) == (("dana",), ("developer",), "Pays")
    assert (user.teams, user.roles) == (("payments",), ("platform", "viewer"))


def test_revoking_and_removing_take_roles_away(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        assert identities.revoke_user_role(session, "dana", "viewer")
        assert not identities.revoke_user_role(session, "dana", "viewer")
        assert identities.remove_member(session, "payments", "dana")
    assert principal_for(runtime.db, "portal:dana").roles == frozenset()


def test_deleting_a_team_takes_its_roles_from_its_members(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        identities.delete_team(session, "payments")
    assert principal_for(runtime.db, "portal:dana") == Principal(
        PrincipalKind.USER, "dana", roles=frozenset({"viewer"})
    )


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda s: identities.create_user(s, "bad name", UserKind.PERSON, NOW), InvalidIdentity),
        (lambda s: identities.create_user(s, "admin", UserKind.PERSON, NOW), IdentityExists),
        (lambda s: identities.create_team(s, "t", NOW, "x" * 1025), InvalidIdentity),
        (lambda s: identities.grant_user_role(s, "admin", "no spaces"), InvalidIdentity),
        (lambda s: identities.add_member(s, "nosuchteam", "admin"), UnknownIdentity),
        (
            lambda s: identities.create_user(s, "x", UserKind.ROBOT, NOW, teams=["gone"]),
            UnknownIdentity,
        ),
    ],
    ids=["bad-name", "taken-name", "long-description", "bad-role", "no-team", "no-team-on-create"],
)
def test_mistakes_are_typed_errors(runtime: Runtime, make: object, error: type) -> None:
    with pytest.raises(error), runtime.db.session(write=True) as session:
        make(session)  # type: ignore[operator]


def test_sign_in_teams_follow_the_provider_but_hand_given_ones_stay(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        identities.create_team(session, "oncall", NOW)
        uid = identities.user_id(session, "dana")
        identities.set_sign_in_teams(session, uid, ["platform", "oncall", "bad group!"], NOW)
    with runtime.db.session(write=True) as session:
        assert identities.get_user(session, "dana").teams == ("oncall", "payments", "platform")
        identities.set_sign_in_teams(session, uid, ["oncall"], NOW)
    with runtime.db.session() as session:
        assert identities.get_user(session, "dana").teams == ("oncall", "payments")


def test_a_providers_name_never_takes_over_an_existing_user(runtime: Runtime) -> None:
    _payments_team(runtime)
    with runtime.db.session(write=True) as session:
        assert identities.free_user_name(session, "dana") == "dana-2"
        assert identities.free_user_name(session, "new person") == "new-person"
