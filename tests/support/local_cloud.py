"""Talking to a local cloud process (`baryon.cloud.process.LocalCloudProcess`) in tests."""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config

from baryon.cloud.process import LocalCloudProcess

# One attempt: a test sees the cloud's own answer, never botocore's retries of it.
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=60)


def client(cloud: LocalCloudProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


def status(cloudformation: Any, stack: str) -> str:
    return str(cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def reason(cloudformation: Any, stack: str) -> str | None:
    return cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("StackStatusReason")


def settle(cloudformation: Any, stack: str) -> str:
    """Polls until the stack leaves *_IN_PROGRESS; generous bound, no timing assertion."""
    deadline = time.monotonic() + 60
    while (current := status(cloudformation, stack)).endswith("_IN_PROGRESS"):
        assert time.monotonic() < deadline, f"{stack} stuck in {current}"
        time.sleep(0.1)
    return current
