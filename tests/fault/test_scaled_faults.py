"""Scaled mode under faults, with real processes on a real PostgreSQL: two servers, three
workers, workers killed with SIGKILL again and again, PostgreSQL restarted under load, and
many clients sending conflicting updates through both servers."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.cluster import Cluster, start_cluster

REPO = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x",
    "repositoryId": "org/app",
    "branchName": "main",
}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "DELETE_COMPLETE", "DELETE_FAILED"}


@pytest.fixture(scope="module")
def cluster(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = start_cluster(
        tmp_path_factory.mktemp("cluster"),
        postgres_server.create_database(),
        servers=2,
        workers=3,
    )
    proton = running.client()
    registry = Registry(proton, running.client("s3"), bucket="baryon-bundles-123456789012")
    proton.create_environment_template(name="fault-env")
    registry.publish(
        "environment",
        "fault-env",
        registry.register("environment", "fault-env", tar_gz(env_bundle())),
    )
    proton.create_service_template(name="fault-svc")
    registry.publish(
        "service",
        "fault-svc",
        registry.register(
            "service",
            "fault-svc",
            tar_gz(service_bundle()),
            compatibleEnvironmentTemplates=[{"templateName": "fault-env", "majorVersion": "1"}],
        ),
    )
    yield running
    running.stop()


def _wait_terminal(proton: Any, timeout: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        deployments = [
            d
            for page in proton.get_paginator("list_deployments").paginate()
            for d in page["deployments"]
        ]
        busy = [d for d in deployments if d["deploymentStatus"] not in TERMINAL]
        if not busy:
            return deployments
        assert time.monotonic() < deadline, f"still running: {busy[:3]}"
        time.sleep(1)


def _stack_creations(cluster: Cluster) -> Counter[str]:
    """How many times each live stack was created (CREATE_IN_PROGRESS stack events)."""
    cloudformation = cluster.client("cloudformation")
    counts: Counter[str] = Counter()
    for summary in cloudformation.list_stacks()["StackSummaries"]:
        if summary["StackStatus"] == "DELETE_COMPLETE":
            continue
        events = cloudformation.describe_stack_events(StackName=summary["StackId"])["StackEvents"]
        counts[summary["StackName"]] = sum(
            1
            for e in events
            if e["LogicalResourceId"] == summary["StackName"]
            and e["ResourceStatus"] == "CREATE_IN_PROGRESS"
        )
    return counts


def test_workers_killed_again_and_again(cluster: Cluster) -> None:
    proton = cluster.client(server=0)
    apis = [proton, cluster.client(server=1)]
    kills = 0
    rng = random.Random(7)
    # New deployments keep arriving while a random worker is killed every second or so (and
    # restarted); then the survivors finish: every deployment must end, each stack made once.
    chaos_until = time.monotonic() + 20
    created = 0
    while time.monotonic() < chaos_until and kills < 12:
        if created < 8:
            apis[created % 2].create_environment(
                protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
                name=f"kill{created}",
                templateName="fault-env",
                templateMajorVersion="1",
                spec="proton: EnvironmentSpec\nspec:\n  size: large\n",
            )
            created += 1
        time.sleep(rng.uniform(0.8, 1.6))
        victims = [w for w in cluster.workers if w.alive()]
        if victims:
            victim = rng.choice(victims)
            victim.kill()
            kills += 1
            cluster.workers.remove(victim)
            cluster.start_worker()
    deployments = _wait_terminal(proton)
    assert kills >= 3
    statuses = {
        e["name"]: e["deploymentStatus"] for e in proton.list_environments()["environments"]
    }
    assert all(status in TERMINAL for status in statuses.values()), statuses
    assert all(d["deploymentStatus"] in TERMINAL for d in deployments)
    assert [name for name, status in statuses.items() if status != "SUCCEEDED"] == []
    creations = _stack_creations(cluster)
    env_stacks = {name: count for name, count in creations.items() if "kill" in name}
    assert len(env_stacks) == created
    assert set(env_stacks.values()) == {1}, env_stacks  # no stack was ever created twice
    replaced = [
        s["StackName"]
        for s in cluster.client("cloudformation").list_stacks()["StackSummaries"]
        if s["StackStatus"] == "DELETE_COMPLETE" and "kill" in s["StackName"]
    ]
    assert replaced == []


def test_conflicting_updates_through_both_servers(cluster: Cluster) -> None:
    proton = cluster.client(server=0)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name="conflict",
        templateName="fault-env",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
    )
    proton.get_waiter("environment_deployed").wait(
        name="conflict", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(16)

    def client(index: int) -> None:
        api = cluster.client(server=index % 2)
        size = "large" if index % 3 else "small"
        start.wait()
        try:
            api.update_environment(
                name="conflict",
                deploymentType="CURRENT_VERSION",
                spec=f"proton: EnvironmentSpec\nspec:\n  size: {size}\n",
            )
            result = "accepted"
        except ClientError as exc:
            result = exc.response["Error"]["Code"]
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["accepted"] == 1, outcomes
    assert outcomes["ConflictException"] == 15, outcomes
    _wait_terminal(proton)


def test_postgresql_restarts_under_load(cluster: Cluster, postgres_server: Any) -> None:
    retrying = Config(retries={"mode": "standard", "max_attempts": 10}, read_timeout=30)
    proton = cluster.client(server=0, config=retrying)
    created: list[str] = []
    errors: Counter[str] = Counter()
    stop = threading.Event()

    def load(server: int) -> None:
        api = cluster.client(server=server)
        while not stop.is_set():
            try:
                api.list_environments()
                api.get_environment_template(name="fault-env")
            except ClientError as exc:
                errors[exc.response["Error"]["Code"]] += 1
            except Exception as exc:  # connection refused while a server is busy
                errors[type(exc).__name__] += 1
            time.sleep(0.05)

    loaders = [threading.Thread(target=load, args=(i % 2,)) for i in range(4)]
    for thread in loaders:
        thread.start()
    for index in range(3):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=f"pgload{index}",
            templateName="fault-env",
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\n",
        )
        created.append(f"pgload{index}")
    time.sleep(0.5)
    postgres_server.stop()
    time.sleep(3)
    postgres_server.start()
    time.sleep(2)
    stop.set()
    for thread in loaders:
        thread.join()
    # During the outage clients saw retryable errors only: never a validation error or a 500
    # without a modeled code.
    assert set(errors) <= {"InternalServerException", "ThrottlingException"}, errors
    # Service resumed and nothing was lost.
    for index in range(2):
        proton.create_environment(
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
            name=f"pgafter{index}",
            templateName="fault-env",
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\n",
        )
        created.append(f"pgafter{index}")
    _wait_terminal(proton)
    for name in created:
        assert proton.get_environment(name=name)["environment"]["deploymentStatus"] == "SUCCEEDED"
    for member in [*cluster.servers, *cluster.workers]:
        assert member.alive(), member.log_path.read_text()[-2000:]


def test_sigterm_hands_running_jobs_back(cluster: Cluster, tmp_path: Path) -> None:
    proton = cluster.client(server=1)
    proton.create_environment(
        protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        name="handback",
        templateName="fault-env",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
    )
    time.sleep(0.5)
    for member in list(cluster.workers):
        member.kill(signal.SIGTERM)
        cluster.workers.remove(member)
    cluster.start_worker()
    _wait_terminal(proton)
    environment = proton.get_environment(name="handback")["environment"]
    assert environment["deploymentStatus"] == "SUCCEEDED"
