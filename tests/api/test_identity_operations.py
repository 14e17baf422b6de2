"""Users, robots, teams and role grants through the baryon model, with boto3 and the AWS CLI
against a live Baryon: an admin manages them, a robot's key acts with exactly the roles its
grants and teams give it from its next call, lists page, and mistakes are modeled errors. In
process: a request reads its key and its principal in one statement."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from sqlalchemy import event

from baryon.app import create_app
from baryon.auth import identities
from baryon.auth.access_keys import NewAccessKey, create_access_key
from baryon.auth.policies import stored
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that its TestClient prefers httpx2
    from starlette.testclient import TestClient

server = own_baryon("identity-operations")


def _error(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _key_for(server: BaryonProcess, user: str) -> tuple[str, str]:
    command = ["keys", "create", "--user", user, "--data-dir", str(server.data_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *command],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in done.stdout.split())
    return values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]


def _as(server: BaryonProcess, key: tuple[str, str]) -> Any:
    return server.client("baryon", aws_access_key_id=key[0], aws_secret_access_key=key[1])


def test_an_admin_makes_a_team_and_a_robot_in_it_and_reads_them_back(
    server: BaryonProcess,
) -> None:
    admin = server.client("baryon")
    team = admin.create_team(name="payments", description="Pays.", roles=["developer"])["team"]
    assert (team["name"], team["roles"], team["members"], team["memberCount"]) == (
        "payments",
        ["developer"],
        [],
        0,
    )
    robot = admin.create_user(name="payments-ci", kind="ROBOT", teams=["payments"])["user"]
    assert (robot["kind"], robot["roles"], robot["teams"]) == ("ROBOT", [], ["payments"])
    person = admin.create_user(
        name="pat", displayName="Pat Doe", email="pat@example.test", roles=["viewer"]
    )["user"]
    assert (person["kind"], person["displayName"], person["email"], person["roles"]) == (
        "PERSON",
        "Pat Doe",
        "pat@example.test",
        ["viewer"],
    )
    assert admin.add_team_member(teamName="payments", userName="pat")["changed"] is True
    assert admin.add_team_member(teamName="payments", userName="pat")["changed"] is False

    assert admin.get_team(name="payments")["team"]["members"] == ["pat", "payments-ci"]
    assert admin.get_user(name="pat")["user"]["teams"] == ["payments"]
    listed = {t["name"]: t for t in admin.list_teams()["teams"]}
    assert listed["payments"]["memberCount"] == 2 and "members" not in listed["payments"]


def test_a_robots_key_acts_with_its_grants_and_teams_from_its_next_call(
    server: BaryonProcess,
) -> None:
    admin = server.client("baryon")
    admin.create_team(name="readers", roles=["viewer"])
    admin.create_user(name="grant-bot", kind="ROBOT", teams=["readers"])
    robot = _as(server, _key_for(server, "grant-bot"))

    robot.list_users()  # a read: the team's viewer role allows it
    with pytest.raises(ClientError) as refused:
        robot.create_team(name="bots-own-team")
    assert _error(refused) == "AccessDeniedException"

    assert admin.grant_role(role="admin", userName="grant-bot")["changed"] is True
    robot.create_team(name="bots-own-team")  # no cache stands between a grant and its use
    assert admin.revoke_role(role="admin", userName="grant-bot")["changed"] is True
    with pytest.raises(ClientError) as refused:
        robot.delete_team(name="bots-own-team")
    assert _error(refused) == "AccessDeniedException"

    assert admin.remove_team_member(teamName="readers", userName="grant-bot")["changed"] is True
    with pytest.raises(ClientError) as refused:
        robot.list_users()  # no roles left at all
    assert _error(refused) == "AccessDeniedException"

    assert admin.grant_role(role="viewer", teamName="readers")["changed"] is False
    admin.delete_user(name="grant-bot")
    with pytest.raises(ClientError) as gone:
        robot.list_users()  # its keys went with it
    assert _error(gone) == "UnrecognizedClientException"


def test_users_page_by_name_filtered_by_kind_and_team(server: BaryonProcess) -> None:
    admin = server.client("baryon")
    admin.create_team(name="pagers")
    names = [f"pager-{i}" for i in range(5)]
    for name in reversed(names):
        admin.create_user(name=name, kind="ROBOT", teams=["pagers"])
    admin.create_user(name="pager-person", teams=["pagers"])

    first = admin.list_users(kind="ROBOT", teamName="pagers", maxResults=2)
    assert [u["name"] for u in first["users"]] == names[:2] and first["nextToken"]
    pages = admin.get_paginator("list_users").paginate(
        kind="ROBOT", teamName="pagers", PaginationConfig={"PageSize": 2}
    )
    assert [u["name"] for page in pages for u in page["users"]] == names
    everyone = [u["name"] for u in admin.list_users(teamName="pagers")["users"]]
    assert everyone == [*names, "pager-person"]

    with pytest.raises(ClientError) as other_filter:
        admin.list_users(kind="PERSON", teamName="pagers", nextToken=first["nextToken"])
    assert _error(other_filter) == "ValidationException"


def test_users_and_teams_are_searched_by_part_of_their_name_in_any_case(
    server: BaryonProcess,
) -> None:
    admin = server.client("baryon")
    for name in ("Find-Me-1", "find_me-2", "findxme-3"):
        admin.create_user(name=name, kind="ROBOT")
        admin.create_team(name=f"team-{name}")
    # "_" is a letter here, not SQL's one-character wildcard: findxme-3 does not match.
    found = admin.list_users(nameContains="FIND_ME")["users"]
    assert [u["name"] for u in found] == ["find_me-2"]
    first = admin.list_users(nameContains="find-me", maxResults=1)
    assert [u["name"] for u in first["users"]] == ["Find-Me-1"] and "nextToken" not in first
    teams = admin.list_teams(nameContains="ME-")["teams"]
    assert [t["name"] for t in teams] == ["team-Find-Me-1", "team-find_me-2", "team-findxme-3"]
    paged = admin.list_teams(nameContains="team-f", maxResults=2)
    with pytest.raises(ClientError) as other_search:
        admin.list_teams(nameContains="other", nextToken=paged["nextToken"])
    assert _error(other_search) == "ValidationException"


@pytest.mark.parametrize(
    ("operation", "request_", "code"),
    [
        ("get_user", {"name": "nobody-here"}, "ResourceNotFoundException"),
        ("create_user", {"name": "joiner", "teams": ["no-such-team"]}, "ResourceNotFoundException"),
        ("create_user", {"name": "-starts-badly"}, "ValidationException"),
        ("create_user", {"name": "role-less", "roles": ["not a role"]}, "ValidationException"),
        ("create_team", {"name": "t" * 65}, "ValidationException"),
        ("grant_role", {"role": "viewer"}, "ValidationException"),
        ("grant_role", {"role": "viewer", "userName": "a", "teamName": "b"}, "ValidationException"),
        (
            "revoke_role",
            {"role": "viewer", "teamName": "no-such-team"},
            "ResourceNotFoundException",
        ),
        (
            "add_team_member",
            {"teamName": "no-such-team", "userName": "admin"},
            "ResourceNotFoundException",
        ),
        ("delete_team", {"name": "no-such-team"}, "ResourceNotFoundException"),
        ("delete_user", {"name": "admin"}, "ConflictException"),  # the suite's key acts as it
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_mistake_is_a_modeled_error(
    server: BaryonProcess, operation: str, request_: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as refused:
        getattr(server.client("baryon"), operation)(**request_)
    assert _error(refused) == code


def test_a_taken_name_is_a_conflict(server: BaryonProcess) -> None:
    admin = server.client("baryon")
    admin.create_user(name="twice", kind="ROBOT")
    admin.create_team(name="twice-team")
    for call in (
        lambda: admin.create_user(name="twice"),
        lambda: admin.create_team(name="twice-team"),
    ):
        with pytest.raises(ClientError) as taken:
            call()
        assert _error(taken) == "ConflictException"


def test_changes_are_in_the_audit_trail_under_their_caller(server: BaryonProcess) -> None:
    admin = server.client("baryon")
    admin.create_team(name="audited-team")
    records = admin.list_audit_records(operation="CreateTeam")["records"]
    assert records and records[0]["result"] == "SUCCEEDED"
    assert records[0]["principal"] == "robot/admin"


def test_the_aws_cli_lists_users_and_creates_a_team(server: BaryonProcess) -> None:
    aws = Path(sys.executable).parent / "aws"
    env = clean_environment(**{k: v for k, v in server.exports.items() if k.startswith("AWS_")})

    def run(*arguments: str) -> Any:
        done = subprocess.run(
            [str(aws), "baryon", *arguments, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    made = run("create-team", "--name", "cli-team", "--roles", "platform")
    assert made["team"]["roles"] == ["platform"]
    listed = run("list-users", "--kind", "ROBOT")
    assert "admin" in [user["name"] for user in listed["users"]]


# --- what a request costs: in process, statements counted ---------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path))
    yield runtime
    runtime.close()


def _signed(runtime: Runtime, key: NewAccessKey, operation: str, body: dict[str, Any]) -> Any:
    request = AWSRequest(
        method="POST",
        url="http://testserver/",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"Baryon20261101.{operation}",
        },
    )
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    SigV4Auth(credentials, "baryon", runtime.settings.region).add_auth(request)
    return request


def _viewer_robot(runtime: Runtime, team: str, robot: str) -> NewAccessKey:
    """A key of a robot whose team holds the viewer role."""
    with runtime.identity_db.session(write=True) as session:
        identities.create_team(session, team, datetime.now(UTC))
        identities.grant_team_role(session, team, "viewer")
        owner = identities.create_user(
            session, robot, identities.UserKind.ROBOT, datetime.now(UTC), teams=[team]
        )
    return create_access_key(runtime.identity_db, runtime.box, robot, owner_id=owner)


@contextmanager
def _signed_calls(
    runtime: Runtime, key: NewAccessKey
) -> Iterator[Callable[[str, dict[str, Any]], Any]]:
    """A function that sends one signed call of the baryon model to the app, in process."""
    with TestClient(create_app(runtime)) as client:

        def call(operation: str, body: dict[str, Any]) -> Any:
            signed = _signed(runtime, key, operation, body)
            return client.post("/", content=signed.body, headers=dict(signed.headers))

        yield call


def _statements_run(runtime: Runtime, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What ``action`` returned, and the identity database's statements it ran."""
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(runtime.identity_db.engine, "before_cursor_execute", seen)
    try:
        return action(), statements
    finally:
        event.remove(runtime.identity_db.engine, "before_cursor_execute", seen)


