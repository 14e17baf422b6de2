"""Resource types moto lacks deploy in the local cloud as simulated resources, and say so."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from baryon.cloud import resource_schemas
from baryon.cloud.process import LocalCloudProcess
from baryon.cloud.simulated_resources import (
    Origin,
    SimulatedResource,
    attribute_values,
    origin_for,
    physical_id,
    simulates,
    simulation_note,
)
from tests.support.local_cloud import client

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/env-dev/0f0e7a60-1111-2222"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SIMULATED = {
    "Namespace": "AWS::ServiceDiscovery::PrivateDnsNamespace",
    "Discovery": "AWS::ServiceDiscovery::Service",
    "Connector": "AWS::AppRunner::VpcConnector",
    "App": "AWS::AppRunner::Service",
    "Build": "AWS::CodeBuild::Project",
    "Pipeline": "AWS::CodePipeline::Pipeline",
    "Policy": "AWS::S3::BucketPolicy",
    "Delegation": "AWS::Route53::DelegationSet",
}


def schema(type_name: str) -> resource_schemas.ResourceType:
    kind = resource_schemas.resource_type(type_name)
    assert kind is not None
    return kind


def an_origin(logical_id: str = "Thing", generation: int = 0) -> Origin:
    return origin_for(STACK_ID, logical_id, ACCOUNT, REGION, generation)


# --- Values, in-process ----------------------------------------------------------------------


def sample_types() -> list[str]:
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
    found: set[str] = set()
    for path in samples.rglob("*.yaml"):
        found.update(re.findall(r"Type: *['\"]?(AWS::\w+::\w+)", path.read_text(errors="ignore")))
    return sorted(found)


def picked_types(every: int = 4) -> list[str]:
    """A deterministic quarter of all types, so the sample is broad but reproducible."""
    return [
        name
        for name in sorted(resource_schemas.type_names())
        if int(hashlib.sha256(name.encode()).hexdigest(), 16) % every == 0
    ]


def test_simulated_values_match_their_schema_patterns_across_hundreds_of_types() -> None:
    names = sorted(set(sample_types()) | set(picked_types()))
    assert len(names) > 300
    checked, misses = 0, []
    for name in names:
        kind = resource_schemas.resource_type(name)
        if kind is None:
            continue
        values = attribute_values(kind, an_origin(), {})
        assert set(values) == set(kind.attributes), name
        for attribute, value in values.items():
            pattern = (kind.attribute_schema(attribute) or {}).get("pattern")
            if not isinstance(pattern, str) or not isinstance(value, str):
                continue
            try:
                compiled = re.compile(pattern)
            except re.error:
                continue  # an ECMA-only pattern Python cannot read
            checked += 1
            if not compiled.search(value):
                misses.append((name, attribute, value))
    assert checked > 300
    assert misses == []


def test_values_are_deterministic_and_change_only_with_the_generation() -> None:
    kind = schema("AWS::AppRunner::Service")
    first = attribute_values(kind, an_origin(), {"ServiceName": "web"})
    again = attribute_values(kind, an_origin(), {"ServiceName": "web"})
    replaced = attribute_values(kind, an_origin(generation=1), {"ServiceName": "web"})
    assert first == again
    assert first["ServiceArn"] != replaced["ServiceArn"]
    assert physical_id(kind, an_origin(), {}) == physical_id(kind, an_origin(), {})


def test_values_have_the_kind_their_schema_states() -> None:
    connector = attribute_values(schema("AWS::AppRunner::VpcConnector"), an_origin(), {})
    assert isinstance(connector["VpcConnectorRevision"], int)
    assert connector["VpcConnectorArn"].startswith(f"arn:aws:apprunner:{REGION}:{ACCOUNT}:")
    delegation = attribute_values(schema("AWS::Route53::DelegationSet"), an_origin(), {})
    assert isinstance(delegation["NameServers"], list) and delegation["NameServers"]
    app = attribute_values(schema("AWS::AppRunner::Service"), an_origin(), {})
    assert app["ServiceUrl"].startswith("https://")
    assert app["ServiceUrl"].rstrip("/").endswith(f".{REGION}.amazonaws.com")


def test_a_read_only_property_given_in_the_template_is_echoed() -> None:
    # Signer's ProfileName may be set (create-only) and is an attribute as well.
    kind = schema("AWS::Signer::SigningProfile")
    assert "ProfileName" in kind.attributes
    assert attribute_values(kind, an_origin(), {"ProfileName": "mine"})["ProfileName"] == "mine"
    pipeline = schema("AWS::CodePipeline::Pipeline")
    assert physical_id(pipeline, an_origin(), {"Name": "release"}) == "release"


def test_only_schema_types_that_moto_lacks_are_simulated() -> None:
    assert simulates("AWS::CodeBuild::Project")
    assert simulates("AWS::CloudFormation::WaitConditionHandle")  # moto ignores it
    assert not simulates("AWS::S3::Bucket")  # moto models it
    assert not simulates("AWS::NoSuch::Thing")  # the template checker reports it
    assert not simulates("Custom::Anything")


def test_a_simulated_resource_survives_pickling() -> None:
    resource = SimulatedResource("AWS::CodeBuild::Project", STACK_ID, an_origin(), 0, {})
    restored = pickle.loads(pickle.dumps(resource))
    assert type(restored) is SimulatedResource
    assert restored.physical_resource_id == resource.physical_resource_id
    assert restored.get_cfn_attribute("Arn") == resource.get_cfn_attribute("Arn")


# --- The real local cloud ----------------------------------------------------------------------


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloudProcess]:
    process = LocalCloudProcess(
        state_file=tmp_path / "cloud.state",
        log_file=tmp_path / "cloud.log",
        stack_operation_seconds=0,
    )
    yield process
    process.stop()


def output_key(logical_id: str, attribute: str) -> str:
    return logical_id + attribute.replace(".", "")


def template(connector_name: str = "conn", build_description: str = "first") -> str:
    resources: dict[str, Any] = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.0.1.0/24"},
        },
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "app", "VpcId": {"Ref": "Vpc"}},
        },
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Namespace": {
            "Type": "AWS::ServiceDiscovery::PrivateDnsNamespace",
            "Properties": {"Name": "local.internal", "Vpc": {"Ref": "Vpc"}},
        },
        "Discovery": {
            "Type": "AWS::ServiceDiscovery::Service",
            "Properties": {
                "Name": "web",
                "NamespaceId": {"Fn::GetAtt": ["Namespace", "Id"]},
                "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]},
            },
        },
        "Connector": {
            "Type": "AWS::AppRunner::VpcConnector",
            "Properties": {
                "VpcConnectorName": connector_name,
                "Subnets": [{"Ref": "Subnet"}],
                "SecurityGroups": [{"Ref": "Group"}],
            },
        },
        "App": {
            "Type": "AWS::AppRunner::Service",
            "Properties": {
                "ServiceName": "web",
                "SourceConfiguration": {
                    "ImageRepository": {
                        "ImageIdentifier": "public.ecr.aws/nginx/nginx:latest",
                        "ImageRepositoryType": "ECR_PUBLIC",
                    }
                },
                "NetworkConfiguration": {
                    "EgressConfiguration": {
                        "EgressType": "VPC",
                        "VpcConnectorArn": {"Fn::GetAtt": ["Connector", "VpcConnectorArn"]},
                    }
                },
            },
        },
        "Build": {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "Description": build_description,
                "ServiceRole": "arn:aws:iam::123456789012:role/build",
                "Artifacts": {"Type": "NO_ARTIFACTS"},
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "ComputeType": "BUILD_GENERAL1_SMALL",
                    "Image": "aws/codebuild/standard:7.0",
                },
                "Source": {"Type": "NO_SOURCE", "BuildSpec": "version: 0.2"},
            },
        },
        "Pipeline": {
            "Type": "AWS::CodePipeline::Pipeline",
            "Properties": {
                "RoleArn": "arn:aws:iam::123456789012:role/pipeline",
                "ArtifactStore": {"Type": "S3", "Location": {"Ref": "Bucket"}},
                "Stages": [
                    {
                        "Name": "Build",
                        "Actions": [
                            {
                                "Name": "Build",
                                "ActionTypeId": {
                                    "Category": "Build",
                                    "Owner": "AWS",
                                    "Provider": "CodeBuild",
                                    "Version": "1",
                                },
                                "Configuration": {"ProjectName": {"Ref": "Build"}},
                            }
                        ],
                    }
                ],
            },
        },
        "Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Bucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": []},
            },
        },
        "Delegation": {"Type": "AWS::Route53::DelegationSet"},
    }
    outputs: dict[str, Any] = {}
    for logical_id, type_name in SIMULATED.items():
        outputs[f"{logical_id}Ref"] = {"Value": {"Ref": logical_id}}
        for attribute in schema(type_name).attributes:
            value = {"Fn::GetAtt": [logical_id, attribute]}
            outputs[output_key(logical_id, attribute)] = {"Value": value}
    outputs["NameServers"] = {
        "Value": {"Fn::Join": [",", {"Fn::GetAtt": ["Delegation", "NameServers"]}]}
    }
    return json.dumps({"Resources": resources, "Outputs": outputs})


def outputs_of(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"].endswith("_COMPLETE"), described
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def assert_well_formed(outputs: dict[str, str]) -> None:
    for logical_id, type_name in SIMULATED.items():
        kind = schema(type_name)
        assert outputs[f"{logical_id}Ref"], logical_id
        for attribute in kind.attributes:
            value = outputs[output_key(logical_id, attribute)]
            assert value, (logical_id, attribute)
            if attribute.endswith("Arn"):
                # A global service's ARN (Route 53) names neither region nor account.
                fields = value.split(":")
                assert (fields[1], fields[3], fields[4]) in (
                    ("aws", REGION, ACCOUNT),
                    ("aws", "", ""),
                ), value
            pattern = (kind.attribute_schema(attribute) or {}).get("pattern")
            if isinstance(pattern, str):
                assert re.search(pattern, value), (logical_id, attribute, value)
    assert outputs["NamespaceRef"] == outputs["NamespaceId"]
    assert outputs["ConnectorRef"] == outputs["ConnectorVpcConnectorArn"]
    assert outputs["ConnectorVpcConnectorRevision"] == "1"
    assert outputs["AppServiceUrl"].startswith("https://")
    assert outputs["NameServers"] and "[" not in outputs["NameServers"]  # joined as a list


def test_a_stack_of_types_moto_lacks_deploys_answers_every_getatt_and_survives_a_restart(
    cloud: LocalCloudProcess,
) -> None:
    cloud.start()
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(StackName="sim", TemplateBody=template())
    created = outputs_of(cloudformation, "sim")
    assert_well_formed(created)
    assert outputs_of(cloudformation, "sim") == created

    # In place: a property that is not create-only changes; the ids stay.
    cloudformation.update_stack(StackName="sim", TemplateBody=template(build_description="second"))
    in_place = outputs_of(cloudformation, "sim")
    assert in_place == created

    # Replacement: VpcConnectorName is create-only; the connector gets a new ARN.
    cloudformation.update_stack(
        StackName="sim", TemplateBody=template(connector_name="conn2", build_description="second")
    )
    replaced = outputs_of(cloudformation, "sim")
    events = cloudformation.describe_stack_events(StackName="sim")["StackEvents"]
    assert any(
        e["LogicalResourceId"] == "Connector"
        and e["ResourceStatus"] == "UPDATE_COMPLETE"
        and e.get("PhysicalResourceId") == replaced["ConnectorRef"]
        for e in events
    )
    assert replaced["ConnectorRef"] != created["ConnectorRef"]
    assert "conn2" in replaced["ConnectorRef"]
    assert replaced["BuildRef"] == created["BuildRef"]
    assert_well_formed(replaced)

    assert cloud.stop() == 0
    cloud.start()
    cloudformation = client(cloud, "cloudformation")
    assert outputs_of(cloudformation, "sim") == replaced
    listed = cloudformation.list_stack_resources(StackName="sim")["StackResourceSummaries"]
    physical = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in listed}
    assert physical["Connector"] == replaced["ConnectorRef"]
    assert physical["Pipeline"] == replaced["PipelineRef"]

    cloudformation.delete_stack(StackName="sim")
    with pytest.raises(ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName="sim")
    # Deleted means forgotten: the same stack can be created again.
    cloudformation.create_stack(StackName="sim", TemplateBody=template())
    assert outputs_of(cloudformation, "sim")["NamespaceRef"]


def test_simulated_resources_say_so_in_events_and_stack_resources(
    cloud: LocalCloudProcess,
) -> None:
    cloud.start()
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(StackName="sim", TemplateBody=template())
    outputs_of(cloudformation, "sim")

    events = cloudformation.describe_stack_events(StackName="sim")["StackEvents"]
    completed = {
        e["LogicalResourceId"]: e.get("ResourceStatusReason")
        for e in events
        if e["ResourceStatus"] == "CREATE_COMPLETE"
    }
    for logical_id, type_name in SIMULATED.items():
        assert completed[logical_id] == simulation_note(type_name)

    summaries = cloudformation.list_stack_resources(StackName="sim")["StackResourceSummaries"]
    reasons = {s["LogicalResourceId"]: s.get("ResourceStatusReason") for s in summaries}
    described = cloudformation.describe_stack_resources(StackName="sim")["StackResources"]
    described_reasons = {d["LogicalResourceId"]: d.get("ResourceStatusReason") for d in described}
    for logical_id, type_name in SIMULATED.items():
        assert reasons[logical_id] == simulation_note(type_name)
        assert described_reasons[logical_id] == simulation_note(type_name)
    # moto's own resources are real and are not marked.
    assert reasons["Vpc"] is None and described_reasons["Bucket"] is None


def test_getatt_of_an_attribute_moto_does_not_answer_gets_a_simulated_value(
    cloud: LocalCloudProcess,
) -> None:
    resources = json.loads(template())["Resources"]
    real = {name: resources[name] for name in ("Vpc", "Subnet", "Group")}
    outputs: dict[str, Any] = {f"{name}Ref": {"Value": {"Ref": name}} for name in real}
    for logical_id, resource in real.items():
        kind = schema(resource["Type"])
        for attribute in kind.attributes:
            if (kind.attribute_schema(attribute) or {}).get("type") in ("object", "array"):
                continue  # GetAtt of an object is refused; of a list, only joined
            value = {"Fn::GetAtt": [logical_id, attribute]}
            outputs[output_key(logical_id, attribute)] = {"Value": value}
    cloud.start()
    cloudformation = client(cloud, "cloudformation")
    body = json.dumps({"Resources": real, "Outputs": outputs})
    cloudformation.create_stack(StackName="real", TemplateBody=body)

    values = outputs_of(cloudformation, "real")
    assert set(values) == set(outputs)
    # The resource's own id is moto's physical id, whether or not moto's model answers it.
    assert values["VpcVpcId"] == values["VpcRef"]
    assert values["SubnetSubnetId"] == values["SubnetRef"]
    assert values["GroupGroupId"] == values["GroupRef"]
    assert all(values.values())
    assert outputs_of(cloudformation, "real") == values


def test_an_update_that_drops_a_simulated_resource_deletes_it(cloud: LocalCloudProcess) -> None:
    resources = json.loads(template())["Resources"]
    kept = {"Delegation": resources["Delegation"], "Bucket": resources["Bucket"]}
    cloud.start()
    cloudformation = client(cloud, "cloudformation")
    cloudformation.create_stack(StackName="drop", TemplateBody=json.dumps({"Resources": kept}))
    outputs_of(cloudformation, "drop")

    del kept["Delegation"]
    cloudformation.update_stack(StackName="drop", TemplateBody=json.dumps({"Resources": kept}))
    outputs_of(cloudformation, "drop")
    listed = cloudformation.list_stack_resources(StackName="drop")["StackResourceSummaries"]
    assert [s["LogicalResourceId"] for s in listed] == ["Bucket"]
    events = cloudformation.describe_stack_events(StackName="drop")["StackEvents"]
    assert any(
        e["LogicalResourceId"] == "Delegation" and e["ResourceStatus"] == "DELETE_COMPLETE"
        for e in events
    )
