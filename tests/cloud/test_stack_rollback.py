"""Rolling a stack back in the local cloud: cancelled updates end UPDATE_ROLLBACK_COMPLETE for
every kind of resource a sample uses, and a rollback that fails can be continued, as on AWS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client, reason, settle, status

WINDOW = 2.0  # long enough to cancel an update on a busy machine


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("rollback-cloud")
    process = LocalCloudProcess(
        state_file=None, log_file=logs / "cloud.log", stack_operation_seconds=WINDOW
    )
    process.start()
    yield process
    process.stop()


def body(resources: dict[str, Any]) -> str:
    return json.dumps({"Resources": resources})


def resource_events(cfn: Any, stack: str) -> list[tuple[str, str]]:
    """(logical id, status) of the events about the stack's resources, oldest first."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"])
        for e in reversed(events)
        if e["ResourceType"] != "AWS::CloudFormation::Stack"
    ]


def stack_statuses(cfn: Any, stack: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        e["ResourceStatus"]
        for e in reversed(events)
        if e["ResourceType"] == "AWS::CloudFormation::Stack"
    ]


def deploy(cfn: Any, stack: str, template: str) -> None:
    cfn.create_stack(StackName=stack, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])
    assert settle(cfn, stack) == "CREATE_COMPLETE"


def update(cfn: Any, stack: str, template: str) -> None:
    cfn.update_stack(StackName=stack, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])


# --- Cancelling an update puts every kind of resource back -----------------------------------


@dataclass(frozen=True)
class Kind:
    """A resource type, two versions of it, and how to read back which one the cloud holds."""

    name: str
    resource: Callable[[str], dict[str, Any]]
    read: Callable[[LocalCloudProcess, str], str]


def _bucket(version: str) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "v", "Value": version}]}}


def _read_bucket(cloud: LocalCloudProcess, physical_id: str) -> str:
    tags = client(cloud, "s3").get_bucket_tagging(Bucket=physical_id)["TagSet"]
    return str({t["Key"]: t["Value"] for t in tags}["v"])


