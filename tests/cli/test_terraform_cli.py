"""`baryon terraform state`: a person reads any kept version of a resource's Terraform state
from the store, with the master key, while the API may be down."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from baryon.cli.main import cli
from baryon.operations.terraform_state import TerraformStates
from baryon.runtime import build_runtime
from baryon.settings import Settings

ARN = "arn:aws:proton:us-east-1:123456789012:environment/dev"


def _write_versions(data_dir: Path, *serials: int) -> None:
    runtime = build_runtime(Settings(data_dir=data_dir))
    try:
        states = TerraformStates(runtime.db, runtime.box)
        for serial in serials:
            states.write(ARN, json.dumps({"serial": serial}), None)
    finally:
        runtime.close()


def test_the_latest_state_or_any_version_is_printed_by_resource_name_or_arn(
    tmp_path: Path,
) -> None:
    _write_versions(tmp_path, 7, 8)
    runner = CliRunner()
    latest = runner.invoke(
        cli, ["terraform", "state", "show", "environment/dev", "--data-dir", str(tmp_path)]
    )
    assert latest.exit_code == 0, latest.output
    assert json.loads(latest.stdout) == {"serial": 8}
    first = runner.invoke(
        cli,
        ["terraform", "state", "show", ARN, "--version", "1", "--data-dir", str(tmp_path)],
    )
    assert json.loads(first.stdout) == {"serial": 7}
    listed = runner.invoke(
        cli, ["terraform", "state", "versions", ARN, "--data-dir", str(tmp_path)]
    )
    assert listed.stdout.split() == ["1", "2"]


def test_a_resource_without_state_is_an_error_naming_it(tmp_path: Path) -> None:
    _write_versions(tmp_path)  # a store, with no state at all
    answer = CliRunner().invoke(
        cli, ["terraform", "state", "show", "environment/none", "--data-dir", str(tmp_path)]
    )
    assert answer.exit_code != 0
    assert "no state for arn:aws:proton:us-east-1:123456789012:environment/none" in answer.output


def test_output_json_prints_the_state_and_its_versions_as_one_document(tmp_path: Path) -> None:
    _write_versions(tmp_path, 7, 8)
    runner = CliRunner()
    base = ["terraform", "state", "--data-dir", str(tmp_path), "--output", "json"]
    shown = runner.invoke(cli, [*base[:2], "show", "environment/dev", *base[2:]])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert (document["arn"], document["version"], document["state"]) == (ARN, 2, {"serial": 8})
    listed = runner.invoke(cli, [*base[:2], "versions", ARN, *base[2:]])
    assert json.loads(listed.stdout) == {"arn": ARN, "versions": [1, 2]}
