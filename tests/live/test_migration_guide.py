"""The commands of docs/migrating-from-proton.md, run as written against a live Baryon and its
local cloud: the blocks are read from the guide at test time, so the guide cannot drift from
what works.

Run here: the pipeline key (`baryon keys create`, pointed at the server's data directory with
BARYON_DATA_DIR as a user on that machine would), the buildspec line that gives Baryon's key to
the Proton command only, the CodeBuild project edit up to its last line, and the role change
that deploys nothing. Not run: `aws codebuild update-project` (the local cloud's CodeBuild,
moto's, has no UpdateProject; the test checks the file it would send), and the blocks whose
names are examples of a user's own resources.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from baryon.provisioners.names import stack_name_for
from tests.support import proton_aftermath as pa
from tests.support.bundles import Registry
from tests.support.deploying import (
    REPO,
    env_spec,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    settled,
)
from tests.support.processes import BaryonProcess, clean_environment, own_baryon, start_baryon
from tests.support.proton_aftermath import make_aftermath

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-proton.md"
ROLE = "arn:aws:iam::123456789012:role/proton-service"
COMPONENT_ROLE = "arn:aws:iam::123456789012:role/proton-components"
PROJECT = "AWSProton-web-pipeline-Deploy1Project"


def guide_blocks(heading: str) -> list[str]:
    """The ``sh`` blocks between ``heading`` and the next heading of the same or a higher
    level, in order, continuation lines joined and the indentation of list items removed."""
    text = GUIDE.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    found = following.search(text, start + len(heading) + 2)
    section = text[start : found.start() if found else len(text)]
    blocks = re.findall(r"^( *)```sh\n(.*?)^\1```", section, re.DOTALL | re.MULTILINE)
    return [
        "\n".join(line[len(indent) :] for line in body.replace("\\\n", " ").splitlines())
        for indent, body in blocks
    ]


server = own_baryon("guide", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.2"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation", endpoint_url=server.cloud_endpoint)


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess, proton: Any) -> dict[str, Any]:
    """An environment named "prod", as the guide's examples name it, with a service "web"."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, "env")
    publish_service_template(registry, "svc", [("env", "1")])
    proton.create_environment(
        name="prod",
        templateName="env",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        componentRoleArn=COMPONENT_ROLE,
        spec=env_spec(),
    )
    view = settled(lambda: proton.get_environment(name="prod"), "environment")
    assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")
    proton.create_service(
        name="web",
        templateName="svc",
        templateMajorVersion="1",
        spec=service_spec([("staging", "prod", None)], pipeline={}),
        **REPO,
    )
    instance = instance_settled(proton, "web", "staging")
    assert instance["deploymentStatus"] == "SUCCEEDED", instance.get("deploymentStatusMessage")
    return view


