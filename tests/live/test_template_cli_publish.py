"""`baryon template publish` against a live Baryon: everything checked before the upload, a
dry run that changes nothing, and a failure that deletes what the command created (no
template, no REGISTRATION_FAILED version using up a major number, no upload).

This Baryon refuses bundle files over 4 KiB while the CLI checks with the default limits, so
a bundle with a larger file passes every check the CLI can make and fails registration on
the server: the one failure left for the clean-up to handle.

The command runs in this process (tests.support.cli); the failed registration and the wrong
secret also go through the real entry point, ``python -m baryon.cli.main``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cli.failures import ExitStatus
from tests.support.bundles import env_bundle, service_bundle
from tests.support.cli import CommandRun, run_baryon
from tests.support.processes import BaryonProcess, clean_environment, own_baryon

server = own_baryon("publish-cli", env={"BARYON_BUNDLE_MAX_FILE_BYTES": "4096"})

# Passes the CLI's checks (default limits), fails registration on this server.
TOO_LARGE_FOR_THE_SERVER = {"README.md": "x" * 6000}


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _publish(baryon: BaryonProcess, *args: str, **env: str) -> CommandRun:
    """``baryon template publish ARGS`` in this process, in a shell that sourced the env file."""
    return run_baryon(["template", "publish", *args], _shell(baryon, env))


def _publish_process(
    baryon: BaryonProcess, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The same through the real entry point (``python -m baryon.cli.main``)."""
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "template", "publish", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_shell(baryon, env),
    )


def _shell(baryon: BaryonProcess, env: Mapping[str, str]) -> dict[str, str]:
    exports = {k: v for k, v in baryon.exports.items() if k != "AWS_DATA_PATH"}
    return clean_environment(**{**exports, **env})


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _uploads(baryon: BaryonProcess, kind: str, name: str) -> list[str]:
    s3: Any = baryon.client("s3")
    bucket = baryon.client("baryon").get_server_info()["bundleBucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{kind}-templates/{name}/")
    return [item["Key"] for item in listed.get("Contents", [])]


def _versions(baryon: BaryonProcess, name: str) -> list[tuple[str, str, str]]:
    proton: Any = baryon.client("proton")
    listed = proton.list_environment_template_versions(templateName=name)["templateVersions"]
    return sorted((v["majorVersion"], v["minorVersion"], v["status"]) for v in listed)


