"""The local cloud's services accept what AWS's APIs accept, where moto alone would refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baryon.cloud.process import LocalCloudProcess
from tests.support.local_cloud import client

STACK = """\
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Targets:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: web--frontend-dev
      Port: 80
      Protocol: HTTP
      TargetType: ip
      VpcId: !Ref Vpc
Outputs:
  Name:
    Value: !GetAtt Targets.TargetGroupName
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    folder = tmp_path_factory.mktemp("service-fixes")
    with LocalCloudProcess(state_file=None, log_file=Path(folder, "cloud.log")) as process:
        yield process


def test_a_target_group_name_with_two_hyphens_in_a_row_is_created_as_given(
    cloud: LocalCloudProcess,
) -> None:
    ec2, elbv2 = client(cloud, "ec2"), client(cloud, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    (group,) = elbv2.create_target_group(
        Name="svc--instance", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
    )["TargetGroups"]
    assert group["TargetGroupName"] == "svc--instance"
    assert "/svc--instance/" in group["TargetGroupArn"]
    (found,) = elbv2.describe_target_groups(Names=["svc--instance"])["TargetGroups"]
    assert found["TargetGroupArn"] == group["TargetGroupArn"]
    with pytest.raises(elbv2.exceptions.DuplicateTargetGroupNameException):
        elbv2.create_target_group(
            Name="svc--instance", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )


def test_a_target_group_name_ending_in_a_hyphen_is_still_refused(
    cloud: LocalCloudProcess,
) -> None:
    ec2, elbv2 = client(cloud, "ec2"), client(cloud, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(elbv2.exceptions.ClientError):
        elbv2.create_target_group(
            Name="svc--", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )


def test_a_stack_creates_a_target_group_named_as_the_proton_sample_names_it(
    cloud: LocalCloudProcess,
) -> None:
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(StackName="targets", TemplateBody=STACK)
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName="targets", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )
    (stack,) = cloudformation.describe_stacks(StackName="targets")["Stacks"]
    assert stack["Outputs"][0]["OutputValue"] == "web--frontend-dev"
