"""`baryon template render`: what a bundle deploys for a spec, offline, with the spec checked
as CreateEnvironment and CreateService check it and rendered as a deployment renders it
(tests/live/test_template_cli_publish.py compares it with what a deployment deployed)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from baryon.cli.failures import ExitStatus
from baryon.cli.main import cli
from tests.support.bundles import env_bundle, service_bundle
from tests.support.samples import Sample, sample_bundles


@pytest.fixture(autouse=True)
def _own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("BARYON_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BARYON_DATA_DIR", str(tmp_path / "data"))


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _spec(tmp_path: Path, document: dict[str, object], name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref``) read as their plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def _cfn(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return data


def _render(*args: str) -> Result:
    return CliRunner().invoke(cli, ["template", "render", *args])


def _render_without_pipeline(*args: str) -> Result:
    """A service bundle without a pipeline: its pipeline provisioning is the customer's."""
    return _render(*args, "--customer-managed")


def test_an_environment_sample_renders_with_its_own_spec(samples: Path) -> None:
    folder = samples / "environment-templates" / "vpc-env"
    result = _render(str(folder / "v1"), "--spec", str(folder / "spec" / "spec.yaml"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# --- environment/cloudformation.yaml (cloudformation)\n")
    spec = yaml.safe_load((folder / "spec" / "spec.yaml").read_text())["spec"]
    body = result.stdout.split("\n", 1)[1]
    assert f"'{spec['vpc_cidr']}'" in body or spec["vpc_cidr"] in body
    assert "{{" not in body


_SERVICE_SAMPLES = [sample for sample in sample_bundles() if sample.kind == "service"]


def _outputs_read(folder: Path, pattern: str) -> dict[str, str]:
    """A stand-in for every output the folder's templates read, conditionally or not (the
    lambda pipelines look their runtime up in a table: it takes a real one)."""
    text = "".join(path.read_text() for path in sorted(folder.glob("*.yaml")))
    real = {"LambdaRuntime": "python3.8"}
    return {name: real.get(name, f"stand-in-{name}") for name in re.findall(pattern, text)}


@pytest.mark.parametrize("sample", _SERVICE_SAMPLES, ids=lambda sample: sample.id)
def test_every_service_sample_renders_its_instances_and_pipeline_with_its_spec(
    sample: Sample, tmp_path: Path
) -> None:
    spec_path = next(
        path
        for folder in sample.path.parents
        for path in sorted([*folder.glob("spec/*.yaml"), *folder.glob("specs/*.yaml")])
        if yaml.safe_load(path.read_text()).get("proton") == "ServiceSpec"
    )
    out = tmp_path / "out"
    result = _render(
        str(sample.path),
        "--spec",
        str(spec_path),
        "--environment-outputs",
        json.dumps(
            _outputs_read(sample.path / "instance_infrastructure", r"environment\.outputs\.(\w+)")
        ),
        "--instance-outputs",
        json.dumps(_outputs_read(sample.path / "pipeline_infrastructure", r"outputs\.(\w+)")),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    for instance in yaml.safe_load(spec_path.read_text())["instances"]:
        rendered = (out / "instances" / instance["name"] / "cloudformation.yaml").read_text()
        assert "{{" not in rendered
    assert (out / "pipeline").is_dir() == sample.has_pipeline


def test_a_service_renders_into_folders_with_the_outputs_and_names_given(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle())
    spec = _spec(
        tmp_path,
        {
            "proton": "ServiceSpec",
            "pipeline": {"dockerfile": "Dockerfile.prod"},
            "instances": [
                {"name": "b-instance", "environment": "prod", "spec": {"port": 8080}},
                {"name": "a-instance", "environment": "dev"},
            ],
        },
    )
    out = tmp_path / "out"
    result = _render(
        str(folder),
        "--spec",
        str(spec),
        "--name",
        "shop",
        "--environment-outputs",
        '{"BucketName": "artifacts"}',
        "--instance-outputs",
        '{"Port": "8080"}',
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    instance = _cfn(out / "instances" / "b-instance" / "cloudformation.yaml")
    assert instance["Resources"]["Param"]["Properties"]["Value"] == "shop-b-instance-nginx"
    assert instance["Outputs"]["Port"]["Value"] == "8080"
    assert instance["Outputs"]["EnvBucket"]["Value"] == "artifacts"
    pipeline = _cfn(out / "pipeline" / "cloudformation.yaml")
    assert pipeline["Resources"]["Param"]["Properties"]["Value"] == "shop-pipeline-Dockerfile.prod"
    # The pipeline lists its instances by name, as the deploy job does.
    assert pipeline["Outputs"]["Instances"]["Value"] == "a-instance=8080@dev;b-instance=8080@prod;"


def test_a_spec_missing_a_required_input_names_the_field_and_the_spec(tmp_path: Path) -> None:
    files = env_bundle()
    files["schema/schema.yaml"] += "      required: [owner]\n"
    files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
        "        size:\n", "        owner:\n          type: string\n        size:\n"
    )
    folder = _write(tmp_path / "env", files)
    spec = _spec(tmp_path, {"proton": "EnvironmentSpec", "spec": {"size": "large"}})
    result = _render(str(folder), "--spec", str(spec))
    assert result.exit_code == ExitStatus.INVALID_INPUT, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"baryon: {spec}: The spec does not match the template's")
    assert "spec.owner" in result.stderr or "'owner' is a required" in result.stderr


def test_a_spec_value_breaking_the_schema_names_its_field(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path,
        {
            "proton": "ServiceSpec",
            "instances": [{"name": "one", "environment": "dev", "spec": {"port": 70000}}],
        },
    )
    result = _render_without_pipeline(
        str(folder), "--spec", str(spec), "--environment-outputs", "{}"
    )
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "instances[0].spec.port" in result.stderr


def test_a_spec_of_the_wrong_kind_names_the_proton_key(tmp_path: Path) -> None:
    folder = _write(tmp_path / "env", env_bundle())
    spec = _spec(tmp_path, {"proton": "ServiceSpec", "instances": []})
    result = _render(str(folder), "--spec", str(spec))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "spec.proton: must be 'EnvironmentSpec'" in result.stderr


def test_an_output_the_template_reads_but_nobody_gave_names_file_and_line(
    tmp_path: Path,
) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path, {"proton": "ServiceSpec", "instances": [{"name": "one", "environment": "dev"}]}
    )
    result = _render_without_pipeline(str(folder), "--spec", str(spec))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    line = next(
        number
        for number, text in enumerate(
            service_bundle()["instance_infrastructure/cloudformation.yaml"].splitlines(), start=1
        )
        if "environment.outputs.BucketName" in text
    )
    assert f"instance_infrastructure/cloudformation.yaml line {line}" in result.stderr
    assert "environment.outputs.BucketName" in result.stderr
    assert "--environment-outputs" in result.stderr


def test_a_jinja_syntax_error_is_refused_before_any_spec_is_read(tmp_path: Path) -> None:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] += "{% if %}\n"
    folder = _write(tmp_path / "env", files)
    spec = _spec(tmp_path, {"proton": "EnvironmentSpec"})
    result = _render(str(folder), "--spec", str(spec))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    line = len(files["infrastructure/cloudformation.yaml"].splitlines())
    assert f"infrastructure/cloudformation.yaml line {line}" in result.stderr
    assert "does not compile" in result.stderr


