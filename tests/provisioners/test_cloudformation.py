"""CloudFormationProvisioner against a real local cloud (moto's server, stack operations that
take a while), through boto3 as in production."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from baryon.provisioners import CloudFormationProvisioner, ResourceIdentity, resource_stack_name
from tests.provisioners.conftest import (
    LeaseLost,
    RecordingIO,
    cloud_client,
    identity,
    make_provisioner,
    spec,
)
from tests.provisioners.templates import (
    rejected_template,
    settings_template,
    taken_bucket_template,
    unsupported_output_template,
)


@pytest.fixture
def resource(request: pytest.FixtureRequest) -> ResourceIdentity:
    return identity(request.node.name)


@pytest.fixture
def name(resource: ResourceIdentity) -> str:
    return resource_stack_name(resource)


def stack_events(cfn: Any, stack: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [e["ResourceStatus"] for e in reversed(events) if e["LogicalResourceId"] == stack]


def test_create_reports_outputs_and_resources(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    io = RecordingIO()
    outcome = provisioner.deploy(spec(resource, settings_template("v1", with_queue=True)), io)

    assert outcome.status == "SUCCEEDED", outcome.message
    assert outcome.outputs["SettingName"] == f"/{name}/setting"
    assert outcome.outputs["Version"] == "v1"
    assert outcome.outputs["QueueArn"].startswith("arn:aws:sqs:")
    assert {(r.name, r.engine) for r in outcome.resources} == {
        ("Setting", "CLOUDFORMATION"),
        ("Queue", "CLOUDFORMATION"),
    }
    assert outcome.engine_status == "CREATE_COMPLETE"
    # The local cloud kept the stack CREATE_IN_PROGRESS for a while: the provisioner waited,
    # heartbeating, and logged the stack's events as they came.
    assert io.heartbeats > 0
    assert io.logged("CREATE_IN_PROGRESS") and io.logged("CREATE_COMPLETE")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"proton:env": "dev"}


def test_update_and_no_op_update(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    assert provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO()).status == (
        "SUCCEEDED"
    )

    updated = provisioner.deploy(
        spec(resource, settings_template("v2", with_queue=True)), RecordingIO()
    )
    assert updated.status == "SUCCEEDED", updated.message
    assert updated.outputs["Version"] == "v2"
    assert "QueueUrl" in updated.outputs
    assert updated.engine_status == "UPDATE_COMPLETE"

    io = RecordingIO()
    again = provisioner.deploy(spec(resource, settings_template("v2", with_queue=True)), io)
    assert again.status == "SUCCEEDED"
    assert again.outputs == updated.outputs
    assert io.logged("already up to date")


def test_rejected_template_fails_with_cloudformations_message_then_deploys(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    outcome = provisioner.deploy(spec(resource, rejected_template()), RecordingIO())
    assert outcome.status == "FAILED"
    assert outcome.message is not None
    assert "does not support attribute type Nope in Fn::GetAtt" in outcome.message

    fixed = provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    assert fixed.status == "SUCCEEDED", fixed.message
    assert stack_events(cfn, name).count("CREATE_IN_PROGRESS") == 1


def test_failed_create_rolls_back_and_the_next_deploy_replaces_the_stack(
    provisioner: CloudFormationProvisioner,
    timed_cloud: Any,
    cfn: Any,
    resource: ResourceIdentity,
    name: str,
) -> None:
    bucket = f"taken-{name[-12:]}"
    cloud_client(timed_cloud.endpoint, "s3").create_bucket(Bucket=bucket)

    failed = provisioner.deploy(spec(resource, taken_bucket_template(bucket)), RecordingIO())
    assert failed.status == "FAILED"
    assert failed.engine_status == "ROLLBACK_COMPLETE"
    assert failed.message is not None and "BucketAlreadyExists" in failed.message
    first_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]

    io = RecordingIO()
    fixed = provisioner.deploy(spec(resource, settings_template("v1"), token="deployment-2"), io)
    assert fixed.status == "SUCCEEDED", fixed.message
    assert io.logged("ROLLBACK_COMPLETE and cannot be updated: deleting it first")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"] != first_id


def test_resumes_a_create_after_a_crash_without_creating_twice(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    template = settings_template("v1")
    crashing = RecordingIO(crash_when=lambda io: io.logged("creating stack"))
    with pytest.raises(LeaseLost):
        provisioner.deploy(spec(resource, template), crashing)
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"

    io = RecordingIO()
    outcome = provisioner.deploy(spec(resource, template), io)
    assert outcome.status == "SUCCEEDED", outcome.message
    assert outcome.outputs["Version"] == "v1"
    assert io.logged("is CREATE_IN_PROGRESS: waiting for that operation to finish")
    assert not io.logged("creating stack")
    assert stack_events(cfn, name) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_resumes_an_update_after_a_crash_without_updating_twice(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    v2 = spec(resource, settings_template("v2"), token="deployment-2")
    with pytest.raises(LeaseLost):
        provisioner.deploy(v2, RecordingIO(crash_when=lambda io: io.logged("updating stack")))
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"

    io = RecordingIO()
    outcome = provisioner.deploy(v2, io)
    assert outcome.status == "SUCCEEDED", outcome.message
    assert outcome.outputs["Version"] == "v2"
    assert io.logged("already up to date")
    assert stack_events(cfn, name).count("UPDATE_IN_PROGRESS") == 1


def test_cancel_during_an_update_rolls_back_to_the_previous_version(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    first = provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    io = RecordingIO(cancel_when=lambda io: io.logged("updating stack"))
    v2 = spec(resource, settings_template("v2", with_queue=True), token="deployment-2")

    cancelled = provisioner.deploy(v2, io)

    assert cancelled.status == "CANCELLED", cancelled.message
    assert cancelled.engine_status == "UPDATE_ROLLBACK_COMPLETE"
    assert cancelled.outputs == first.outputs  # the previous version is what runs
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == first.outputs
    assert io.logged("cancelling the update")

    later = provisioner.deploy(
        spec(resource, settings_template("v2"), token="deployment-3"), RecordingIO()
    )
    assert later.status == "SUCCEEDED", later.message
    assert later.outputs["Version"] == "v2"


def test_cancel_during_a_create_deletes_the_stack(
    provisioner: CloudFormationProvisioner, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    io = RecordingIO(cancel_when=lambda io: io.logged("creating stack"))
    outcome = provisioner.deploy(spec(resource, settings_template("v1")), io)
    assert outcome.status == "CANCELLED", outcome.message
    assert io.logged("deleting it")
    assert provisioner.status(resource) is None
    summaries = cfn.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries if s["StackName"] == name] == ["DELETE_COMPLETE"]


def test_cancel_before_anything_started_changes_nothing(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    outcome = provisioner.deploy(
        spec(resource, settings_template("v1")), RecordingIO(cancel_when=lambda io: True)
    )
    assert outcome.status == "CANCELLED"
    assert provisioner.status(resource) is None


def test_destroy_and_destroy_again(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())

    io = RecordingIO()
    assert provisioner.destroy(resource, io).status == "SUCCEEDED"
    assert io.logged("DELETE_IN_PROGRESS") and io.logged("DELETE_COMPLETE")
    assert provisioner.status(resource) is None

    again = RecordingIO()
    assert provisioner.destroy(resource, again).status == "SUCCEEDED"
    assert again.logged("does not exist")


def test_destroy_waits_for_an_update_in_progress(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    v2 = spec(resource, settings_template("v2"), token="deployment-2")
    with pytest.raises(LeaseLost):
        provisioner.deploy(v2, RecordingIO(crash_when=lambda io: io.logged("updating stack")))

    io = RecordingIO()
    assert provisioner.destroy(resource, io).status == "SUCCEEDED"
    assert io.logged("UPDATE_IN_PROGRESS: waiting before deleting it")


def test_a_resource_the_local_cloud_simulates_is_marked_simulated(
    provisioner: CloudFormationProvisioner, resource: ResourceIdentity
) -> None:
    io = RecordingIO()
    outcome = provisioner.deploy(spec(resource, unsupported_output_template()), io)
    assert outcome.status == "SUCCEEDED", outcome.message
    assert set(outcome.outputs) == {"QueueUrl", "PipelineName"}
    assert {r.name: r.simulated for r in outcome.resources} == {"Queue": False, "Pipeline": True}
    assert io.logged("Pipeline (AWS::CodePipeline::Pipeline) CREATE_COMPLETE [simulated")
    assert io.logged(
        "the local cloud simulated these resources (nothing real was created): Pipeline"
    )
    assert not io.logged("Queue (AWS::SQS::Queue) CREATE_COMPLETE [simulated")


class DescribeStacksBreaksAfterCreate:
    """A cloud whose DescribeStacks fails once the stack is created, as an overloaded or
    broken endpoint might: injected in botocore's send path, so parsing and retries run as
    for a real answer. ``answer`` is the failing response (status, content type, body)."""

    def __init__(self, endpoint: str, answer: tuple[int, str, bytes]) -> None:
        self.endpoint, self.answer = endpoint, answer
        self.created, self.healed, self.calls = False, False, 0
        self.stack_name = ""

    def client(self) -> Any:
        client = cloud_client(self.endpoint, "cloudformation")
        client.meta.events.register("after-call.cloudformation.CreateStack", self._created)
        client.meta.events.register("before-send.cloudformation.DescribeStacks", self._answer)
        return client

    def _created(self, **_: Any) -> None:
        self.created = True

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.created or self.healed:
            return None
        self.calls += 1
        status, content_type, body = self.answer
        return AWSResponse(request.url, status, {"Content-Type": content_type}, _Body(body))


# What a Python web server answers for an unhandled exception.
_ERROR_PAGE = (
    500,
    "text/html",
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error.</p>\n",
)
# What AWS (and the local cloud) answers when the service itself failed a call.
_INTERNAL_FAILURE = (
    500,
    "text/xml",
    b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error>'
    b"<Type>Receiver</Type><Code>InternalFailure</Code>"
    b"<Message>DescribeStacks failed: KeyError 'Bucket' in the stack's resources</Message>"
    b"</Error><RequestId>r-1</RequestId></ErrorResponse>",
)
_THROTTLED = (
    400,
    "text/xml",
    b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>r-2</RequestId></ErrorResponse>",
)


class _Body:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


def _deploy_against(
    timed_cloud: Any, resource: ResourceIdentity, broken: DescribeStacksBreaksAfterCreate
) -> tuple[Any, RecordingIO]:
    # max_retries is generous on purpose: a server error must not be given that many tries.
    provisioner = make_provisioner(timed_cloud.endpoint, max_retries=4, server_error_pause=0.05)
    provisioner.client_factory = broken.client
    io = RecordingIO()
    return provisioner.deploy(spec(resource, settings_template("v1")), io), io


def test_a_server_error_is_retried_once_then_fails_with_the_clouds_own_code_and_message(
    timed_cloud: Any, resource: ResourceIdentity
) -> None:
    broken = DescribeStacksBreaksAfterCreate(timed_cloud.endpoint, _INTERNAL_FAILURE)
    outcome, io = _deploy_against(timed_cloud, resource, broken)

    assert broken.created and outcome.status == "FAILED"
    assert outcome.message is not None
    assert "DescribeStacks kept failing (2 attempts)" in outcome.message
    assert "InternalFailure: DescribeStacks failed: KeyError 'Bucket'" in outcome.message
    assert sum("retrying" in line for line in io.lines) == 1
    assert io.logged("InternalFailure: DescribeStacks failed: KeyError 'Bucket'")

    # Once CloudFormation answers again, the same stack is found, and destroyed or redeployed.
    broken.healed = True
    provisioner = make_provisioner(timed_cloud.endpoint)
    assert provisioner.destroy(resource, RecordingIO()).status == "SUCCEEDED"
    assert provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO()).status == (
        "SUCCEEDED"
    )


def test_an_error_page_from_another_cloud_fails_naming_the_page(
    timed_cloud: Any, resource: ResourceIdentity
) -> None:
    broken = DescribeStacksBreaksAfterCreate(timed_cloud.endpoint, _ERROR_PAGE)
    outcome, _ = _deploy_against(timed_cloud, resource, broken)

    assert outcome.status == "FAILED" and outcome.message is not None
    assert "DescribeStacks kept failing (2 attempts)" in outcome.message
    assert "Internal Server Error" in outcome.message
    broken.healed = True
    assert make_provisioner(timed_cloud.endpoint).destroy(resource, RecordingIO()).status == (
        "SUCCEEDED"
    )


def test_throttling_is_waited_out_longer_than_a_server_error(
    timed_cloud: Any, resource: ResourceIdentity
) -> None:
    broken = DescribeStacksBreaksAfterCreate(timed_cloud.endpoint, _THROTTLED)
    outcome, io = _deploy_against(timed_cloud, resource, broken)

    assert outcome.status == "FAILED" and outcome.message is not None
    assert "DescribeStacks kept failing (5 attempts)" in outcome.message
    assert "Throttling: Rate exceeded" in outcome.message
    assert sum("retrying" in line for line in io.lines) == 4
    broken.healed = True
    assert make_provisioner(timed_cloud.endpoint).destroy(resource, RecordingIO()).status == (
        "SUCCEEDED"
    )


class DescribeStacksBreaksOnceAResourceFailed(DescribeStacksBreaksAfterCreate):
    """DescribeStacks fails from the moment the stack's events show a failed resource, so
    the provisioner's wait ends in a cloud failure with the resource's failure unread.

    The first DescribeStacks after the create is answered for real (the provisioner learns
    the stack from it); the next is held until a resource has failed, then fails: passing it
    through whenever no resource had failed yet let a loaded machine's stack fail and roll
    back before the call arrived, and the wait then ended in the stack's own failure."""

    passed = False

    def _answer(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        if self.created and not self.healed and not self.calls:
            if not self.passed:
                self.passed = True
                return None
            self._wait_for_a_failed_resource()
        return super()._answer(request, **kwargs)

    def _wait_for_a_failed_resource(self, patience: float = 60.0) -> None:
        plain = cloud_client(self.endpoint, "cloudformation")
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            events = [
                e
                for stack in plain.describe_stacks()["Stacks"]
                if stack["StackName"] == self.stack_name
                for e in plain.describe_stack_events(StackName=stack["StackId"])["StackEvents"]
            ]
            if any(e["ResourceStatus"].endswith("_FAILED") for e in events):
                return
            time.sleep(0.05)


def test_a_cloud_failure_mid_wait_still_names_the_failed_resource(
    timed_cloud: Any, resource: ResourceIdentity, name: str
) -> None:
    bucket = f"taken-{name[-12:]}"
    cloud_client(timed_cloud.endpoint, "s3").create_bucket(Bucket=bucket)
    broken = DescribeStacksBreaksOnceAResourceFailed(timed_cloud.endpoint, _INTERNAL_FAILURE)
    broken.stack_name = name
    provisioner = make_provisioner(timed_cloud.endpoint, server_error_pause=0.05)
    provisioner.client_factory = broken.client
    io = RecordingIO()
    outcome = provisioner.deploy(spec(resource, taken_bucket_template(bucket)), io)

    assert outcome.status == "FAILED" and outcome.message is not None
    assert "InternalFailure: DescribeStacks failed" in outcome.message
    assert "failed resources: Bucket (AWS::S3::Bucket) CREATE_FAILED" in outcome.message
    assert "BucketAlreadyExists" in outcome.message
    assert io.logged("Bucket (AWS::S3::Bucket) CREATE_FAILED: ")
    broken.healed = True
    assert make_provisioner(timed_cloud.endpoint).destroy(resource, RecordingIO()).status == (
        "SUCCEEDED"
    )


def test_describe(provisioner: CloudFormationProvisioner, resource: ResourceIdentity) -> None:
    assert provisioner.status(resource) is None
    deployed = provisioner.deploy(spec(resource, settings_template("v1")), RecordingIO())
    described = provisioner.status(resource)
    assert described is not None
    assert (described.status, described.outputs) == ("SUCCEEDED", deployed.outputs)
    assert described.resources == deployed.resources


def test_timeout_is_a_failure_with_a_clear_message(
    timed_cloud: Any, resource: ResourceIdentity
) -> None:
    impatient = make_provisioner(timed_cloud.endpoint, timeout=0.0)
    outcome = impatient.deploy(spec(resource, settings_template("v1")), RecordingIO())
    assert outcome.status == "FAILED"
    assert outcome.message is not None and "timed out" in outcome.message
    # The stack carried on; a patient deploy picks it up.
    patient = make_provisioner(timed_cloud.endpoint)
    assert patient.deploy(spec(resource, settings_template("v1")), RecordingIO()).status == (
        "SUCCEEDED"
    )


def test_requests_carry_role_capabilities_and_deployment_tokens(
    timed_cloud: Any, cfn: Any, resource: ResourceIdentity, name: str
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    def recording_client() -> Any:
        client = cloud_client(timed_cloud.endpoint, "cloudformation")
        client.meta.events.register(
            "provide-client-params.cloudformation.*",
            lambda params, model, **_: sent.append((model.name, dict(params))),
        )
        return client

    provisioner = CloudFormationProvisioner(
        recording_client, poll_initial=0.05, poll_max=0.2, heartbeat_interval=0.05
    )
    role = "arn:aws:iam::123456789012:role/proton-service-role"
    first = spec(
        replace(resource, role_arn=role, tags={"a": "b"}), settings_template("v1"), "dep-1"
    )
    assert provisioner.deploy(first, RecordingIO()).status == "SUCCEEDED"
    second = spec(replace(resource, role_arn=role, tags={}), settings_template("v2"), "dep_2")
    assert provisioner.deploy(second, RecordingIO()).status == "SUCCEEDED"

    writes = {op: params for op, params in sent if op in ("CreateStack", "UpdateStack")}
    assert writes["CreateStack"]["ClientRequestToken"] == "dep-1-create"
    assert writes["CreateStack"]["RoleARN"] == role
    assert writes["CreateStack"]["Tags"] == [{"Key": "a", "Value": "b"}]
    assert set(writes["CreateStack"]["Capabilities"]) == {
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    }
    token = writes["UpdateStack"]["ClientRequestToken"]
    assert token.startswith("dep-2-update-")  # sanitized, so hashed to stay distinct
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["RoleARN"] == role
