"""`baryon template publish DIR`: no hand-made tarballs, no manual uploads."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cli.failures import ExitStatus
from tests.support.bundles import env_bundle, service_bundle
from tests.support.processes import BaryonProcess, clean_environment


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _publish(baryon: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "template", "publish", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(**{k: v for k, v in baryon.exports.items() if k != "AWS_DATA_PATH"}),
    )


def test_publish_environment_then_service(baryon: BaryonProcess, tmp_path: Path) -> None:
    proton: Any = baryon.client("proton")
    env_name, svc_name = f"pub-env-{uuid.uuid4().hex[:6]}", f"pub-svc-{uuid.uuid4().hex[:6]}"
    env_dir = _write(tmp_path / "env", env_bundle())
    result = _publish(
        baryon,
        str(env_dir),
        "--name",
        env_name,
        "--kind",
        "environment",
        "--description",
        "from the CLI",
        "--publish",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"environment-template/{env_name}:1.0")
    assert f"{env_name} 1.0 is PUBLISHED" in result.stderr
    version = proton.get_environment_template_version(
        templateName=env_name, majorVersion="1", minorVersion="0"
    )["environmentTemplateVersion"]
    assert (version["status"], version["description"]) == ("PUBLISHED", "from the CLI")

    again = _publish(
        baryon, str(env_dir), "--name", env_name, "--kind", "environment", "--major-version", "1"
    )
    assert again.returncode == 0, again.stderr
    assert f"{env_name} 1.1 is DRAFT" in again.stderr

    svc_files = service_bundle()
    svc_files[".template-registration.yaml"] = f"compatible_environments:\n  - {env_name}:1\n"
    svc_dir = _write(tmp_path / "svc", svc_files)
    result = _publish(baryon, str(svc_dir), "--name", svc_name, "--kind", "service", "--publish")
    assert result.returncode == 0, result.stderr
    version = proton.get_service_template_version(
        templateName=svc_name, majorVersion="1", minorVersion="0"
    )["serviceTemplateVersion"]
    assert version["compatibleEnvironmentTemplates"] == [
        {"templateName": env_name, "majorVersion": "1"}
    ]


def test_publish_reports_why_registration_failed(baryon: BaryonProcess, tmp_path: Path) -> None:
    files = env_bundle()
    files["infrastructure/manifest.yaml"] = files["infrastructure/manifest.yaml"].replace(
        "cloudformation.yaml", "missing.yaml"
    )
    folder = _write(tmp_path / "broken", files)
    name = f"broken-{uuid.uuid4().hex[:6]}"
    result = _publish(baryon, str(folder), "--name", name, "--kind", "environment")
    # Registration's own check runs before the upload: its reason, and nothing created.
    assert result.returncode == ExitStatus.INVALID_INPUT
    assert "missing.yaml" in result.stderr
    with pytest.raises(ClientError, match="ResourceNotFound"):
        baryon.client("proton").get_environment_template(name=name)


def test_service_without_compatible_environments_is_refused_locally(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "svc", service_bundle())
    result = _publish(baryon, str(folder), "--name", "lonely", "--kind", "service")
    assert result.returncode != 0
    assert "compatible environments" in result.stderr
