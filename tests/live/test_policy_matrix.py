"""One decision whatever the front door: each built-in role, for a call of every operation
family, on a resource a policy leaves open and on one it guards, through boto3, the portal's
in-process operations, the portal's HTTP forms as a signed-in person (for the families the
portal has a form for) and the AWS CLI, as a person of that role. Every denial is in the audit
trail.

boto3 and the AWS CLI ask every case. The CLI spends about half a second starting, so its
calls are batched: one process per role runs all of that role's commands through awscli's own
entry point (tests/support/aws_cli_batch.py), the four at once, before the cases are compared.

A call the policies allow may still fail (the resources named do not exist): what is compared
is whether the answer is AccessDeniedException (a 403 page in the portal), the one answer
authorization gives.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from baryon.auth.roles import BuiltinRole
from baryon.cli.failures import ExitStatus
from baryon.cli.local_store import open_runtime
from baryon.operations import in_process
from baryon.operations.errors import Forbidden
from baryon.operations.registry import handler_for
from baryon.runtime import Runtime
from baryon.service_models import BARYON, PROTON
from tests.support.cli import run_baryon
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

server = own_baryon("policy-matrix")
CLI_BATCH = Path(__file__).parents[1] / "support" / "aws_cli_batch.py"

OPEN, GUARDED = "open-one", "guarded"
# Guards what is named GUARDED from everyone but admins, whatever their role allows.
GUARD = (
    "forbid (principal, action, resource)\n"
    'when { resource.name == "guarded" || resource.environment == "guarded" ||\n'
    '       resource.service == "guarded" }\n'
    'unless { principal in Baryon::Role::"admin" };\n'
)
PASSWORD = "a password long enough"
ROLES = list(BuiltinRole)
A, P, D, V = BuiltinRole.ADMIN, BuiltinRole.PLATFORM, BuiltinRole.DEVELOPER, BuiltinRole.VIEWER


@dataclass(frozen=True)
class Case:
    family: str
    service: str
    operation: str
    request: Callable[[str, str], dict[str, Any]]  # (resource name, ARN prefix) -> request
    roles: frozenset[BuiltinRole]  # the roles whose policy allows the family
    guarded_too: bool = True  # False: the call names no resource a guard could name
    cli: Callable[[dict[str, Any]], list[str]] | None = field(default=None)
    # The portal's form for this family: (method, path) for a resource name; None: no form.
    form: Callable[[str], tuple[str, str, dict[str, str]]] | None = field(default=None)


def _proton_arn(prefix: str, name: str) -> str:
    return f"{prefix}environment/{name}"


CASES = [
    Case(
        "reads",
        PROTON,
        "GetEnvironment",
        lambda n, _: {"name": n},
        frozenset({A, P, D, V}),
    ),
    Case(
        "templates",
        PROTON,
        "DeleteServiceTemplate",
        lambda n, _: {"name": n},
        frozenset({A, P}),
    ),
    Case(
        "environments",
        PROTON,
        "DeleteEnvironment",
        lambda n, _: {"name": n},
        frozenset({A, P}),
        form=lambda n: ("POST", f"/portal/environments/{n}/delete", {}),
    ),
    Case(
        "services",
        PROTON,
        "DeleteService",
        lambda n, _: {"name": n},
        frozenset({A, D}),
        form=lambda n: ("POST", f"/portal/services/{n}/delete", {}),
    ),
    Case(
        "instances",
        PROTON,
        "UpdateServiceInstance",
        lambda n, _: {"name": "one", "serviceName": n, "deploymentType": "CURRENT_VERSION"},
        frozenset({A, P, D}),
    ),
    Case(
        "connections",
        PROTON,
        "DeleteRepository",
        lambda n, _: {"name": f"org/{n}", "provider": "GITHUB"},
        frozenset({A, P}),
        guarded_too=False,
    ),
    Case(
        "tagging",
        PROTON,
        "TagResource",
        lambda n, prefix: {
            "resourceArn": _proton_arn(prefix, n),
            "tags": [{"key": "team", "value": "x"}],
        },
        frozenset({A, P}),
        cli=lambda r: [
            "--resource-arn",
            r["resourceArn"],
            "--tags",
            "key=team,value=x",
        ],
    ),
    Case(
        "account",
        PROTON,
        "UpdateAccountSettings",
        lambda n, _: {},
        frozenset({A, P}),
        guarded_too=False,
    ),
    Case(
        "deployments",
        BARYON,
        "RetryDeployment",
        lambda n, _: {"id": str(uuid.UUID(int=7))},
        frozenset({A, P}),
        guarded_too=False,
        form=lambda n: (
            "POST",
            f"/portal/environments/{n}/retry",
            {"deployment": str(uuid.UUID(int=7))},
        ),
    ),
    Case(
        "approvals",
        BARYON,
        "ApproveDeployment",
        lambda n, _: {"deploymentId": str(uuid.UUID(int=9))},
        frozenset({A, P}),
        guarded_too=False,
        form=lambda n: ("POST", f"/portal/approvals/{uuid.UUID(int=9)}/approve", {}),
    ),
    Case(
        "deletion protection",
        BARYON,
        "SetDeletionProtection",
        lambda n, _: {"resourceType": "ENVIRONMENT", "name": n, "enabled": True},
        frozenset({A, P}),
        cli=lambda r: ["--resource-type", "ENVIRONMENT", "--name", r["name"], "--enabled"],
    ),
    Case(
        "audit",
        BARYON,
        "ListAuditRecords",
        lambda n, _: {},
        frozenset({A, P}),
        guarded_too=False,
        form=lambda n: ("GET", "/portal/audit", {}),
    ),
    Case(
        "identities",
        BARYON,
        "DeleteTeam",
        lambda n, _: {"name": "no-such-team"},
        frozenset({A}),
        guarded_too=False,
    ),
    Case(
        "imports",
        BARYON,
        "UndoImport",
        lambda n, _: {"id": str(uuid.UUID(int=8))},
        frozenset({A}),
        guarded_too=False,
    ),
    Case(
        "policies",
        BARYON,
        "DeletePolicy",
        lambda n, _: {"name": "no-such-policy"},
        frozenset({A}),
        guarded_too=False,
    ),
]


@dataclass(frozen=True)
class Person:
    role: BuiltinRole
    name: str
    key: tuple[str, str]


def _baryon_cli(data_dir: Path, *args: str, stdin: str = "", status: int = 0) -> str:
    """``baryon ARGS --data-dir`` in this process (tests.support.cli)."""
    done = run_baryon([*args, "--data-dir", str(data_dir)], stdin=stdin)
    assert done.returncode == status, done.stderr
    return done.stdout


def _baryon_process(data_dir: Path, *args: str, status: int = 0) -> str:
    """The same through the real entry point, ``python -m baryon.cli.main``."""
    done = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=120,
    )
    assert done.returncode == status, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def people(server: BaryonProcess) -> dict[BuiltinRole, Person]:
    found = {}
    for role in ROLES:
        name = f"matrix-{role}"
        _baryon_cli(
            server.data_dir,
            "users",
            "create",
            name,
            "--role",
            str(role),
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        printed = _baryon_cli(server.data_dir, "keys", "create", "--user", name)
        values = dict(line.split("=", 1) for line in printed.split())
        found[role] = Person(
            role, name, (values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
        )
    admin = found[A]
    _client(server, admin, BARYON).put_policy(name="matrix-guard", text=GUARD)
    return found


@pytest.fixture(scope="module")
def runtime(server: BaryonProcess) -> Iterator[Runtime]:
    with open_runtime(server.data_dir) as opened:
        yield opened


def _client(server: BaryonProcess, person: Person, service: str) -> Any:
    return server.client(
        service, aws_access_key_id=person.key[0], aws_secret_access_key=person.key[1]
    )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _by_boto3(server: BaryonProcess, person: Person, case: Case, request: dict[str, Any]) -> bool:
    """True when allowed."""
    try:
        getattr(_client(server, person, case.service), _snake(case.operation))(**request)
    except ClientError as error:
        return error.response["Error"]["Code"] != "AccessDeniedException"
    return True


def _cli_arguments(case: Case, request: dict[str, Any]) -> list[str]:
    command = _snake(case.operation).replace("_", "-")
    if case.cli is not None:
        return [case.service, command, *case.cli(request)]
    arguments = [case.service, command]
    for member, value in request.items():
        arguments += [f"--{_snake(member).replace('_', '-')}", str(value)]
    return arguments


def _by_aws_cli(server: BaryonProcess, person: Person, commands: list[list[str]]) -> list[bool]:
    """Each command's decision as ``person`` (True when allowed), in one CLI process."""
    env = clean_environment(
        **{
            **{k: v for k, v in server.exports.items() if k.startswith("AWS_")},
            "AWS_ACCESS_KEY_ID": person.key[0],
            "AWS_SECRET_ACCESS_KEY": person.key[1],
        }
    )
    done = subprocess.run(
        [sys.executable, str(CLI_BATCH)],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    decisions = []
    for arguments, answer in zip(commands, json.loads(done.stdout), strict=True):
        stderr = answer["stderr"]
        if answer["status"] == 0:
            decisions.append(True)
            continue
        assert "An error occurred" in stderr, (arguments, stderr)
        decisions.append("AccessDeniedException" not in stderr)
    return decisions


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class SignedIn:
    """A person signed in to the server's portal over HTTP, with the form token to post."""

    client: httpx.Client
    csrf: str


@pytest.fixture(scope="module")
def browsers(
    server: BaryonProcess, people: dict[BuiltinRole, Person]
) -> Iterator[dict[BuiltinRole, SignedIn]]:
    signed_in = {}
    for role, person in people.items():
        client = httpx.Client(base_url=server.endpoint, timeout=60, follow_redirects=True)
        token = CSRF.search(client.get("/portal/sign-in").text)
        assert token is not None
        answer = client.post(
            "/portal/sign-in",
            data={
                "csrf_token": token.group(1),
                "name": person.name,
                "password": PASSWORD,
                "next": "/portal/",
            },
        )
        assert answer.status_code == 200 and person.name in answer.text, answer.text[:500]
        csrf = CSRF.search(answer.text)
        assert csrf is not None
        signed_in[role] = SignedIn(client, csrf.group(1))
    yield signed_in
    for browser in signed_in.values():
        browser.client.close()


def _by_portal_form(browser: SignedIn, case: Case, resource: str) -> bool:
    """The portal's page or form for the call, as its person's browser would ask it."""
    assert case.form is not None
    method, path, data = case.form(resource)
    if method == "GET":
        answer = browser.client.get(path)
    else:
        answer = browser.client.post(
            path, data={"csrf_token": browser.csrf, **data}, follow_redirects=False
        )
    assert answer.status_code < 500, answer.text[:500]
    if answer.status_code == 403:
        assert "not authorized to perform" in answer.text, answer.text[:500]
        return False
    return True


def _by_portal(runtime: Runtime, person: Person, case: Case, request: dict[str, Any]) -> bool:
    """The portal calls the operation's function with the signed-in user as the caller."""
    handler = handler_for(case.service, case.operation)
    assert handler is not None
    context = in_process.context(runtime, in_process.portal_caller(person.name), case.operation)
    try:
        handler(context, request)
    except Forbidden:
        return False
    except Exception:  # the call got past authorization; the resources do not exist
        return True
    return True


def _expected(case: Case, role: BuiltinRole, resource: str) -> bool:
    return role in case.roles and (resource == OPEN or role == A)


def _every_case() -> list[tuple[Case, BuiltinRole, str]]:
    return [
        (case, role, resource)
        for case in CASES
        for role in ROLES
        for resource in ((OPEN, GUARDED) if case.guarded_too else (OPEN,))
    ]


@pytest.fixture(scope="module")
def cli_decisions(
    server: BaryonProcess, people: dict[BuiltinRole, Person], runtime: Runtime
) -> dict[tuple[str, BuiltinRole, str], bool]:
    prefix = runtime.arns.make("")
    by_role: dict[BuiltinRole, list[tuple[Case, str]]] = {role: [] for role in ROLES}
    for case, role, resource in _every_case():
        by_role[role].append((case, resource))

    def ask(role: BuiltinRole) -> list[bool]:
        commands = [
            _cli_arguments(case, case.request(resource, prefix)) for case, resource in by_role[role]
        ]
        return _by_aws_cli(server, people[role], commands)

    # One process per role, all four at once: two cores stay busy while each waits on calls.
    with ThreadPoolExecutor(max_workers=len(ROLES)) as pool:
        answers = dict(zip(ROLES, pool.map(ask, ROLES), strict=True))
    return {
        (case.family, role, resource): answer
        for role in ROLES
        for (case, resource), answer in zip(by_role[role], answers[role], strict=True)
    }


def _matrix() -> list[Any]:
    return [
        pytest.param(
            case,
            role,
            resource,
            _expected(case, role, resource),
            id=f"{case.family}-{role}-{resource}",
        )
        for case, role, resource in _every_case()
    ]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("case", "role", "resource", "expected"), _matrix())
