"""The audit trail end to end: changes from boto3 and from the baryon CLI land with the key's
principal and their door, a denied call is recorded as DENIED, and `baryon audit verify`
passes, then names a changed record; `baryon audit export` writes JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import update

from baryon.operations import audit_trail, in_process
from baryon.runtime import build_runtime
from baryon.settings import load_settings
from baryon.store.tables import AuditRecordRow
from tests.support.processes import BaryonProcess, start_baryon


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    process = start_baryon(tmp_path_factory.mktemp("audit"))
    yield process
    process.stop()


def _cli(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.exports}
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _expected_principal(server: BaryonProcess) -> str:
    """The principal the server resolves the suite's key to, asked the way the server asks."""
    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}))
    try:
        key = server.exports["AWS_ACCESS_KEY_ID"]
        return in_process.context(runtime, key, "test").principal.label
    finally:
        runtime.close()


def _records(server: BaryonProcess, **filters: Any) -> list[dict[str, Any]]:
    baryon = server.client("baryon")
    return baryon.list_audit_records(**filters)["records"]


def test_changes_from_boto3_and_the_cli_land_with_their_principal_and_door(
    server: BaryonProcess,
) -> None:
    proton = server.client("proton")
    proton.create_environment_template(name="audited", displayName="Audited")
    proton.update_environment_template(name="audited", description="now described")
    proton.get_environment_template(name="audited")  # a read: not recorded
    done = _cli(
        server,
        "connection",
        "create",
        "audited-git",
        "--provider",
        "GIT",
        "--base-url",
        "https://git.example.test/",
    )
    assert done.returncode == 0, done.stderr
    principal = _expected_principal(server)

    made = _records(server, operation="CreateEnvironmentTemplate")
    assert [(r["principal"], r["door"], r["result"]) for r in made] == [
        (principal, "API", "SUCCEEDED")
    ]
    assert made[0]["resources"] == [made[0]["resources"][0]]
    assert made[0]["resources"][0].endswith(":environment-template/audited")
    assert _records(server, operation="GetEnvironmentTemplate") == []
    [connection] = _records(server, operation="CreateConnection")
    assert (connection["principal"], connection["door"]) == (principal, "CLI")

    with pytest.raises(ClientError) as refused:
        proton.create_environment_template(name="audited")
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    failed = _records(server, operation="CreateEnvironmentTemplate", result="FAILED")
    assert [r["errorCode"] for r in failed] == ["ConflictException"]

    listed = _cli(
        server, "audit", "list", "--operation", "UpdateEnvironmentTemplate", "--output", "json"
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["operation"] for r in json.loads(listed.stdout)["records"]] == [
        "UpdateEnvironmentTemplate"
    ]


def test_export_is_json_lines_and_verify_names_a_changed_record(
    server: BaryonProcess, tmp_path: Path
) -> None:
    server.client("proton").create_environment_template(name="exported")
    exported = _cli(server, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert lines and all(len(line["recordHash"]) == 64 for line in lines)
    assert [line["sequence"] for line in lines] == sorted(
        (line["sequence"] for line in lines), reverse=True
    )

    intact = _cli(server, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout

    runtime = build_runtime(load_settings({"data_dir": server.data_dir}, environ={}))
    try:
        with runtime.db.session(write=True) as session:
            session.execute(
                update(AuditRecordRow)
                .where(AuditRecordRow.sequence == 1)
                .values(principal="user/someone-else")
            )
    finally:
        runtime.close()
    broken = _cli(server, "audit", "verify")
    assert broken.returncode == 12, (broken.stdout, broken.stderr)
    assert "record 1 was changed" in broken.stderr


def test_the_cli_marks_its_calls() -> None:
    assert audit_trail.api_door("Boto3/1.35 md/Botocore#1.35 baryon-cli/0.1.0") == "CLI"
    assert audit_trail.api_door("aws-cli/2.17 Python/3.11") == "API"
    assert audit_trail.api_door(None) == "API"
