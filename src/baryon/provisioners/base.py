"""The one small interface every provisioner speaks (ARCHITECTURE rule 7).

The engine hands a provisioner a rendered bundle section (every file of it, and which one
carries the resource's inputs), the identity of the resource it is for and a `DeploymentIO`;
it gets an `Outcome` back and never learns which engine did the work. A provisioner derives
everything engine-specific (a stack name, a Terraform state address, a CodeBuild project)
from the `ResourceIdentity` alone, so any worker finds the same things again after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ProvisioningEngine(StrEnum):
    """What provisions a bundle section; the manifest's rendering engine decides."""

    CLOUDFORMATION = "cloudformation"
    TERRAFORM = "terraform"
    CODEBUILD = "codebuild"


class OutcomeStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    IN_PROGRESS = "IN_PROGRESS"  # only from `Provisioner.status`
    # Handed off (a pull request to a provisioning repository): the deployment stays
    # IN_PROGRESS until someone else's pipeline reports, or the pull request is closed.
    HANDED_OFF = "HANDED_OFF"


class ResourceKind(StrEnum):
    """The Proton resources a deployment provisions (the render kinds of render/)."""

    ENVIRONMENT = "environment"
    SERVICE_INSTANCE = "service_instance"
    SERVICE_PIPELINE = "pipeline"
    COMPONENT = "component"


@dataclass(frozen=True)
class InputsFile:
    """Which file of a section carries the resource's inputs, as its engine reads them:
    ``proton-inputs.json`` (CodeBuild), ``proton.auto.tfvars.json`` with the variables file
    that declares them (Terraform). CloudFormation sections have none: values are in the
    template text."""

    name: str
    variables_file: str | None = None


@dataclass(frozen=True)
class BuildCommands:
    """What a CodeBuild section runs: its manifest's settings, as the provisioner needs them."""

    provision: tuple[str, ...]  # shell commands, in order, to create or update
    deprovision: tuple[str, ...]  # shell commands, in order, to delete
    image: str | None = None  # the CodeBuild image; a container runner runs it
    variables: Mapping[str, str] = field(default_factory=dict)  # env.variables
    # env.secrets_manager: variable -> "secret-id:json-key"; read from the cloud's secrets.
    secrets: Mapping[str, str] = field(default_factory=dict)
    # settings.runtimes (CodeBuild's runtime-versions) and the rendered project_properties
    # (CloudFormation's AWS::CodeBuild::Project names); used where AWS CodeBuild runs them.
    runtimes: Mapping[str, object] = field(default_factory=dict)
    project_properties: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedSection:
    """One rendered IaC section of a bundle, as a provisioner receives it."""

    engine: ProvisioningEngine
    files: Mapping[str, str]  # every file, by name relative to the section's folder
    inputs_file: InputsFile | None = None
    commands: BuildCommands | None = None  # CodeBuild sections only


@dataclass(frozen=True)
class ResourceIdentity:
    """The resource a deployment is for, and what it deploys as."""

    kind: ResourceKind
    # The Proton names that make the resource unique: (environment,), (service, instance),
    # (service,) for a pipeline, (component,).
    names: tuple[str, ...]
    arn: str
    account: str
    region: str
    role_arn: str | None = None
    # The codebuildRoleArn (pipelines: pipelineCodebuildRoleArn) its CodeBuild runs use.
    build_role_arn: str | None = None
    # The role the provisioner acts as in ``account`` when that is an environment account (an
    # environment account connection's roleArn), assumed through the cloud's STS; None: the
    # management account, with Baryon's own credentials.
    account_role_arn: str | None = None
    # Put on everything provisioned (Proton's managed tags only).
    tags: Mapping[str, str] = field(default_factory=dict)
    # A CloudFormation stack the resource adopted (one Proton created, kept by an import):
    # every operation targets it instead of the name derived from ``names``, a deploy only
    # ever updates it, and None means Baryon's own derived stack (domain/adoption.py).
    stack_name: str | None = None


@dataclass(frozen=True)
class ExactChange:
    """The engine's own preview of a deployment, kept and approved (a fleet preview,
    domain/fleet_previews.py): the deploy carries out exactly this, or fails saying why it
    no longer can; it never plans afresh."""

    engine: ProvisioningEngine
    change_set_id: str | None = None  # CloudFormation: the change set's ARN
    plan: bytes | None = None  # Terraform: the saved plan file (`plan -out`), sealed


