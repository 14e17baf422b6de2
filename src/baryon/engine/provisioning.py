"""What the engine hands a provisioner: the rendered section with its inputs file, and the
identity of the resource; and the one way out every provisioner offers, destroy.

Nothing here names an engine's own terms (stacks, state, projects): each provisioner derives
those from the ResourceIdentity (ARCHITECTURE rule 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from baryon.domain import environment_account_connections
from baryon.domain.environment_account_connections import EnvironmentAccount
from baryon.provisioners.base import (
    BuildCommands,
    DeploymentIO,
    InputsFile,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
    ResourceKind,
)
from baryon.provisioners.selection import ProvisionerParts, deploying_provisioners
from baryon.render.iac import RenderedSection as RenderOutput
from baryon.render.terraform import TFVARS_FILE, variables_file
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.settings import Settings
from baryon.store.tables import Deployment, Environment

# Deployment.target_type -> the resource kind provisioners know.
_KINDS: dict[str, ResourceKind] = {
    DeploymentTargetResourceType.ENVIRONMENT: ResourceKind.ENVIRONMENT,
    DeploymentTargetResourceType.SERVICE_INSTANCE: ResourceKind.SERVICE_INSTANCE,
    DeploymentTargetResourceType.SERVICE_PIPELINE: ResourceKind.SERVICE_PIPELINE,
    DeploymentTargetResourceType.COMPONENT: ResourceKind.COMPONENT,
}


def resource_identity(
    deployment: Deployment,
    settings: Settings,
    *,
    role_arn: str | None = None,
    tags: Mapping[str, str] | None = None,
    stack_name: str | None = None,
    account: EnvironmentAccount | None = None,
) -> ResourceIdentity:
    """Names only from the deployment's record, so any worker derives the same identity (and
    so finds the same stack or state) after a crash. ``stack_name``: the stack the resource
    adopted (domain/adoption.py), which CloudFormation then uses instead of a derived name.
    ``account``: the environment account the resource's environment deploys into
    (environment_account below); None: the management account."""
    kind = _KINDS[deployment.target_type]
    names: tuple[str, ...]
    if kind == ResourceKind.ENVIRONMENT:
        names = (deployment.environment_name,)
    elif kind == ResourceKind.SERVICE_INSTANCE:
        names = (deployment.service_name or "", deployment.service_instance_name or "")
    elif kind == ResourceKind.COMPONENT:
        names = (deployment.component_name or "",)
    else:
        names = (deployment.service_name or "",)
    return ResourceIdentity(
        kind=kind,
        names=names,
        arn=deployment.target_arn,
        account=account.account_id if account else settings.account_id,
        region=settings.region,
        role_arn=role_arn,
        account_role_arn=account.role_arn if account else None,
        tags=dict(tags or {}),
        stack_name=stack_name,
    )


def environment_account(session: Session, deployment: Deployment) -> EnvironmentAccount | None:
    """The environment account a deployment's resource lives in: its environment's accepted
    connection's (environments, their service instances and components alike); None for the
    management account (pipelines, and environments without a connection). Raises
    ConnectionUnavailable when the environment's connection was deleted: nothing deploys, or
    is deleted, in an account Baryon may no longer act in."""
    return account_of(session, deployment_environment(session, deployment))


def deployment_environment(session: Session, deployment: Deployment) -> Environment | None:
    """The environment a deployment's resource lives in; None for a pipeline."""
    if not deployment.environment_name:
        return None
    return session.scalar(_ENVIRONMENT_NAMED, {"name": deployment.environment_name})


# Built once (building a select and its cache key costs more than running it: issue 17).
_ENVIRONMENT_NAMED = select(Environment).where(Environment.name == bindparam("name"))


def account_of(session: Session, environment: Environment | None) -> EnvironmentAccount | None:
    """environment_account, for a caller holding the environment already."""
    if environment is None:
        return None
    return environment_account_connections.environment_account(session, environment)


def provisioned_section(rendered: RenderOutput, kind: ResourceKind) -> RenderedSection:
    """The render's output as a provisioner takes it: every file, and which one holds the
    inputs (Terraform: the tfvars and the variables file declaring them; CodeBuild: the
    inputs file its commands read)."""
    engine = ProvisioningEngine(rendered.engine)
    inputs_file = None
    commands = None
    if engine == ProvisioningEngine.TERRAFORM:
        inputs_file = InputsFile(TFVARS_FILE, variables_file(kind.value))
    elif engine == ProvisioningEngine.CODEBUILD and rendered.codebuild is not None:
        plan = rendered.codebuild
        inputs_file = InputsFile(plan.inputs_file)
        commands = BuildCommands(
            provision=tuple(plan.provision),
            deprovision=tuple(plan.deprovision),
            image=plan.image,
            variables={name: _variable(value) for name, value in plan.env_variables.items()},
            secrets=dict(plan.env_secrets_manager),
            runtimes=dict(plan.runtimes),
            project_properties=dict(plan.project_properties),
        )
    return RenderedSection(engine, rendered.files, inputs_file, commands)


def _variable(value: object) -> str:
    """A manifest's env variable as a program sees it: YAML's true stays "true" (CodeBuild
    takes only strings; Python's str would say "True")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def destroy(
    resource: ResourceIdentity,
    settings: Settings,
    io: DeploymentIO,
    parts: ProvisionerParts | None = None,
) -> Outcome:
    """Every provisioner Baryon deploys with removes what it holds for the resource (each
    succeeds when it holds nothing). A delete needs no bundle, so a resource whose template
    version is gone can still be deleted."""
    outcome = Outcome(OutcomeStatus.SUCCEEDED)
    for provisioner in deploying_provisioners(settings, parts, resource.account_role_arn):
        outcome = provisioner.destroy(resource, io)
        if outcome.status != OutcomeStatus.SUCCEEDED:
            return outcome
    return outcome


def continue_rollback(
    resource: ResourceIdentity,
    resources_to_skip: Sequence[str],
    settings: Settings,
    io: DeploymentIO,
    parts: ProvisionerParts | None = None,
) -> Outcome:
    """Asks the provisioners that hold something for the resource, in turn, until one brings
    it back; the answer of the first that holds it is the one reported (asking every engine
    would end on another engine's "nothing to roll back")."""
    failures: list[Outcome] = []
    for provisioner in deploying_provisioners(settings, parts, resource.account_role_arn):
        if provisioner.status(resource) is None:
            continue
        outcome = provisioner.continue_rollback(resource, resources_to_skip, io)
        if outcome.status == OutcomeStatus.SUCCEEDED:
            return outcome
        failures.append(outcome)
    if failures:
        return failures[0]
    return Outcome(OutcomeStatus.FAILED, "Nothing is provisioned for this resource to roll back.")
