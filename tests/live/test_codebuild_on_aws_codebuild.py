"""With codebuild_runs_on = "aws" a CodeBuild bundle runs as Proton ran it: on AWS CodeBuild in
the environment's account, a project running as the environment's codebuildRoleArn. Here the
account is the local cloud, whose CodeBuild keeps projects and builds but runs nothing (a
build ends SUCCEEDED when first looked at), so the test sees what Baryon asked of CodeBuild.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from baryon.provisioners.base import ResourceKind
from tests.support.bundles import ENV_SCHEMA, Registry
from tests.support.deploying import env_spec, publish_environment_template, settled
from tests.support.processes import BaryonProcess, own_baryon

SERVICE_ROLE = "arn:aws:iam::123456789012:role/proton-service"
BUILD_ROLE = "arn:aws:iam::123456789012:role/proton-codebuild"
PROJECT = f"baryon-{ResourceKind.ENVIRONMENT.value}-cb-aws-dev"

server = own_baryon(
    "codebuild-on-aws-codebuild",
    env={"BARYON_CODEBUILD_RUNS_ON": "aws", "BARYON_CODEBUILD_POLL_SECONDS": "0.1"},
)

MANIFEST = """\
infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:4.0
        env:
          variables:
            GREETING: hello
        provision:
          - bash provision.sh
        deprovision:
          - bash deprovision.sh
        project_properties:
          Environment:
            ComputeType: BUILD_GENERAL1_LARGE
"""


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    return Registry(proton, server.client("s3"))


def test_an_environment_with_a_codebuild_role_deploys_on_aws_codebuild_and_deletes(
    server: BaryonProcess, proton: Any, registry: Registry
) -> None:
    publish_environment_template(
        registry,
        "cb-aws-env",
        {
            "schema/schema.yaml": ENV_SCHEMA,
            "infrastructure/manifest.yaml": MANIFEST,
            "infrastructure/provision.sh": "echo provisioning\n",
            "infrastructure/deprovision.sh": "echo deprovisioning\n",
        },
    )
    proton.create_environment(
        name="cb-aws-dev",
        templateName="cb-aws-env",
        templateMajorVersion="1",
        protonServiceRoleArn=SERVICE_ROLE,
        codebuildRoleArn=BUILD_ROLE,
        spec=env_spec(size="large"),
    )
    environment = settled(lambda: proton.get_environment(name="cb-aws-dev"), "environment")
    assert environment["deploymentStatus"] == "SUCCEEDED", environment
    assert environment["codebuildRoleArn"] == BUILD_ROLE

    codebuild = server.client("codebuild")
    (project,) = codebuild.batch_get_projects(names=[PROJECT])["projects"]
    assert project["serviceRole"] == BUILD_ROLE
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"
    variables = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert variables["RESOURCE_ARN"] == environment["arn"]
    assert variables["GREETING"] == "hello"
    phases = json.loads(project["source"]["buildspec"])["phases"]
    assert phases["build"]["commands"] == ["bash provision.sh"]
    assert len(codebuild.list_builds_for_project(projectName=PROJECT)["ids"]) == 1

    proton.delete_environment(name="cb-aws-dev")
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        for _ in range(600):
            status = proton.get_environment(name="cb-aws-dev")["environment"]["deploymentStatus"]
            assert status in ("DELETE_IN_PROGRESS", "SUCCEEDED"), status
            time.sleep(0.1)
    assert PROJECT not in codebuild.list_projects()["projects"]
