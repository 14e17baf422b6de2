"""What Baryon changes on its own, and what the API's front door refuses before any operation
runs, lands in the audit trail on a live Baryon: a template sync from a real git repository
leaves the branch's move and the version it made, by ``system/baryon`` through the GIT door;
a provisioning program's key used outside its resource leaves a DENIED record for the
program; ``baryon audit verify`` still finds the chain intact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from baryon.auth.access_keys import create_access_key
from baryon.auth.principals import SYSTEM
from baryon.auth.scoped_keys import ScopedKeys
from baryon.domain.audit_changes import REPOSITORY_CHANGED, SYSTEM_KIND, SYSTEM_PRINCIPAL
from baryon.runtime import build_runtime
from baryon.settings import load_settings
from tests.support.bundles import env_bundle
from tests.support.processes import BaryonProcess, own_baryon

T = TypeVar("T")

server = own_baryon("audit-system", env={"BARYON_GIT_POLL_SECONDS": "0.5"})


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=where,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _until(check: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _records(server: BaryonProcess, **filters: Any) -> list[dict[str, Any]]:
    return list(server.client("baryon").list_audit_records(**filters)["records"])


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **server.exports},
    )


def test_the_system_principal_is_named_alike_in_every_layer() -> None:
    assert (SYSTEM.label, str(SYSTEM.kind)) == (SYSTEM_PRINCIPAL, SYSTEM_KIND)


def test_a_template_sync_records_the_branch_move_and_the_version_as_the_system(
    server: BaryonProcess, tmp_path: Path
) -> None:
    proton = server.client("proton")
    remotes = tmp_path / "remotes"
    bare, work = remotes / "platform" / "templates.git", tmp_path / "work"
    bare.parent.mkdir(parents=True)
    work.mkdir()
    _git(tmp_path, "init", "--bare", "-q", "-b", "main", str(bare))
    _git(work, "init", "-q", "-b", "main")
    _git(work, "remote", "add", "origin", str(bare))
    for path, text in env_bundle().items():
        target = work / "synced-env" / "v1" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "synced-env v1")
    _git(work, "push", "-q", "origin", "HEAD:main")

    connection = server.client("baryon").create_connection(
        name="audit-disk", provider="GIT", baseUrl=str(remotes) + "/"
    )["connection"]
    repository = proton.create_repository(
        name="platform/templates", provider="GITHUB", connectionArn=connection["arn"]
    )["repository"]
    proton.create_environment_template(name="synced-env")
    proton.create_template_sync_config(
        templateName="synced-env",
        templateType="ENVIRONMENT",
        repositoryName="platform/templates",
        repositoryProvider="GITHUB",
        branch="main",
    )

    [made] = _until(
        lambda: _records(server, operation="CreateEnvironmentTemplateVersion"),
        "the synced version's audit record",
    )
    assert (made["principal"], made["principalKind"], made["door"], made["result"]) == (
        "system/baryon",
        "system",
        "GIT",
        "SUCCEEDED",
    )
    assert made["service"] == "proton"
    assert made["resources"][0].endswith(":environment-template/synced-env:1.0")
    assert made["requestId"].startswith("job-")
    versions = proton.list_environment_template_versions(templateName="synced-env")
    assert [v["arn"] for v in versions["templateVersions"]] == made["resources"]

    moved = _until(
        lambda: _records(server, operation=REPOSITORY_CHANGED), "the branch move's record"
    )
    assert {(r["principal"], r["door"], r["result"]) for r in moved} == {
        ("system/baryon", "GIT", "SUCCEEDED")
    }
    assert {arn for r in moved for arn in r["resources"]} == {repository["arn"]}

    verified = _cli(server, "audit", "verify")
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert "intact" in verified.stdout


def test_a_programs_key_refused_by_the_front_door_is_recorded_as_denied(
    server: BaryonProcess,
) -> None:
    proton = server.client("proton")
    proton.create_environment_template(name="scoped-env")
    scope = "arn:aws:proton:us-east-1:123456789012:environment/only-this-one"
    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}))
    try:
        key = ScopedKeys(runtime.db, runtime.box).issue(scope, 600)
    finally:
        runtime.close()
    program = server.client(
        "proton",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )

    with pytest.raises(ClientError) as refused:
        program.delete_environment_template(name="scoped-env")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert proton.get_environment_template(name="scoped-env")["environmentTemplate"]

    [denied] = _records(server, operation="DeleteEnvironmentTemplate")
    assert (denied["principal"], denied["principalKind"], denied["door"]) == (
        f"program/{scope}",
        "program",
        "API",
    )
    assert (denied["result"], denied["errorCode"]) == ("DENIED", "AccessDeniedException")
    assert denied["resources"][0].endswith(":environment-template/scoped-env")
    assert denied["requestId"] == refused.value.response["ResponseMetadata"]["RequestId"]

    verified = _cli(server, "audit", "verify")
    assert verified.returncode == 0, (verified.stdout, verified.stderr)


def test_an_environment_accounts_key_refused_by_the_front_door_is_recorded_as_denied(
    server: BaryonProcess,
) -> None:
    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}))
    try:
        key = create_access_key(runtime.identity_db, runtime.box, account_id="210987654321")
    finally:
        runtime.close()
    operator = server.client(
        "proton",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )

    with pytest.raises(ClientError) as refused:
        operator.create_environment_template(name="not-for-accounts")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"

    [denied] = _records(server, operation="CreateEnvironmentTemplate", result="DENIED")
    assert (denied["principal"], denied["principalKind"], denied["door"]) == (
        "account/210987654321",
        "account",
        "API",
    )
    assert denied["resources"][0].endswith(":environment-template/not-for-accounts")
