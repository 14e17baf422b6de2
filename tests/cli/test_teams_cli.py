"""``baryon users``, ``baryon teams`` and ``baryon keys create --user``: robots, teams, grants,
and keys that act as their owner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from baryon.auth.identities import principal_for
from baryon.auth.principals import Principal, PrincipalKind
from baryon.cli.failures import ExitStatus
from baryon.cli.main import cli
from baryon.runtime import build_runtime
from baryon.settings import load_settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    # The commands open an existing store (as `baryon up` leaves it), never create one.
    build_runtime(load_settings({"data_dir": tmp_path}, environ={})).close()
    yield tmp_path


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], input=stdin)


def _ok(data_dir: Path, *args: str, stdin: str | None = None) -> Result:
    result = _run(data_dir, *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result


def _json(data_dir: Path, *args: str) -> Any:
    return json.loads(_ok(data_dir, *args, "--output", "json").output)


def _principal(data_dir: Path, caller: str) -> Principal:
    runtime = build_runtime(load_settings({"data_dir": data_dir}, environ={}))
    try:
        return principal_for(runtime.identity_db, caller)
    finally:
        runtime.close()


def test_a_robot_in_a_team_gets_a_key_that_acts_with_the_teams_role(data_dir: Path) -> None:
    _ok(data_dir, "teams", "create", "payments", "--description", "Pays", "--role", "developer")
    made = _ok(data_dir, "users", "create", "ci", "--robot", "--team", "payments")
    assert "created robot ci" in made.output
    key = _json(data_dir, "keys", "create", "--user", "ci", "--description", "pipeline")
    assert _principal(data_dir, key["accessKeyId"]) == Principal(
        PrincipalKind.ROBOT, "ci", teams=frozenset({"payments"}), roles=frozenset({"developer"})
    )


def test_the_first_person_is_an_admin_unless_given_a_role(data_dir: Path) -> None:
    first = _ok(data_dir, "users", "create", "ada", "--password-stdin", stdin="a good password 1\n")
    assert "with roles admin" in first.output
    _ok(data_dir, "users", "create", "bob", "--password-stdin", stdin="a good password 2\n")
    assert _json(data_dir, "users", "show", "bob")["roles"] == []


def test_a_first_person_given_a_role_gets_only_that_role(data_dir: Path) -> None:
    _ok(
        data_dir,
        *("users", "create", "ada", "--role", "viewer", "--password-stdin"),
        stdin="a good password 1\n",
    )
    assert _principal(data_dir, "portal:ada").roles == {"viewer"}


def test_grants_and_memberships_show_in_lists_and_leave_on_revoke(data_dir: Path) -> None:
    _ok(data_dir, "teams", "create", "platform")
    _ok(data_dir, "users", "create", "ops", "--robot")
    _ok(data_dir, "teams", "add-member", "platform", "ops")
    _ok(data_dir, "teams", "grant", "platform", "platform")
    _ok(data_dir, "users", "grant", "ops", "viewer")
    users = {u["name"]: u for u in _json(data_dir, "users", "list")["users"]}
    assert users["ops"]["kind"] == "robot" and users["ops"]["teams"] == ["platform"]
    assert users["admin"] == {**users["admin"], "kind": "robot", "roles": ["admin"]}
    assert _json(data_dir, "teams", "show", "platform")["members"] == ["ops"]
    assert "platform" in _ok(data_dir, "teams", "list").output
    _ok(data_dir, "teams", "revoke", "platform", "platform")
    _ok(data_dir, "teams", "remove-member", "platform", "ops")
    _ok(data_dir, "users", "revoke", "ops", "viewer")
    assert _principal(data_dir, "portal:ops") == Principal(PrincipalKind.ROBOT, "ops")


def test_deleting_a_user_stops_its_keys(data_dir: Path) -> None:
    _ok(data_dir, "users", "create", "ci", "--robot", "--role", "admin")
    key = _json(data_dir, "keys", "create", "--user", "ci")["accessKeyId"]
    _ok(data_dir, "users", "delete", "ci")
    assert key not in _ok(data_dir, "keys", "list").output
    assert _principal(data_dir, key).roles == frozenset()


def test_deleting_a_team_takes_its_role_from_members(data_dir: Path) -> None:
    _ok(data_dir, "teams", "create", "ops", "--role", "platform")
    _ok(data_dir, "users", "create", "ci", "--robot", "--team", "ops")
    _ok(data_dir, "teams", "delete", "ops")
    assert _json(data_dir, "users", "show", "ci")["teams"] == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("keys", "create", "--user", "nobody"), "no user 'nobody'"),
        (("users", "create", "x", "--robot", "--team", "nope"), "no team 'nope'"),
        (("users", "create", "x", "--robot", "--role", "bad role"), "not a role name"),
        (("users", "create", "admin", "--robot"), "already exists"),
        (("teams", "add-member", "nope", "admin"), "no team 'nope'"),
        (("teams", "remove-member", "t", "admin"), "admin is not in t"),
        (("users", "revoke", "admin", "viewer"), "no role viewer"),
        (("users", "show", "nobody"), "no user 'nobody'"),
        (("teams", "create", "t"), "already exists"),
    ],
    ids=[
        "key-of-nobody",
        "unknown-team",
        "bad-role",
        "taken-name",
        "member-of-no-team",
        "not-a-member",
        "revoke-missing",
        "show-missing",
        "team-exists",
    ],
)
def test_mistakes_are_refused_with_one_line(
    data_dir: Path, args: tuple[str, ...], says: str
) -> None:
    _ok(data_dir, "teams", "create", "t")
    result = _run(data_dir, *args)
    assert result.exit_code == ExitStatus.REFUSED, result.output
    assert says in result.output and "Traceback" not in result.output


def test_a_robot_takes_no_password_and_an_account_key_no_user(data_dir: Path) -> None:
    robot = _run(data_dir, "users", "create", "ci", "--robot", "--password-stdin", stdin="x\n")
    both = _run(data_dir, "keys", "create", "--user", "admin", "--account", "210987654321")
    assert robot.exit_code == both.exit_code == ExitStatus.USAGE