def test_every_front_door_takes_the_same_decision(
    server: BaryonProcess,
    people: dict[BuiltinRole, Person],
    runtime: Runtime,
    browsers: dict[BuiltinRole, SignedIn],
    cli_decisions: dict[tuple[str, BuiltinRole, str], bool],
    case: Case,
    role: BuiltinRole,
    resource: str,
    expected: bool,
) -> None:
    person = people[role]
    request = case.request(resource, runtime.arns.make(""))
    decisions = {
        "boto3": _by_boto3(server, person, case, request),
        "portal operation": _by_portal(runtime, person, case, request),
    }
    if case.form is not None:
        decisions["portal form"] = _by_portal_form(browsers[role], case, resource)
    decisions["aws cli"] = cli_decisions[(case.family, role, resource)]
    assert decisions == dict.fromkeys(decisions, expected)
    if not expected:
        admin = _client(server, people[A], BARYON)
        records = admin.list_audit_records(
            principal=f"user/{person.name}", operation=case.operation, result="DENIED"
        )["records"]
        assert len(records) >= len(decisions), records  # one per door, at least


def test_a_denial_says_who_what_and_on_which_resource(
    server: BaryonProcess, people: dict[BuiltinRole, Person]
) -> None:
    developer = _client(server, people[D], PROTON)
    with pytest.raises(ClientError) as denied:
        developer.delete_environment(name="prod")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].startswith(
        f"User: user/{people[D].name} is not authorized to perform: proton:DeleteEnvironment "
        "on resource: arn:aws:proton:"
    )
    assert error["Message"].endswith(":environment/prod because no policy allows it")


def test_policy_test_answers_offline_with_the_deciding_policy(
    server: BaryonProcess, people: dict[BuiltinRole, Person]
) -> None:
    def ask(principal: str, action: str, target: str, status: int = 0) -> str:
        return _baryon_process(
            server.data_dir,
            "policy",
            "test",
            "--principal",
            principal,
            "--action",
            action,
            "--resource",
            target,
            status=status,
        )

    allowed = ask(f"user/{people[P].name}", "DeleteEnvironment", "environment/prod")
    assert allowed.startswith("ALLOWED") and "allowed by: platform/platform" in allowed
    denied_status = ExitStatus.ACCESS_DENIED
    denied = ask(f"user/{people[D].name}", "DeleteEnvironment", "environment/prod", denied_status)
    assert denied.startswith("DENIED") and "no policy allows it" in denied
    guarded = ask("role/platform", "DeleteEnvironment", "environment/guarded", denied_status)
    assert guarded.startswith("DENIED") and "forbidden by: matrix-guard" in guarded
