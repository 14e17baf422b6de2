"""Valid templates that moto alone mis-reads or refuses deploy on the local cloud as on AWS:
every intrinsic function and pseudo parameter the Proton samples use, scalars given as strings,
an all-protocols ingress rule, generated names, and the SAM transform."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.template_normalizer import normalize
from tests.support.local_cloud import client


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("template-normalizer-cloud")
    process = LocalCloudProcess(state_file=None, log_file=logs / "cloud.log")
    process.start()
    yield process
    process.stop()


def deploy(cloud: LocalCloudProcess, name: str, body: str) -> dict[str, str]:
    """Creates the stack and answers its outputs; fails with the stack's reason otherwise."""
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    waiter = cloudformation.get_waiter("stack_create_complete")
    waiter.wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


NETWORK = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Cidr:
    Type: String
    Default: 10.0.0.0/16
Mappings:
  Sizes:
    small: {Bits: '8'}
Conditions:
  IsEast: !Equals [!Ref 'AWS::Region', us-east-1]
  IsWest: !Not [!Condition IsEast]
Resources:
  VPC:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: !Ref Cidr
  SubnetOne:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref VPC
      AvailabilityZone: !Select [0, !GetAZs {Ref: 'AWS::Region'}]
      CidrBlock: !Select [0, !Cidr [!GetAtt VPC.CidrBlock, 2, !FindInMap [Sizes, small, Bits]]]
  SubnetTwo:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref VPC
      AvailabilityZone: !Select
        - 1
        - Fn::GetAZs: ''
      CidrBlock: !Select [1, !Cidr [!GetAtt VPC.CidrBlock, 2, 8]]
      MapPublicIpOnLaunch: 'true'
  Everything:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: all traffic from the VPC
      VpcId: !Ref VPC
      SecurityGroupIngress:
        - IpProtocol: -1
          CidrIp: !GetAtt
            - VPC
            - CidrBlock
  FromItself:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref Everything
      IpProtocol: '-1'
      SourceSecurityGroupId: !GetAtt
        - Everything
        - GroupId
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub '${AWS::StackName}-logs'
      RetentionInDays: '7'
Outputs:
  Zones:
    Value: !Join [',', !GetAZs '']
  Where:
    Value: !If
      - IsWest
      - west
      - !Sub ['${Region}/${AWS::AccountId}/${AWS::Partition}', {Region: !Ref 'AWS::Region'}]
  Suffix:
    Value: !Sub '${AWS::URLSuffix} ${!Literal} ${VPC}'
  Second:
    Value: !Select [1, !Split [',', 'a,b,c']]
  Stack:
    Value: !Join ['|', [!Ref 'AWS::StackName', !Ref 'AWS::StackId']]
  Group:
    Value: !Ref Everything
    Export:
      Name: !Sub '${AWS::StackName}-group'
"""


def test_intrinsic_functions_and_pseudo_parameters_resolve_as_on_aws(
    cloud: LocalCloudProcess,
) -> None:
    outputs = deploy(cloud, "network", NETWORK)
    zones = [
        z["ZoneName"]
        for z in client(cloud, "ec2").describe_availability_zones()["AvailabilityZones"]
    ]
    assert outputs["Zones"] == ",".join(zones)
    subnets = client(cloud, "ec2").describe_subnets(
        Filters=[{"Name": "tag:aws:cloudformation:stack-name", "Values": ["network"]}]
    )["Subnets"]
    placed = sorted((s["AvailabilityZone"], s["CidrBlock"]) for s in subnets)
    assert placed == [(zones[0], "10.0.0.0/24"), (zones[1], "10.0.1.0/24")]
    assert outputs["Where"] == "us-east-1/123456789012/aws"
    assert outputs["Suffix"].startswith("amazonaws.com ${Literal} vpc-")
    assert outputs["Second"] == "b"
    stack_id = client(cloud, "cloudformation").describe_stacks(StackName="network")["Stacks"][0][
        "StackId"
    ]
    assert outputs["Stack"] == f"network|{stack_id}"

    consumer = {
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"DisplayName": {"Fn::ImportValue": "network-group"}},
            }
        },
        "Outputs": {"Imported": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}}},
    }
    assert deploy(cloud, "consumer", json.dumps(consumer))["Imported"].startswith("consumer-Topic")


def test_an_all_protocols_rule_and_scalars_given_as_strings_deploy(
    cloud: LocalCloudProcess,
) -> None:
    deploy(cloud, "typed", NETWORK.replace("network", "typed"))
    groups = client(cloud, "ec2").describe_security_groups(
        Filters=[{"Name": "description", "Values": ["all traffic from the VPC"]}]
    )["SecurityGroups"]
    assert {rule["IpProtocol"] for g in groups for rule in g["IpPermissions"]} == {"-1"}
    logs = client(cloud, "logs").describe_log_groups(logGroupNamePrefix="typed-logs")
    assert logs["logGroups"][0]["retentionInDays"] == 7


def test_scalars_take_the_type_the_resource_schema_states() -> None:
    template: dict[str, Any] = {
        "Resources": {
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "DesiredCount": "1",
                    "ServiceName": 42,
                    "EnableExecuteCommand": "True",
                    "LoadBalancers": [{"ContainerPort": "80", "ContainerName": "web"}],
                    "Cluster": {"Ref": "Cluster"},
                },
            },
        }
    }
    properties = normalize(template, "us-east-1")["Resources"]["Service"]["Properties"]
    assert properties == {
        "DesiredCount": 1,
        "ServiceName": "42",
        "EnableExecuteCommand": True,
        "LoadBalancers": [{"ContainerPort": 80, "ContainerName": "web"}],
        "Cluster": {"Ref": "Cluster"},
    }
    assert template["Resources"]["Service"]["Properties"]["DesiredCount"] == "1"  # a copy


def test_generated_names_follow_the_rules_aws_names_follow(cloud: LocalCloudProcess) -> None:
    template = {"Resources": {"ImageRepository": {"Type": "AWS::ECR::Repository"}}}
    deploy(cloud, "Pipeline-Stack", json.dumps(template))
    (repository,) = client(cloud, "ecr").describe_repositories()["repositories"]
    assert repository["repositoryName"].startswith("pipeline-stack-imagerepository-")


SAM = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return 'hi'\\n"
      Policies:
        - AWSLambdaBasicExecutionRole
Outputs:
  Function:
    Value: !GetAtt Hello.Arn
  Role:
    Value: !Ref HelloRole
"""


def test_a_sam_template_is_transformed_offline_and_deploys(cloud: LocalCloudProcess) -> None:
    outputs = deploy(cloud, "sam", SAM)
    assert outputs["Function"].startswith(
        "arn:aws:lambda:us-east-1:123456789012:function:sam-Hello"
    )
    function = client(cloud, "lambda").get_function(FunctionName=outputs["Function"])
    assert function["Configuration"]["Role"].endswith(f"/{outputs['Role']}")
    template = client(cloud, "cloudformation").get_template(StackName="sam")["TemplateBody"]
    assert "AWS::Serverless::Function" in str(template)  # the user's template, as given


def test_the_sam_transform_resolves_managed_policies_without_asking_iam() -> None:
    from baryon.cloud.template_checks import read_template

    expanded = normalize(read_template(SAM), "eu-west-1")
    role = expanded["Resources"]["HelloRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ]
    assert "Transform" not in expanded
