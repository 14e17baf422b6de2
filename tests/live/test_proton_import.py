"""`baryon import` on a live Baryon brings the aftermath of a Proton account under management.

The aftermath (tests/support/proton_aftermath.py) is made on Baryon's own local cloud: Proton-
named, Proton-tagged stacks rendered from AWS's samples, an export directory shaped by the
Proton model, and bundles for all versions but the environment template's. The tests run in
order on one Baryon of their own:

- ``baryon import --plan`` lists what would happen and changes nothing;
- ``baryon import`` creates every template, version and resource, each resource keeping its
  stack (same stack id), every output present, the version without a bundle recovered from its
  stack; the output ends with what pipelines that call ``aws proton`` need;
- a minor upgrade of an adopted instance updates its Proton stack in place (same StackId);
- a second import changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import proton_aftermath as pa
from tests.support.cli import CommandRun, run_baryon
from tests.support.deploying import outputs
from tests.support.processes import BaryonProcess, clean_environment, own_baryon
from tests.support.proton_aftermath import Aftermath, make_aftermath
from tests.support.samples import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

server = own_baryon("proton-import", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.05"})
RESOURCES = ["environment", "frontend/web-one", "frontend/web-two", "frontend pipeline"]
RESOURCES += ["backend/api", "component"]


def _shell(server: BaryonProcess) -> dict[str, str]:
    return clean_environment(**{k: v for k, v in server.exports.items() if k != "AWS_DATA_PATH"})


def run_import(server: BaryonProcess, export_dir: Path, *args: str) -> CommandRun:
    """``baryon import`` in this process (tests.support.cli); --how-to-export below runs the
    installed entry point."""
    return run_baryon(["import", *args, str(export_dir)], _shell(server))


def import_json(server: BaryonProcess, export_dir: Path, *args: str) -> dict[str, Any]:
    result = run_import(server, export_dir, "--output", "json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _stacks(server: BaryonProcess) -> dict[str, tuple[str, str]]:
    """Every live stack: name -> (id, status)."""
    cloudformation = server.client("cloudformation")
    return {
        stack["StackName"]: (stack["StackId"], stack["StackStatus"])
        for page in cloudformation.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
    }


@pytest.fixture(scope="module")
def aftermath(server: BaryonProcess, tmp_path_factory: pytest.TempPathFactory) -> Aftermath:
    return make_aftermath(
        server.client("cloudformation"), tmp_path_factory.mktemp("proton") / "export"
    )


def _items(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            item["action"],
            item["resourceType"],
            item["name"] + (f" {item['templateVersion']}" if item.get("templateVersion") else ""),
        )
        for item in document["items"]
    ]


def test_the_plan_lists_what_the_import_would_do_and_changes_nothing(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    # A stack Proton left for an environment that was never exported.
    orphan = "AWSProton-old-env-cloudformation--QWERTYUIOPASDFG"
    server.client("cloudformation").create_stack(
        StackName=orphan,
        TemplateBody="Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
        Tags=[{"Key": "proton:environment", "Value": pa.arn("environment/old-env")}],
    )
    before = _stacks(server)

    plan = import_json(server, aftermath.export_dir, "--plan", "--account")

    assert plan["import"]["status"] == "PLANNED"
    assert plan["import"]["mode"] == "PLAN"
    assert "pipelineSettings" not in plan
    assert _items(plan) == [
        ("CREATE", "ENVIRONMENT_TEMPLATE", pa.ENV_TEMPLATE),
        ("CREATE", "SERVICE_TEMPLATE", pa.SVC_TEMPLATE),
        ("RECOVER", "ENVIRONMENT_TEMPLATE_VERSION", f"{pa.ENV_TEMPLATE} 1.0"),
        ("CREATE", "SERVICE_TEMPLATE_VERSION", f"{pa.SVC_TEMPLATE} 1.0"),
        ("CREATE", "SERVICE_TEMPLATE_VERSION", f"{pa.SVC_TEMPLATE} 1.1"),
        ("CREATE", "SERVICE_TEMPLATE_VERSION", f"{pa.SVC_TEMPLATE} 1.2"),
        ("CREATE", "ENVIRONMENT", pa.ENVIRONMENT),
        ("ADOPT", "ENVIRONMENT", pa.ENVIRONMENT),
        ("CREATE", "SERVICE", "backend"),
        ("CREATE", "SERVICE_INSTANCE", "backend/api"),
        ("ADOPT", "SERVICE_INSTANCE", "backend/api"),
        ("CREATE", "SERVICE", "frontend"),
        ("CREATE", "SERVICE_INSTANCE", "frontend/web-one"),
        ("ADOPT", "SERVICE_INSTANCE", "frontend/web-one"),
        ("CREATE", "SERVICE_INSTANCE", "frontend/web-two"),
        ("ADOPT", "SERVICE_INSTANCE", "frontend/web-two"),
        ("CREATE", "SERVICE_PIPELINE", "frontend"),
        ("ADOPT", "SERVICE_PIPELINE", "frontend"),
        ("CREATE", "COMPONENT", pa.COMPONENT),
        ("ADOPT", "COMPONENT", pa.COMPONENT),
        ("SKIP", "STACK", "AWSProton-old-env-cloudformation--QWERTYUIOPASDFG"),
    ]
    assert plan["items"][-1]["detail"] == (
        "no exported Proton resource claims it "
        f"(tags proton:environment={pa.arn('environment/old-env')}); the account alone cannot "
        "tell whose it is: its tags name no environment template (proton:template)"
    )
    by_name = {(i["action"], i["name"]): i for i in plan["items"]}
    recovered = by_name[("RECOVER", pa.ENV_TEMPLATE)]
    assert recovered["detail"].startswith(
        f"recovered from stack {aftermath.stacks['environment'].name}"
    )
    adopted = by_name[("ADOPT", "backend/api")]
    assert (adopted["stackName"], adopted["stackId"]) == (
        aftermath.stacks["backend/api"].name,
        aftermath.stacks["backend/api"].stack_id,
    )
    assert {i["status"] for i in plan["items"][:-1]} == {"PENDING"}
    # Nothing happened: no template, no stack touched.
    proton = server.client("proton")
    assert proton.list_environment_templates()["templates"] == []
    assert _stacks(server) == before


def test_the_import_brings_every_template_and_resource_under_management_keeping_its_stack(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    before = _stacks(server)
    result = run_import(server, aftermath.export_dir)
    assert result.returncode == 0, result.stderr
    assert f"AWS_ENDPOINT_URL_PROTON={server.endpoint}" in result.stdout
    assert "SUCCEEDED" in result.stdout
    # The output ends with what pipelines that call `aws proton` need.
    assert result.stdout.rstrip().splitlines()[-4].startswith("  AWS_ENDPOINT_URL_PROTON=")

    proton = server.client("proton")
    # Every stack is the one Proton made, untouched, and no other was made.
    assert _stacks(server) == before
    # Templates and versions: same names, numbers, statuses and recommended versions.
    template = proton.get_service_template(name=pa.SVC_TEMPLATE)["serviceTemplate"]
    assert (template["displayName"], template["recommendedVersion"]) == (
        "Load-balanced Fargate service",
        "1.1",
    )
    statuses = {
        v["minorVersion"]: v["status"]
        for v in proton.list_service_template_versions(templateName=pa.SVC_TEMPLATE)[
            "templateVersions"
        ]
    }
    assert statuses == {"0": "PUBLISHED", "1": "PUBLISHED", "2": "DRAFT"}
    recovered = proton.get_environment_template_version(
        templateName=pa.ENV_TEMPLATE, majorVersion="1", minorVersion="0"
    )["environmentTemplateVersion"]
    assert recovered["status"] == "PUBLISHED"
    assert recovered["description"].startswith(
        f"Recovered from stack {aftermath.stacks['environment'].name}"
    )
    assert yaml.safe_load(recovered["schema"])["schema"]["environment_input_type"]
    assert proton.list_tags_for_resource(
        resourceArn=proton.get_environment_template(name=pa.ENV_TEMPLATE)["environmentTemplate"][
            "arn"
        ]
    )["tags"] == [{"key": "team", "value": "platform"}]

    # Every resource: deployed, at its version, with its spec and every output.
    environment = proton.get_environment(name=pa.ENVIRONMENT)["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert environment["lastSucceededDeploymentId"] == aftermath.deployment_ids["environment"]
    assert (environment["templateMajorVersion"], environment["templateMinorVersion"]) == ("1", "0")
    assert environment["protonServiceRoleArn"] == pa.ROLE
    assert (
        outputs(proton.list_environment_outputs(environmentName=pa.ENVIRONMENT)["outputs"])
        == aftermath.stacks["environment"].outputs
    )
    for service, names in pa.INSTANCES.items():
        for name in names:
            instance = proton.get_service_instance(serviceName=service, name=name)[
                "serviceInstance"
            ]
            assert instance["deploymentStatus"] == "SUCCEEDED"
            assert instance["templateMinorVersion"] == ("1" if service == "backend" else "0")
            assert (
                outputs(
                    proton.list_service_instance_outputs(
                        serviceName=service, serviceInstanceName=name
                    )["outputs"]
                )
                == aftermath.stacks[f"{service}/{name}"].outputs
            )
    frontend = proton.get_service(name=pa.FRONTEND)["service"]
    assert frontend["status"] == "ACTIVE"
    assert frontend["repositoryId"] == pa.REPOSITORY["repositoryId"]
    assert frontend["pipeline"]["deploymentStatus"] == "SUCCEEDED"
    assert (
        outputs(proton.list_service_pipeline_outputs(serviceName=pa.FRONTEND)["outputs"])
        == aftermath.stacks["frontend pipeline"].outputs
    )
    component = proton.get_component(name=pa.COMPONENT)["component"]
    assert component["deploymentStatus"] == "SUCCEEDED"
    assert (
        outputs(proton.list_component_outputs(componentName=pa.COMPONENT)["outputs"])
        == aftermath.stacks["component"].outputs
    )
    # The resources' provisioned resources are what Proton listed, in their stacks.
    provisioned = proton.list_environment_provisioned_resources(environmentName=pa.ENVIRONMENT)[
        "provisionedResources"
    ]
    assert {r["identifier"] for r in provisioned} == {
        physical for _, physical in aftermath.stacks["environment"].resources
    }
    # The deployment record says what happened: an import, nothing deployed.
    deployment = proton.get_deployment(id=environment["lastSucceededDeploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "SUCCEEDED"
    assert "nothing was deployed" in deployment["deploymentStatusMessage"]


def _wait_instance(proton: Any, service: str, name: str, before: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        instance: dict[str, Any] = proton.get_service_instance(serviceName=service, name=name)[
            "serviceInstance"
        ]
        if instance["lastAttemptedDeploymentId"] != before and instance["deploymentStatus"] in (
            "SUCCEEDED",
            "FAILED",
            "CANCELLED",
        ):
            return instance
        assert time.monotonic() < deadline, f"{service}/{name} is still {instance}"
        time.sleep(0.2)


def test_a_minor_upgrade_of_an_adopted_instance_updates_its_proton_stack_in_place(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    proton = server.client("proton")
    cloudformation = server.client("cloudformation")
    stack = aftermath.stacks["frontend/web-one"]
    before = proton.get_service_instance(serviceName=pa.FRONTEND, name="web-one")["serviceInstance"]

    proton.update_service_instance(
        serviceName=pa.FRONTEND,
        name="web-one",
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
    )

    upgraded = _wait_instance(proton, pa.FRONTEND, "web-one", before["lastAttemptedDeploymentId"])
    assert upgraded["deploymentStatus"] == "SUCCEEDED", upgraded.get("deploymentStatusMessage")
    assert upgraded["templateMinorVersion"] == "1"
    (after,) = cloudformation.describe_stacks(StackName=stack.name)["Stacks"]
    assert after["StackId"] == stack.stack_id
    assert after["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in after["Outputs"]}[pa.UPGRADE_OUTPUT] == "1"
    assert (
        outputs(
            proton.list_service_instance_outputs(
                serviceName=pa.FRONTEND, serviceInstanceName="web-one"
            )["outputs"]
        )[pa.UPGRADE_OUTPUT]
        == "1"
    )
    assert not [name for name in _stacks(server) if name.startswith("baryon-")]


def test_importing_again_changes_nothing(server: BaryonProcess, aftermath: Aftermath) -> None:
    proton = server.client("proton")
    stacks = _stacks(server)
    deployments = proton.list_deployments()["deployments"]

    again = import_json(server, aftermath.export_dir)

    assert again["import"]["status"] == "SUCCEEDED"
    assert {item["action"] for item in again["items"]} == {"MATCH"}
    assert {item["status"] for item in again["items"]} == {"UNCHANGED"}
    assert again["import"]["appliedCount"] == 0
    assert _stacks(server) == stacks
    assert proton.list_deployments()["deployments"] == deployments
    # The upgrade stays: an import never takes back what was done in Baryon since.
    web_one = proton.get_service_instance(serviceName=pa.FRONTEND, name="web-one")
    assert web_one["serviceInstance"]["templateMinorVersion"] == "1"


def test_a_file_proton_could_not_have_written_is_named_before_anything_is_sent(
    server: BaryonProcess, aftermath: Aftermath, tmp_path: Path
) -> None:
    broken = tmp_path / "export"
    (broken / "environments").mkdir(parents=True)
    (broken / "environments" / "prod.json").write_text('{"environment": {"name": "prod"}}')

    result = run_import(server, broken, "--plan")

    assert result.returncode != 0
    assert "environments/prod.json: environment.arn: is required and missing" in result.stderr
    assert "Uploaded" not in result.stderr


def test_how_to_export_prints_the_aws_cli_commands(server: BaryonProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "import", "--how-to-export"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert 'aws proton "$@"' in result.stdout
    assert "get-${kind}-template-version" in result.stdout
    assert result.stdout.rstrip().endswith("baryon import export")


def test_undo_forgets_the_import_keeps_what_baryon_deployed_since_and_touches_no_stack(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    proton = server.client("proton")
    imports = server.client("baryon").list_imports()["imports"]
    (made,) = [i for i in imports if i["mode"] == "APPLY" and i["appliedCount"] > 0]
    before = _stacks(server)

    result = run_baryon(["imports", "undo", made["id"], "--output", "json"], _shell(server))

    # web-one was upgraded by Baryon since: it stays, with what it runs on; the rest goes.
    assert result.returncode == 1, result.stderr
    assert "is not wholly undone" in result.stderr
    document = json.loads(result.stdout)
    by_name = {(i["action"], i["name"]): i for i in document["items"]}
    assert by_name[("CREATE", "frontend/web-one")]["message"].startswith(
        "kept by undo: service instance 'frontend/web-one' was deployed by Baryon since the import"
    )
    assert by_name[("ADOPT", "backend/api")]["status"] == "RELEASED"
    assert by_name[("CREATE", pa.COMPONENT)]["status"] == "RELEASED"
    assert _stacks(server) == before  # every stack id and status unchanged
    assert [s["name"] for s in proton.list_services()["services"]] == [pa.FRONTEND]
    instances = proton.list_service_instances()["serviceInstances"]
    assert [i["name"] for i in instances] == ["web-one"]
    assert proton.list_components()["components"] == []
    assert proton.get_environment(name=pa.ENVIRONMENT)["environment"]["name"] == pa.ENVIRONMENT
