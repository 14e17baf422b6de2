"""Deleting a stack in the local cloud deletes every resource it made, as CloudFormation does:
a VPC's gateways, route tables and NAT gateways, an Auto Scaling group's instances, ECS and
load balancer resources, and every AWS sample environment, ending DELETE_COMPLETE."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baryon.cloud import resource_lifecycle_fixes
from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.simulated_resources import simulates
from baryon.render import parse_cloudformation, render_text
from tests.render import corpus
from tests.support.local_cloud import client
from tests.support.samples import SAMPLES

# An image moto knows in every region.
IMAGE_ID = "ami-03cf127a"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("deletion-cloud")
    process = LocalCloudProcess(
        state_file=None, log_file=logs / "cloud.log", stack_operation_seconds=0
    )
    process.start()
    yield process
    process.stop()


def settle(cfn: Any, stack_id: str) -> dict[str, Any]:
    """Polls until the stack leaves *_IN_PROGRESS; generous bound, no timing assertion."""
    deadline = time.monotonic() + 60
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        assert time.monotonic() < deadline, f"{stack_id} stuck in {stack['StackStatus']}"
        time.sleep(0.1)


def deploy(cfn: Any, name: str, template: str) -> str:
    stack_id: str = cfn.create_stack(
        StackName=name, TemplateBody=template, Capabilities=["CAPABILITY_IAM"]
    )["StackId"]
    created = settle(cfn, stack_id)
    assert created["StackStatus"] == "CREATE_COMPLETE", created.get("StackStatusReason")
    return stack_id


def physical_ids(cfn: Any, stack_id: str) -> dict[str, str]:
    resources = cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}


def delete(cfn: Any, stack_id: str) -> dict[str, Any]:
    cfn.delete_stack(StackName=stack_id)
    return settle(cfn, stack_id)


def vpc_network() -> str:
    """A VPC with a public subnet behind an internet gateway and a private one behind a NAT
    gateway, each with its own route table, as every sample environment has."""
    vpc = {"Ref": "Vpc"}

    def subnet(cidr: str) -> dict[str, Any]:
        return {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": vpc, "CidrBlock": cidr}}

    def route_table() -> dict[str, Any]:
        return {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": vpc}}

    def association(table: str, subnet_name: str) -> dict[str, Any]:
        return {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"RouteTableId": {"Ref": table}, "SubnetId": {"Ref": subnet_name}},
        }

    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Gateway": {"Type": "AWS::EC2::InternetGateway"},
        "Attachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": vpc, "InternetGatewayId": {"Ref": "Gateway"}},
        },
        "PublicSubnet": subnet("10.0.0.0/24"),
        "PrivateSubnet": subnet("10.0.1.0/24"),
        "PublicRoutes": route_table(),
        "PublicDefault": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "Attachment",
            "Properties": {
                "RouteTableId": {"Ref": "PublicRoutes"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": {"Ref": "Gateway"},
            },
        },
        "PublicAssociation": association("PublicRoutes", "PublicSubnet"),
        "NatAddress": {
            "Type": "AWS::EC2::EIP",
            "DependsOn": "Attachment",
            "Properties": {"Domain": "vpc"},
        },
        "Nat": {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {
                "AllocationId": {"Fn::GetAtt": ["NatAddress", "AllocationId"]},
                "SubnetId": {"Ref": "PublicSubnet"},
            },
        },
        "PrivateRoutes": route_table(),
        "PrivateDefault": {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": {"Ref": "PrivateRoutes"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": "Nat"},
            },
        },
        "PrivateAssociation": association("PrivateRoutes", "PrivateSubnet"),
    }
    return json.dumps({"Resources": resources})


def network_left(ec2: Any, vpc_id: str, gateway_ids: list[str]) -> dict[str, list[str]]:
    """What of the network still exists; a deleted NAT gateway stays visible as "deleted",
    on AWS as here, so it does not count."""
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    left = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc_id],
        "internet gateways": [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways()["InternetGateways"]
            if g["InternetGatewayId"] in gateway_ids
        ],
        "route tables": [
            t["RouteTableId"] for t in ec2.describe_route_tables(Filters=in_vpc)["RouteTables"]
        ],
        "NAT gateways": [
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways(Filters=in_vpc)["NatGateways"]
            if n["State"] != "deleted"
        ],
        "network interfaces": [
            n["NetworkInterfaceId"]
            for n in ec2.describe_network_interfaces(Filters=in_vpc)["NetworkInterfaces"]
        ],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=in_vpc)["Subnets"]],
    }
    return {kind: ids for kind, ids in left.items() if ids}


def test_deleting_a_vpc_stack_deletes_its_gateways_route_tables_and_nat_gateways(
    cloud: LocalCloudProcess,
) -> None:
    cfn, ec2 = client(cloud, "cloudformation"), client(cloud, "ec2")
    stack_id = deploy(cfn, "network", vpc_network())
    ids = physical_ids(cfn, stack_id)
    addresses_before = len(ec2.describe_addresses()["Addresses"])
    assert network_left(ec2, ids["Vpc"], [ids["Gateway"]])  # the test can fail

    deleted = delete(cfn, stack_id)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    assert network_left(ec2, ids["Vpc"], [ids["Gateway"]]) == {}
    assert len(ec2.describe_addresses()["Addresses"]) == addresses_before - 1


def test_a_network_resource_already_deleted_outside_its_stack_does_not_fail_the_delete(
    cloud: LocalCloudProcess,
) -> None:
    cfn, ec2 = client(cloud, "cloudformation"), client(cloud, "ec2")
    stack_id = deploy(cfn, "network-tampered", vpc_network())
    ids = physical_ids(cfn, stack_id)
    ec2.delete_nat_gateway(NatGatewayId=ids["Nat"])
    ec2.detach_internet_gateway(InternetGatewayId=ids["Gateway"], VpcId=ids["Vpc"])
    ec2.delete_internet_gateway(InternetGatewayId=ids["Gateway"])
    ec2.delete_route(RouteTableId=ids["PublicRoutes"], DestinationCidrBlock="0.0.0.0/0")

    deleted = delete(cfn, stack_id)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    assert network_left(ec2, ids["Vpc"], [ids["Gateway"]]) == {}


def auto_scaling_group() -> str:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.1.0.0/16"}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.1.0.0/24"},
        },
        "Launch": {
            "Type": "AWS::AutoScaling::LaunchConfiguration",
            "Properties": {"ImageId": IMAGE_ID, "InstanceType": "t3.micro"},
        },
        "Group": {
            "Type": "AWS::AutoScaling::AutoScalingGroup",
            "Properties": {
                "MinSize": "2",
                "MaxSize": "2",
                "LaunchConfigurationName": {"Ref": "Launch"},
                "VPCZoneIdentifier": [{"Ref": "Subnet"}],
            },
        },
    }
    return json.dumps({"Resources": resources})


def test_deleting_an_auto_scaling_group_stack_terminates_its_instances_and_frees_their_interfaces(
    cloud: LocalCloudProcess,
) -> None:
    cfn, ec2 = client(cloud, "cloudformation"), client(cloud, "ec2")
    stack_id = deploy(cfn, "scaling", auto_scaling_group())
    vpc_id = physical_ids(cfn, stack_id)["Vpc"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    reservations = ec2.describe_instances(Filters=in_vpc)["Reservations"]
    instance_ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    assert len(instance_ids) == 2

    deleted = delete(cfn, stack_id)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    described = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    states = {i["InstanceId"]: i["State"]["Name"] for r in described for i in r["Instances"]}
    assert states == dict.fromkeys(instance_ids, "terminated")
    assert ec2.describe_network_interfaces(Filters=in_vpc)["NetworkInterfaces"] == []
    assert client(cloud, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []


def service_behind_a_load_balancer() -> str:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.2.0.0/16"}},
        "SubnetA": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": "10.2.0.0/24",
                "AvailabilityZone": "us-east-1a",
            },
        },
        "SubnetB": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": "10.2.1.0/24",
                "AvailabilityZone": "us-east-1b",
            },
        },
        "Balancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {"Subnets": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]},
        },
        "Targets": {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "Port": 80,
                "Protocol": "HTTP",
                "TargetType": "ip",
                "VpcId": {"Ref": "Vpc"},
            },
        },
        "Listener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "Balancer"},
                "Port": 80,
                "Protocol": "HTTP",
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "Targets"}}],
            },
        },
        "Cluster": {"Type": "AWS::ECS::Cluster"},
        "Task": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": "web",
                "Cpu": "256",
                "Memory": "512",
                "NetworkMode": "awsvpc",
                "RequiresCompatibilities": ["FARGATE"],
                "ContainerDefinitions": [{"Name": "web", "Image": "nginx", "Essential": True}],
            },
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "DependsOn": "Listener",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "TaskDefinition": {"Ref": "Task"},
                "DesiredCount": 2,
                "LaunchType": "FARGATE",
            },
        },
    }
    return json.dumps({"Resources": resources})


def test_deleting_a_service_stack_deletes_its_ecs_and_load_balancer_resources(
    cloud: LocalCloudProcess,
) -> None:
    cfn, ecs, elbv2 = (client(cloud, s) for s in ("cloudformation", "ecs", "elbv2"))
    stack_id = deploy(cfn, "web-service", service_behind_a_load_balancer())
    ids = physical_ids(cfn, stack_id)
    assert elbv2.describe_listeners(LoadBalancerArn=ids["Balancer"])["Listeners"]

    deleted = delete(cfn, stack_id)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    assert ids["Balancer"] not in [b["LoadBalancerArn"] for b in balancers]
    groups = elbv2.describe_target_groups()["TargetGroups"]
    assert ids["Targets"] not in [g["TargetGroupArn"] for g in groups]
    # ECS keeps what was deleted, INACTIVE, on AWS as here.
    (service,) = ecs.describe_services(cluster=ids["Cluster"], services=[ids["Service"]])[
        "services"
    ]
    assert service["status"] == "INACTIVE"
    (cluster,) = ecs.describe_clusters(clusters=[ids["Cluster"]])["clusters"]
    assert cluster["status"] == "INACTIVE"
    task = ecs.describe_task_definition(taskDefinition=ids["Task"])["taskDefinition"]
    assert task["status"] == "INACTIVE"


def sample_resource_types() -> set[str]:
    types: set[str] = set()
    for sample in corpus.sample_bundles():
        spec = corpus.specs_for(sample)[0]
        for section in corpus.sections(sample):
            (text,) = section.files.values()
            namespace = corpus.namespace_for(sample, section, spec)
            rendered = render_text(text, namespace, file=section.folder)
            template = parse_cloudformation(rendered, section.folder)
            types.update(str(r["Type"]) for r in (template.get("Resources") or {}).values())
    return types


def deletes_itself(model: type[Any]) -> bool:
    """moto's stack delete calls ``delete(account_id, region_name)``, else the class's
    ``delete_from_cloudformation_json`` unless that is still the abstract placeholder."""
    own_delete = getattr(model, "delete", None)
    if own_delete is not None and len(inspect.signature(own_delete).parameters) == 3:
        return True
    placeholder = model.delete_from_cloudformation_json
    return not hasattr(placeholder, "__isabstractmethod__")


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
def test_every_moto_model_a_sample_uses_has_a_way_to_be_deleted() -> None:
    from moto.cloudformation import parsing

    resource_lifecycle_fixes.install()  # what the local cloud installs, here in-process
    types = sample_resource_types()
    # Simulated types delete themselves; SAM types are transformed away before moto sees them.
    modelled = {t for t in types if not simulates(t) and not t.startswith("AWS::Serverless::")}
    assert {"AWS::EC2::NatGateway", "AWS::ECS::Service"} <= modelled
    lacking = sorted(t for t in modelled if not deletes_itself(parsing.resource_class_from_type(t)))
    assert lacking == []


def sample_environments() -> list[corpus.SampleBundle]:
    return [s for s in corpus.sample_bundles() if s.bundle.kind == "environment"]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is absent")
@pytest.mark.parametrize("sample", sample_environments(), ids=lambda s: s.name)
def test_every_sample_environment_stack_deletes_and_leaves_nothing_in_its_vpc(
    cloud: LocalCloudProcess, sample: corpus.SampleBundle
) -> None:
    cfn, ec2 = client(cloud, "cloudformation"), client(cloud, "ec2")
    section = sample.bundle.infrastructure
    assert section is not None
    namespace = corpus.namespace_for(sample, section, corpus.specs_for(sample)[0])
    (text,) = section.files.values()
    stack_id = deploy(cfn, sample.name, render_text(text, namespace, file=section.folder))
    resources = cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
    made = {(r["ResourceType"], r.get("PhysicalResourceId")) for r in resources}
    gateways = [physical for kind, physical in made if kind == "AWS::EC2::InternetGateway"]

    deleted = delete(cfn, stack_id)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    for kind, vpc_id in made:
        if kind == "AWS::EC2::VPC":
            assert network_left(ec2, vpc_id, gateways) == {}


def permitted_function() -> dict[str, Any]:
    """A Lambda function with a permission, whose object carries what deleting it needs."""
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        },
    }
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": "permitted",
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
        },
    }
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Ref": "Function"},
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
        },
    }
    return {"Role": role, "Function": function, "Permission": permission}


def test_a_stack_restored_from_a_snapshot_deletes_everything_it_made(tmp_path: Path) -> None:
    restarted = LocalCloudProcess(
        state_file=tmp_path / "cloud.state",
        log_file=tmp_path / "cloud.log",
        stack_operation_seconds=0,
    )
    try:
        restarted.start()
        cfn = client(restarted, "cloudformation")
        template = json.loads(vpc_network())
        template["Resources"].update(permitted_function())
        stack_id = deploy(cfn, "snapshotted", json.dumps(template))
        ids = physical_ids(cfn, stack_id)
        assert restarted.stop() == 0

        restarted.start()
        cfn, ec2 = client(restarted, "cloudformation"), client(restarted, "ec2")
        deleted = delete(cfn, stack_id)

        assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
        assert network_left(ec2, ids["Vpc"], [ids["Gateway"]]) == {}
        # The snapshot written after the delete holds every object moto still keeps.
        assert restarted.stop() == 0
        restarted.start()
        cfn = client(restarted, "cloudformation")
        assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == (
            "DELETE_COMPLETE"
        )
    finally:
        restarted.stop()


def test_deleting_a_stack_revokes_the_ingress_rules_it_added_to_another_stacks_group(
    cloud: LocalCloudProcess,
) -> None:
    cfn, ec2 = client(cloud, "cloudformation"), client(cloud, "ec2")
    groups = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.3.0.0/16"}},
        **{
            name: {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": name, "VpcId": {"Ref": "Vpc"}},
            }
            for name in ("Service", "Balancer")
        },
    }
    ids = physical_ids(cfn, deploy(cfn, "groups", json.dumps({"Resources": groups})))

    def ingress(extra: dict[str, Any]) -> dict[str, Any]:
        rule = {"GroupId": ids["Service"], "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
        return {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {**rule, **extra}}

    rules = {
        "FromBalancer": ingress({"SourceSecurityGroupId": ids["Balancer"]}),
        "FromOffice": ingress({"CidrIp": "192.0.2.0/24", "Description": "office"}),
    }
    rules_stack = deploy(cfn, "rules", json.dumps({"Resources": rules}))

    def permissions() -> list[Any]:
        (group,) = ec2.describe_security_groups(GroupIds=[ids["Service"]])["SecurityGroups"]
        return list(group["IpPermissions"])

    assert permissions()

    deleted = delete(cfn, rules_stack)

    assert deleted["StackStatus"] == "DELETE_COMPLETE", deleted.get("StackStatusReason")
    assert permissions() == []
