"""`baryon template validate`: a bundle checked offline with registration's own checks, so a
bundle is refused with the words, file, line and field registration would give, before any
upload."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from baryon.bundles.archive import pack_directory
from baryon.bundles.limits import BundleLimits
from baryon.cli.failures import ExitStatus
from baryon.cli.main import cli
from baryon.domain.templates import TemplateKind
from baryon.engine.registration import RegistrationFailed, checked_bundle
from baryon.settings import Settings
from tests.support.bundles import env_bundle, service_bundle
from tests.support.samples import Sample, sample_bundles


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No settings of the machine's (a config file, BARYON_* variables) reach these tests.
    for name in [name for name in os.environ if name.startswith("BARYON_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BARYON_DATA_DIR", str(tmp_path / "data"))


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _validate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["template", "validate", *args])


def _registration_message(folder: Path, kind: TemplateKind, tmp_path: Path) -> str:
    """What the registration job says of the same bundle, as the folder is uploaded."""
    archive = pack_directory(folder, BundleLimits())
    settings = Settings(data_dir=tmp_path / "server")
    with pytest.raises(RegistrationFailed) as refused:
        checked_bundle(settings, archive, kind, None)
    return str(refused.value)


@pytest.mark.parametrize("sample", sample_bundles(), ids=lambda sample: sample.id)
def test_every_environment_and_service_sample_of_aws_validates(sample: Sample) -> None:
    result = _validate(str(sample.path))
    assert result.exit_code == 0, result.output
    assert f"a valid {sample.kind} template bundle" in result.stdout


def test_a_sample_validates_as_an_archive_too(tmp_path: Path, samples: Path) -> None:
    folder = samples / "environment-templates" / "fargate-env" / "v1"
    archive = tmp_path / "fargate-env.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="v1")  # AWS's own instructions: one wrapper folder
    result = _validate(str(archive), "--kind", "environment")
    assert result.exit_code == 0, result.output


def test_a_schema_that_is_not_valid_names_the_file_line_and_the_message_registration_gives(
    tmp_path: Path,
) -> None:
    files = env_bundle()
    files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
        "type: string\n          enum", "type: strin\n          enum"
    )
    folder = _write(tmp_path / "bad-schema", files)
    result = _validate(str(folder))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert len(result.stderr.strip().splitlines()) == 1
    assert "schema/schema.yaml line 15" in result.stderr
    assert "strin" in result.stderr
    registration = _registration_message(folder, TemplateKind.ENVIRONMENT, tmp_path)
    assert registration in result.stderr


def test_a_jinja_syntax_error_names_the_template_file_and_line(tmp_path: Path) -> None:
    files = service_bundle()
    files["instance_infrastructure/cloudformation.yaml"] += "  Broken: '{{ service.name }'\n"
    folder = _write(tmp_path / "bad-jinja", files)
    result = _validate(str(folder), "--kind", "service")
    assert result.exit_code == ExitStatus.INVALID_INPUT
    line = len(files["instance_infrastructure/cloudformation.yaml"].splitlines())
    assert f"instance_infrastructure/cloudformation.yaml line {line}" in result.stderr
    assert "the template does not compile" in result.stderr
    registration = _registration_message(folder, TemplateKind.SERVICE, tmp_path)
    assert registration in result.stderr


def test_a_manifest_naming_a_missing_file_is_refused_as_registration_refuses_it(
    tmp_path: Path,
) -> None:
    files = env_bundle()
    files["infrastructure/manifest.yaml"] = files["infrastructure/manifest.yaml"].replace(
        "cloudformation.yaml", "missing.yaml"
    )
    folder = _write(tmp_path / "missing", files)
    result = _validate(str(folder))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "missing.yaml" in result.stderr
    assert _registration_message(folder, TemplateKind.ENVIRONMENT, tmp_path) in result.stderr


def test_a_bundle_checked_as_the_other_kind_names_the_schema_field(tmp_path: Path) -> None:
    folder = _write(tmp_path / "env", env_bundle())
    result = _validate(str(folder), "--kind", "service")
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "(schema.environment_input_type)" in result.stderr
    assert "registered as a service template" in result.stderr


def test_the_kind_comes_from_the_schema_when_not_given(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle())
    result = _validate(str(folder))
    assert result.exit_code == 0, result.output
    assert "a valid service template bundle" in result.stdout


CUSTOMER_MANAGED_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "Outputs"
  types:
    Outputs:
      type: object
      properties:
        vpc_id:
          type: string
      required: [vpc_id]
"""


def test_a_customer_managed_environment_bundle_needs_only_its_schema(tmp_path: Path) -> None:
    folder = _write(tmp_path / "cm", {"schema/schema.yaml": CUSTOMER_MANAGED_SCHEMA})
    refused = _validate(str(folder))
    assert refused.exit_code == ExitStatus.INVALID_INPUT
    assert "infrastructure/" in refused.stderr
    result = _validate(str(folder), "--customer-managed")
    assert result.exit_code == 0, result.output


def test_a_file_that_is_no_archive_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"not an archive at all")
    result = _validate(str(path))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert result.stderr.strip() == (
        f"baryon: {path}: not a tar.gz, tar or zip archive; "
        "fix the bundle and run `baryon template validate` again"
    )


def test_an_archive_over_the_bundle_limit_is_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARYON_BUNDLE_MAX_ARCHIVE_BYTES", "1000")
    path = tmp_path / "big.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"x" * 5000
        info = tarfile.TarInfo("schema/schema.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    result = _validate(str(path))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "larger than 1,000 bytes" in result.stderr


def test_output_json_says_the_kind_and_the_warnings(tmp_path: Path) -> None:
    files = env_bundle()
    files["notes/readme.txt"] = "kept, not used\n"
    folder = _write(tmp_path / "env", files)
    result = _validate(str(folder), "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["bundle"], document["kind"]) == (str(folder), "environment")
    assert document["warnings"] == ["unexpected folder 'notes/' is kept in the bundle but not used"]
