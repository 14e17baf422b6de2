"""Environments, services, instances and pipelines deployed on the local cloud, through boto3.

One story, as a platform team and a developer live it: publish templates, deploy an
environment, a service with two instances and a pipeline, watch outputs flow, update the spec,
roll out a minor and a major version, cancel, and delete everything.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.support.bundles import SVC_SCHEMA, Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess, own_baryon

FAST = {"Delay": 1, "MaxAttempts": 60}
REPO = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x",
    "repositoryId": "org/web",
    "branchName": "main",
}


def _outputs(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["key"]: item["valueString"] for item in items}


def _env_spec(size: str = "small") -> str:
    return f"proton: EnvironmentSpec\nspec:\n  size: {size}\n"


def _service_spec(env: str, *instances: tuple[str, int], image: str = "nginx") -> str:
    lines = ["proton: ServiceSpec", "pipeline:", "  dockerfile: Dockerfile.prod", "instances:"]
    for name, port in instances:
        lines += [
            f"  - name: {name}",
            f"    environment: {env}",
            "    spec:",
            f"      port: {port}",
            f"      image: {image}",
        ]
    return "\n".join(lines) + "\n"


def _wait_until_settled(proton: Any, service: str, instance: str) -> dict[str, Any]:
    for _ in range(120):
        current = proton.get_service_instance(name=instance, serviceName=service)["serviceInstance"]
        if current["deploymentStatus"] not in ("IN_PROGRESS", "CANCELLING"):
            return current
        time.sleep(0.5)
    raise AssertionError(f"{instance} is still {current['deploymentStatus']}")


def _minor_bundle() -> dict[str, str]:
    files = service_bundle()
    files["schema/schema.yaml"] = SVC_SCHEMA.replace(
        '        image:\n          type: string\n          default: "nginx"\n',
        '        image:\n          type: string\n          default: "nginx"\n'
        "        replicas:\n          type: number\n          default: 2\n",
    )
    files["instance_infrastructure/cloudformation.yaml"] += (
        "  Replicas:\n    Value: '{{ service_instance.inputs.replicas }}'\n"
    )
    return files


def _major_bundle() -> dict[str, str]:
    files = _minor_bundle()
    files["schema/schema.yaml"] = files["schema/schema.yaml"].replace(
        "          maximum: 65535\n", "          maximum: 60000\n"
    )
    files["instance_infrastructure/cloudformation.yaml"] += "  Generation:\n    Value: 'two'\n"
    return files


# Stack operations take 2 s on this local cloud, as they take time on AWS, so that a
# deployment can be watched in progress and cancelled.
server = own_baryon("e2e", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "2"})


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    return {
        "env_template": f"env-{suffix}",
        "svc_template": f"svc-{suffix}",
        "env": f"dev{suffix}",
        "svc": f"web-{suffix}",
    }


@pytest.fixture(scope="module")
def published(server: BaryonProcess, names: dict[str, str]) -> Registry:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    proton.create_environment_template(name=names["env_template"])
    env_version = registry.register("environment", names["env_template"], tar_gz(env_bundle()))
    registry.publish("environment", names["env_template"], env_version)
    proton.create_service_template(name=names["svc_template"])
    compatible = [{"templateName": names["env_template"], "majorVersion": "1"}]
    svc_version = registry.register(
        "service",
        names["svc_template"],
        tar_gz(service_bundle()),
        compatibleEnvironmentTemplates=compatible,
    )
    assert svc_version["status"] == "DRAFT", svc_version.get("statusMessage")
    registry.publish("service", names["svc_template"], svc_version)
    return registry


def test_the_whole_lifecycle(
    server: BaryonProcess, names: dict[str, str], published: Registry
) -> None:
    proton = server.client("proton")
    env, svc = names["env"], names["svc"]

    # An environment, deployed on the local cloud.
    created = proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=env,
        templateName=names["env_template"],
        templateMajorVersion="1",
        spec=_env_spec("large"),
        tags=[{"key": "team", "value": "platform"}],
    )["environment"]
    assert created["deploymentStatus"] == "IN_PROGRESS"
    assert created["templateMinorVersion"] == "0"  # the recommended minor of major 1
    with pytest.raises(proton.exceptions.ConflictException, match="in progress"):
        proton.update_environment(
            name=env, deploymentType="CURRENT_VERSION", spec=_env_spec("small")
        )
    proton.get_waiter("environment_deployed").wait(name=env, WaiterConfig=FAST)
    environment = proton.get_environment(name=env)["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
    assert environment["lastSucceededDeploymentId"] == environment["lastAttemptedDeploymentId"]
    env_outputs = _outputs(proton.list_environment_outputs(environmentName=env)["outputs"])
    assert env_outputs == {"BucketName": f"{env}-artifacts", "Size": "large"}
    resources = proton.list_environment_provisioned_resources(environmentName=env)[
        "provisionedResources"
    ]
    assert [(r["name"], r["provisioningEngine"]) for r in resources] == [
        ("Bucket", "CLOUDFORMATION")
    ]
    assert resources[0]["identifier"] == f"{env}-artifacts"

    # A service with two instances and a pipeline: outputs flow env -> instance -> pipeline.
    proton.create_service(
        name=svc,
        templateName=names["svc_template"],
        templateMajorVersion="1",
        spec=_service_spec(env, ("alpha", 8080), ("beta", 9090)),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=svc, WaiterConfig=FAST)
    for instance in ("alpha", "beta"):
        proton.get_waiter("service_instance_deployed").wait(
            name=instance, serviceName=svc, WaiterConfig=FAST
        )
    proton.get_waiter("service_pipeline_deployed").wait(name=svc, WaiterConfig=FAST)
    service = proton.get_service(name=svc)["service"]
    assert service["status"] == "ACTIVE"
    assert service["pipeline"]["deploymentStatus"] == "SUCCEEDED"
    alpha = _outputs(
        proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="alpha")[
            "outputs"
        ]
    )
    assert alpha["EnvBucket"] == f"{env}-artifacts" and alpha["Port"] == "8080"
    pipeline = _outputs(proton.list_service_pipeline_outputs(serviceName=svc)["outputs"])
    assert pipeline["Instances"] == f"alpha=8080@{env};beta=9090@{env};"
    assert pipeline["Repository"] == "org/web"
    assert proton.list_service_pipeline_provisioned_resources(serviceName=svc)[
        "provisionedResources"
    ]

    # A spec update of one instance (CURRENT_VERSION), as the sample pipelines do it.
    proton.update_service_instance(
        name="alpha",
        serviceName=svc,
        deploymentType="CURRENT_VERSION",
        spec=_service_spec(env, ("alpha", 8081), ("beta", 9090), image="httpd"),
    )
    proton.get_waiter("service_instance_deployed").wait(
        name="alpha", serviceName=svc, WaiterConfig=FAST
    )
    alpha = _outputs(
        proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="alpha")[
            "outputs"
        ]
    )
    assert (alpha["Port"], alpha["Image"]) == ("8081", "httpd")

    # A new minor version, rolled out with MINOR_VERSION.
    compatible = [{"templateName": names["env_template"], "majorVersion": "1"}]
    minor = published.register(
        "service",
        names["svc_template"],
        tar_gz(_minor_bundle()),
        majorVersion="1",
        compatibleEnvironmentTemplates=compatible,
    )
    assert minor["status"] == "DRAFT", minor.get("statusMessage")
    published.publish("service", names["svc_template"], minor)
    summary = proton.get_resources_summary()["counts"]["serviceInstances"]
    assert summary["behindMinor"] >= 2
    proton.update_service_instance(name="beta", serviceName=svc, deploymentType="MINOR_VERSION")
    proton.get_waiter("service_instance_deployed").wait(
        name="beta", serviceName=svc, WaiterConfig=FAST
    )
    beta = proton.get_service_instance(name="beta", serviceName=svc)["serviceInstance"]
    assert (beta["templateMajorVersion"], beta["templateMinorVersion"]) == ("1", "1")
    beta_outputs = _outputs(
        proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="beta")["outputs"]
    )
    assert beta_outputs["Replicas"] == "2"  # the new input's default

    # A new major version, rolled out with MAJOR_VERSION.
    major = published.register(
        "service",
        names["svc_template"],
        tar_gz(_major_bundle()),
        compatibleEnvironmentTemplates=compatible,
    )
    assert (major["majorVersion"], major["status"]) == ("2", "DRAFT"), major.get("statusMessage")
    published.publish("service", names["svc_template"], major)
    proton.update_service_instance(name="beta", serviceName=svc, deploymentType="MAJOR_VERSION")
    proton.get_waiter("service_instance_deployed").wait(
        name="beta", serviceName=svc, WaiterConfig=FAST
    )
    beta = proton.get_service_instance(name="beta", serviceName=svc)["serviceInstance"]
    assert (beta["templateMajorVersion"], beta["templateMinorVersion"]) == ("2", "0")
    counts = proton.get_resources_summary()["counts"]["serviceInstances"]
    assert counts["behindMajor"] >= 1 and counts["upToDate"] >= 1

    # A cancel: the update rolls back and the instance keeps what it had.
    before = _outputs(
        proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="alpha")[
            "outputs"
        ]
    )
    proton.update_service_instance(
        name="alpha",
        serviceName=svc,
        deploymentType="CURRENT_VERSION",
        spec=_service_spec(env, ("alpha", 7000), ("beta", 9090), image="caddy"),
    )
    cancelling = proton.cancel_service_instance_deployment(
        serviceName=svc, serviceInstanceName="alpha"
    )["serviceInstance"]
    assert cancelling["deploymentStatus"] == "CANCELLING"
    # Proton's waiter knows only SUCCEEDED and FAILED, so a cancel is followed by polling.
    alpha_now = _wait_until_settled(proton, svc, "alpha")
    assert alpha_now["deploymentStatus"] == "CANCELLED"
    assert (
        _outputs(
            proton.list_service_instance_outputs(serviceName=svc, serviceInstanceName="alpha")[
                "outputs"
            ]
        )
        == before
    )
    cancelled = proton.get_deployment(id=alpha_now["lastAttemptedDeploymentId"])["deployment"]
    assert cancelled["deploymentStatus"] == "CANCELLED"
    assert "port: 7000" in cancelled["targetState"]["serviceInstance"]["spec"]

    # Deployment history.
    history = [
        d
        for page in proton.get_paginator("list_deployments").paginate(
            serviceName=svc, serviceInstanceName="alpha"
        )
        for d in page["deployments"]
    ]
    assert len(history) == 3 and history[0]["deploymentStatus"] == "CANCELLED"
    with pytest.raises(proton.exceptions.ConflictException, match="runs now"):
        proton.delete_deployment(id=alpha_now["lastSucceededDeploymentId"])
    assert proton.delete_deployment(id=cancelled["id"])["deployment"]["id"] == cancelled["id"]
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_deployment(id=cancelled["id"])

    # An environment with services cannot go; deleting the service takes everything with it.
    with pytest.raises(proton.exceptions.ConflictException, match="service instance"):
        proton.delete_environment(name=env)
    proton.delete_service(name=svc)
    proton.get_waiter("service_deleted").wait(name=svc, WaiterConfig=FAST)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_service_instance(name="alpha", serviceName=svc)
    proton.delete_environment(name=env)
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        for _ in range(60):
            proton.get_environment(name=env)
            time.sleep(0.5)
    cloudformation = server.client("cloudformation")
    live = [
        s["StackName"]
        for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert not [name for name in live if env in name or svc in name]
