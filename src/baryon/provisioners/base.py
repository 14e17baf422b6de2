"""The one small interface every provisioner speaks (ARCHITECTURE rule 7).

The engine hands a provisioner what to deploy and a `DeploymentIO`; it gets an `Outcome`
back and never learns which engine did the work. Every method is safe to call again after a
crash: a provisioner finds out from the cloud what already happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

OutcomeStatus = Literal["SUCCEEDED", "FAILED", "CANCELLED", "IN_PROGRESS"]


@dataclass(frozen=True)
class StackSpec:
    """One rendered stack to bring into being (or up to date)."""

    name: str
    template_body: str
    role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Unique per deployment (its id will do). Engines that deduplicate requests (CloudFormation's
    # ClientRequestToken) use it so that a retry after a crash is not a second operation.
    client_token: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvisionedResource:
    name: str  # the engine's logical name (CloudFormation: LogicalResourceId)
    identifier: str  # the cloud's id for it (CloudFormation: PhysicalResourceId)
    engine: str  # "CLOUDFORMATION", ...


@dataclass(frozen=True)
class Outcome:
    """How an operation ended, or (from `Provisioner.describe`) where the stack stands.

    IN_PROGRESS only comes from `describe`. A FAILED or CANCELLED update may still carry
    outputs and resources: the stack rolled back to the previous version, which still runs.
    """

    status: OutcomeStatus
    message: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[ProvisionedResource] = field(default_factory=list)
    # The engine's own word for the state (CloudFormation: StackStatus), for logs and status.
    engine_status: str | None = None


class DeploymentIO(Protocol):
    """What the engine lends a provisioner for one operation."""

    def log(self, message: str) -> None:
        """Appends a line to the deployment's log."""

    def cancel_requested(self) -> bool:
        """True once someone asked to cancel; polled while waiting."""

    def heartbeat(self) -> None:
        """Called every few seconds while waiting; raises if the job lost its lease, and that
        exception ends the operation (it is never turned into an Outcome)."""


class Provisioner(Protocol):
    def deploy(self, spec: StackSpec, io: DeploymentIO) -> Outcome: ...

    def destroy(self, stack_name: str, io: DeploymentIO) -> Outcome: ...

    def cancel(self, stack_name: str) -> None:
        """Asks the engine to stop what it is doing to the stack; does not wait."""

    def describe(self, stack_name: str) -> Outcome | None:
        """Current status, outputs and resources; None when there is no such stack."""


class SilentIO:
    """For calls that come without a deployment (`cancel`, `describe`)."""

    def log(self, message: str) -> None:
        pass

    def cancel_requested(self) -> bool:
        return False

    def heartbeat(self) -> None:
        pass
