"""Fleet previews against a real ``baryon up`` through boto3: a preview of 60 service
instances groups identical changes (2 distinct input sets -> 2 groups) and keeps a
CloudFormation change set per instance; approving it runs exactly those change sets (each
stack's ChangeSetId is its item's); a preview whose fleet moved is refused as stale; a change
to a create-only property is flagged as a replacement that loses data."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from baryon.cli.main import cli
from tests.support.bundles import CFN_MANIFEST, Registry, env_bundle
from tests.support.deploying import (
    FAST,
    env_spec,
    instance_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"fpenv-{SUFFIX}", f"fpsvc-{SUFFIX}"
ENV, SVC, ONE = f"fpe{SUFFIX}", f"fps-{SUFFIX}", f"fpone-{SUFFIX}"
INSTANCES = 60

SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "QueueInput"
  types:
    QueueInput:
      type: object
      properties:
        timeout:
          type: number
          default: 30
"""


def queue_template(timeout: str, name_suffix: str = "") -> str:
    return (
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        f"      QueueName: '{{{{ service.name }}}}-{{{{ service_instance.name }}}}{name_suffix}'\n"
        f"      VisibilityTimeout: {timeout}\n"
        "Outputs:\n"
        "  QueueUrl:\n"
        "    Value: !Ref Queue\n"
    )


def bundle(template: str) -> dict[str, str]:
    return {
        "schema/schema.yaml": SCHEMA,
        "instance_infrastructure/manifest.yaml": CFN_MANIFEST,
        "instance_infrastructure/cloudformation.yaml": template,
    }