def _queue(version: str) -> dict[str, Any]:
    timeout = {"one": 30, "two": 60}[version]
    return {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": timeout}}


def _read_queue(cloud: LocalCloudProcess, physical_id: str) -> str:
    attributes = client(cloud, "sqs").get_queue_attributes(
        QueueUrl=physical_id, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    return {"30": "one", "60": "two"}[attributes["VisibilityTimeout"]]


def _topic(version: str) -> dict[str, Any]:
    return {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": version}}


def _read_topic(cloud: LocalCloudProcess, physical_id: str) -> str:
    attributes = client(cloud, "sns").get_topic_attributes(TopicArn=physical_id)["Attributes"]
    return str(attributes["DisplayName"])


def _parameter(version: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": "/rollback/parameter", "Type": "String", "Value": version},
    }


def _read_parameter(cloud: LocalCloudProcess, physical_id: str) -> str:
    return str(client(cloud, "ssm").get_parameter(Name=physical_id)["Parameter"]["Value"])


def _role(version: str) -> dict[str, Any]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": trust, "Description": version},
    }


def _read_role(cloud: LocalCloudProcess, physical_id: str) -> str:
    return str(client(cloud, "iam").get_role(RoleName=physical_id)["Role"]["Description"])


KINDS = [
    Kind("bucket", _bucket, _read_bucket),
    Kind("queue", _queue, _read_queue),
    Kind("topic", _topic, _read_topic),
    Kind("parameter", _parameter, _read_parameter),
    Kind("role", _role, _read_role),
]


def physical_id(cfn: Any, stack: str, logical_id: str) -> str:
    described = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
    return str(described["StackResourceDetail"]["PhysicalResourceId"])


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_cancelled_update_rolls_each_kind_of_resource_back(
    cloud: LocalCloudProcess, kind: Kind
) -> None:
    cfn = client(cloud, "cloudformation")
    stack = f"cancel-{kind.name}"
    deploy(cfn, stack, body({"R": kind.resource("one")}))
    assert kind.read(cloud, physical_id(cfn, stack, "R")) == "one"

    update(cfn, stack, body({"R": kind.resource("two")}))
    cfn.cancel_update_stack(StackName=stack)

    assert settle(cfn, stack) == "UPDATE_ROLLBACK_COMPLETE", reason(cfn, stack)
    assert kind.read(cloud, physical_id(cfn, stack, "R")) == "one"
    update(cfn, stack, body({"R": kind.resource("two")}))  # and it still takes updates
    assert settle(cfn, stack) == "UPDATE_COMPLETE", reason(cfn, stack)
    assert kind.read(cloud, physical_id(cfn, stack, "R")) == "two"


@pytest.mark.parametrize("named", [True, False], ids=["named", "generated-name"])
def test_an_ssm_parameter_takes_a_new_value(cloud: LocalCloudProcess, named: bool) -> None:
    cfn, stack = client(cloud, "cloudformation"), f"parameter-value-{named}"

    def parameter(value: str) -> str:
        properties = {"Type": "String", "Value": value}
        if named:
            properties["Name"] = f"/{stack}"
        return body({"P": {"Type": "AWS::SSM::Parameter", "Properties": properties}})

    deploy(cfn, stack, parameter("one"))
    update(cfn, stack, parameter("two"))
    assert settle(cfn, stack) == "UPDATE_COMPLETE", reason(cfn, stack)
    assert _read_parameter(cloud, physical_id(cfn, stack, "P")) == "two"


def test_renaming_a_queue_replaces_it(cloud: LocalCloudProcess) -> None:
    cfn, sqs = client(cloud, "cloudformation"), client(cloud, "sqs")

    def named(name: str) -> str:
        return body({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}})

    deploy(cfn, "renamed-queue", named("before-rename"))
    update(cfn, "renamed-queue", named("after-rename"))
    assert settle(cfn, "renamed-queue") == "UPDATE_COMPLETE", reason(cfn, "renamed-queue")

    sqs.get_queue_url(QueueName="after-rename")
    assert physical_id(cfn, "renamed-queue", "Q").endswith("/after-rename")
    with pytest.raises(ClientError, match="NonExistentQueue"):
        sqs.get_queue_url(QueueName="before-rename")


# --- A rollback that fails, and continuing it ------------------------------------------------


def _fail_the_rollback(
    cloud: LocalCloudProcess, stack: str, healthy: dict[str, Any] | None = None
) -> str:
    """Changes a queue, deletes it behind CloudFormation's back, then cancels: the rollback
    cannot put back a queue that no longer exists (AWS's own example of this state).
    ``healthy`` resources sit in the stack unchanged and roll back without trouble."""
    cfn, sqs = client(cloud, "cloudformation"), client(cloud, "sqs")
    others = healthy or {}
    deploy(cfn, stack, body({"Q": _queue("one"), **others}))
    url = physical_id(cfn, stack, "Q")
    update(cfn, stack, body({"Q": _queue("two"), **others}))
    sqs.delete_queue(QueueUrl=url)
    cfn.cancel_update_stack(StackName=stack)
    assert settle(cfn, stack) == "UPDATE_ROLLBACK_FAILED"
    assert reason(cfn, stack) == "The following resource(s) failed to update: [Q]. "
    assert resource_events(cfn, stack)[-1] == ("Q", "UPDATE_FAILED")
    return url


def test_a_failed_rollback_is_continued_once_its_cause_is_fixed(cloud: LocalCloudProcess) -> None:
    cfn, sqs = client(cloud, "cloudformation"), client(cloud, "sqs")
    url = _fail_the_rollback(cloud, "continued")
    with pytest.raises(ClientError, match="UPDATE_ROLLBACK_FAILED state and can not be updated"):
        update(cfn, "continued", body({"Q": _queue("one")}))

    cfn.continue_update_rollback(StackName="continued")  # nothing fixed yet: fails again
    assert status(cfn, "continued") == "UPDATE_ROLLBACK_IN_PROGRESS"
    assert settle(cfn, "continued") == "UPDATE_ROLLBACK_FAILED"

    name = url.rsplit("/", 1)[-1]
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})
    cfn.continue_update_rollback(StackName="continued")
    assert settle(cfn, "continued") == "UPDATE_ROLLBACK_COMPLETE"
    assert stack_statuses(cfn, "continued")[-3:] == [
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert _read_queue(cloud, url) == "one"  # the rollback reached the queue this time
    assert cfn.get_template(StackName="continued")["TemplateBody"] == json.loads(
        body({"Q": _queue("one")})
    )
    update(cfn, "continued", body({"Q": _queue("two")}))
    assert settle(cfn, "continued") == "UPDATE_COMPLETE"


def test_a_failed_rollback_is_continued_by_skipping_the_resource(
    cloud: LocalCloudProcess,
) -> None:
    cfn = client(cloud, "cloudformation")
    _fail_the_rollback(cloud, "skipped")

    cfn.continue_update_rollback(StackName="skipped", ResourcesToSkip=["Q"])
    assert settle(cfn, "skipped") == "UPDATE_ROLLBACK_COMPLETE"
    assert resource_events(cfn, "skipped")[-1] == ("Q", "UPDATE_COMPLETE")
    assert cfn.get_template(StackName="skipped")["TemplateBody"] == json.loads(
        body({"Q": _queue("one")})
    )


SKIP_REFUSED = "ResourcesToSkip can only name resources in UPDATE_FAILED state"


@pytest.mark.parametrize(
    ("skip", "refused"),
    [(["Missing"], "[Missing]"), (["T"], "[T]"), (["Q", "T"], "[T]")],
    ids=["unknown-id", "healthy-resource", "failed-and-healthy"],
)
def test_a_continue_may_skip_only_the_resource_whose_rollback_failed(
    cloud: LocalCloudProcess, skip: list[str], refused: str
) -> None:
    cfn = client(cloud, "cloudformation")
    stack = f"skip-{'-'.join(skip).lower()}"
    _fail_the_rollback(cloud, stack, healthy={"T": _topic("one")})
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]

    with pytest.raises(ClientError) as refusal:
        cfn.continue_update_rollback(StackName=stack, ResourcesToSkip=skip)
    error = refusal.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert SKIP_REFUSED in error["Message"] and f"not: {refused}" in error["Message"]
    assert status(cfn, stack) == "UPDATE_ROLLBACK_FAILED"  # nothing was tried
    assert cfn.describe_stack_events(StackName=stack)["StackEvents"] == events

    cfn.continue_update_rollback(StackName=stack, ResourcesToSkip=["Q"])
    assert settle(cfn, stack) == "UPDATE_ROLLBACK_COMPLETE", reason(cfn, stack)


