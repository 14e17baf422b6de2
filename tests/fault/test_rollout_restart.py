"""A rollout survives SIGKILL of its server and of every worker in the middle of a wave
(scaled mode, real processes, PostgreSQL): the new processes carry on from the store, every
instance ends on the new version, and no instance is deployed twice."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest

from baryon.service_models import MODELS_DIR
from tests.support.bundles import SVC_CFN, Registry, env_bundle, service_bundle, tar_gz
from tests.support.cluster import REGION, Cluster, start_cluster
from tests.support.deploying import service_spec
from tests.support.processes import NO_RETRIES

INSTANCES = [f"i{n:02d}" for n in range(12)]
SERVICE = "roll-svc"


def _baryon(cluster: Cluster) -> Any:
    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return boto3.session.Session(botocore_session=core).client(
        "baryon",
        endpoint_url=f"http://127.0.0.1:{cluster.servers[-1].port}",
        region_name=REGION,
        aws_access_key_id=cluster.access_key[0],
        aws_secret_access_key=cluster.access_key[1],
        config=NO_RETRIES,
    )


def _service_files(generation: str) -> dict[str, str]:
    files = service_bundle(pipeline=False)
    files["instance_infrastructure/cloudformation.yaml"] = (
        SVC_CFN + f"  Generation:\n    Value: '{generation}'\n"
    )
    return files


def _until(
    read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = 240
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = read()
        except Exception as exc:  # a server just started may refuse a request or two
            value = exc
        if not isinstance(value, Exception) and done(value):
            return value
        assert time.monotonic() < deadline, f"{what} did not happen: {value}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def cluster(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(
        tmp_path_factory.mktemp("rollout-cluster"),
        postgres_server.create_database(),
        servers=1,
        workers=2,
        stack_seconds=0.5,
    )
    yield running
    running.stop()


def test_a_rollout_killed_mid_wave_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    proton = cluster.client()
    registry = Registry(proton, cluster.client("s3"), bucket="baryon-bundles-123456789012")
    proton.create_environment_template(name="roll-env")
    registry.publish(
        "environment",
        "roll-env",
        registry.register("environment", "roll-env", tar_gz(env_bundle())),
    )
    proton.create_service_template(name="roll-svc-t", pipelineProvisioning="CUSTOMER_MANAGED")
    compatible = [{"templateName": "roll-env", "majorVersion": "1"}]
    registry.publish(
        "service",
        "roll-svc-t",
        registry.register(
            "service",
            "roll-svc-t",
            tar_gz(_service_files("1.0")),
            compatibleEnvironmentTemplates=compatible,
        ),
    )
    proton.create_environment(
        name="roll",
        templateName="roll-env",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\nspec: {}\n",
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
    )
    proton.get_waiter("environment_deployed").wait(
        name="roll", WaiterConfig={"Delay": 0.5, "MaxAttempts": 240}
    )
    proton.create_service(
        name=SERVICE,
        templateName="roll-svc-t",
        templateMajorVersion="1",
        spec=service_spec([(name, "roll", None) for name in INSTANCES]),
    )
    proton.get_waiter("service_created").wait(
        name=SERVICE, WaiterConfig={"Delay": 0.5, "MaxAttempts": 480}
    )
    registry.publish(
        "service",
        "roll-svc-t",
        registry.register(
            "service",
            "roll-svc-t",
            tar_gz(_service_files("1.1")),
            majorVersion="1",
            compatibleEnvironmentTemplates=compatible,
        ),
    )
    baryon = _baryon(cluster)
    rollout_id = baryon.create_rollout(
        name="killed",
        templateType="SERVICE",
        templateName="roll-svc-t",
        targetMajorVersion="1",
        targetMinorVersion="1",
        waves=[{"count": 2}, {}],
        concurrency=3,
    )["rollout"]["id"]
    preview_id = baryon.preview_rollout(id=rollout_id)["rollout"]["previewId"]
    _until(
        lambda: baryon.get_fleet_preview(id=preview_id)["fleetPreview"]["status"],
        lambda status: status == "READY",
        "the fleet preview",
    )
    baryon.approve_rollout(id=rollout_id)
    baryon.start_rollout(id=rollout_id)

    # In the middle of wave 2, with deployments in flight: every process dies at once.
    _until(
        lambda: baryon.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["currentWave"] == 2 and got["counts"]["deploying"] > 0,
        "wave 2 deploying",
    )
    for member in [*cluster.servers, *cluster.workers]:
        member.kill(signal.SIGKILL)
    cluster.servers.clear()
    cluster.workers.clear()
    cluster.start_server()
    cluster.start_worker()
    cluster.start_worker()
    baryon, proton = _baryon(cluster), cluster.client()

    done = _until(
        lambda: baryon.get_rollout(id=rollout_id)["rollout"],
        lambda got: got["state"] not in ("RUNNING",),
        "the rollout's end",
        timeout=300,
    )
    assert done["state"] == "SUCCEEDED", done
    assert done["counts"]["succeeded"] == len(INSTANCES)
    deployments: Counter[str] = Counter()
    for page in proton.get_paginator("list_deployments").paginate(serviceName=SERVICE):
        for deployment in page["deployments"]:
            assert deployment["deploymentStatus"] == "SUCCEEDED", deployment
            deployments[deployment["serviceInstanceName"]] += 1
    # Its creation, and exactly one upgrade.
    assert deployments == Counter({name: 2 for name in INSTANCES})
    for name in INSTANCES:
        instance = proton.get_service_instance(serviceName=SERVICE, name=name)["serviceInstance"]
        assert instance["templateMinorVersion"] == "1"
