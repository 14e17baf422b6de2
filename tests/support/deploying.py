"""Helpers for live tests that deploy environments and services on a running Baryon."""

from __future__ import annotations

import time
from typing import Any

import yaml
from botocore.exceptions import ClientError

from baryon.provisioners.names import stack_name_for
from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz

# Waiters poll quickly: the local cloud's stack operations take a fraction of a second here.
FAST = {"Delay": 0.25, "MaxAttempts": 480}
REPO = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x",
    "repositoryId": "org/app",
    "branchName": "main",
}
SETTLED = ("SUCCEEDED", "FAILED", "CANCELLED", "DELETE_FAILED")


def outputs(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["key"]: item["valueString"] for item in items}


def env_spec(**inputs: Any) -> str:
    return yaml.safe_dump({"proton": "EnvironmentSpec", "spec": inputs}, sort_keys=False)


def service_spec(
    instances: list[tuple[str, str, dict[str, Any] | None]],
    pipeline: dict[str, Any] | None = None,
) -> str:
    """A ServiceSpec; ``instances`` are (name, environment, spec or None)."""
    document: dict[str, Any] = {"proton": "ServiceSpec"}
    if pipeline is not None:
        document["pipeline"] = pipeline
    entries = []
    for name, environment, spec in instances:
        entry: dict[str, Any] = {"name": name, "environment": environment}
        if spec is not None:
            entry["spec"] = spec
        entries.append(entry)
    document["instances"] = entries
    return yaml.safe_dump(document, sort_keys=False)


def publish_environment_template(
    registry: Registry,
    name: str,
    files: dict[str, str] | None = None,
    major: str | None = None,
    **template: Any,
) -> dict[str, Any]:
    """Creates the template if needed and publishes a version: a new major version, or the
    next minor version of ``major``."""
    registry.ensure_template("environment", name, **template)
    extra = {"majorVersion": major} if major else {}
    version = registry.register("environment", name, tar_gz(files or env_bundle()), **extra)
    assert version["status"] == "DRAFT", version.get("statusMessage")
    return registry.publish("environment", name, version)


def publish_service_template(
    registry: Registry,
    name: str,
    compatible: list[tuple[str, str]],
    files: dict[str, str] | None = None,
    major: str | None = None,
    **template: Any,
) -> dict[str, Any]:
    registry.ensure_template("service", name, **template)
    extra = {"majorVersion": major} if major else {}
    version = registry.register(
        "service",
        name,
        tar_gz(files or service_bundle()),
        compatibleEnvironmentTemplates=[
            {"templateName": t, "majorVersion": m} for t, m in compatible
        ],
        **extra,
    )
    assert version["status"] == "DRAFT", version.get("statusMessage")
    return registry.publish("service", name, version)


def settled(read: Any, member: str, timeout: float = 120.0) -> dict[str, Any]:
    """Polls ``read()`` until ``[member]['deploymentStatus']`` is final; returns that view.

    Proton's waiters know SUCCEEDED and FAILED only; a cancelled deployment needs this."""
    deadline = time.monotonic() + timeout
    while True:
        current = read()[member]
        if current["deploymentStatus"] in SETTLED:
            return current
        assert time.monotonic() < deadline, f"still {current['deploymentStatus']}: {current}"
        time.sleep(0.2)


def instance_settled(proton: Any, service: str, name: str) -> dict[str, Any]:
    return settled(
        lambda: proton.get_service_instance(serviceName=service, name=name), "serviceInstance"
    )


def pipeline_settled(proton: Any, service: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        return {"pipeline": proton.get_service(name=service)["service"]["pipeline"]}

    return settled(read, "pipeline")


def stack(cloudformation: Any, kind: str, *names: str) -> dict[str, Any] | None:
    """The stack Baryon keeps for a resource (kind: environment, service-instance or
    service-pipeline), as DescribeStacks shows it; None when there is none."""
    name = stack_name_for(kind, *names)
    try:
        found = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return found[0] if found and found[0]["StackStatus"] != "DELETE_COMPLETE" else None


def stack_outputs(stack_view: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack_view.get("Outputs", [])}


def live_stacks(cloudformation: Any, fragment: str) -> dict[str, str]:
    """Stack name -> status of the stacks whose name holds ``fragment`` and that exist."""
    stacks: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stacks").paginate():
        for summary in page["StackSummaries"]:
            if fragment in summary["StackName"] and summary["StackStatus"] != "DELETE_COMPLETE":
                stacks[summary["StackName"]] = summary["StackStatus"]
    return stacks


def error_message(caught: Any) -> str:
    return str(caught.value.response["Error"]["Message"])
