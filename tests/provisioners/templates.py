"""Small CloudFormation templates the local cloud supports, in YAML with short tags."""

from __future__ import annotations

import json


def settings_template(version: str, *, with_queue: bool = False) -> str:
    """An SSM parameter (updatable in moto) and, optionally, an SQS queue."""
    queue = (
        """
  Queue:
    Type: AWS::SQS::Queue
"""
        if with_queue
        else ""
    )
    queue_outputs = (
        """
  QueueUrl:
    Value: !Ref Queue
  QueueArn:
    Value: !GetAtt Queue.Arn
"""
        if with_queue
        else ""
    )
    return f"""AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/${{AWS::StackName}}/setting"
      Type: String
      Value: {version}
{queue}
Outputs:
  SettingName:
    Value: !Ref Setting
  Version:
    Value: {version}
{queue_outputs}"""


def unsupported_output_template() -> str:
    """moto has no AWS::CodePipeline::Pipeline: the local cloud simulates it."""
    return json.dumps({
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {}},
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "PipelineName": {"Value": {"Ref": "Pipeline"}},
        },
    })  # fmt: skip


def rejected_template() -> str:
    """CloudFormation refuses this synchronously: Queue has no attribute Nope."""
    return json.dumps({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"Broken": {"Value": {"Fn::GetAtt": ["Queue", "Nope"]}}},
    })  # fmt: skip


def taken_bucket_template(bucket: str) -> str:
    """Accepted, then fails while creating: the bucket name is taken."""
    return json.dumps({
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}},
    })  # fmt: skip
