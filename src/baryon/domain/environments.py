"""Environments: created from a published environment template version and a spec."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.bundles.inputs import AppliedInputs
from baryon.domain import deployments, environment_account_connections, specs, versions
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation, Target
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.domain.plan import DeletePlan, TemplatePlan
from baryon.domain.repositories import require_registered
from baryon.domain.templates import TemplateKind, find_template
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    DeploymentUpdateType,
    Provisioning,
)
from baryon.store.tables import (
    Component,
    Environment,
    ServiceInstance,
    Tag,
    Template,
    TemplateVersion,
)


@dataclass(frozen=True)
class EnvironmentSettings:
    """The non-spec fields CreateEnvironment and UpdateEnvironment take."""

    description: str | None = None
    proton_service_role_arn: str | None = None
    codebuild_role_arn: str | None = None
    component_role_arn: str | None = None
    environment_account_connection_id: str | None = None
    provisioning_repository: dict[str, str] | None = None


def check_provisioning_identity(
    provisioning: str | None, settings: EnvironmentSettings, *, creating: bool
) -> None:
    """Proton's rule: AWS-managed provisioning deploys as a protonServiceRoleArn, or into an
    environment account through an environment account connection (one of the two, never
    both); self-managed (CUSTOMER_MANAGED) environments deploy nothing themselves and take no
    role."""
    connection = settings.environment_account_connection_id
    if connection and (
        settings.provisioning_repository or provisioning == Provisioning.CUSTOMER_MANAGED
    ):
        raise InvalidInput.at(
            ("environmentAccountConnectionId",),
            "a self-managed environment (a provisioningRepository, or a CUSTOMER_MANAGED "
            "template) deploys nothing itself, so into no environment account; leave it out.",
        )
    if connection and settings.proton_service_role_arn:
        raise InvalidInput.at(
            ("protonServiceRoleArn",),
            "an environment deploys either as a protonServiceRoleArn or through an "
            "environment account connection (environmentAccountConnectionId), not both; give "
            "one of them.",
        )
    if settings.provisioning_repository:
        # Self-managed provisioning: pull requests to the repository (domain/pull_requests.py);
        # Proton: "specify this parameter and omit ... protonServiceRoleArn".
        if settings.proton_service_role_arn:
            raise InvalidInput.at(
                ("protonServiceRoleArn",),
                "an environment with a provisioningRepository is provisioned by that "
                "repository's pipeline (self-managed), not as a role; leave it out.",
            )
        return
    if provisioning == Provisioning.CUSTOMER_MANAGED:
        if settings.proton_service_role_arn:
            raise InvalidInput.at(
                ("protonServiceRoleArn",),
                "this environment uses self-managed provisioning (CUSTOMER_MANAGED), which "
                "deploys nothing as a role; leave it out.",
            )
        return
    if creating and not settings.proton_service_role_arn and not connection:
        raise InvalidInput.at(
            ("protonServiceRoleArn",),
            "an environment with AWS-managed provisioning needs the role it deploys as, or an "
            "environmentAccountConnectionId to deploy into an environment account as that "
            "connection's role.",
        )


def find_environment(session: Session, name: str, *, lock: bool = False) -> Environment:
    environment = session.scalars(_environment_named(lock), {"name": name}).first()
    if environment is None:
        raise NotFound(f"The environment '{name}' was not found.")
    return environment


# Built once (building a select and its cache key costs more than running it: issue 17).
@functools.cache
def _environment_named(lock: bool) -> Select[tuple[Environment]]:
    stmt = select(Environment).where(Environment.name == bindparam("name"))
    return stmt.with_for_update() if lock else stmt


def label(environment: Environment) -> str:
    return f"Environment '{environment.name}'"


def target(arns: Arns, environment: Environment) -> Target:
    return Target(
        DeploymentTargetResourceType.ENVIRONMENT,
        arns.environment(environment.name),
        environment.name,
    )


def state(environment: Environment, version: TemplateVersion, spec: str | None) -> dict[str, Any]:
    return {
        "environment": {
            "spec": spec,
            "templateName": environment.template_name,
            "templateMajorVersion": str(version.major),
            "templateMinorVersion": str(version.minor),
        }
    }


def deployed_state(environment: Environment) -> dict[str, Any]:
    return {
        "environment": {
            "spec": environment.spec,
            "templateName": environment.template_name,
            "templateMajorVersion": str(environment.template_major),
            "templateMinorVersion": str(environment.template_minor),
        }
    }


def _inputs(
    version: TemplateVersion,
    document: specs.EnvironmentSpecDocument,
    current: dict[str, Any] | None = None,
) -> AppliedInputs:
    schema = versions.version_schema(version)
    return specs.resolve_inputs(
        schema, schema.environment_input_type, document.values, where="spec", current=current
    )


def create_environment(
    session: Session,
    arns: Arns,
    *,
    name: str,
    template_name: str,
    major: str,
    minor: str | None,
    spec: str,
    settings: EnvironmentSettings,
    now: datetime,
) -> tuple[Environment, bool]:
    """Returns (environment, created); an identical retry returns the existing one."""
    template = find_template(session, TemplateKind.ENVIRONMENT, template_name)
    check_provisioning_identity(template.provisioning, settings, creating=True)
    _check_repository(session, settings)
    version = versions.published_version(
        session, template, int(major), None if minor is None else int(minor)
    )
    environment_account_id = _connected_account(session, arns, name, settings)
    existing = session.scalars(select(Environment).where(Environment.name == name)).first()
    if existing is not None:
        if _same_request(existing, template, major, minor, spec, settings):
            return existing, False
        raise Conflict(
            f"The environment '{name}' already exists (with another template, spec or settings, "
            "or changed since it was created).",
            field=("name",),
        )
    applied = _inputs(version, specs.read_environment_spec(spec))
    inputs = applied.values
    environment = Environment(
        name=name,
        template_id=template.id,
        template_name=template.name,
        template_major=version.major,
        template_minor=version.minor,
        spec=spec,
        inputs=inputs,
        provisioning=template.provisioning,
        **deployments.initial_columns(now),
        **_settings_columns(settings),
        environment_account_id=environment_account_id,
    )
    session.add(environment)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The environment '{name}' already exists.", field=("name",)) from exc
    deployments.start(
        session,
        environment,
        target(arns, environment),
        operation=DeploymentOperation.DEPLOY,
        initial_state=None,
        target_state=state(environment, version, spec),
        plan=TemplatePlan(version.id, spec, inputs, tuple(specs.ignored_input_messages(applied))),
        now=now,
    )
    return environment, True


def _same_request(
    existing: Environment,
    template: Template,
    major: str,
    minor: str | None,
    spec: str,
    settings: EnvironmentSettings,
) -> bool:
    """Whether a CreateEnvironment is a retry of the one that made ``existing``."""
    return (
        existing.template_id == template.id
        and existing.spec == spec
        and existing.template_major == int(major)
        and (minor is None or existing.template_minor == int(minor))
        and all(
            getattr(existing, column) == value
            for column, value in _settings_columns(settings).items()
        )
    )


def _connected_account(
    session: Session, arns: Arns, name: str, settings: EnvironmentSettings
) -> str | None:
    """The environment account an environment deploys into through the connection it names
    (None: none named); the connection must be CONNECTED and for this environment."""
    if not settings.environment_account_connection_id:
        return None
    connection = environment_account_connections.usable_connection(
        session, settings.environment_account_connection_id, name, arns.account_id
    )
    return connection.environment_account_id


def _check_connection_change(
    session: Session, arns: Arns, environment: Environment, settings: EnvironmentSettings
) -> None:
    """Proton's rules for UpdateEnvironment: only an environment that already deploys through
    a connection names one, and only a connection from the same environment account."""
    wanted = settings.environment_account_connection_id
    field = ("environmentAccountConnectionId",)
    if environment.environment_account_connection_id and settings.proton_service_role_arn:
        raise InvalidInput.at(
            ("protonServiceRoleArn",),
            f"environment '{environment.name}' deploys through an environment account "
            "connection; leave protonServiceRoleArn out (name another connection of the same "
            "account with environmentAccountConnectionId instead).",
        )
    if not wanted:
        return
    if not environment.environment_account_connection_id:
        raise InvalidInput.at(
            field,
            f"environment '{environment.name}' does not deploy through an environment account "
            "connection, so it cannot be given one; create a new environment with the "
            "connection instead.",
        )
    account = _connected_account(session, arns, environment.name, settings)
    if account != environment.environment_account_id:
        raise InvalidInput.at(
            field,
            f"the connection '{wanted}' is from account {account}; environment "
            f"'{environment.name}' deploys into account {environment.environment_account_id}, "
            "and may only move to another connection of that account.",
        )


def _check_repository(session: Session, settings: EnvironmentSettings) -> None:
    repository = settings.provisioning_repository
    if repository:
        require_registered(
            session, repository["provider"], repository["name"], "provisioningRepository"
        )


def _settings_columns(settings: EnvironmentSettings) -> dict[str, Any]:
    return {
        "description": settings.description,
        "proton_service_role_arn": settings.proton_service_role_arn,
        "codebuild_role_arn": settings.codebuild_role_arn,
        "component_role_arn": settings.component_role_arn,
        # "" names no connection: it never removes one (Proton has no way back to a role).
        "environment_account_connection_id": settings.environment_account_connection_id or None,
        "provisioning_repository": settings.provisioning_repository,
    }


def update_environment(
    session: Session,
    arns: Arns,
    *,
    name: str,
    deployment_type: DeploymentUpdateType,
    spec: str | None,
    major: str | None,
    minor: str | None,
    settings: EnvironmentSettings,
    now: datetime,
) -> Environment:
    environment = find_environment(session, name, lock=True)
    deployments.ensure_idle(environment, label(environment))
    check_provisioning_identity(environment.provisioning, settings, creating=False)
    _check_repository(session, settings)
    _check_connection_change(session, arns, environment, settings)
    for column, value in _settings_columns(settings).items():
        if value is not None:
            setattr(environment, column, value)
    environment.last_modified_at = now
    if deployment_type != DeploymentUpdateType.NONE:
        _check_connection_usable(session, environment)
    if deployment_type == DeploymentUpdateType.NONE:
        if spec is not None or major is not None or minor is not None:
            raise InvalidInput(
                "deploymentType NONE updates metadata only; a spec or template version needs "
                "CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION."
            )
        return environment
    template = session.get(Template, environment.template_id)
    assert template is not None
    version = versions.target_version(
        session,
        template,
        deployed=(environment.template_major, environment.template_minor),
        deployment_type=deployment_type,
        major=major,
        minor=minor,
    )
    if version.major != environment.template_major:
        _check_instances_compatible(session, environment, version)
    document = specs.read_environment_spec(spec if spec is not None else environment.spec or "")
    applied = _inputs(version, document, current=environment.inputs)
    inputs = applied.values
    new_spec = document.source.with_current_values(specs.environment_section, inputs)
    deployments.start(
        session,
        environment,
        target(arns, environment),
        operation=DeploymentOperation.DEPLOY,
        initial_state=deployed_state(environment),
        target_state=state(environment, version, new_spec),
        plan=TemplatePlan(
            version.id, new_spec, inputs, tuple(specs.ignored_input_messages(applied))
        ),
        now=now,
    )
    return environment


def _check_connection_usable(session: Session, environment: Environment) -> None:
    """A deployment into an environment account needs its connection still CONNECTED."""
    try:
        environment_account_connections.environment_account(session, environment)
    except environment_account_connections.ConnectionUnavailable as exc:
        raise InvalidInput.at(("environmentAccountConnectionId",), str(exc)) from exc


def _check_instances_compatible(
    session: Session, environment: Environment, version: TemplateVersion
) -> None:
    """A new major version must still be one its service instances' templates support."""
    wanted = {"templateName": environment.template_name, "majorVersion": str(version.major)}
    rows = session.execute(
        select(ServiceInstance, TemplateVersion, Template.name)
        .join(
            TemplateVersion,
            and_(
                TemplateVersion.template_id == ServiceInstance.template_id,
                TemplateVersion.major == ServiceInstance.template_major,
                TemplateVersion.minor == ServiceInstance.template_minor,
            ),
        )
        .join(Template, Template.id == ServiceInstance.template_id)
        .where(ServiceInstance.environment_id == environment.id)
        .order_by(ServiceInstance.service_name, ServiceInstance.name)
    ).all()
    blocked = [
        f"'{instance.service_name}/{instance.name}' ({template_name} "
        f"{service_version.major}.{service_version.minor})"
        for instance, service_version, template_name in rows
        if wanted not in (service_version.compatible_environment_templates or [])
    ]
    if blocked:
        raise InvalidInput.at(
            ("templateMajorVersion",),
            f"service instance(s) {', '.join(blocked)} in environment '{environment.name}' "
            "run service template versions that do not support "
            f"{environment.template_name}:{version.major}; move them to a compatible service "
            "template version first.",
        )


