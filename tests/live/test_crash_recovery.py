"""Killing `baryon up` in the middle of deployments: after a restart each one completes or
fails cleanly, nothing stays IN_PROGRESS, and no stack is created twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.processes import BaryonProcess, start_baryon

SLOW_STACKS = {"BARYON_LOCAL_CLOUD_STACK_SECONDS": "4"}
FAST = {"Delay": 1, "MaxAttempts": 90}
REPO = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x",
    "repositoryId": "org/app",
    "branchName": "main",
}


def _publish_templates(server: BaryonProcess) -> None:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    proton.create_environment_template(name="crash-env")
    registry.publish(
        "environment",
        "crash-env",
        registry.register("environment", "crash-env", tar_gz(env_bundle())),
    )
    proton.create_service_template(name="crash-svc")
    registry.publish(
        "service",
        "crash-svc",
        registry.register(
            "service",
            "crash-svc",
            tar_gz(service_bundle()),
            compatibleEnvironmentTemplates=[{"templateName": "crash-env", "majorVersion": "1"}],
        ),
    )


def _wait_for_stack_in_progress(server: BaryonProcess, fragment: str) -> None:
    cloudformation = server.client("cloudformation")
    # Patient: under three test workers on two cores a deployment can take seconds to start.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stacks = cloudformation.list_stacks()["StackSummaries"]
        if any(
            fragment in s["StackName"] and s["StackStatus"].endswith("_IN_PROGRESS") for s in stacks
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"no stack for {fragment} went IN_PROGRESS")


def _live_stacks(server: BaryonProcess) -> list[str]:
    summaries = server.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def _all_deployments(proton: Any) -> list[dict[str, Any]]:
    return [
        d
        for page in proton.get_paginator("list_deployments").paginate()
        for d in page["deployments"]
    ]


def test_kill_mid_deployment_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_baryon(data_dir, env=SLOW_STACKS)
    try:
        _publish_templates(first)
        proton = first.client("proton")
        proton.create_environment(
            name="crashenv",
            templateName="crash-env",
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\n",
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        )
        _wait_for_stack_in_progress(first, "crashenv")
    finally:
        first.stop(signal.SIGKILL)

    second = start_baryon(data_dir, env=SLOW_STACKS)
    try:
        proton = second.client("proton")
        proton.get_waiter("environment_deployed").wait(name="crashenv", WaiterConfig=FAST)
        proton.create_service(
            name="crashsvc",
            templateName="crash-svc",
            templateMajorVersion="1",
            **REPO,
            spec="proton: ServiceSpec\npipeline: {}\ninstances:\n"
            "  - name: one\n    environment: crashenv\n"
            "  - name: two\n    environment: crashenv\n",
        )
        _wait_for_stack_in_progress(second, "one")
    finally:
        second.stop(signal.SIGKILL)

    third = start_baryon(data_dir, env=SLOW_STACKS)
    try:
        proton = third.client("proton")
        proton.get_waiter("service_created").wait(name="crashsvc", WaiterConfig=FAST)
        service = proton.get_service(name="crashsvc")["service"]
        assert service["status"] == "ACTIVE"
        assert service["pipeline"]["deploymentStatus"] == "SUCCEEDED"
        for deployment in _all_deployments(proton):
            assert deployment["deploymentStatus"] in ("SUCCEEDED", "FAILED", "CANCELLED"), (
                deployment
            )
        stacks = _live_stacks(third)
        # One stack per resource: environment, two instances, pipeline.
        assert len(stacks) == 4, stacks
        assert len(set(stacks)) == 4
    finally:
        third.stop()
