"""Connections (the baryon model) and repositories (Proton's model) on a live server, through
boto3 as users call them; and forges' webhooks, proven by their signature before they count.

What a push or a webhook then sets off (template sync, service sync, pull requests) has its
own tests; here, a webhook's effect is read from the job queue it fills.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support.processes import BaryonProcess, own_baryon, start_baryon

server = own_baryon("connections")

TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "a webhook secret"


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_connection_keeps_its_secrets_and_never_shows_them(baryon: Any) -> None:
    created = baryon.create_connection(
        name="github-main", provider="GITHUB", token=TOKEN, webhookSecret=WEBHOOK_SECRET
    )["connection"]
    assert created["arn"].startswith("arn:aws:baryon:us-east-1:")
    assert created["credentialKind"] == "TOKEN"
    assert created["webhookUrl"].endswith("/_baryon/git/webhooks/github-main")
    shown = baryon.get_connection(arn=created["arn"])
    assert TOKEN not in json.dumps(shown, default=str)
    assert WEBHOOK_SECRET not in json.dumps(shown, default=str)


def test_baryons_own_git_server_is_a_connection_from_the_start(baryon: Any) -> None:
    listed = {c["name"]: c for c in baryon.list_connections()["connections"]}
    assert listed["baryon"]["provider"] == "BARYON"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"name": "gh-no-token", "provider": "GITHUB"}, "token"),
        ({"name": "ghe-no-url", "provider": "GITHUB_ENTERPRISE", "token": TOKEN}, "baseUrl"),
        ({"name": "gl-ssh", "provider": "GITLAB", "sshPrivateKey": "key"}, "sshPrivateKey"),
        ({"name": "gh-two", "provider": "GITHUB", "token": TOKEN, "username": "u",
          "password": "p"}, "username"),
        ({"name": "app-half", "provider": "GITHUB", "githubAppId": "12"}, "githubAppPrivateKey"),
        ({"name": "own", "provider": "BARYON"}, "provider"),
    ],
)
def test_a_connection_that_cannot_work_is_refused_naming_the_member(
    baryon: Any, request_: dict[str, str], field: str
) -> None:
    with pytest.raises(ClientError) as error:
        baryon.create_connection(**request_)
    assert _code(error) == "ValidationException"
    assert field in str(error.value)


def test_a_codestar_connection_arn_from_proton_keeps_working(baryon: Any, proton: Any) -> None:
    arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/0e7d-proton"
    baryon.create_connection(name="codestar", provider="GITHUB", token=TOKEN, arn=arn)
    created = proton.create_repository(
        name="org/web-app", provider="GITHUB", connectionArn=arn
    )["repository"]
    assert created["arn"].endswith(":123456789012:repository/github:org/web-app")
    assert proton.get_repository(name="org/web-app", provider="GITHUB")["repository"] == created
    names = [r["name"] for r in proton.list_repositories()["repositories"]]
    assert "org/web-app" in names


def test_a_repository_needs_a_known_connection_and_a_free_name(proton: Any, baryon: Any) -> None:
    with pytest.raises(ClientError) as error:
        proton.create_repository(
            name="org/x",
            provider="GITHUB",
            connectionArn="arn:aws:codestar-connections:us-east-1:123456789012:connection/nope",
        )
    assert _code(error) == "ValidationException"
    assert "CreateConnection" in str(error.value)
    arn = baryon.create_connection(name="plain", provider="GIT", baseUrl="/srv/git/")[
        "connection"
    ]["arn"]
    proton.create_repository(name="org/twice", provider="BITBUCKET", connectionArn=arn)
    with pytest.raises(ClientError) as error:
        proton.create_repository(name="org/twice", provider="BITBUCKET", connectionArn=arn)
    assert _code(error) == "ConflictException"
    with pytest.raises(ClientError) as error:
        proton.create_repository(name="../etc", provider="GITHUB", connectionArn=arn)
    assert _code(error) == "ValidationException"


def test_a_connection_in_use_stays_until_its_repositories_go(proton: Any, baryon: Any) -> None:
    arn = baryon.create_connection(name="in-use", provider="GIT", baseUrl="/srv/git/")[
        "connection"
    ]["arn"]
    proton.create_repository(name="org/used", provider="GITHUB", connectionArn=arn)
    with pytest.raises(ClientError) as error:
        baryon.delete_connection(arn=arn)
    assert _code(error) == "ConflictException"
    proton.delete_repository(name="org/used", provider="GITHUB")
    baryon.delete_connection(arn=arn)
    with pytest.raises(ClientError) as error:
        baryon.get_connection(arn=arn)
    assert _code(error) == "ResourceNotFoundException"


def _deliver(server: BaryonProcess, body: bytes, signature: str, event: str = "push") -> Any:
    return httpx.post(
        f"{server.endpoint}/_baryon/git/webhooks/github-hooks",
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "1",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
        timeout=10,
    )


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def _queued(server: BaryonProcess, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(server.data_dir / "baryon.db") as db:
        rows = db.execute("SELECT payload FROM jobs WHERE kind = ?", (kind,)).fetchall()
    return [json.loads(row[0]) for row in rows]


def test_a_signed_push_webhook_wakes_what_reads_the_branch(
    server: BaryonProcess, baryon: Any, proton: Any
) -> None:
    arn = baryon.create_connection(
        name="github-hooks", provider="GITHUB", token=TOKEN, webhookSecret=WEBHOOK_SECRET
    )["connection"]["arn"]
    proton.create_repository(name="org/templates", provider="GITHUB", connectionArn=arn)
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "1" * 40,
            "after": "2" * 40,
            "repository": {"full_name": "org/templates"},
        }
    ).encode()
    answer = _deliver(server, body, _sign(body))
    assert answer.status_code == 202, answer.text
    changed = _queued(server, "repository-changed")
    assert {"provider": "GITHUB", "name": "org/templates", "branch": "main", "sha": "2" * 40} in (
        changed
    )


def test_a_webhook_with_a_wrong_signature_changes_nothing(server: BaryonProcess) -> None:
    body = json.dumps(
        {"ref": "refs/heads/main", "before": "3" * 40, "after": "4" * 40,
         "repository": {"full_name": "org/templates"}}
    ).encode()
    before = _queued(server, "repository-changed")
    answer = _deliver(server, body, "sha256=" + "0" * 64)
    assert answer.status_code == 401
    assert "signature" in answer.json()["message"].lower()
    assert _queued(server, "repository-changed") == before


def test_a_webhook_to_an_unknown_connection_is_not_found(server: BaryonProcess) -> None:
    answer = httpx.post(f"{server.endpoint}/_baryon/git/webhooks/nobody", content=b"{}", timeout=10)
    assert answer.status_code == 404


def test_a_baryon_told_to_refuse_local_remotes_refuses_paths_on_its_disk(
    tmp_path: Path,
) -> None:
    refusing = start_baryon(tmp_path, env={"BARYON_GIT_LOCAL_REMOTES": "refuse"})
    try:
        baryon = refusing.client("baryon")
        for base_url in ("/srv/git/", "file:///srv/git/"):
            with pytest.raises(ClientError) as error:
                baryon.create_connection(name="local", provider="GIT", baseUrl=base_url)
            assert _code(error) == "ValidationException"
            assert "git_local_remotes" in str(error.value)
        baryon.create_connection(name="remote", provider="GIT", baseUrl="https://git.example/")
    finally:
        refusing.stop()