@dataclass(frozen=True)
class DeployRequest:
    """What one deployment asks a provisioner to bring into being (or up to date)."""

    section: RenderedSection
    resource: ResourceIdentity
    # Unique per deployment (its id will do). Engines that deduplicate requests
    # (CloudFormation's ClientRequestToken) use it so a retry after a crash is not a second
    # operation.
    request_token: str | None = None
    # An approved preview's change set or saved plan to carry out instead of planning.
    exact: ExactChange | None = None


@dataclass(frozen=True)
class ProvisionedResource:
    name: str  # the engine's logical name (CloudFormation: LogicalResourceId)
    identifier: str  # the cloud's id for it (CloudFormation: PhysicalResourceId)
    engine: str  # "CLOUDFORMATION", ...
    # The local cloud stood in for it (moto lacks the type): nothing real exists behind the
    # identifier. Baryon's own mark; Proton's shape has no place for it.
    simulated: bool = False


@dataclass(frozen=True)
class HandOff:
    """Where a handed-off deployment waits: the pull request (on plain git and Baryon's own
    server, the pushed branch) that carries it, so that its merge or close can be watched."""

    repository_provider: str
    repository_name: str
    base_branch: str
    head_branch: str
    head_sha: str
    number: int | None  # None: a pushed branch, no pull request
    url: str | None
    deletion: bool  # the files are marked deleted (isResourceDeleted)
    # Where it is and what Baryon waits for, for the deployment's log and status message.
    waiting_for: str


@dataclass(frozen=True)
class Outcome:
    """How an operation ended, or (from `Provisioner.status`) where the resource stands.

    A FAILED or CANCELLED update may still carry outputs and resources: the engine rolled
    back to the previous version, which still runs.
    """

    status: OutcomeStatus
    message: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    resources: list[ProvisionedResource] = field(default_factory=list)
    # The engine's own word for the state (CloudFormation: StackStatus), for logs and status.
    engine_status: str | None = None
    # The engine's rollback failed too, so nothing deploys until `continue_rollback` brings
    # the resource back (CloudFormation: UPDATE_ROLLBACK_FAILED).
    rollback_failed: bool = False
    # Set exactly when status is HANDED_OFF.
    handoff: HandOff | None = None


class DeploymentIO(Protocol):
    """What the engine lends a provisioner for one operation."""

    @property
    def deployment_id(self) -> str | None:
        """The deployment the operation is for (None for calls that come without one). A
        delete has no DeployRequest, yet a provisioner names its run with this, so that the
        deployment resumed after a crash knows the run (a Terraform state lock) as its own."""

    def log(self, message: str) -> None:
        """Appends a line to the deployment's log."""

    def cancel_requested(self) -> bool:
        """True once someone asked to cancel; polled while waiting."""

    def heartbeat(self) -> None:
        """Called every few seconds while waiting; raises if the job lost its lease, and that
        exception ends the operation (it is never turned into an Outcome)."""


class Provisioner(Protocol):
    """Every method is safe to call again after a crash, by any process: a provisioner finds
    out from the cloud what already happened and never remembers anything between calls."""

    engine: ProvisioningEngine

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        """Brings the resource to the section's state and waits for it. Re-run after a crash,
        it continues what is under way (never starting a second operation) or starts again;
        a cancel request (io.cancel_requested) stops the engine and ends CANCELLED."""

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        """Removes everything provisioned for the resource and waits; SUCCEEDED when nothing
        is there, so re-running after a crash (or after a delete by hand) is harmless."""

    def cancel(self, resource: ResourceIdentity) -> None:
        """Asks the engine to stop what it is doing to the resource; does not wait, and does
        nothing when nothing is under way."""

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        """Current status (IN_PROGRESS while an operation runs), outputs and resources; None
        when nothing is provisioned. Reads only."""

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        """Finishes a rollback that failed (`Outcome.rollback_failed`), leaving the engine's
        resources named in ``resources_to_skip`` as they are, and waits: SUCCEEDED once the
        resource is back at its last good state. Re-run after a crash, it waits for the
        rollback under way or finds it done (SUCCEEDED again); FAILED with a reason when
        nothing is left to roll back or the engine has no such step."""


class SilentIO:
    """For calls that come without a deployment (`cancel`, `status`)."""

    deployment_id: str | None = None

    def log(self, message: str) -> None:
        pass

    def cancel_requested(self) -> bool:
        return False

    def heartbeat(self) -> None:
        pass