def _template_exists(baryon: BaryonProcess, name: str, kind: str = "environment") -> bool:
    proton: Any = baryon.client("proton")
    try:
        getattr(proton, f"get_{kind}_template")(name=name)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def test_a_dry_run_checks_everything_and_changes_nothing(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("dry")
    folder = _write(tmp_path / "env", env_bundle())
    result = _publish(server, str(folder), "--name", name, "--kind", "environment", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Would upload" in result.stdout
    assert f"Would create the environment template {name}" in result.stdout
    assert "Dry run: nothing was changed." in result.stdout
    assert not _template_exists(server, name)
    assert _uploads(server, "environment", name) == []


def test_a_failed_registration_of_a_new_template_leaves_nothing_behind(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("fails")
    folder = _write(tmp_path / "env", {**env_bundle(), **TOO_LARGE_FOR_THE_SERVER})
    result = _publish_process(server, str(folder), "--name", name, "--kind", "environment")
    assert result.returncode == ExitStatus.REFUSED, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"baryon: {name} 1.0 failed to register: archive member 'README.md'"), (
        last
    )
    # Deleted newest first: the version, the template, the upload.
    bucket = server.client("baryon").get_server_info()["bundleBucket"]
    deleted = [line for line in result.stderr.splitlines() if line.startswith("Deleted ")]
    assert deleted[:2] == [
        f"Deleted version 1.0 of {name}",
        f"Deleted the environment template {name}",
    ], result.stderr
    assert deleted[2].startswith(f"Deleted s3://{bucket}/environment-templates/{name}/")
    assert len(deleted) == 3
    assert not _template_exists(server, name)
    assert _uploads(server, "environment", name) == []


def test_a_failed_new_major_version_does_not_use_up_its_number(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("majors")
    good = _write(tmp_path / "good", env_bundle())
    assert _publish(server, str(good), "--name", name, "--kind", "environment").returncode == 0
    bad = _write(tmp_path / "bad", {**env_bundle(), **TOO_LARGE_FOR_THE_SERVER})
    failed = _publish(server, str(bad), "--name", name, "--kind", "environment")
    assert failed.returncode == ExitStatus.REFUSED, failed.stderr
    assert "2.0 failed to register" in failed.stderr
    # The template was there before: it stays, without the failed version.
    assert _versions(server, name) == [("1", "0", "DRAFT")]
    assert len(_uploads(server, "environment", name)) == 1
    better = _write(tmp_path / "better", {**env_bundle(), "README.md": "a new major\n"})
    again = _publish(server, str(better), "--name", name, "--kind", "environment")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"environment-template/{name}:2.0")


def test_the_description_is_set_on_a_new_template_and_on_the_version(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("described")
    folder = _write(tmp_path / "env", env_bundle())
    result = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--description", "Networks"
    )
    assert result.returncode == 0, result.stderr
    proton: Any = server.client("proton")
    template = proton.get_environment_template(name=name)["environmentTemplate"]
    version = proton.get_environment_template_version(
        templateName=name, majorVersion="1", minorVersion="0"
    )["environmentTemplateVersion"]
    assert (template["description"], version["description"]) == ("Networks", "Networks")


def test_customer_managed_must_say_what_the_existing_template_is(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("managed")
    folder = _write(tmp_path / "env", env_bundle())
    assert _publish(server, str(folder), "--name", name, "--kind", "environment").returncode == 0
    result = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--customer-managed"
    )
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.strip() == (
        f"baryon: the environment template '{name}' exists and its provisioning is provisioned "
        "by Baryon; leave out --customer-managed, or publish under another --name"
    )
    assert _versions(server, name) == [("1", "0", "DRAFT")]


def test_a_customer_managed_template_is_created_so_and_its_versions_need_the_flag(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("byo")
    schema = env_bundle()["schema/schema.yaml"].replace("          default: 10.0.0.0/16\n", "")
    schema = schema.replace("          default: small\n", "")
    folder = _write(tmp_path / "env", {"schema/schema.yaml": schema})
    created = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--customer-managed"
    )
    assert created.returncode == 0, created.stderr
    proton: Any = server.client("proton")
    template = proton.get_environment_template(name=name)["environmentTemplate"]
    assert template["provisioning"] == "CUSTOMER_MANAGED"
    without = _publish(server, str(folder), "--name", name, "--kind", "environment")
    assert without.returncode == ExitStatus.USAGE
    assert "pass --customer-managed" in without.stderr


def test_a_missing_compatible_environment_is_refused_before_anything_is_created(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("svc")
    folder = _write(tmp_path / "svc", service_bundle())
    result = _publish(
        server,
        str(folder),
        "--name",
        name,
        "--kind",
        "service",
        "--compatible-environment",
        "no-such-env:1",
    )
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.strip().startswith(
        "baryon: compatible environment no-such-env:1: the environment template 'no-such-env' "
        "has no major version 1"
    )
    assert not _template_exists(server, name, "service")
    assert _uploads(server, "service", name) == []


def test_a_major_version_that_does_not_exist_is_refused_before_the_upload(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("nomajor")
    folder = _write(tmp_path / "env", env_bundle())
    assert _publish(server, str(folder), "--name", name, "--kind", "environment").returncode == 0
    result = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--major-version", "7"
    )
    assert result.returncode == ExitStatus.USAGE
    assert "has no major version 7" in result.stderr


def test_an_incompatible_minor_version_is_refused_with_registrations_reason(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("minor")
    folder = _write(tmp_path / "env", env_bundle())
    assert _publish(server, str(folder), "--name", name, "--kind", "environment").returncode == 0
    files = env_bundle()
    files["schema/schema.yaml"] += "      required: [owner]\n"
    files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
        "        size:\n", "        owner:\n          type: string\n        size:\n"
    )
    newer = _write(tmp_path / "newer", files)
    result = _publish(
        server, str(newer), "--name", name, "--kind", "environment", "--major-version", "1"
    )
    assert result.returncode == ExitStatus.INVALID_INPUT, result.stderr
    assert "not backward compatible with version 1.0" in result.stderr
    assert _versions(server, name) == [("1", "0", "DRAFT")]


def test_an_invalid_template_name_is_refused_with_the_apis_rule(
    server: BaryonProcess, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "env", env_bundle())
    result = _publish(server, str(folder), "--name", "Not A Name!", "--kind", "environment")
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.startswith("baryon: --name 'Not A Name!' is not a template name")


def test_a_server_that_does_not_answer_is_one_line_and_its_own_status(
    server: BaryonProcess, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    folder = _write(tmp_path / "env", env_bundle())
    endpoints = {k: closed for k in server.exports if k.startswith("AWS_ENDPOINT_URL")}
    result = _publish(
        server,
        str(folder),
        "--name",
        _name("down"),
        "--kind",
        "environment",
        AWS_MAX_ATTEMPTS="1",
        **endpoints,
    )
    assert result.returncode == ExitStatus.SERVER_UNREACHABLE, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"baryon: nothing answers at {closed}")


def test_a_wrong_secret_is_one_line_and_its_own_status(
    server: BaryonProcess, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "env", env_bundle())
    result = _publish_process(
        server,
        str(folder),
        "--name",
        _name("secret"),
        "--kind",
        "environment",
        AWS_SECRET_ACCESS_KEY="not-the-secret",
    )
    assert result.returncode == ExitStatus.CREDENTIALS_REFUSED, result.stderr
    assert result.stderr.startswith("baryon: the server refused the credentials")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag", ["--dry-run", "--publish"])
def test_publish_still_follows_the_readme_flags(
    server: BaryonProcess, tmp_path: Path, flag: str
) -> None:
    name = _name("flags")
    folder = _write(tmp_path / "env", env_bundle())
    result = _publish(server, str(folder), "--name", name, "--kind", "environment", flag)
    assert result.returncode == 0, result.stderr
    assert _template_exists(server, name) == (flag == "--publish")


def test_a_dry_run_prints_its_plan_as_json_and_a_publish_its_version(
    server: BaryonProcess, tmp_path: Path
) -> None:
    name = _name("json")
    folder = _write(tmp_path / "env", env_bundle())
    dry = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--dry-run",
        "--output", "json",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["templateName"], plan["createTemplate"], plan["majorVersion"]) == (
        name,
        True,
        None,
    )
    assert plan["upload"].startswith("s3://") and plan["uploadBytes"] > 0
    assert not _template_exists(server, name)
    done = _publish(
        server, str(folder), "--name", name, "--kind", "environment", "--publish",
        "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    published = json.loads(done.stdout)
    assert (published["majorVersion"], published["minorVersion"], published["status"]) == (
        "1",
        "0",
        "PUBLISHED",
    )
    assert published["arn"].endswith(f"environment-template/{name}:1.0")