def delete_environment(session: Session, arns: Arns, name: str, now: datetime) -> Environment:
    environment = find_environment(session, name, lock=True)
    if environment.deployment_status == DeploymentStatus.DELETE_IN_PROGRESS:
        return environment  # an idempotent retry of a delete in progress
    deployments.ensure_idle(environment, label(environment))
    users = session.scalar(
        select(func.count()).where(ServiceInstance.environment_id == environment.id)
    )
    if users:
        raise Conflict(
            f"The environment '{name}' still has {users} service instance(s); delete them "
            "(or their services) first."
        )
    components = session.scalar(
        select(func.count()).where(Component.environment_id == environment.id)
    )
    if components:
        raise Conflict(
            f"The environment '{name}' still has {components} component(s); delete them first."
        )
    deployments.start(
        session,
        environment,
        target(arns, environment),
        operation=DeploymentOperation.DELETE,
        initial_state=deployed_state(environment),
        target_state=None,
        plan=DeletePlan(),
        now=now,
    )
    return environment


def remove_environment(session: Session, arns: Arns, environment: Environment) -> None:
    """Forgets a deleted environment (the worker calls this once its stack is gone)."""
    arn = arns.environment(environment.name)
    session.execute(delete(Tag).where(Tag.resource_arn == arn))
    deployments.forget_resource(session, arn)
    session.delete(environment)
