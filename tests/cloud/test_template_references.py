"""The local cloud refuses templates with unresolvable references at CreateStack and
UpdateStack, in CloudFormation's words, instead of accepting them and failing later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.template_references import (
    parse_template,
    rejection_message,
    unresolved_references,
)
from tests.cloud.test_local_cloud import client

QUEUE = {"Type": "AWS::SQS::Queue"}


def check(template: dict[str, Any]) -> dict[str, list[str]]:
    return unresolved_references(template)


def test_every_kind_of_reference_is_followed() -> None:
    template = {
        "Parameters": {"Size": {"Type": "String"}},
        "Resources": {
            "Queue": {
                **QUEUE,
                "DependsOn": ["Ghost"],
                "Properties": {
                    "QueueName": {"Fn::Sub": "${AWS::StackName}-${Size}-${Missing1}-${!Literal}"},
                    "Tags": [{"Key": "k", "Value": {"Fn::GetAtt": ["Missing2", "Arn"]}}],
                },
            },
        },
        "Outputs": {
            "Fine": {"Value": {"Fn::Sub": ["${Queue.Arn}-${Local}", {"Local": {"Ref": "Size"}}]}},
            "Broken": {"Value": {"Ref": "Missing3"}},
            "AlsoBroken": {"Value": {"Fn::GetAtt": "Size.Arn"}},  # a parameter has no attributes
        },
    }
    assert check(template) == {
        "Resources": ["Ghost", "Missing1", "Missing2"],
        "Outputs": ["Missing3", "Size"],
    }
    assert rejection_message(check(template)) == (
        "Template format error: Unresolved resource dependencies [Ghost, Missing1, Missing2] "
        "in the Resources block of the template"
    )


def test_pseudo_parameters_conditions_and_transforms_pass() -> None:
    template = {
        "Conditions": {"Always": {"Fn::Equals": ["a", "a"]}},
        "Resources": {
            "Queue": {
                **QUEUE,
                "Condition": "Always",
                "Properties": {
                    "QueueName": {
                        "Fn::If": ["Always", {"Ref": "AWS::Region"}, {"Ref": "AWS::NoValue"}]
                    }
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}},
    }
    assert check(template) == {}
    # A transform adds resources the template does not show: nothing to judge.
    assert check({**template, "Transform": "AWS::Serverless-2016-10-31", "Outputs": {
        "Role": {"Value": {"Ref": "FunctionRole"}}}}) == {}


def test_yaml_short_forms_are_read() -> None:
    text = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${AWS::StackName}-queue'
Outputs:
  Arn:
    Value: !GetAtt Queue.Arn
  Url:
    Value: !Ref Queu
  Name:
    Value: !Join ['-', [!Ref Queue, !GetAtt [Nothing, Name]]]
"""
    template = parse_template(text)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert check(template) == {"Outputs": ["Queu", "Nothing"]}
    assert parse_template("{not: [valid") is None


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("references-cloud")
    process = LocalCloudProcess(state_file=None, log_file=logs / "cloud.log")
    process.start()
    yield process
    process.stop()


def test_the_local_cloud_refuses_them_before_creating_anything(cloud: LocalCloudProcess) -> None:
    cloudformation = client(cloud, "cloudformation")
    broken = {"Resources": {"Queue": QUEUE}, "Outputs": {"Url": {"Value": {"Ref": "Queu"}}}}
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName="refs", TemplateBody=json.dumps(broken))
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == (
        "Template format error: Unresolved resource dependencies [Queu] in the Outputs block "
        "of the template"
    )
    assert not [s for s in cloudformation.list_stacks()["StackSummaries"]
                if s["StackName"] == "refs"]

    fixed = {"Resources": {"Queue": QUEUE}, "Outputs": {"Url": {"Value": {"Ref": "Queue"}}}}
    cloudformation.create_stack(StackName="refs", TemplateBody=json.dumps(fixed))
    with pytest.raises(ClientError) as update_refused:
        cloudformation.update_stack(StackName="refs", TemplateBody=json.dumps(broken))
    assert "Unresolved resource dependencies [Queu]" in update_refused.value.response["Error"][
        "Message"]
    stack = cloudformation.describe_stacks(StackName="refs")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
