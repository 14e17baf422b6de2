"""`baryon up` as a user runs it: env file, AWS CLI, clean stops, restarts that keep data."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.bundles import Registry, env_bundle, tar_gz
from tests.support.processes import BaryonProcess, clean_environment, start_baryon


def _aws(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the real AWS CLI after `. D/env`, exactly as a user would."""
    aws = Path(sys.executable).parent / "aws"
    script = f". {env_file} && {aws} {' '.join(args)}"
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=clean_environment(), timeout=120
    )


def test_env_file_aws_cli_restart_and_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_baryon(data_dir)
    try:
        _first_run(first, data_dir)
    finally:
        first.stop()
    second = start_baryon(data_dir)
    try:
        _second_run(second, first.exports)
    finally:
        second.stop()


def _first_run(first: BaryonProcess, data_dir: Path) -> None:
    env_file = data_dir / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    exports = first.exports
    for name in (
        "AWS_ENDPOINT_URL_PROTON",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    ):
        assert exports[name], name
    assert exports["AWS_ACCESS_KEY_ID"].startswith("BARY")
    # The secret is encrypted at rest: it never appears in the database file.
    assert exports["AWS_SECRET_ACCESS_KEY"].encode() not in (data_dir / "baryon.db").read_bytes()
    assert first.log_tail(200).count(exports["AWS_SECRET_ACCESS_KEY"]) == 1  # printed once

    proton = first.client("proton")
    registry = Registry(proton, first.client("s3"))
    proton.create_environment_template(name="kept", displayName="Kept across restarts")
    version = registry.register("environment", "kept", tar_gz(env_bundle()))
    assert version["status"] == "DRAFT", version.get("statusMessage")
    source_key = registry.upload(b"kept object")["s3"]["key"]
    (data_dir / "kept-key").write_text(source_key)

    listed = _aws(env_file, "proton", "list-environment-templates")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "kept"' in listed.stdout
    bad = _aws(env_file, "proton", "get-environment-template", "--name", "nope")
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr
    info = _aws(env_file, "baryon", "get-server-info")
    assert info.returncode == 0 and "bundleBucket" in info.stdout, info.stderr

    assert first.stop(signal.SIGINT) == 0
    assert "Baryon stopped." in first.log_tail()


def _second_run(second: BaryonProcess, exports: dict[str, str]) -> None:
    assert second.exports["AWS_ACCESS_KEY_ID"] == exports["AWS_ACCESS_KEY_ID"]
    proton = second.client("proton")
    kept = proton.get_environment_template(name="kept")["environmentTemplate"]
    assert kept["displayName"] == "Kept across restarts"
    got = proton.get_environment_template_version(
        templateName="kept", majorVersion="1", minorVersion="0"
    )["environmentTemplateVersion"]
    assert got["status"] == "DRAFT"
    # The local cloud kept its state too: the uploaded bundle is still there.
    source_key = (second.data_dir / "kept-key").read_text()
    assert (
        second.client("s3")
        .get_object(Bucket="baryon-bundles-123456789012", Key=source_key)["Body"]
        .read()
        == b"kept object"
    )
    assert second.stop(signal.SIGTERM) == 0


def test_keys_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_baryon(data_dir)
    try:
        base = [sys.executable, "-m", "baryon.cli.main", "keys"]
        env = clean_environment()
        created = subprocess.run(
            [*base, "create", "--description", "ci", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        values = dict(line.split("=", 1) for line in created.stdout.split())
        key_id, secret = values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"]
        listed = subprocess.run(
            [*base, "list", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        assert key_id in listed.stdout and secret not in listed.stdout
        client = server.client("proton", aws_access_key_id=key_id, aws_secret_access_key=secret)
        client.list_service_templates()
        subprocess.run(
            [*base, "delete", key_id, "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
            env=env,
        )
        # The server's secret cache lets a deleted key live a few seconds at most.
        import time

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client.list_service_templates()
            except client.exceptions.ClientError as exc:
                assert exc.response["Error"]["Code"] == "UnrecognizedClientException"
                break
            time.sleep(0.5)
        else:
            raise AssertionError("a deleted key kept working")
        missing = subprocess.run(
            [*base, "delete", key_id, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert missing.returncode != 0 and "no access key" in missing.stderr
    finally:
        server.stop()


def test_master_key_is_kept_outside_the_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_baryon(data_dir)
    server.stop()
    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().strip() not in (data_dir / "baryon.db").read_bytes()
    assert os.access(key_file, os.R_OK)
