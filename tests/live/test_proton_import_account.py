"""`baryon import --account` with no export: the account's Proton stacks alone come under
management on a live Baryon.

The aftermath (tests/support/proton_aftermath.py, without an export directory) is only what an
account shows when nobody exported anything: Proton-named stacks, each tagged ``proton:*``,
for an environment, two services with three instances and a pipeline, and a component. The
tests run in order on one Baryon of their own:

- ``baryon import --plan --account`` lists every template, version and resource the tags name,
  each marked as from the account only with what could not be known, and changes nothing;
- ``baryon import --account`` creates them, every resource keeping its stack (same id) with
  its outputs, both template versions recovered from the deployed templates;
- a minor version published from a real bundle upgrades the adopted environment, updating its
  Proton stack in place;
- a second import changes nothing; ``baryon imports list`` and ``show`` read the imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support import proton_aftermath as pa
from tests.support.bundles import Registry, tar_gz
from tests.support.cli import CommandRun, run_baryon
from tests.support.deploying import outputs
from tests.support.processes import BaryonProcess, clean_environment, own_baryon
from tests.support.proton_aftermath import Aftermath, make_aftermath
from tests.support.samples import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

server = own_baryon("proton-import-account", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.05"})
# The environment's upgrade adds this output: the stack it updates shows it.
UPGRADE_OUTPUT = "UpgradedBy"
_ENV_BUNDLE = SAMPLES / "environment-templates" / "fargate-env" / "v1"


def _shell(server: BaryonProcess) -> dict[str, str]:
    return clean_environment(**{k: v for k, v in server.exports.items() if k != "AWS_DATA_PATH"})


def baryon(server: BaryonProcess, *args: str) -> CommandRun:
    """``baryon ARGS`` in this process (tests.support.cli)."""
    return run_baryon(args, _shell(server))


def baryon_process(server: BaryonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The same through the real entry point, ``python -m baryon.cli.main``."""
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=_shell(server),
    )


def baryon_json(server: BaryonProcess, *args: str) -> dict[str, Any]:
    result = baryon(server, *args, "--output", "json")
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
def aftermath(server: BaryonProcess) -> Aftermath:
    return make_aftermath(server.client("cloudformation"), None)


def _items(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            item["action"],
            item["resourceType"],
            item["name"] + (f" {item['templateVersion']}" if item.get("templateVersion") else ""),
        )
        for item in document["items"]
    ]


EVERY_ITEM = [
    ("ENVIRONMENT_TEMPLATE", pa.ENV_TEMPLATE),
    ("SERVICE_TEMPLATE", pa.SVC_TEMPLATE),
    ("ENVIRONMENT_TEMPLATE_VERSION", f"{pa.ENV_TEMPLATE} 1.0"),
    ("SERVICE_TEMPLATE_VERSION", f"{pa.SVC_TEMPLATE} 1.0"),
    ("ENVIRONMENT", pa.ENVIRONMENT),
    ("ENVIRONMENT", pa.ENVIRONMENT),
    ("SERVICE", "backend"),
    ("SERVICE_INSTANCE", "backend/api"),
    ("SERVICE_INSTANCE", "backend/api"),
    ("SERVICE", "frontend"),
    ("SERVICE_INSTANCE", "frontend/web-one"),
    ("SERVICE_INSTANCE", "frontend/web-one"),
    ("SERVICE_INSTANCE", "frontend/web-two"),
    ("SERVICE_INSTANCE", "frontend/web-two"),
    ("SERVICE_PIPELINE", "frontend"),
    ("SERVICE_PIPELINE", "frontend"),
    ("COMPONENT", pa.COMPONENT),
    ("COMPONENT", pa.COMPONENT),
]
PLANNED_ACTIONS = ["CREATE", "CREATE", "RECOVER", "RECOVER", "CREATE", "ADOPT"]
PLANNED_ACTIONS += ["CREATE", "CREATE", "ADOPT", "CREATE"] + ["CREATE", "ADOPT"] * 4