def test_a_skipped_resource_is_not_tried_again(cloud: LocalCloudProcess) -> None:
    """Two queues vanish; the rollback fails on one, is continued skipping it, fails on the
    other, and is continued once that one is back: the skipped queue, still gone, is left
    alone, and can no longer be named as a resource to skip."""
    cfn, sqs = client(cloud, "cloudformation"), client(cloud, "sqs")
    deploy(cfn, "skipped-once", body({"A": _queue("one"), "B": _queue("one")}))
    urls = {q: physical_id(cfn, "skipped-once", q) for q in ("A", "B")}
    update(cfn, "skipped-once", body({"A": _queue("two"), "B": _queue("two")}))
    for url in urls.values():
        sqs.delete_queue(QueueUrl=url)
    cfn.cancel_update_stack(StackName="skipped-once")
    assert settle(cfn, "skipped-once") == "UPDATE_ROLLBACK_FAILED"
    first, failed = resource_events(cfn, "skipped-once")[-1]
    assert failed == "UPDATE_FAILED"
    second = ({"A", "B"} - {first}).pop()

    cfn.continue_update_rollback(StackName="skipped-once", ResourcesToSkip=[first])
    assert settle(cfn, "skipped-once") == "UPDATE_ROLLBACK_FAILED"
    assert resource_events(cfn, "skipped-once")[-1] == (second, "UPDATE_FAILED")
    with pytest.raises(ClientError, match=SKIP_REFUSED):
        cfn.continue_update_rollback(StackName="skipped-once", ResourcesToSkip=[first])

    sqs.create_queue(QueueName=urls[second].rsplit("/", 1)[-1])
    cfn.continue_update_rollback(StackName="skipped-once")
    assert settle(cfn, "skipped-once") == "UPDATE_ROLLBACK_COMPLETE", reason(cfn, "skipped-once")
    assert _read_queue(cloud, urls[second]) == "one"


def test_continuing_a_rollback_is_refused_unless_one_failed(cloud: LocalCloudProcess) -> None:
    cfn = client(cloud, "cloudformation")
    deploy(cfn, "healthy", body({"Q": _queue("one")}))
    with pytest.raises(ClientError, match="ContinueUpdateRollback cannot be called from current"):
        cfn.continue_update_rollback(StackName="healthy")


def test_a_failed_rollback_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "cloud.state"
    cloud = LocalCloudProcess(
        state_file=state, log_file=tmp_path / "cloud.log", stack_operation_seconds=WINDOW
    )
    try:
        cloud.start()
        url = _fail_the_rollback(cloud, "restarted")
        assert cloud.stop() == 0

        cloud.start()
        cfn = client(cloud, "cloudformation")
        assert status(cfn, "restarted") == "UPDATE_ROLLBACK_FAILED"
        client(cloud, "sqs").create_queue(QueueName=url.rsplit("/", 1)[-1])
        cfn.continue_update_rollback(StackName="restarted")
        assert settle(cfn, "restarted") == "UPDATE_ROLLBACK_COMPLETE"
        assert _read_queue(cloud, url) == "one"
    finally:
        cloud.stop()
