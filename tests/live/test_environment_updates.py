"""Environments after creation, through boto3 against a real `baryon up`: the four deployment
types, DRAFT versions, listing with filters and pages, tags, and customer-managed
environments whose outputs come from their spec."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.bundles import ENV_CFN, Registry, env_bundle, service_bundle, tar_gz
from tests.support.deploying import (
    FAST,
    env_spec,
    error_message,
    outputs,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SECOND_TEMPLATE = f"eenv-{SUFFIX}", f"esecond-{SUFFIX}"
MANAGED_TEMPLATE, SVC_TEMPLATE = f"emanaged-{SUFFIX}", f"esvc-{SUFFIX}"
ROLE = "arn:aws:iam::123456789012:role/{}"
MANAGED_SCHEMA = """\
schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "Outputs"
  types:
    Outputs:
      type: object
      description: "What the team's own tooling provisioned"
      properties:
        BucketName:
          type: string
        Replicas:
          type: string
        Public:
          type: string
      required:
        - BucketName
"""


def _generation(label: str) -> dict[str, str]:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = ENV_CFN + f"  Generation:\n    Value: {label}\n"
    return files


server = own_baryon("environment-updates", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def cloudformation(server: BaryonProcess) -> Any:
    return server.client("cloudformation")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_environment_template(registry, SECOND_TEMPLATE)
    registry.ensure_template("environment", MANAGED_TEMPLATE, provisioning="CUSTOMER_MANAGED")
    managed = registry.register(
        "environment", MANAGED_TEMPLATE, tar_gz({"schema/schema.yaml": MANAGED_SCHEMA})
    )
    assert managed["status"] == "DRAFT", managed.get("statusMessage")
    registry.publish("environment", MANAGED_TEMPLATE, managed)
    publish_service_template(
        registry,
        SVC_TEMPLATE,
        [(ENV_TEMPLATE, "1"), (MANAGED_TEMPLATE, "1")],
        service_bundle(pipeline=False),
        pipelineProvisioning="CUSTOMER_MANAGED",
    )
    return registry


def _create(proton: Any, name: str, template: str = ENV_TEMPLATE, **spec: Any) -> dict:
    created = proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=name,
        templateName=template,
        templateMajorVersion="1",
        spec=env_spec(**spec),
    )["environment"]
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    return created


def _deployments(proton: Any, environment: str) -> list[dict[str, Any]]:
    pages = proton.get_paginator("list_deployments").paginate(environmentName=environment)
    return [d for page in pages for d in page["deployments"]]


def test_update_none_changes_metadata_without_a_deployment(proton: Any, registry: Registry) -> None:
    name = f"meta{SUFFIX}"
    _create(proton, name)
    before = proton.get_environment(name=name)["environment"]

    updated = proton.update_environment(
        name=name,
        deploymentType="NONE",
        description="shared by the web team",
        protonServiceRoleArn=ROLE.format("proton"),
        componentRoleArn=ROLE.format("component"),
    )["environment"]
    assert updated["deploymentStatus"] == "SUCCEEDED"
    assert updated["lastAttemptedDeploymentId"] == before["lastAttemptedDeploymentId"]
    now = proton.get_environment(name=name)["environment"]
    assert (now["description"], now["protonServiceRoleArn"]) == (
        "shared by the web team",
        ROLE.format("proton"),
    )
    assert now["componentRoleArn"] == ROLE.format("component")
    # The role CodeBuild runs use is kept like the others (provisioners/codebuild*.py).
    proton.update_environment(
        name=name, deploymentType="NONE", codebuildRoleArn=ROLE.format("codebuild")
    )
    kept = proton.get_environment(name=name)["environment"]
    assert kept["codebuildRoleArn"] == ROLE.format("codebuild")
    assert (now["spec"], now["templateMinorVersion"]) == (before["spec"], "0")
    assert len(_deployments(proton, name)) == 1

    refused = {
        "spec": {"spec": env_spec(size="large")},
        "version": {"templateMajorVersion": "1", "templateMinorVersion": "0"},
    }
    for what, extra in refused.items():
        with pytest.raises(proton.exceptions.ValidationException) as caught:
            proton.update_environment(name=name, deploymentType="NONE", **extra)
        assert "deploymentType NONE updates metadata only" in error_message(caught), what
    assert proton.get_environment(name=name)["environment"]["spec"] == before["spec"]
    assert len(_deployments(proton, name)) == 1


def test_current_version_renders_the_new_spec(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    name = f"spec{SUFFIX}"
    _create(proton, name, size="small")
    first = proton.get_environment(name=name)["environment"]
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]) == {
        "BucketName": f"{name}-artifacts",
        "Size": "small",
    }

    with pytest.raises(proton.exceptions.ValidationException, match="CURRENT_VERSION keeps"):
        proton.update_environment(
            name=name,
            deploymentType="CURRENT_VERSION",
            spec=env_spec(size="large"),
            templateMajorVersion="1",
            templateMinorVersion="0",
        )
    with pytest.raises(proton.exceptions.ValidationException, match=r"spec\.size"):
        proton.update_environment(
            name=name, deploymentType="CURRENT_VERSION", spec=env_spec(size="huge")
        )

    proton.update_environment(
        name=name, deploymentType="CURRENT_VERSION", spec=env_spec(size="large")
    )
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    environment = proton.get_environment(name=name)["environment"]
    assert environment["spec"] == env_spec(size="large")
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"])["Size"] == (
        "large"
    )
    deployed = stack(cloudformation, "environment", name)
    assert deployed is not None and stack_outputs(deployed)["Size"] == "large"
    deployment = proton.get_deployment(id=environment["lastSucceededDeploymentId"])["deployment"]
    assert deployment["initialState"]["environment"]["spec"] == env_spec(size="small")
    assert deployment["targetState"]["environment"]["spec"] == env_spec(size="large")
    # The first deployment's outputs stay readable by its id.
    assert (
        outputs(
            proton.list_environment_outputs(
                environmentName=name, deploymentId=first["lastSucceededDeploymentId"]
            )["outputs"]
        )["Size"]
        == "small"
    )


def test_minor_and_major_versions(proton: Any, registry: Registry) -> None:
    name = f"ver{SUFFIX}"
    _create(proton, name, size="large")
    published = registry.register(
        "environment", ENV_TEMPLATE, tar_gz(_generation("one-one")), majorVersion="1"
    )
    registry.publish("environment", ENV_TEMPLATE, published)
    draft = registry.register(
        "environment", ENV_TEMPLATE, tar_gz(_generation("draft")), majorVersion="1"
    )
    assert (draft["minorVersion"], draft["status"]) == ("2", "DRAFT")

    # A DRAFT version is never deployed, neither by update nor by create.
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_environment(
            name=name, deploymentType="MINOR_VERSION", templateMinorVersion="2"
        )
    assert f"'{ENV_TEMPLATE}' 1.2 is DRAFT; only PUBLISHED versions can be deployed" in (
        error_message(caught)
    )
    with pytest.raises(proton.exceptions.ValidationException, match="is DRAFT"):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=f"draft{SUFFIX}",
            templateName=ENV_TEMPLATE,
            templateMajorVersion="1",
            templateMinorVersion="2",
            spec=env_spec(),
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=f"draft{SUFFIX}")

    # MINOR_VERSION takes the recommended minor version (the newest PUBLISHED one).
    proton.update_environment(name=name, deploymentType="MINOR_VERSION")
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    environment = proton.get_environment(name=name)["environment"]
    assert (environment["templateMajorVersion"], environment["templateMinorVersion"]) == (
        "1",
        "1",
    )
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]) == {
        "BucketName": f"{name}-artifacts",
        "Size": "large",
        "Generation": "one-one",
    }

    with pytest.raises(proton.exceptions.ValidationException, match="no published major"):
        proton.update_environment(name=name, deploymentType="MAJOR_VERSION")
    two = registry.register("environment", ENV_TEMPLATE, tar_gz(_generation("two")))
    registry.publish("environment", ENV_TEMPLATE, two)
    with pytest.raises(proton.exceptions.ValidationException, match="higher major version"):
        proton.update_environment(
            name=name, deploymentType="MAJOR_VERSION", templateMajorVersion="1"
        )
    with pytest.raises(proton.exceptions.ValidationException, match="stays in major version 1"):
        proton.update_environment(
            name=name, deploymentType="MINOR_VERSION", templateMajorVersion="2"
        )
    proton.update_environment(name=name, deploymentType="MAJOR_VERSION")
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    environment = proton.get_environment(name=name)["environment"]
    assert (environment["templateMajorVersion"], environment["templateMinorVersion"]) == (
        "2",
        "0",
    )
    generation = outputs(proton.list_environment_outputs(environmentName=name)["outputs"])
    assert generation["Generation"] == "two"
    deployment = proton.get_deployment(id=environment["lastSucceededDeploymentId"])["deployment"]
    assert deployment["initialState"]["environment"]["templateMajorVersion"] == "1"
    assert deployment["targetState"]["environment"]["templateMajorVersion"] == "2"


def test_major_version_keeps_service_instances_compatible(proton: Any, registry: Registry) -> None:
    """The service template supports environment template major 1 only, so an environment
    that runs one of its instances cannot move to major 2 (published by the test above)."""
    name = f"busy{SUFFIX}"
    _create(proton, name)
    service = f"tenant-{SUFFIX}"
    proton.create_service(
        name=service,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("api", name, None)]),
    )
    proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_environment(name=name, deploymentType="MAJOR_VERSION")
    message = error_message(caught)
    assert f"'{service}/api' ({SVC_TEMPLATE} 1.0)" in message
    assert f"do not support {ENV_TEMPLATE}:2" in message
    environment = proton.get_environment(name=name)["environment"]
    assert (environment["templateMajorVersion"], environment["deploymentStatus"]) == (
        "1",
        "SUCCEEDED",
    )


def test_list_environments_by_template_and_in_pages(proton: Any, registry: Registry) -> None:
    firsts = [f"lista{SUFFIX}", f"listb{SUFFIX}"]
    for name in firsts:
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=name,
            templateName=SECOND_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(),
        )
    two = registry.register("environment", SECOND_TEMPLATE, tar_gz(env_bundle()))
    registry.publish("environment", SECOND_TEMPLATE, two)
    later = f"listc{SUFFIX}"
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=later,
        templateName=SECOND_TEMPLATE,
        templateMajorVersion="2",
        spec=env_spec(),
    )

    def names(**kwargs: Any) -> list[str]:
        pages = proton.get_paginator("list_environments").paginate(
            **kwargs, PaginationConfig={"PageSize": 1}
        )
        found = []
        for page in pages:
            assert len(page["environments"]) <= 1
            found += [e["name"] for e in page["environments"]]
        return found

    one = [{"templateName": SECOND_TEMPLATE, "majorVersion": "1"}]
    two_filter = [{"templateName": SECOND_TEMPLATE, "majorVersion": "2"}]
    assert names(environmentTemplates=one) == firsts
    assert names(environmentTemplates=two_filter) == [later]
    assert names(environmentTemplates=one + two_filter) == [*firsts, later]
    assert names(environmentTemplates=[{"templateName": "nothing", "majorVersion": "1"}]) == []
    everything = names()
    assert {*firsts, later} <= set(everything) and everything == sorted(everything)
    summary = proton.list_environments(environmentTemplates=two_filter)["environments"][0]
    assert (summary["templateName"], summary["templateMajorVersion"]) == (SECOND_TEMPLATE, "2")
    assert "spec" not in summary

    first_page = proton.list_environments(environmentTemplates=one, maxResults=1)
    assert [e["name"] for e in first_page["environments"]] == firsts[:1]
    with pytest.raises(proton.exceptions.ValidationException, match="different parameters"):
        proton.list_environments(
            environmentTemplates=two_filter, maxResults=1, nextToken=first_page["nextToken"]
        )
    rest = proton.list_environments(
        environmentTemplates=one, maxResults=1, nextToken=first_page["nextToken"]
    )
    assert [e["name"] for e in rest["environments"]] == firsts[1:]


def test_tags_on_environments_services_and_instances(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    name = f"tagged{SUFFIX}"
    created = proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=name,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
        tags=[{"key": "team", "value": "platform"}],
    )["environment"]
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    service = f"tags-{SUFFIX}"
    service_arn = proton.create_service(
        name=service,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("api", name, None)]),
        tags=[{"key": "owner", "value": "web"}],
    )["service"]["arn"]
    proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    instance_arn = proton.get_service_instance(serviceName=service, name="api")["serviceInstance"][
        "arn"
    ]

    def tags(arn: str) -> dict[str, str]:
        found = proton.list_tags_for_resource(resourceArn=arn)["tags"]
        return {tag["key"]: tag["value"] for tag in found}

    assert tags(created["arn"]) == {"team": "platform"}
    assert tags(service_arn) == {"owner": "web"}
    # A service's customer tags propagate to the instances it creates (Proton's rule).
    assert tags(instance_arn) == {"owner": "web"}
    for arn in (created["arn"], service_arn, instance_arn):
        proton.tag_resource(
            resourceArn=arn, tags=[{"key": "cost", "value": "42"}, {"key": "team", "value": "x"}]
        )
    proton.untag_resource(resourceArn=service_arn, tagKeys=["owner"])
    assert tags(created["arn"]) == {"team": "x", "cost": "42"}
    assert tags(service_arn) == {"team": "x", "cost": "42"}
    # ...but a later change of the service's tags does not reach existing instances.
    assert tags(instance_arn) == {"owner": "web", "team": "x", "cost": "42"}
    paged = proton.list_tags_for_resource(resourceArn=created["arn"], maxResults=1)
    assert len(paged["tags"]) == 1 and paged["nextToken"]
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.tag_resource(resourceArn=created["arn"] + "-gone", tags=[{"key": "a", "value": "b"}])
    with pytest.raises(proton.exceptions.ValidationException, match="reserved"):
        proton.tag_resource(resourceArn=created["arn"], tags=[{"key": "aws:x", "value": "b"}])

    # The next deployment tags its stack with Proton's managed tags only: customer tags never
    # propagate to provisioned resources (Proton's documented rule).
    proton.update_environment(name=name, deploymentType="CURRENT_VERSION")
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    deployed = stack(cloudformation, "environment", name)
    assert deployed is not None
    stack_tags = {tag["Key"]: tag["Value"] for tag in deployed["Tags"]}
    assert stack_tags["proton:environment"] == created["arn"]
    assert all(key.startswith("proton:") for key in stack_tags), stack_tags


def test_customer_managed_environment_outputs_come_from_its_spec(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    name = f"own{SUFFIX}"
    with pytest.raises(proton.exceptions.ValidationException, match=r"spec\.BucketName"):
        proton.create_environment(
            name=name,
            templateName=MANAGED_TEMPLATE,
            templateMajorVersion="1",
            spec=env_spec(Replicas="3"),
        )
    created = proton.create_environment(
        name=name,
        templateName=MANAGED_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(BucketName="team-owned-bucket", Replicas="3", Public="no"),
    )["environment"]
    assert created["provisioning"] == "CUSTOMER_MANAGED"
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    environment = proton.get_environment(name=name)["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]) == {
        "BucketName": "team-owned-bucket",
        "Public": "no",
        "Replicas": "3",
    }
    assert stack(cloudformation, "environment", name) is None
    assert (
        proton.list_environment_provisioned_resources(environmentName=name)["provisionedResources"]
        == []
    )

    # A service instance in it renders environment.outputs.X from those values.
    service = f"onown-{SUFFIX}"
    proton.create_service(
        name=service,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("api", name, {"port": 9000})]),
    )
    proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)
    api = outputs(
        proton.list_service_instance_outputs(serviceName=service, serviceInstanceName="api")[
            "outputs"
        ]
    )
    assert (api["EnvBucket"], api["Port"]) == ("team-owned-bucket", "9000")

    # New outputs are a CURRENT_VERSION update of the spec; still no stack.
    proton.update_environment(
        name=name,
        deploymentType="CURRENT_VERSION",
        spec=env_spec(BucketName="moved-bucket", Replicas="4", Public="yes"),
    )
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]) == {
        "BucketName": "moved-bucket",
        "Public": "yes",
        "Replicas": "4",
    }
    assert stack(cloudformation, "environment", name) is None
