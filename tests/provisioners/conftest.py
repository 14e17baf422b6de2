"""One local cloud for the provisioner tests, with stack operations that take a while."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from baryon.cloud.process import LocalCloudProcess
from baryon.provisioners import (
    CloudFormationProvisioner,
    DeployRequest,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
    ResourceKind,
)

# Long enough that a test sees *_IN_PROGRESS, short enough to keep the suite quick.
STACK_OPERATION_SECONDS = 1.0


class LeaseLost(Exception):
    """What an engine's heartbeat raises when another worker took the job over."""


class RecordingIO:
    """A DeploymentIO that records, and cancels or "crashes" when told to."""

    def __init__(
        self,
        *,
        cancel_when: Callable[[RecordingIO], bool] | None = None,
        crash_when: Callable[[RecordingIO], bool] | None = None,
        deployment_id: str | None = None,
    ) -> None:
        self.deployment_id = deployment_id
        self.lines: list[str] = []
        self.heartbeats = 0
        self.cancel_when = cancel_when
        self.crash_when = crash_when

    def log(self, message: str) -> None:
        self.lines.append(message)

    def cancel_requested(self) -> bool:
        return self.cancel_when is not None and self.cancel_when(self)

    def heartbeat(self) -> None:
        self.heartbeats += 1
        if self.crash_when is not None and self.crash_when(self):
            raise LeaseLost("the job's lease expired")

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)


def identity(name: str, tags: dict[str, str] | None = None) -> ResourceIdentity:
    """An environment named ``name``: its stack is named from it (names.resource_stack_name)."""
    return ResourceIdentity(
        ResourceKind.ENVIRONMENT,
        (name,),
        arn=f"arn:aws:proton:us-east-1:123456789012:environment/{name}",
        account="123456789012",
        region="us-east-1",
        tags={"proton:env": "dev"} if tags is None else tags,
    )


def spec(
    resource: ResourceIdentity, template: str, token: str | None = "deployment-1"
) -> DeployRequest:
    """A request to deploy ``template``, a CloudFormation section's one file."""
    section = RenderedSection(ProvisioningEngine.CLOUDFORMATION, {"cloudformation.yaml": template})
    return DeployRequest(section, resource, token)


def cloud_client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=60),
    )


@pytest.fixture(scope="session")
def timed_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudProcess]:
    logs = tmp_path_factory.mktemp("provisioners-cloud")
    cloud = LocalCloudProcess(
        state_file=None,
        log_file=Path(logs) / "cloud.log",
        stack_operation_seconds=STACK_OPERATION_SECONDS,
    )
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="session")
def cfn(timed_cloud: LocalCloudProcess) -> Any:
    return cloud_client(timed_cloud.endpoint, "cloudformation")


def make_provisioner(endpoint: str, **overrides: Any) -> CloudFormationProvisioner:
    options: dict[str, Any] = {
        "poll_initial": 0.05,
        "poll_max": 0.2,
        "timeout": 120.0,
        "heartbeat_interval": 0.05,
    }
    options.update(overrides)
    return CloudFormationProvisioner(lambda: cloud_client(endpoint, "cloudformation"), **options)


@pytest.fixture(scope="session")
def provisioner(timed_cloud: LocalCloudProcess) -> CloudFormationProvisioner:
    return make_provisioner(timed_cloud.endpoint)
