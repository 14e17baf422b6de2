"""Deployments as records, and one deployment at a time, through boto3 against `baryon up`.

GetDeployment's initial and target states for each kind of target, ListDeployments' filters
and order, outputs by deployment id, DeleteDeployment's rules, cancelling a pipeline
deployment, and concurrent updates of one instance: exactly one wins, never a 500.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import Registry
from tests.support.deploying import (
    FAST,
    REPO,
    env_spec,
    error_message,
    outputs,
    pipeline_settled,
    publish_environment_template,
    publish_service_template,
    service_spec,
    stack,
)
from tests.support.processes import BaryonProcess, own_baryon

SUFFIX = uuid.uuid4().hex[:6]
ENV_TEMPLATE, SVC_TEMPLATE = f"denv-{SUFFIX}", f"dsvc-{SUFFIX}"
ENV, SERVICE = f"rec{SUFFIX}", f"rec-{SUFFIX}"


# Stack operations take long enough here to be cancelled or raced while in progress.
# Stack operations last 4 s: a cancel must reach the cloud while an update still runs, even
# when the machine is loaded (at 2 s one stack update finished first under three test workers).
server = own_baryon("deployment-records", env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "4"})


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def deployed(server: BaryonProcess, proton: Any) -> dict[str, Any]:
    """An environment updated once, and a service with two instances and a pipeline whose
    instance 'one' was updated once. Returns the deployment ids, in the order made."""
    registry = Registry(proton, server.client("s3"))
    publish_environment_template(registry, ENV_TEMPLATE)
    publish_service_template(registry, SVC_TEMPLATE, [(ENV_TEMPLATE, "1")])
    ids: dict[str, Any] = {}
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name=ENV,
        templateName=ENV_TEMPLATE,
        templateMajorVersion="1",
        spec=env_spec(),
    )
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    ids["env-create"] = proton.get_environment(name=ENV)["environment"]["lastSucceededDeploymentId"]
    # The environment's update and the service's creation run side by side.
    proton.update_environment(
        name=ENV, deploymentType="CURRENT_VERSION", spec=env_spec(size="large")
    )
    proton.create_service(
        name=SERVICE,
        templateName=SVC_TEMPLATE,
        templateMajorVersion="1",
        spec=service_spec(
            [("one", ENV, {"port": 8001}), ("two", ENV, {"port": 8002})],
            pipeline={"dockerfile": "Dockerfile"},
        ),
        **REPO,
    )
    proton.get_waiter("service_created").wait(name=SERVICE, WaiterConfig=FAST)
    proton.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=FAST)
    ids["env-update"] = proton.get_environment(name=ENV)["environment"]["lastSucceededDeploymentId"]
    service = proton.get_service(name=SERVICE)["service"]
    ids["pipeline-create"] = service["pipeline"]["lastSucceededDeploymentId"]
    for name in ("one", "two"):
        ids[f"{name}-create"] = proton.get_service_instance(serviceName=SERVICE, name=name)[
            "serviceInstance"
        ]["lastSucceededDeploymentId"]
    proton.update_service_instance(
        serviceName=SERVICE,
        name="one",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("one", ENV, {"port": 9001, "image": "httpd"})]),
    )
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=SERVICE, name="one", WaiterConfig=FAST
    )
    ids["one-update"] = proton.get_service_instance(serviceName=SERVICE, name="one")[
        "serviceInstance"
    ]["lastSucceededDeploymentId"]
    return ids


def _get(proton: Any, deployment_id: str) -> dict[str, Any]:
    return proton.get_deployment(id=deployment_id)["deployment"]


def test_environment_deployment_states(proton: Any, deployed: dict[str, Any]) -> None:
    created = _get(proton, deployed["env-create"])
    assert created["targetResourceType"] == "ENVIRONMENT"
    assert created["targetArn"].endswith(f":environment/{ENV}")
    assert created["environmentName"] == ENV and "serviceName" not in created
    assert "initialState" not in created  # nothing was deployed before the first deployment
    assert created["targetState"] == {
        "environment": {
            "spec": env_spec(),
            "templateName": ENV_TEMPLATE,
            "templateMajorVersion": "1",
            "templateMinorVersion": "0",
        }
    }
    updated = _get(proton, deployed["env-update"])
    assert updated["initialState"] == created["targetState"]
    assert list(updated["targetState"]) == ["environment"]
    assert updated["targetState"]["environment"]["spec"] == env_spec(size="large")
    assert updated["lastSucceededDeploymentId"] == created["id"]
    assert updated["completedAt"] >= updated["createdAt"]


def test_instance_and_pipeline_deployment_states(proton: Any, deployed: dict[str, Any]) -> None:
    update = _get(proton, deployed["one-update"])
    assert (update["targetResourceType"], update["deploymentStatus"]) == (
        "SERVICE_INSTANCE",
        "SUCCEEDED",
    )
    assert (update["environmentName"], update["serviceName"], update["serviceInstanceName"]) == (
        ENV,
        SERVICE,
        "one",
    )
    assert update["targetArn"].endswith(f":service/{SERVICE}/service-instance/one")
    assert list(update["initialState"]) == ["serviceInstance"]
    assert list(update["targetState"]) == ["serviceInstance"]
    before, after = (
        update["initialState"]["serviceInstance"],
        update["targetState"]["serviceInstance"],
    )
    assert "port: 8001" in before["spec"] and "port: 9001" in after["spec"]
    for state in (before, after):
        assert (state["templateName"], state["templateMajorVersion"]) == (SVC_TEMPLATE, "1")
        assert state["lastSuccessfulEnvironmentDeploymentId"] == deployed["env-update"]
        assert state["lastSuccessfulServicePipelineDeploymentId"] == deployed["pipeline-create"]
    created = _get(proton, deployed["one-create"])
    assert "initialState" not in created and list(created["targetState"]) == ["serviceInstance"]

    pipeline = _get(proton, deployed["pipeline-create"])
    assert (pipeline["targetResourceType"], pipeline["serviceName"]) == (
        "SERVICE_PIPELINE",
        SERVICE,
    )
    assert "serviceInstanceName" not in pipeline
    assert pipeline["targetArn"].endswith(f":service/{SERVICE}/pipeline")
    assert list(pipeline["targetState"]) == ["servicePipeline"]
    assert pipeline["targetState"]["servicePipeline"]["templateName"] == SVC_TEMPLATE
    assert "dockerfile: Dockerfile" in pipeline["targetState"]["servicePipeline"]["spec"]


def test_list_deployments_filters_newest_first(proton: Any, deployed: dict[str, Any]) -> None:
    def listed(**kwargs: Any) -> list[str]:
        pages = proton.get_paginator("list_deployments").paginate(
            **kwargs, PaginationConfig={"PageSize": 1}
        )
        items = [d for page in pages for d in page["deployments"]]
        created = [d["createdAt"] for d in items]
        assert created == sorted(created, reverse=True)
        return [d["id"] for d in items]

    service_ids = [
        deployed["one-update"],
        *sorted(
            (deployed["one-create"], deployed["two-create"], deployed["pipeline-create"]),
            key=lambda i: _get(proton, i)["createdAt"],
            reverse=True,
        ),
    ]
    assert set(listed(serviceName=SERVICE)) == set(service_ids)
    assert listed(serviceName=SERVICE)[0] == deployed["one-update"]
    assert listed(serviceName=SERVICE, serviceInstanceName="one") == [
        deployed["one-update"],
        deployed["one-create"],
    ]
    assert listed(serviceName=SERVICE, serviceInstanceName="two") == [deployed["two-create"]]
    in_environment = listed(environmentName=ENV)
    assert in_environment[-2:] == [deployed["env-update"], deployed["env-create"]]
    assert set(in_environment) == {*service_ids, deployed["env-update"], deployed["env-create"]}
    assert listed() == in_environment

    with pytest.raises(proton.exceptions.ValidationException, match="needs serviceName"):
        proton.list_deployments(serviceInstanceName="one")
    with pytest.raises(proton.exceptions.ValidationException, match="needs serviceName"):
        proton.get_deployment(id=deployed["one-update"], serviceInstanceName="one")
    # GetDeployment's names must match the deployment.
    assert (
        proton.get_deployment(
            id=deployed["one-update"], serviceName=SERVICE, serviceInstanceName="one"
        )["deployment"]["id"]
        == deployed["one-update"]
    )
    with pytest.raises(proton.exceptions.ResourceNotFoundException, match="serviceInstanceName"):
        proton.get_deployment(
            id=deployed["one-update"], serviceName=SERVICE, serviceInstanceName="two"
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException, match="environmentName"):
        proton.get_deployment(id=deployed["env-create"], environmentName="elsewhere")


def test_outputs_by_deployment_id(proton: Any, deployed: dict[str, Any]) -> None:
    def instance_outputs(**kwargs: Any) -> dict[str, str]:
        return outputs(
            proton.list_service_instance_outputs(
                serviceName=SERVICE, serviceInstanceName="one", **kwargs
            )["outputs"]
        )

    assert (instance_outputs()["Port"], instance_outputs()["Image"]) == ("9001", "httpd")
    older = instance_outputs(deploymentId=deployed["one-create"])
    assert (older["Port"], older["Image"]) == ("8001", "nginx")
    assert instance_outputs(deploymentId=deployed["one-update"]) == instance_outputs()
    env_outputs = proton.list_environment_outputs(
        environmentName=ENV, deploymentId=deployed["env-create"]
    )["outputs"]
    assert outputs(env_outputs)["Size"] == "small"
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_service_instance_outputs(
            serviceName=SERVICE, serviceInstanceName="two", deploymentId=deployed["one-create"]
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_service_pipeline_outputs(
            serviceName=SERVICE, deploymentId=deployed["one-create"]
        )
    pipeline = proton.list_service_pipeline_outputs(
        serviceName=SERVICE, deploymentId=deployed["pipeline-create"]
    )["outputs"]
    assert outputs(pipeline)["Instances"] == f"one=8001@{ENV};two=8002@{ENV};"


def test_delete_deployment(proton: Any, deployed: dict[str, Any]) -> None:
    proton.update_service_instance(
        serviceName=SERVICE,
        name="two",
        deploymentType="CURRENT_VERSION",
        spec=service_spec([("two", ENV, {"port": 9002})]),
    )
    running = proton.get_service_instance(serviceName=SERVICE, name="two")["serviceInstance"]
    assert running["deploymentStatus"] == "IN_PROGRESS"
    with pytest.raises(proton.exceptions.ConflictException) as caught:
        proton.delete_deployment(id=running["lastAttemptedDeploymentId"])
    assert "is IN_PROGRESS; only finished deployments can be deleted" in error_message(caught)
    proton.get_waiter("service_instance_deployed").wait(
        serviceName=SERVICE, name="two", WaiterConfig=FAST
    )

    # What a resource runs now stays; an older deployment can go.
    with pytest.raises(proton.exceptions.ConflictException, match="runs now"):
        proton.delete_deployment(id=running["lastAttemptedDeploymentId"])
    deleted = proton.delete_deployment(id=deployed["two-create"])["deployment"]
    assert (deleted["id"], deleted["deploymentStatus"]) == (deployed["two-create"], "SUCCEEDED")
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_deployment(id=deployed["two-create"])
    remaining = proton.list_deployments(serviceName=SERVICE, serviceInstanceName="two")
    assert [d["id"] for d in remaining["deployments"]] == [running["lastAttemptedDeploymentId"]]
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.list_service_instance_outputs(
            serviceName=SERVICE, serviceInstanceName="two", deploymentId=deployed["two-create"]
        )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.delete_deployment(id=str(uuid.uuid4()))


def test_cancel_service_pipeline_deployment(
    server: BaryonProcess, proton: Any, deployed: dict[str, Any]
) -> None:
    before = proton.get_service(name=SERVICE)["service"]["pipeline"]
    kept = outputs(proton.list_service_pipeline_outputs(serviceName=SERVICE)["outputs"])
    with pytest.raises(proton.exceptions.ConflictException, match="no deployment in progress"):
        proton.cancel_service_pipeline_deployment(serviceName=SERVICE)

    proton.update_service_pipeline(
        serviceName=SERVICE,
        deploymentType="CURRENT_VERSION",
        spec="proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile.cancelled\n",
    )
    # Cancelled once its stack update runs: a job cancelled before a worker takes it ends at
    # once, and this test is about the CANCELLING that lasts while the cloud rolls back.
    _wait_for_stack(server, "UPDATE_IN_PROGRESS", "service-pipeline", SERVICE)
    cancelling = proton.cancel_service_pipeline_deployment(serviceName=SERVICE)["pipeline"]
    assert cancelling["deploymentStatus"] == "CANCELLING"
    with pytest.raises(proton.exceptions.ConflictException):
        proton.update_service_pipeline(
            serviceName=SERVICE, deploymentType="CURRENT_VERSION", spec="proton: ServiceSpec\n"
        )
    pipeline = pipeline_settled(proton, SERVICE)
    assert pipeline["deploymentStatus"] == "CANCELLED"
    assert pipeline["lastSucceededDeploymentId"] == before["lastSucceededDeploymentId"]
    assert pipeline["spec"] == before["spec"]
    assert outputs(proton.list_service_pipeline_outputs(serviceName=SERVICE)["outputs"]) == kept
    cancelled = _get(proton, pipeline["lastAttemptedDeploymentId"])
    assert cancelled["deploymentStatus"] == "CANCELLED"
    assert "Dockerfile.cancelled" in cancelled["targetState"]["servicePipeline"]["spec"]

    # Nothing in progress: every cancel is a conflict.
    with pytest.raises(proton.exceptions.ConflictException, match="no deployment in progress"):
        proton.cancel_service_pipeline_deployment(serviceName=SERVICE)
    with pytest.raises(proton.exceptions.ConflictException, match="no deployment in progress"):
        proton.cancel_service_instance_deployment(serviceName=SERVICE, serviceInstanceName="one")
    with pytest.raises(proton.exceptions.ConflictException, match="no deployment in progress"):
        proton.cancel_environment_deployment(environmentName=ENV)

    # The pipeline deploys again afterwards.
    proton.update_service_pipeline(
        serviceName=SERVICE,
        deploymentType="CURRENT_VERSION",
        spec="proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile.next\n",
    )
    proton.get_waiter("service_pipeline_deployed").wait(name=SERVICE, WaiterConfig=FAST)


def test_concurrent_updates_of_one_instance(server: BaryonProcess, proton: Any) -> None:
    """Eight clients update one instance at the same moment: one deployment is accepted, the
    others get ConflictException, none a 500."""
    clients = [server.client("proton") for _ in range(8)]
    start = threading.Barrier(len(clients))
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def update(index: int) -> None:
        start.wait()
        try:
            clients[index].update_service_instance(
                serviceName=SERVICE,
                name="one",
                deploymentType="CURRENT_VERSION",
                spec=service_spec([("one", ENV, {"port": 7000 + index})]),
            )
            outcome = "accepted"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            results[outcome] += 1

    threads = [threading.Thread(target=update, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"accepted": 1, "ConflictException": 7}, results

    proton.get_waiter("service_instance_deployed").wait(
        serviceName=SERVICE, name="one", WaiterConfig=FAST
    )
    one = proton.get_service_instance(serviceName=SERVICE, name="one")["serviceInstance"]
    port = outputs(
        proton.list_service_instance_outputs(serviceName=SERVICE, serviceInstanceName="one")[
            "outputs"
        ]
    )["Port"]
    assert 7000 <= int(port) < 7008
    assert f"port: {port}" in one["spec"]
    running = [
        d
        for d in proton.list_deployments(serviceName=SERVICE, serviceInstanceName="one")[
            "deployments"
        ]
        if d["deploymentStatus"] not in ("SUCCEEDED", "FAILED", "CANCELLED")
    ]
    assert running == []


def _wait_for_stack(server: BaryonProcess, status: str, kind: str, *names: str) -> None:
    cloudformation = server.client("cloudformation", endpoint_url=server.cloud_endpoint)
    deadline = time.monotonic() + 60
    while (shown := stack(cloudformation, kind, *names)) is None or shown["StackStatus"] != status:
        assert time.monotonic() < deadline, f"the stack never showed {status}: {shown}"
        time.sleep(0.05)