server = own_baryon("fleet-previews", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def baryon(server: BaryonProcess) -> Any:
    return server.client("baryon")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def fleet(server: BaryonProcess, proton: Any) -> Registry:
    """60 instances on 1.0 (half with timeout 30, half with 60) and a lone instance, all
    deployed; 1.1 (timeout + 10) and 1.2 (a renamed queue) published."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE, env_bundle())
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    compatible = [(ENV_TEMPLATE, "1")]
    template = queue_template("{{ service_instance.inputs.timeout }}")
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        compatible,
        bundle(template),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    instances = [(f"i{n:02d}", ENV, {"timeout": 30 if n % 2 else 60}) for n in range(INSTANCES)]
    for name, instances_of in ((SVC, instances), (ONE, [("solo", ENV, {"timeout": 30})])):
        proton.create_service(
            name=name,
            templateName=SVC_TEMPLATE,
            templateMajorVersion="1",
            spec=service_spec(instances_of),  # type: ignore[arg-type]
        )
    for name, _, _ in instances:
        assert instance_settled(proton, SVC, name)["deploymentStatus"] == "SUCCEEDED"
    assert instance_settled(proton, ONE, "solo")["deploymentStatus"] == "SUCCEEDED"
    later = queue_template("{{ service_instance.inputs.timeout + 10 }}")
    publish_service_template(registry, SVC_TEMPLATE, compatible, bundle(later), major="1")
    renamed = queue_template("{{ service_instance.inputs.timeout }}", "-renamed")
    publish_service_template(registry, SVC_TEMPLATE, compatible, bundle(renamed), major="1")
    return registry


def ready(baryon: Any, preview_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        preview: dict[str, Any] = baryon.get_fleet_preview(id=preview_id)["fleetPreview"]
        if preview["status"] != "PLANNING":
            return preview
        assert time.monotonic() < deadline, preview["summary"]
        time.sleep(0.5)


def items(baryon: Any, preview_id: str) -> list[dict[str, Any]]:
    paginator = baryon.get_paginator("list_fleet_preview_items")
    return [
        item
        for page in paginator.paginate(id=preview_id, PaginationConfig={"PageSize": 25})
        for item in page["items"]
    ]


def test_a_preview_of_60_instances_groups_identical_changes_and_approval_runs_its_change_sets(
    fleet: Registry, baryon: Any, proton: Any, cloudformation: Any
) -> None:
    changes = [
        {"serviceName": SVC, "serviceInstanceName": f"i{n:02d}", "templateMinorVersion": "1"}
        for n in range(INSTANCES)
    ]
    created = baryon.create_fleet_preview(changes=changes, description="to 1.1")
    preview = ready(baryon, created["fleetPreview"]["id"])
    assert preview["status"] == "READY"
    assert preview["summary"]["change"] == INSTANCES, preview["groups"][0]["example"]
    assert preview["summary"]["failed"] == 0
    groups = preview["groups"]
    assert sorted(g["count"] for g in groups) == [30, 30]
    for group in groups:
        example = group["example"]
        assert group["status"] == "CHANGE" and not group["risks"]
        (change,) = example["resourceChanges"]
        assert (change["action"], change["logicalResourceId"]) == ("Modify", "Queue")
        assert change["replacement"] == "False"
        assert change["changedPaths"] == ["/Properties/VisibilityTimeout"]
        assert "+      VisibilityTimeout: " in example["files"][0]["diff"]
    listed = items(baryon, preview["id"])
    assert len(listed) == INSTANCES
    assert len({item["changeSetId"] for item in listed}) == INSTANCES

    approved = baryon.approve_fleet_preview(id=preview["id"])["fleetPreview"]
    assert approved["status"] == "APPROVED"
    for item in listed:
        name = item["serviceInstanceName"]
        view = instance_settled(proton, SVC, name)
        assert view["deploymentStatus"] == "SUCCEEDED", view
        assert view["templateMinorVersion"] == "1"
        live = stack(cloudformation, "service-instance", SVC, name)
        assert live is not None
        # The stack's last update was the previewed change set, not an UpdateStack.
        assert live["ChangeSetId"] == item["changeSetId"]
        executed = cloudformation.describe_change_set(ChangeSetName=item["changeSetId"])
        assert executed["ExecutionStatus"] == "EXECUTE_COMPLETE"
    deployed = baryon.list_fleet_preview_items(id=preview["id"], maxResults=5)["items"]
    assert all(item["status"] == "DEPLOYING" and item["deploymentId"] for item in deployed)


def test_a_preview_is_refused_once_its_fleet_moved(
    fleet: Registry, baryon: Any, proton: Any
) -> None:
    change = {"serviceName": ONE, "serviceInstanceName": "solo", "templateMinorVersion": "1"}
    preview = ready(baryon, baryon.create_fleet_preview(changes=[change])["fleetPreview"]["id"])
    assert preview["status"] == "READY" and "stale" not in preview
    # Someone deploys the instance by hand after the preview was planned.
    proton.update_service_instance(
        serviceName=ONE,
        name="solo",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("solo", ENV, {"timeout": 45})]),
    )
    assert instance_settled(proton, ONE, "solo")["deploymentStatus"] == "SUCCEEDED"
    assert "changed since the preview" in baryon.get_fleet_preview(id=preview["id"])[
        "fleetPreview"
    ].get("stale", "")
    with pytest.raises(ClientError) as refused:
        baryon.approve_fleet_preview(id=preview["id"])
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    message = refused.value.response["Error"]["Message"]
    assert "stale" in message and f"{ONE}/solo" in message
    assert baryon.get_fleet_preview(id=preview["id"])["fleetPreview"]["status"] == "STALE"


def test_renaming_a_queue_is_flagged_as_a_replacement_that_loses_data(
    fleet: Registry, baryon: Any, cloudformation: Any
) -> None:
    change = {"serviceName": ONE, "serviceInstanceName": "solo", "templateMinorVersion": "2"}
    preview = ready(baryon, baryon.create_fleet_preview(changes=[change])["fleetPreview"]["id"])
    assert preview["summary"]["replace"] == 1 and preview["summary"]["dataLoss"] == 1
    (group,) = preview["groups"]
    assert group["risks"] == ["DATA_LOSS", "REPLACEMENT"]
    (queue,) = group["example"]["resourceChanges"]
    assert queue["replacement"] == "True"
    assert queue["policyAction"] == "ReplaceAndDelete"
    assert "/Properties/QueueName" in queue["changedPaths"]
    kept = group["example"]["changeSetId"]
    assert cloudformation.describe_change_set(ChangeSetName=kept)["ExecutionStatus"] == "AVAILABLE"
    baryon.delete_fleet_preview(id=preview["id"])
    with pytest.raises(ClientError) as gone:
        baryon.get_fleet_preview(id=preview["id"])
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # A job drops the change set it kept.
    deadline = time.monotonic() + 60
    while True:
        try:
            cloudformation.describe_change_set(ChangeSetName=kept)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] in ("ChangeSetNotFound", "ValidationError")
            break
        assert time.monotonic() < deadline, "the deleted preview's change set is still there"
        time.sleep(0.5)


def test_the_cli_creates_shows_and_refuses_to_approve_a_failed_preview(
    server: BaryonProcess, fleet: Registry
) -> None:
    data_dir = str(server.data_dir)
    created = _cli(
        "previews", "create", "--instance", f"{ONE}/solo", "--minor", "2",
        "--output", "json", "--data-dir", data_dir,
    )  # fmt: skip
    preview = json.loads(created)["fleetPreview"]
    assert preview["status"] == "READY"
    assert preview["summary"]["replace"] == 1
    shown = _cli("previews", "show", preview["id"], "--data-dir", data_dir)
    assert "REPLACEMENT" in shown and "DATA_LOSS" in shown and "Modify Queue" in shown
    # A version the instance cannot move to fails to plan, and blocks approval.
    failed = _cli(
        "previews", "create", "--instance", f"{ONE}/solo", "--minor", "9",
        "--output", "json", "--data-dir", data_dir,
    )  # fmt: skip
    failed_id = json.loads(failed)["fleetPreview"]["id"]
    refused = CliRunner().invoke(cli, ["previews", "approve", failed_id, "--data-dir", data_dir])
    assert refused.exit_code != 0
    assert "could not plan" in refused.output
    listed = json.loads(_cli("previews", "list", "--output", "json", "--data-dir", data_dir))
    assert {preview["id"], failed_id} <= {p["id"] for p in listed["previews"]}
    assert "Deleted fleet preview" in _cli("previews", "delete", failed_id, "--data-dir", data_dir)
    listed = json.loads(_cli("previews", "list", "--output", "json", "--data-dir", data_dir))
    assert failed_id not in {p["id"] for p in listed["previews"]}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output