def _user_environment(server: BaryonProcess, home: Path, **variables: str) -> dict[str, str]:
    """A shell with no AWS or Baryon settings but those given, the test's Python's programs
    (aws, baryon) first on PATH, and a HOME of its own."""
    home.mkdir(exist_ok=True)
    env = clean_environment(HOME=str(home), **variables)
    env = {k: v for k, v in env.items() if k in variables or not k.startswith("BARYON_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _pipeline_key(server: BaryonProcess, home: Path) -> tuple[str, str]:
    (create,) = guide_blocks("### What to set")
    assert create.startswith("baryon keys create"), create
    env = _user_environment(server, home, BARYON_DATA_DIR=str(server.data_dir))
    done = _run(create, home, env)
    assert done.returncode == 0, done.stderr
    printed = dict(line.split("=", 1) for line in done.stdout.split())
    return printed["AWS_ACCESS_KEY_ID"], printed["AWS_SECRET_ACCESS_KEY"]


def test_the_guides_buildspec_line_gives_baryons_key_to_the_proton_call_only(
    server: BaryonProcess, deployed: dict[str, Any], tmp_path: Path
) -> None:
    key = _pipeline_key(server, tmp_path / "home")
    _edit, buildspec = guide_blocks("### Where to set it in a CodeBuild project")
    # The build's own credentials (its project role's) stay what every other call uses;
    # Baryon does not know them.
    env = _user_environment(
        server,
        tmp_path / "home",
        AWS_ENDPOINT_URL_PROTON=server.endpoint,
        AWS_DEFAULT_REGION=server.exports["AWS_DEFAULT_REGION"],
        AWS_ACCESS_KEY_ID="ASIAPROJECTROLEKEY00",
        AWS_SECRET_ACCESS_KEY="the-project-roles-secret",
        BARYON_ACCESS_KEY_ID=key[0],
        BARYON_SECRET_ACCESS_KEY=key[1],
        service_name="web",
    )
    done = _run(buildspec, tmp_path, env)
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load((tmp_path / "service.yaml").read_text())
    assert [i["name"] for i in spec["instances"]] == ["staging"]
    # The same call with the build's own credentials is refused: the prefix is what works.
    plain = buildspec.split("aws proton", 1)[1]
    refused = _run("aws proton" + plain, tmp_path, env)
    assert refused.returncode != 0 and "UnrecognizedClient" in refused.stderr, refused.stderr


def test_the_guides_codebuild_edit_adds_the_endpoint_and_key_to_the_projects_environment(
    server: BaryonProcess, tmp_path: Path
) -> None:
    edit, _buildspec = guide_blocks("### Where to set it in a CodeBuild project")
    lines = edit.splitlines()
    assert lines[-1].startswith("aws codebuild update-project"), lines[-1]
    codebuild = server.client("codebuild", endpoint_url=server.cloud_endpoint)
    environment = {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/amazonlinux2-x86_64-standard:3.0",
        "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [{"name": "service_name", "value": "web", "type": "PLAINTEXT"}],
    }
    codebuild.create_project(
        name=PROJECT,
        source={"type": "S3", "location": "pipeline-artifacts/source.zip"},
        artifacts={"type": "S3", "location": "pipeline-artifacts"},
        environment=environment,
        serviceRole="arn:aws:iam::123456789012:role/deploy",
    )
    env = _user_environment(
        server,
        tmp_path / "home",
        AWS_ENDPOINT_URL=server.cloud_endpoint,
        AWS_DEFAULT_REGION=server.exports["AWS_DEFAULT_REGION"],
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PROJECT=PROJECT,
    )
    done = _run("\n".join(lines[:-1]), tmp_path, env)
    assert done.returncode == 0, done.stderr
    sent = json.loads((tmp_path / "baryon-env.json").read_text())
    # What update-project would receive: the project's environment as it was, plus three.
    for member in ("type", "image", "computeType"):
        assert sent[member] == environment[member], member
    variables = {v["name"]: v for v in sent["environmentVariables"]}
    assert variables["service_name"]["value"] == "web"
    assert variables["AWS_ENDPOINT_URL_PROTON"]["type"] == "PLAINTEXT"
    assert variables["AWS_ACCESS_KEY_ID"]["type"] == "SECRETS_MANAGER"
    assert variables["AWS_SECRET_ACCESS_KEY"]["type"] == "SECRETS_MANAGER"


def test_the_guides_role_change_deploys_nothing_and_the_next_deployment_runs_as_the_new_role(
    server: BaryonProcess,
    proton: Any,
    cloudformation: Any,
    deployed: dict[str, Any],
    tmp_path: Path,
) -> None:
    (change,) = guide_blocks("## 5. Roles: who may update the adopted stacks")
    env = _user_environment(server, tmp_path / "home", **server.exports)
    done = _run(change, tmp_path, env)
    assert done.returncode == 0, done.stderr
    roles = dict(re.findall(r"--(\S+-role-arn) (\S+)", change))
    after = proton.get_environment(name="prod")["environment"]
    assert after["protonServiceRoleArn"] == roles["proton-service-role-arn"]
    assert after["componentRoleArn"] == roles["component-role-arn"]
    assert after["lastAttemptedDeploymentId"] == deployed["lastAttemptedDeploymentId"]
    settings = proton.get_account_settings()["accountSettings"]
    assert settings["pipelineServiceRoleArn"] == roles["pipeline-service-role-arn"]

    # As the guide says, Baryon hands the role to CloudFormation as the stack's RoleARN.
    proton.update_environment(name="prod", deploymentType="CURRENT_VERSION")
    view = settled(lambda: proton.get_environment(name="prod"), "environment")
    assert view["deploymentStatus"] == "SUCCEEDED", view.get("deploymentStatusMessage")
    name = stack_name_for("environment", "prod")
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert stack["RoleARN"] == roles["proton-service-role-arn"]


def test_the_guides_import_first_look_and_rollback_leave_every_stack_as_it_was(
    tmp_path: Path,
) -> None:
    """Section 2's copy before the import, `baryon import` as section 3 runs it, section 7's
    first look (the stack's template is what Baryon would deploy), section 8's restore: Baryon
    has none of the imported records, every Proton stack is the same stack in the same state,
    and the same export can be imported again."""
    home = tmp_path / "home"
    data_dir = home / ".local" / "share" / "baryon"  # the default the guide's commands name
    env = {"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.05"}
    baryon = start_baryon(data_dir, env=env)
    try:
        aftermath = make_aftermath(baryon.client("cloudformation"), tmp_path / "export")
        stacks = _proton_stacks(baryon)
        assert {s.name for s in aftermath.stacks.values()} <= set(stacks)

        (backup,) = guide_blocks("## 2. The Baryon you move into")
        baryon = _restarted(baryon, backup, home, env)
        imported = guide_blocks("### 3.3 Import")[0]
        assert imported == "baryon import export", imported
        shell = _user_environment(baryon, home, **baryon.exports)
        done = _run(imported, tmp_path, shell)
        assert done.returncode == 0, done.stdout + done.stderr
        proton = baryon.client("proton")
        assert proton.get_environment(name=pa.ENVIRONMENT)["environment"]["arn"]
        assert _proton_stacks(baryon) == stacks

        # Section 7's first look: the stack's template against what Baryon would deploy.
        (first_look, _upgrade) = guide_blocks("## 7. The first upgrade")
        _example, commands = first_look.split("\n", 1)
        stack = aftermath.stacks["frontend/web-one"].name
        names = f"service=frontend instance=web-one stack={stack}\n"
        looked = _run(names + commands, tmp_path, shell)
        assert looked.returncode == 0, looked.stdout + looked.stderr
        assert looked.stdout == "the first deployment changes nothing\n"
        assert "Resources:" in (tmp_path / "proposed.yaml").read_text()

        # Section 8: the undo commands (run by test_proton_import, ids being the user's), then
        # the restore of the records copied before the import, run here as written.
        (_undo, restore) = guide_blocks(
            "## 8. Rollback: undoing an import without touching a stack"
        )
        baryon = _restarted(baryon, restore, home, env)
        proton = baryon.client("proton")
        assert proton.list_environments()["environments"] == []
        assert proton.list_services()["services"] == []
        assert proton.list_environment_templates()["templates"] == []
        assert _proton_stacks(baryon) == stacks
        # Imported again, it plans every resource anew, each adopting the same stack.
        shell = _user_environment(baryon, home, **baryon.exports)
        again = _run("baryon import --plan --output json export", tmp_path, shell)
        assert again.returncode == 0, again.stderr
        adopted = {
            item["stackId"]
            for item in json.loads(again.stdout)["items"]
            if item["action"] == "ADOPT"
        }
        assert adopted == {s.stack_id for s in aftermath.stacks.values()}
    finally:
        baryon.stop()


def _proton_stacks(baryon: BaryonProcess) -> dict[str, tuple[str, str, str]]:
    """Every live stack: name -> (id, status, last change)."""
    cloudformation = baryon.client("cloudformation")
    return {
        stack["StackName"]: (
            stack["StackId"],
            stack["StackStatus"],
            str(stack.get("LastUpdatedTime") or stack["CreationTime"]),
        )
        for page in cloudformation.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
    }


def _restarted(
    baryon: BaryonProcess, script: str, home: Path, env: dict[str, str]
) -> BaryonProcess:
    """Stops Baryon, runs ``script`` as its user, and starts it again on the same data."""
    assert baryon.stop() == 0
    done = _run(script, home, _user_environment(baryon, home))
    assert done.returncode == 0, done.stderr
    return start_baryon(baryon.data_dir, env=env)