def test_an_api_request_reads_its_key_and_principal_in_one_statement_and_sees_revocations(
    runtime: Runtime,
) -> None:
    key = _viewer_robot(runtime, "watchers", "watch-bot")
    with _signed_calls(runtime, key) as call:
        answered, statements = _statements_run(
            runtime, lambda: call("GetTeam", {"name": "watchers"})
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["team"]["members"] == ["watch-bot"]
        # The key (for the signature) and who it acts as (for the policies): one read.
        assert len([s for s in statements if "access_keys" in s]) == 1, statements

        with runtime.identity_db.session(write=True) as session:
            identities.revoke_team_role(session, "watchers", "viewer")
        refused = call("GetTeam", {"name": "watchers"})
        assert refused.json()["__type"] == "AccessDeniedException"


def test_a_signed_call_reads_the_policy_generation_with_its_key_and_an_edit_holds_at_once(
    runtime: Runtime,
) -> None:
    key = _viewer_robot(runtime, "readers", "read-bot")
    with _signed_calls(runtime, key) as call:
        answered, statements = _statements_run(
            runtime, lambda: call("GetTeam", {"name": "readers"})
        )
        assert answered.status_code == 200, answered.text
        # The decision's policy generation comes with the key: no statement of its own.
        generation_reads = [s for s in statements if "policy_generation" in s]
        assert len(generation_reads) == 1, statements
        assert "access_keys" in generation_reads[0]

        # A policy put between two calls decides the second (the generation moved).
        forbid = 'forbid (principal == Baryon::Robot::"read-bot", action, resource);'
        stored.put_policy(runtime.db, "no-read-bot", forbid, "user/admin")
        refused = call("GetTeam", {"name": "readers"})
        assert refused.json()["__type"] == "AccessDeniedException"
        stored.delete_policy(runtime.db, "no-read-bot")
        assert call("GetTeam", {"name": "readers"}).status_code == 200