def test_the_plan_from_the_account_alone_marks_every_item_and_changes_nothing(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    before = _stacks(server)

    plan = baryon_json(server, "import", "--plan", "--account")

    assert plan["import"]["status"] == "PLANNED", plan["import"]
    assert "source" not in plan["import"]
    assert _items(plan) == [
        (action, kind, name)
        for action, (kind, name) in zip(PLANNED_ACTIONS, EVERY_ITEM, strict=True)
    ]
    for item in plan["items"]:
        assert item["detail"].startswith("from the account only ("), item
    by_name = {(i["action"], i["name"]): i for i in plan["items"]}
    environment = by_name[("CREATE", pa.ENVIRONMENT)]["detail"]
    assert f"stack {aftermath.stacks['environment'].name}" in environment
    assert "not known: the original spec" in environment
    recovered = by_name[("RECOVER", pa.SVC_TEMPLATE)]["detail"]
    assert "its major.minor number (1.0: the tags name none)" in recovered
    assert "the deployed template, not the original bundle" in recovered
    adopted = by_name[("ADOPT", "frontend/web-two")]
    assert (adopted["stackName"], adopted["stackId"]) == (
        aftermath.stacks["frontend/web-two"].name,
        aftermath.stacks["frontend/web-two"].stack_id,
    )
    # Nothing happened: no template, no stack touched.
    assert server.client("proton").list_environment_templates()["templates"] == []
    assert _stacks(server) == before


def test_the_import_brings_every_resource_under_management_keeping_its_stack(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    before = _stacks(server)

    result = baryon(server, "import", "--account")

    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED" in result.stdout
    assert f"AWS_ENDPOINT_URL_PROTON={server.endpoint}" in result.stdout
    assert _stacks(server) == before  # every stack id and status unchanged, none made
    proton = server.client("proton")
    for kind, name in (("environment", pa.ENV_TEMPLATE), ("service", pa.SVC_TEMPLATE)):
        version = getattr(proton, f"get_{kind}_template_version")(
            templateName=name, majorVersion="1", minorVersion="0"
        )[f"{kind}TemplateVersion"]
        assert version["status"] == "PUBLISHED"
        assert version["description"].startswith("Recovered from stack")
    environment = proton.get_environment(name=pa.ENVIRONMENT)["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert (environment["templateMajorVersion"], environment["templateMinorVersion"]) == ("1", "0")
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
            assert instance["environmentName"] == pa.ENVIRONMENT
            listed = proton.list_service_instance_outputs(
                serviceName=service, serviceInstanceName=name
            )["outputs"]
            assert outputs(listed) == aftermath.stacks[f"{service}/{name}"].outputs
    assert (
        outputs(proton.list_service_pipeline_outputs(serviceName=pa.FRONTEND)["outputs"])
        == aftermath.stacks["frontend pipeline"].outputs
    )
    assert proton.get_component(name=pa.COMPONENT)["component"]["deploymentStatus"] == "SUCCEEDED"
    assert (
        outputs(proton.list_component_outputs(componentName=pa.COMPONENT)["outputs"])
        == aftermath.stacks["component"].outputs
    )


def _upgrade_files() -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        str(path.relative_to(_ENV_BUNDLE)): path.read_bytes()
        for path in sorted(_ENV_BUNDLE.rglob("*"))
        if path.is_file()
    }
    template = "infrastructure/cloudformation.yaml"
    text = bytes(files[template]).decode().rstrip("\n")
    files[template] = text + f"\n  {UPGRADE_OUTPUT}:\n    Value: 'fargate-env 1.1'\n"
    return files


def test_a_minor_version_from_a_real_bundle_upgrades_the_adopted_environment_in_place(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    proton = server.client("proton")
    stack = aftermath.stacks["environment"]
    registry = Registry(proton, server.client("s3"))
    version = registry.register(
        "environment", pa.ENV_TEMPLATE, tar_gz(_upgrade_files()), majorVersion="1"
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    assert version["minorVersion"] == "1"
    registry.publish("environment", pa.ENV_TEMPLATE, version)
    before = proton.get_environment(name=pa.ENVIRONMENT)["environment"]

    proton.update_environment(
        name=pa.ENVIRONMENT,
        deploymentType="MINOR_VERSION",
        templateMajorVersion="1",
        templateMinorVersion="1",
    )

    deadline = time.monotonic() + 300
    while True:
        current = proton.get_environment(name=pa.ENVIRONMENT)["environment"]
        if current["lastAttemptedDeploymentId"] != before["lastAttemptedDeploymentId"] and current[
            "deploymentStatus"
        ] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["deploymentStatus"] == "SUCCEEDED", current.get("deploymentStatusMessage")
    assert current["templateMinorVersion"] == "1"
    (after,) = server.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"]
    assert after["StackId"] == stack.stack_id
    assert after["StackStatus"] == "UPDATE_COMPLETE"
    stack_outputs = {o["OutputKey"]: o["OutputValue"] for o in after["Outputs"]}
    assert stack_outputs[UPGRADE_OUTPUT] == "fargate-env 1.1"
    listed = proton.list_environment_outputs(environmentName=pa.ENVIRONMENT)["outputs"]
    assert outputs(listed)[UPGRADE_OUTPUT] == "fargate-env 1.1"
    assert not [name for name in _stacks(server) if name.startswith("baryon-")]


def test_importing_the_account_again_changes_nothing(
    server: BaryonProcess, aftermath: Aftermath
) -> None:
    proton = server.client("proton")
    stacks = _stacks(server)
    deployments = proton.list_deployments()["deployments"]

    again = baryon_json(server, "import", "--account")

    assert again["import"]["status"] == "SUCCEEDED"
    assert {item["action"] for item in again["items"]} == {"MATCH"}, again["items"]
    assert {item["status"] for item in again["items"]} == {"UNCHANGED"}
    assert again["import"]["appliedCount"] == 0
    assert _stacks(server) == stacks
    assert proton.list_deployments()["deployments"] == deployments
    # The upgrade stays.
    environment = proton.get_environment(name=pa.ENVIRONMENT)["environment"]
    assert environment["templateMinorVersion"] == "1"


def test_imports_list_and_show_read_the_imports_made(server: BaryonProcess) -> None:
    listed = baryon_json(server, "imports", "list")["imports"]
    assert [(i["mode"], i["status"]) for i in listed] == [
        ("APPLY", "SUCCEEDED"),
        ("APPLY", "SUCCEEDED"),
        ("PLAN", "PLANNED"),
    ]
    assert all("source" not in i and i["includeAccountStacks"] for i in listed)
    text = baryon_process(server, "imports", "list")
    assert text.returncode == 0, text.stderr
    assert "no export + account" in text.stdout

    first = listed[1]["id"]
    shown = baryon_json(server, "imports", "show", first)
    assert shown["import"]["id"] == first
    assert [i["action"] for i in shown["items"]] == PLANNED_ACTIONS
    assert {i["status"] for i in shown["items"]} == {"APPLIED"}

    missing = baryon(server, "imports", "show", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode != 0
    assert "was not found" in missing.stderr