def test_outputs_that_are_not_a_json_object_of_strings_are_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path, {"proton": "ServiceSpec", "instances": [{"name": "one", "environment": "dev"}]}
    )
    for given, reason in (
        ("{not json", "is not JSON"),
        ('{"Port": 80}', "'Port' is not"),
        (str(tmp_path / "absent.json"), "cannot be read"),
    ):
        result = _render_without_pipeline(
            str(folder), "--spec", str(spec), "--environment-outputs", given
        )
        assert result.exit_code == ExitStatus.INVALID_INPUT, given
        assert result.stderr.startswith("baryon: --environment-outputs: "), result.stderr
        assert reason in result.stderr


def test_outputs_can_come_from_a_file(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path, {"proton": "ServiceSpec", "instances": [{"name": "one", "environment": "dev"}]}
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"BucketName": "from-a-file"}')
    result = _render_without_pipeline(
        str(folder), "--spec", str(spec), "--environment-outputs", str(outputs)
    )
    assert result.exit_code == 0, result.output
    assert "from-a-file" in result.stdout


def test_an_instance_name_cannot_write_outside_the_out_folder(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path,
        {"proton": "ServiceSpec", "instances": [{"name": "../../escape", "environment": "dev"}]},
    )
    out = tmp_path / "deep" / "out"
    result = _render_without_pipeline(
        str(folder),
        "--spec",
        str(spec),
        "--environment-outputs",
        '{"BucketName": "b"}',
        "--out",
        str(out),
    )
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert "outside" in result.stderr
    assert not (tmp_path / "escape").exists()


def test_output_json_gives_every_resource_and_its_files(tmp_path: Path) -> None:
    folder = _write(tmp_path / "svc", service_bundle(pipeline=False))
    spec = _spec(
        tmp_path,
        {
            "proton": "ServiceSpec",
            "instances": [{"name": "one", "environment": "dev", "spec": {"extra": 1}}],
        },
    )
    result = _render_without_pipeline(
        str(folder),
        "--spec",
        str(spec),
        "--environment-outputs",
        '{"BucketName": "b"}',
        "--output",
        "json",
    )
    assert result.exit_code == 0, result.output
    (resource,) = json.loads(result.stdout)["resources"]
    assert (resource["kind"], resource["name"], resource["engine"]) == (
        "service_instance",
        "one",
        "cloudformation",
    )
    assert "/baryon/my-service/one" in resource["files"]["cloudformation.yaml"]
    # An undeclared spec key is left out and reported, as a deployment reports it.
    assert resource["warnings"] and "extra" in resource["warnings"][0]
