"""The local cloud's change sets (cloud/change_sets.py), via boto3: described as AWS does
(replacement from the type's create-only properties, policy actions), executed as the stack's
update (timed, then ChangeSetId on the stack), refused once obsolete."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client, settle


def template(queue_name: str, timeout: int = 30, *, extra: bool = False, keep: bool = False) -> str:
    resources: dict[str, Any] = {
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": queue_name, "VisibilityTimeout": timeout},
        },
    }
    if extra:
        resources["Note"] = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": "x"},
            **({"DeletionPolicy": "Retain"} if keep else {}),
        }
    return json.dumps({"Resources": resources})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("change-set-cloud")
    process = LocalCloudProcess(
        state_file=None, log_file=logs / "cloud.log", stack_operation_seconds=0.2
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cfn(cloud: LocalCloudProcess) -> Any:
    return client(cloud, "cloudformation")


def stack_with(cfn: Any, body: str) -> str:
    name = f"cs-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=body)
    assert settle(cfn, name) == "CREATE_COMPLETE"
    return name


def changes(cfn: Any, name: str, body: str) -> tuple[str, list[dict[str, Any]]]:
    created = cfn.create_change_set(
        StackName=name, ChangeSetName=f"p-{uuid.uuid4().hex[:8]}", TemplateBody=body,
        ChangeSetType="UPDATE",
    )  # fmt: skip
    described = cfn.describe_change_set(ChangeSetName=created["Id"])
    return created["Id"], [c["ResourceChange"] for c in described["Changes"]]


def test_a_create_only_property_change_is_a_replacement_that_deletes_the_old_queue(
    cfn: Any,
) -> None:
    name = stack_with(cfn, template(f"q-{uuid.uuid4().hex[:6]}"))
    _, found = changes(cfn, name, template(f"renamed-{uuid.uuid4().hex[:6]}"))
    (queue,) = found
    assert queue["Action"] == "Modify"
    assert queue["Replacement"] == "True"
    assert queue["PolicyAction"] == "ReplaceAndDelete"
    assert queue["Scope"] == ["Properties"]
    (detail,) = queue["Details"]
    assert detail["Target"]["Name"] == "QueueName"
    assert detail["Target"]["RequiresRecreation"] == "Always"
    assert detail["Evaluation"] == "Static"


def test_an_updatable_property_change_is_modified_in_place(cfn: Any) -> None:
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    name = stack_with(cfn, template(queue_name))
    _, found = changes(cfn, name, template(queue_name, timeout=60))
    (queue,) = found
    assert (queue["Action"], queue["Replacement"]) == ("Modify", "False")
    assert "PolicyAction" not in queue
    assert queue["Details"][0]["Target"]["BeforeValue"] == "30"
    assert queue["Details"][0]["Target"]["AfterValue"] == "60"


def test_removed_resources_say_what_becomes_of_them(cfn: Any) -> None:
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    deleted = stack_with(cfn, template(queue_name, extra=True))
    _, found = changes(cfn, deleted, template(queue_name))
    assert [(c["Action"], c["LogicalResourceId"], c["PolicyAction"]) for c in found] == [
        ("Remove", "Note", "Delete")
    ]
    kept_name = f"q-{uuid.uuid4().hex[:6]}"
    kept = stack_with(cfn, template(kept_name, extra=True, keep=True))
    _, found = changes(cfn, kept, template(kept_name))
    assert [c["PolicyAction"] for c in found] == ["Retain"]


def test_executing_a_change_set_updates_the_stack_and_names_it(cfn: Any) -> None:
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    name = stack_with(cfn, template(queue_name))
    change_set_id, _ = changes(cfn, name, template(queue_name, timeout=90))
    cfn.execute_change_set(ChangeSetName=change_set_id)
    assert settle(cfn, name) == "UPDATE_COMPLETE"
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["ChangeSetId"] == change_set_id
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    assert described["ExecutionStatus"] == "EXECUTE_COMPLETE"
    assert '"VisibilityTimeout": 90' in cfn.get_template(StackName=name)["TemplateBody"] or (
        cfn.get_template(StackName=name)["TemplateBody"]["Resources"]["Queue"]["Properties"][
            "VisibilityTimeout"
        ]
        == 90
    )
    # A plain update afterwards is not that change set's.
    cfn.update_stack(StackName=name, TemplateBody=template(queue_name, timeout=120))
    assert settle(cfn, name) == "UPDATE_COMPLETE"
    assert "ChangeSetId" not in cfn.describe_stacks(StackName=name)["Stacks"][0]


def test_a_change_set_is_obsolete_once_its_stack_changed(cfn: Any) -> None:
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    name = stack_with(cfn, template(queue_name))
    change_set_id, _ = changes(cfn, name, template(queue_name, timeout=45))
    cfn.update_stack(StackName=name, TemplateBody=template(queue_name, timeout=50))
    assert settle(cfn, name) == "UPDATE_COMPLETE"
    with pytest.raises(ClientError) as refused:
        cfn.execute_change_set(ChangeSetName=change_set_id)
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    assert described["ExecutionStatus"] == "OBSOLETE"
