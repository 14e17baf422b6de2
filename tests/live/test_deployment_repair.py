"""Deployments that fail, and how a user repairs them, through boto3 against `baryon up`.

The local cloud refuses a template (synchronously, or by rolling a stack back); the failure
reads the same in the resource, in GetDeployment and in the waiters; a fixed template version
deployed onto the same resource repairs it. A template that cannot render fails with the file
and line.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.support.bundles import ENV_CFN, SVC_CFN, Registry, env_bundle, service_bundle
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    outputs,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
    stack_outputs,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, BROKEN_ENV_TEMPLATE = f"renv-{SUFFIX}", f"rbroken-{SUFFIX}"
SVC_TEMPLATE = f"rsvc-{SUFFIX}"
ENV = f"home{SUFFIX}"
QUEUE = "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: '{}'\n"
# SQS refuses spaces and dots in queue names: the stack rolls back with SQS's reason.
BAD_QUEUE = QUEUE.format("{{ service.name }}-{{ service_instance.name }} queue")
GOOD_QUEUE = QUEUE.format("{{ service.name }}-{{ service_instance.inputs.image }}")


def _env_files(cfn: str) -> dict[str, str]:
    files = env_bundle()
    files["infrastructure/cloudformation.yaml"] = cfn
    return files


def _service_files(queue: str) -> dict[str, str]:
    files = service_bundle()
    files["instance_infrastructure/cloudformation.yaml"] = SVC_CFN.replace(
        "Outputs:\n", queue + "Outputs:\n"
    )
    return files


server = own_baryon("deployment-repair", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.01"})


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
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    return registry


def test_environment_refused_by_the_cloud_then_repaired(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    # A Ref to a resource the template does not declare: CloudFormation refuses the template.
    broken = ENV_CFN.replace(
        "BucketName: '{{ environment.name }}-artifacts'", "BucketName: !Ref Missing"
    )
    publish_environment_template(registry, BROKEN_ENV_TEMPLATE, _env_files(broken))
    name = f"fragile{SUFFIX}"
    created = proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=name,
        templateName=BROKEN_ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )["environment"]
    with pytest.raises(WaiterError, match="FAILED"):
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)

    environment = proton.get_environment(name=name)["environment"]
    reason = "Unresolved resource dependencies [Missing] in the Resources block of the template"
    assert environment["deploymentStatus"] == "FAILED"
    assert "CloudFormation rejected the stack" in environment["deploymentStatusMessage"]
    assert reason in environment["deploymentStatusMessage"]
    assert "lastSucceededDeploymentId" not in environment
    deployment = proton.get_deployment(id=environment["lastAttemptedDeploymentId"])["deployment"]
    assert deployment["deploymentStatus"] == "FAILED"
    assert deployment["deploymentStatusMessage"] == environment["deploymentStatusMessage"]
    assert deployment["completedAt"] >= deployment["createdAt"]
    assert proton.list_environment_outputs(environmentName=name)["outputs"] == []
    assert stack(cloudformation, "environment", name) is None

    # The fixed minor version, deployed onto the same environment.
    publish_environment_template(registry, BROKEN_ENV_TEMPLATE, env_bundle(), major="1")
    proton.update_environment(name=name, deploymentType="MINOR_VERSION")
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    repaired = proton.get_environment(name=name)["environment"]
    assert (repaired["arn"], repaired["createdAt"]) == (created["arn"], created["createdAt"])
    assert (repaired["deploymentStatus"], repaired["templateMinorVersion"]) == ("SUCCEEDED", "1")
    assert "deploymentStatusMessage" not in repaired
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"]) == {
        "BucketName": f"{name}-artifacts",
        "Size": "small",
    }
    deployed = stack(cloudformation, "environment", name)
    assert deployed is not None and deployed["StackStatus"] == "CREATE_COMPLETE"
    history = proton.list_deployments(environmentName=name)["deployments"]
    assert [d["deploymentStatus"] for d in history] == ["SUCCEEDED", "FAILED"]


def test_service_instance_rolled_back_by_the_cloud_then_repaired(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _service_files(BAD_QUEUE)
    )
    service = f"shaky-{SUFFIX}"
    proton.create_service(
        name=service,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec([("api", ENV, {"port": 8080})], pipeline={}),
        **REPO,
    )
    with pytest.raises(WaiterError, match="CREATE_FAILED"):
        proton.get_waiter("service_created").wait(name=service, WaiterConfig=FAST)

    sqs_reason = "Can only include alphanumeric characters, hyphens, or underscores"
    api = proton.get_service_instance(serviceName=service, name="api")["serviceInstance"]
    assert api["deploymentStatus"] == "FAILED"
    assert sqs_reason in api["deploymentStatusMessage"]
    deployment = proton.get_deployment(id=api["lastAttemptedDeploymentId"])["deployment"]
    assert (deployment["deploymentStatus"], deployment["targetResourceType"]) == (
        "FAILED",
        "SERVICE_INSTANCE",
    )
    assert sqs_reason in deployment["deploymentStatusMessage"]
    failed = proton.get_service(name=service)["service"]
    assert failed["status"] == "CREATE_FAILED"
    assert f"instance 'api' FAILED: {api['deploymentStatusMessage']}" in failed["statusMessage"]
    # The pipeline builds for instances that exist: it did not start.
    assert failed["pipeline"]["deploymentStatus"] == "FAILED"
    assert failed["pipeline"]["deploymentStatusMessage"].startswith(
        "Not started: instance 'api' FAILED"
    )
    rolled_back = stack(cloudformation, "service-instance", service, "api")
    assert rolled_back is not None and rolled_back["StackStatus"] == "ROLLBACK_COMPLETE"

    # A fixed minor version repairs the instance in place (the dead stack is replaced).
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], service_bundle(), major="1"
    )
    proton.update_service_instance(serviceName=service, name="api", deploymentType="MINOR_VERSION")
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=service, name="api", WaiterConfig=FAST
    )
    api = proton.get_service_instance(serviceName=service, name="api")["serviceInstance"]
    assert (api["templateMinorVersion"], api["deploymentStatus"]) == ("1", "SUCCEEDED")
    assert "deploymentStatusMessage" not in api
    healthy = stack(cloudformation, "service-instance", service, "api")
    assert healthy is not None and healthy["StackStatus"] == "CREATE_COMPLETE"
    assert stack_outputs(healthy)["Port"] == "8080"

    # Deploying the pipeline completes the service: it is ACTIVE again.
    proton.update_service_pipeline(
        serviceName=service, deploymentType="CURRENT_VERSION", spec="proton: ServiceSpec\n"
    )
    proton.get_waiter("service_pipeline_deployed").wait(name=service, WaiterConfig=FAST)
    repaired = proton.get_service(name=service)["service"]
    assert repaired["status"] == "ACTIVE"
    assert "statusMessage" not in repaired
    pipeline = outputs(proton.list_service_pipeline_outputs(serviceName=service)["outputs"])
    assert pipeline["Instances"] == f"api=8080@{ENV};"

    # An update the cloud rolls back leaves the instance FAILED, still running what it had.
    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _service_files(BAD_QUEUE), major="1"
    )
    proton.update_service_instance(serviceName=service, name="api", deploymentType="MINOR_VERSION")
    with pytest.raises(WaiterError, match="FAILED"):
        proton.get_waiter("service_instance_deployed").wait(
            serviceName=service, name="api", WaiterConfig=FAST
        )
    api = proton.get_service_instance(serviceName=service, name="api")["serviceInstance"]
    assert sqs_reason in api["deploymentStatusMessage"]
    assert api["lastSucceededDeploymentId"] != api["lastAttemptedDeploymentId"]
    assert api["templateMinorVersion"] == "1"
    kept = outputs(
        proton.list_service_instance_outputs(serviceName=service, serviceInstanceName="api")[
            "outputs"
        ]
    )
    assert (kept["Port"], kept["Image"]) == ("8080", "nginx")
    rolled_back = stack(cloudformation, "service-instance", service, "api")
    assert rolled_back is not None and rolled_back["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert proton.get_service(name=service)["service"]["status"] == "ACTIVE"

    publish_service_template(
        registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")], _service_files(GOOD_QUEUE), major="1"
    )
    proton.update_service_instance(serviceName=service, name="api", deploymentType="MINOR_VERSION")
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=service, name="api", WaiterConfig=FAST
    )
    api = proton.get_service_instance(serviceName=service, name="api")["serviceInstance"]
    assert (api["templateMinorVersion"], api["deploymentStatus"]) == ("3", "SUCCEEDED")
    resources = proton.list_service_instance_provisioned_resources(
        serviceName=service, serviceInstanceName="api"
    )["provisionedResources"]
    assert {r["name"]: r["identifier"] for r in resources}["Queue"].endswith(f"{service}-nginx")


def test_render_error_names_the_file_and_line(
    proton: Any, cloudformation: Any, registry: Registry
) -> None:
    name = f"render{SUFFIX}"
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=name,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(size="large"),
    )
    proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)
    before = stack(cloudformation, "environment", name)
    assert before is not None

    missing_input = ENV_CFN.replace("environment.inputs.size", "environment.inputs.colour")
    line = missing_input.splitlines().index("    Value: '{{ environment.inputs.colour }}'") + 1
    publish_environment_template(registry, ENV_TEMPLATE, _env_files(missing_input), major="1")
    proton.update_environment(name=name, deploymentType="MINOR_VERSION")
    with pytest.raises(WaiterError, match="FAILED"):
        proton.get_waiter("environment_deployed").wait(name=name, WaiterConfig=FAST)

    environment = proton.get_environment(name=name)["environment"]
    message = environment["deploymentStatusMessage"]
    assert message.startswith(f"infrastructure/cloudformation.yaml line {line}: ")
    assert "environment.inputs.colour" in message
    deployment = proton.get_deployment(id=environment["lastAttemptedDeploymentId"])["deployment"]
    assert deployment["deploymentStatusMessage"] == message
    assert deployment["targetState"]["environment"]["templateMinorVersion"] == "1"
    # Nothing was deployed: the environment still runs 1.0, its stack untouched.
    assert environment["templateMinorVersion"] == "0"
    assert outputs(proton.list_environment_outputs(environmentName=name)["outputs"])["Size"] == (
        "large"
    )
    after = stack(cloudformation, "environment", name)
    assert after is not None and after["StackStatus"] == before["StackStatus"]
    assert after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
