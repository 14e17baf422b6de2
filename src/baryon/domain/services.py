"""Services, their instances and their pipeline.

A service operation (create, update, delete) fans out into instance deployments; the pipeline
deployment waits until they are done because its render reads every instance's outputs. The
service's ``operation`` column tracks that fan-out, and ``after_deployment`` (run by the
worker in the transaction that records each outcome) advances it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.bundles.schema import TemplateSchema
from baryon.domain import approval_gate, deployments, service_sync, specs, versions
from baryon.domain.arns import Arns
from baryon.domain.deployments import DeploymentOperation, Target
from baryon.domain.environments import find_environment
from baryon.domain.errors import Conflict, FieldPath, InvalidInput, NotFound
from baryon.domain.plan import DeletePlan, TemplatePlan
from baryon.domain.specs import InstanceSpec, ServiceSpecDocument
from baryon.domain.tags import inherit_tags, set_tags
from baryon.domain.templates import TemplateKind, find_template
from baryon.service_models import proton
from baryon.service_models.proton import (
    DeploymentStatus,
    DeploymentTargetResourceType,
    DeploymentUpdateType,
    Provisioning,
    ServiceStatus,
)
from baryon.store.spec_texts import first_with_text, key_of
from baryon.store.tables import (
    Component,
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Tag,
    Template,
    TemplateVersion,
)

BUSY = frozenset(
    {
        ServiceStatus.CREATE_IN_PROGRESS,
        ServiceStatus.UPDATE_IN_PROGRESS,
        ServiceStatus.DELETE_IN_PROGRESS,
    }
)
# Keyed by str: a status read back from the database is a plain string.
_FAILED_STATUS: dict[str, ServiceStatus] = {
    ServiceStatus.CREATE_IN_PROGRESS: ServiceStatus.CREATE_FAILED,
    ServiceStatus.UPDATE_IN_PROGRESS: ServiceStatus.UPDATE_FAILED,
    ServiceStatus.DELETE_IN_PROGRESS: ServiceStatus.DELETE_FAILED,
}
_UNSUCCESSFUL = frozenset(
    {DeploymentStatus.FAILED, DeploymentStatus.DELETE_FAILED, DeploymentStatus.CANCELLED}
)


# --- lookups and descriptions ---------------------------------------------------------------


def find_service(session: Session, name: str, *, lock: bool = False) -> Service:
    service = session.scalars(_service_named(lock), {"name": name}).first()
    if service is None:
        raise NotFound(f"The service '{name}' was not found.")
    return service


# The lookups every change makes, built once: building a select and its cache key costs
# 75-120 us each time, more than running it once it is cached (issue 17's fleet profile).
@functools.cache
def _service_named(lock: bool) -> Select[tuple[Service]]:
    stmt = select(Service).where(Service.name == bindparam("name"))
    return stmt.with_for_update() if lock else stmt


@functools.cache
def _instance_named(lock: bool) -> Select[tuple[ServiceInstance]]:
    stmt = select(ServiceInstance).where(
        ServiceInstance.service_name == bindparam("service_name"),
        ServiceInstance.name == bindparam("name"),
    )
    return stmt.with_for_update() if lock else stmt


def find_instance(
    session: Session, service_name: str, name: str, *, lock: bool = False, with_spec: bool = False
) -> ServiceInstance:
    """``with_spec``: the caller reads the instance's spec, which then comes in the same
    statement (not with ``lock``)."""
    params = {"service_name": service_name, "name": name}
    if with_spec and not lock:
        instance = first_with_text(
            session, _instance_named(False), ServiceInstance.spec_key, params
        )
    else:
        instance = session.scalars(_instance_named(lock), params).first()
    if instance is None:
        raise NotFound(f"The service instance '{name}' of service '{service_name}' was not found.")
    return instance


def find_pipeline(session: Session, service: Service, *, lock: bool = False) -> ServicePipeline:
    stmt = select(ServicePipeline).where(ServicePipeline.service_id == service.id)
    pipeline = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if pipeline is None:
        raise NotFound(f"The service '{service.name}' has no pipeline.")
    return pipeline


def pipeline_of(session: Session, service: Service) -> ServicePipeline | None:
    return session.scalars(
        select(ServicePipeline).where(ServicePipeline.service_id == service.id)
    ).first()


def instances_of(session: Session, service: Service) -> list[ServiceInstance]:
    return list(
        session.scalars(
            select(ServiceInstance)
            .where(ServiceInstance.service_id == service.id)
            .order_by(ServiceInstance.name)
        )
    )


def instance_target(arns: Arns, instance: ServiceInstance) -> Target:
    return Target(
        DeploymentTargetResourceType.SERVICE_INSTANCE,
        arns.service_instance(instance.service_name, instance.name),
        instance.environment_name,
        service_name=instance.service_name,
        service_instance_name=instance.name,
    )


def pipeline_target(session: Session, arns: Arns, service: Service) -> Target:
    # A pipeline spans environments; Proton still names one: the first instance's.
    first = session.scalar(
        select(ServiceInstance.environment_name)
        .where(ServiceInstance.service_id == service.id)
        .order_by(ServiceInstance.name)
        .limit(1)
    )
    return Target(
        DeploymentTargetResourceType.SERVICE_PIPELINE,
        arns.service_pipeline(service.name),
        first or "",
        service_name=service.name,
    )


def instance_state(
    session: Session, instance: ServiceInstance, major: int, minor: int, spec: str | None
) -> dict[str, Any]:
    environment = session.get(Environment, instance.environment_id)
    pipeline = session.scalars(_PIPELINE_OF, {"service_id": instance.service_id}).first()
    return {
        "serviceInstance": {
            "spec": spec or "",
            "templateName": instance.template_name,
            "templateMajorVersion": str(major),
            "templateMinorVersion": str(minor),
            "lastSuccessfulEnvironmentDeploymentId": environment.last_succeeded_deployment_id
            if environment
            else None,
            "lastSuccessfulServicePipelineDeploymentId": pipeline.last_succeeded_deployment_id
            if pipeline
            else None,
            "lastSuccessfulComponentDeploymentIds": [],
        }
    }


_PIPELINE_OF = select(ServicePipeline).where(ServicePipeline.service_id == bindparam("service_id"))


def _moved_state(
    initial: dict[str, Any], major: int, minor: int, spec: str | None
) -> dict[str, Any]:
    """instance_state at a new version and spec, from the state read for the same instance in
    the same transaction: the environment's and pipeline's last deployments are the ones just
    read, so they are not read again."""
    return {
        "serviceInstance": {
            **initial["serviceInstance"],
            "spec": spec or "",
            "templateMajorVersion": str(major),
            "templateMinorVersion": str(minor),
        }
    }


def pipeline_state(template_name: str, major: int, minor: int, spec: str | None) -> dict[str, Any]:
    return {
        "servicePipeline": {
            "spec": spec,
            "templateName": template_name,
            "templateMajorVersion": str(major),
            "templateMinorVersion": str(minor),
        }
    }


# --- inputs -----------------------------------------------------------------------------------


def has_pipeline(template: Template, schema: TemplateSchema) -> bool:
    return (
        template.provisioning != Provisioning.CUSTOMER_MANAGED
        and schema.pipeline_input_type is not None
    )


def _instance_plan(
    session: Session,
    version: TemplateVersion,
    document: ServiceSpecDocument,
    entry: InstanceSpec,
    *,
    current: dict[str, Any] | None = None,
) -> tuple[Environment, TemplatePlan]:
    """Checks an instance entry of ``document`` against ``version`` and returns
    (environment, plan)."""
    where = f"instances[{entry.index}]"
    try:
        environment = find_environment(session, entry.environment)
    except NotFound as exc:
        raise InvalidInput.at(
            ("instances", entry.index, "environment"),
            f"the environment '{entry.environment}' does not exist.",
        ) from exc
    check_compatible(version, environment, where, field=("instances", entry.index, "environment"))
    if environment.last_succeeded_deployment_id is None:
        raise InvalidInput.at(
            ("instances", entry.index, "environment"),
            f"the environment '{environment.name}' has not been deployed successfully yet "
            f"(status {environment.deployment_status}).",
        )
    schema = versions.version_schema(version)
    applied = specs.resolve_inputs(
        schema, schema.service_input_type, entry.spec, where=f"{where}.spec", current=current
    )
    inputs = applied.values
    spec_text = document.source.with_current_values(specs.instance_section(entry.name), inputs)
    warnings = tuple(specs.ignored_input_messages(applied))
    return environment, TemplatePlan(version.id, spec_text, inputs, warnings)


def check_compatible(
    version: TemplateVersion,
    environment: Environment,
    where: str,
    *,
    field: FieldPath | None = None,
) -> None:
    """Refuses an environment ``version`` cannot run in; the message says ``where``, the
    error's ``field`` (when given) names the environment member it belongs to."""
    wanted = {
        "templateName": environment.template_name,
        "majorVersion": str(environment.template_major),
    }
    if wanted not in (version.compatible_environment_templates or []):
        allowed = ", ".join(
            f"{c['templateName']}:{c['majorVersion']}"
            for c in version.compatible_environment_templates or []
        )
        reason = (
            f"environment '{environment.name}' runs "
            f"{environment.template_name}:{environment.template_major}, which version "
            f"{version.major}.{version.minor} of this service template does not support "
            f"(compatible: {allowed or 'none'})."
        )
        raise InvalidInput(f"{where}.environment: {reason}", field=field, reason=reason)


def _pipeline_plan(
    version: TemplateVersion,
    document: ServiceSpecDocument,
    current: dict[str, Any] | None = None,
) -> TemplatePlan:
    schema = versions.version_schema(version)
    applied = specs.resolve_inputs(
        schema, schema.pipeline_input_type, document.pipeline, where="pipeline", current=current
    )
    inputs = applied.values
    spec_text = document.source.with_current_values(specs.pipeline_section, inputs)
    return TemplatePlan(version.id, spec_text, inputs, tuple(specs.ignored_input_messages(applied)))


def _new_instance(
    session: Session,
    arns: Arns,
    service: Service,
    name: str,
    environment: Environment,
    version: TemplateVersion,
    spec_text: str | None,
    now: datetime,
) -> ServiceInstance:
    # The message is made first: a failed flush expires the session's objects.
    taken = f"The service instance '{name}' of service '{service.name}' already exists."
    exists = session.scalar(
        select(ServiceInstance.id).where(
            ServiceInstance.service_id == service.id, ServiceInstance.name == name
        )
    )
    if exists is not None:
        raise Conflict(taken)
    instance = ServiceInstance(
        service_id=service.id,
        environment_id=environment.id,
        template_id=service.template_id,
        name=name,
        service_name=service.name,
        environment_name=environment.name,
        template_name=service.template_name,
        template_major=version.major,
        template_minor=version.minor,
        spec=spec_text,
        **deployments.initial_columns(now),
    )
    session.add(instance)
    try:
        session.flush()
    except IntegrityError as exc:  # created concurrently
        raise Conflict(taken) from exc
    inherit_tags(session, arns.service(service.name), arns.service_instance(service.name, name))
    return instance


def _start_instance(
    session: Session,
    arns: Arns,
    instance: ServiceInstance,
    version: TemplateVersion,
    plan: TemplatePlan,
    initial: dict[str, Any] | None,
    now: datetime,
) -> Deployment:
    return deployments.start(
        session,
        instance,
        instance_target(arns, instance),
        operation=DeploymentOperation.DEPLOY,
        initial_state=initial,
        target_state=(
            instance_state(session, instance, version.major, version.minor, plan.spec)
            if initial is None
            else _moved_state(initial, version.major, version.minor, plan.spec)
        ),
        plan=plan,
        now=now,
    )


# --- services ---------------------------------------------------------------------------------


def create_service(
    session: Session,
    arns: Arns,
    *,
    name: str,
    template_name: str,
    major: str,
    minor: str | None,
    spec: str,
    description: str | None,
    repository: dict[str, str | None],
    now: datetime,
    tags: Sequence[proton.Tag] | None = None,
) -> tuple[Service, bool]:
    """Returns (service, created); an identical retry returns the existing one. ``tags`` go on
    the service before its instances and pipeline exist, so that they inherit them."""
    template = find_template(session, TemplateKind.SERVICE, template_name)
    version = versions.published_version(
        session, template, int(major), None if minor is None else int(minor)
    )
    existing = session.scalars(select(Service).where(Service.name == name)).first()
    if existing is not None:
        retry = (
            existing.template_id == template.id
            and existing.spec == spec
            and existing.template_major == int(major)
            and existing.description == description
            and existing.repository_connection_arn == repository.get("repositoryConnectionArn")
            and existing.repository_id == repository.get("repositoryId")
            and existing.branch_name == repository.get("branchName")
        )
        if retry:
            return existing, False
        raise Conflict(
            f"The service '{name}' already exists (with another template, spec or settings, or "
            "changed since it was created).",
            field=("name",),
        )
    schema = versions.version_schema(version)
    document = specs.parse_service_spec(spec)
    with_pipeline = has_pipeline(template, schema)
    _check_pipeline_request(with_pipeline, document, repository)
    plans = [
        (entry, *_instance_plan(session, version, document, entry)) for entry in document.instances
    ]
    pipeline_plan = _pipeline_plan(version, document) if with_pipeline else None
    service = Service(
        name=name,
        template_id=template.id,
        template_name=template.name,
        template_major=version.major,
        description=description,
        spec=spec,
        status=ServiceStatus.CREATE_IN_PROGRESS,
        created_at=now,
        last_modified_at=now,
        repository_connection_arn=repository.get("repositoryConnectionArn"),
        repository_id=repository.get("repositoryId"),
        branch_name=repository.get("branchName"),
    )
    session.add(service)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The service '{name}' already exists.", field=("name",)) from exc
    if tags:
        set_tags(session, arns.service(name), tags)
    started = []
    for entry, environment, plan in plans:
        instance = _new_instance(
            session, arns, service, entry.name, environment, version, spec, now
        )
        instance.inputs = dict(plan.inputs)
        started.append(_start_instance(session, arns, instance, version, plan, None, now).id)
    waiting = None
    if pipeline_plan is not None:
        pipeline = ServicePipeline(
            service_id=service.id,
            template_major=version.major,
            template_minor=version.minor,
            spec=spec,
            inputs=pipeline_plan.inputs,
            **deployments.initial_columns(now),
        )
        session.add(pipeline)
        session.flush()
        inherit_tags(session, arns.service(name), arns.service_pipeline(name))
        deployment = deployments.start(
            session,
            pipeline,
            pipeline_target(session, arns, service),
            operation=DeploymentOperation.DEPLOY,
            initial_state=None,
            target_state=pipeline_state(service.template_name, version.major, version.minor, spec),
            plan=pipeline_plan,
            now=now,
            run_now=not started,
        )
        if started:
            waiting = deployment.id
        else:
            started.append(deployment.id)
    _begin_operation(service, started, waiting)
    return service, True


def _check_pipeline_request(
    with_pipeline: bool, document: ServiceSpecDocument, repository: dict[str, str | None]
) -> None:
    if not with_pipeline:
        _refuse_pipeline_key(document)
        return
    missing = [
        k
        for k in ("repositoryConnectionArn", "repositoryId", "branchName")
        if not repository.get(k)
    ]
    if missing:
        raise InvalidInput(
            "This service template provisions a pipeline, which builds from a source "
            f"repository: {', '.join(missing)} must be given."
        )


def _refuse_pipeline_key(document: ServiceSpecDocument) -> None:
    if document.has_pipeline_key:
        raise InvalidInput.at(
            ("spec", "pipeline"),
            "this service has no pipeline (its template provisions none, or leaves it to the "
            "customer); remove 'pipeline:'.",
        )


def _begin_operation(service: Service, started: list[str], waiting: str | None) -> None:
    if not started and waiting is None:
        service.status = ServiceStatus.ACTIVE
        service.operation = None
        return
    service.operation = {"deployments": started, "pipeline": waiting}


def update_service(
    session: Session,
    arns: Arns,
    *,
    name: str,
    description: str | None,
    spec: str | None,
    now: datetime,
) -> Service:
    service = find_service(session, name, lock=True)
    if service.status in BUSY:
        raise Conflict(f"The service '{name}' is {service.status}; wait for it.")
    if description is not None:
        service.description = description
    service.last_modified_at = now
    if spec is None:
        return service
    document = specs.parse_service_spec(spec)
    if not document.instances:
        raise InvalidInput.at(("spec", "instances"), "a service keeps at least one instance.")
    current = {instance.name: instance for instance in instances_of(session, service)}
    for instance in current.values():
        deployments.ensure_idle(instance, f"Service instance '{instance.name}'")
    pipeline = pipeline_of(session, service)
    if pipeline is None:
        _refuse_pipeline_key(document)
    else:
        deployments.ensure_idle(pipeline, f"The pipeline of service '{name}'")
    template = session.get(Template, service.template_id)
    assert template is not None
    wanted = {entry.name: entry for entry in document.instances}
    _check_unchanged(session, current, wanted, pipeline, document)
    _refuse_removing_with_components(session, service, [n for n in current if n not in wanted])
    version = versions.published_version(session, template, current_major(session, service), None)
    started: list[str] = []
    for entry in document.instances:
        if entry.name in current:
            continue
        environment, plan = _instance_plan(session, version, document, entry)
        instance = _new_instance(
            session, arns, service, entry.name, environment, version, spec, now
        )
        instance.inputs = dict(plan.inputs)
        started.append(_start_instance(session, arns, instance, version, plan, None, now).id)
    for instance_name, instance in current.items():
        if instance_name not in wanted:
            started.append(_start_delete(session, arns, instance, now).id)
    service.spec = spec
    if not started:
        return service
    waiting = None
    if pipeline is not None:
        # The pipeline builds for every instance: it runs again once they are all done.
        pipeline_spec = spec if document.has_pipeline_key else None
        waiting = _redeploy_pipeline(session, arns, service, pipeline, pipeline_spec, now).id
    service.status = ServiceStatus.UPDATE_IN_PROGRESS
    service.status_message = None
    _begin_operation(service, started, waiting)
    return service


def current_major(session: Session, service: Service) -> int:
    """The major version new instances get: the highest one the service's instances run."""
    highest = session.scalar(
        select(func.max(ServiceInstance.template_major)).where(
            ServiceInstance.service_id == service.id
        )
    )
    return int(highest) if highest is not None else service.template_major


def _redeploy_pipeline(
    session: Session,
    arns: Arns,
    service: Service,
    pipeline: ServicePipeline,
    spec: str | None,
    now: datetime,
) -> Deployment:
    """A deployment of the pipeline's deployed version and inputs that waits for the service's
    instance deployments (``after_deployment`` enqueues it once they are done)."""
    template = session.get(Template, service.template_id)
    assert template is not None
    version = versions.published_or_current(
        session, template, pipeline.template_major, pipeline.template_minor
    )
    spec_text = spec or pipeline.spec or service.spec
    return deployments.start(
        session,
        pipeline,
        pipeline_target(session, arns, service),
        operation=DeploymentOperation.DEPLOY,
        initial_state=_pipeline_deployed_state(service, pipeline),
        target_state=pipeline_state(service.template_name, version.major, version.minor, spec_text),
        plan=TemplatePlan(version.id, spec_text, pipeline.inputs or {}),
        now=now,
        run_now=False,
    )


def _check_unchanged(
    session: Session,
    current: dict[str, ServiceInstance],
    wanted: dict[str, InstanceSpec],
    pipeline: ServicePipeline | None,
    document: ServiceSpecDocument,
) -> None:
    """UpdateService adds and removes instances; editing one is UpdateServiceInstance's job.

    Entries are compared by the inputs they resolve to, so an entry that spells out a default
    or says ${Proton::CURRENT_VAL} is no edit."""
    for name, entry in wanted.items():
        instance = current.get(name)
        if instance is None:
            continue
        if entry.environment != instance.environment_name:
            raise InvalidInput.at(
                ("instances", entry.index, "environment"),
                f"instance '{name}' runs in '{instance.environment_name}' and cannot move; add "
                "a new instance instead.",
            )
        if not _same_inputs(session, instance, entry.spec):
            raise InvalidInput.at(
                ("instances", entry.index, "spec"),
                "UpdateService adds and removes instances and cannot edit instance "
                f"'{name}'; change it with UpdateServiceInstance.",
            )
    if (
        pipeline is not None
        and document.has_pipeline_key
        and not _same_inputs(session, pipeline, document.pipeline)
    ):
        raise InvalidInput.at(
            ("spec", "pipeline"),
            "UpdateService cannot change the pipeline; use UpdateServicePipeline.",
        )


def _same_inputs(
    session: Session, resource: ServiceInstance | ServicePipeline, values: dict[str, Any] | None
) -> bool:
    """Whether ``values`` resolve to the inputs ``resource`` runs, under its deployed version."""
    template_id: int | None
    if isinstance(resource, ServiceInstance):
        template_id, kind = resource.template_id, "service"
    else:
        template_id = session.scalar(
            select(Service.template_id).where(Service.id == resource.service_id)
        )
        kind = "pipeline"
    deployed = resource.inputs or {}
    version = session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id,
            TemplateVersion.major == resource.template_major,
            TemplateVersion.minor == resource.template_minor,
        )
    ).first()
    if version is None:  # the deployed version was deleted: compare what was written
        return (values or {}) == deployed
    schema = versions.version_schema(version)
    type_name = schema.service_input_type if kind == "service" else schema.pipeline_input_type
    try:
        resolved = specs.apply_inputs(schema, type_name, values, where=kind, current=deployed)
    except InvalidInput:
        return False
    return resolved == deployed


def _pipeline_deployed_state(service: Service, pipeline: ServicePipeline) -> dict[str, Any]:
    return pipeline_state(
        service.template_name, pipeline.template_major, pipeline.template_minor, pipeline.spec
    )


def _start_delete(
    session: Session, arns: Arns, instance: ServiceInstance, now: datetime
) -> Deployment:
    return deployments.start(
        session,
        instance,
        instance_target(arns, instance),
        operation=DeploymentOperation.DELETE,
        initial_state=instance_state(
            session, instance, instance.template_major, instance.template_minor, instance.spec
        ),
        target_state=None,
        plan=DeletePlan(),
        now=now,
    )


def _refuse_removing_with_components(
    session: Session, service: Service, instance_names: list[str]
) -> None:
    """An instance goes only after its component is detached or deleted."""
    if not instance_names:
        return
    attached = session.execute(
        select(Component.name, Component.service_instance_name).where(
            Component.service_name == service.name,
            Component.service_instance_name.in_(instance_names),
        )
    ).all()
    if attached:
        listed = ", ".join(f"'{c}' on instance '{i}'" for c, i in attached)
        raise Conflict(f"Detach or delete the component(s) first: {listed}.")


def delete_service(session: Session, arns: Arns, name: str, now: datetime) -> Service:
    service = find_service(session, name, lock=True)
    if service.status == ServiceStatus.DELETE_IN_PROGRESS:
        return service  # an idempotent retry
    if service.status in BUSY:
        raise Conflict(f"The service '{name}' is {service.status}; wait for it.")
    instances = instances_of(session, service)
    _refuse_removing_with_components(session, service, [i.name for i in instances])
    pipeline = pipeline_of(session, service)
    parts: list[ServiceInstance | ServicePipeline] = [*instances, *([pipeline] if pipeline else [])]
    for resource in parts:
        deployments.ensure_idle(resource, f"A resource of service '{name}'")
    started = [_start_delete(session, arns, instance, now).id for instance in instances]
    if pipeline is not None:
        started.append(
            deployments.start(
                session,
                pipeline,
                pipeline_target(session, arns, service),
                operation=DeploymentOperation.DELETE,
                initial_state=_pipeline_deployed_state(service, pipeline),
                target_state=None,
                plan=DeletePlan(),
                now=now,
            ).id
        )
    service.status = ServiceStatus.DELETE_IN_PROGRESS
    service.status_message = None
    service.last_modified_at = now
    if not started:
        remove_service(session, arns, service)
        return service
    _begin_operation(service, started, None)
    return service


def remove_service(session: Session, arns: Arns, service: Service) -> None:
    session.execute(delete(Tag).where(Tag.resource_arn == arns.service(service.name)))
    session.delete(service)


# --- instances and pipeline -----------------------------------------------------------------


def create_service_instance(
    session: Session,
    arns: Arns,
    *,
    service_name: str,
    name: str,
    spec: str,
    major: str | None,
    minor: str | None,
    client_token: str | None,
    now: datetime,
) -> ServiceInstance:
    """A new instance; a service with a pipeline redeploys it afterwards, as UpdateService does
    for the instances it adds, so that the pipeline builds for the new instance too."""
    service = find_service(session, service_name, lock=True)
    operation = service.operation or {}
    # A pipeline deployment already waits for this service's instances: the new one joins.
    joins = bool(operation.get("pipeline")) and service.status != ServiceStatus.DELETE_IN_PROGRESS
    if service.status in BUSY and not joins:
        raise Conflict(f"The service '{service_name}' is {service.status}; wait for it.")
    pipeline = pipeline_of(session, service)
    if pipeline is not None and not joins:
        deployments.ensure_idle(pipeline, f"The pipeline of service '{service_name}'")
    template = session.get(Template, service.template_id)
    assert template is not None
    version = versions.published_version(
        session,
        template,
        current_major(session, service) if major is None else int(major),
        None if minor is None else int(minor),
    )
    document = specs.parse_service_spec(spec)
    entry = document.instance(name)
    environment, plan = _instance_plan(session, version, document, entry)
    instance = _new_instance(session, arns, service, name, environment, version, plan.spec, now)
    instance.inputs = dict(plan.inputs)
    instance.last_client_request_token = client_token
    started = _start_instance(session, arns, instance, version, plan, None, now).id
    service.spec = specs.edit_service_spec(service.spec, instance=entry)
    service.last_modified_at = now
    if joins:
        service.operation = {**operation, "deployments": [*operation["deployments"], started]}
    elif pipeline is not None:
        waiting = _redeploy_pipeline(session, arns, service, pipeline, None, now).id
        service.status = ServiceStatus.UPDATE_IN_PROGRESS
        service.status_message = None
        _begin_operation(service, [started], waiting)
    return instance


def update_service_instance(
    session: Session,
    arns: Arns,
    *,
    service_name: str,
    name: str,
    deployment_type: DeploymentUpdateType,
    spec: str | None,
    major: str | None,
    minor: str | None,
    client_token: str | None,
    now: datetime,
) -> ServiceInstance:
    instance = find_instance(session, service_name, name, lock=True)
    deployments.ensure_idle(instance, f"Service instance '{name}'")
    if deployment_type == DeploymentUpdateType.NONE:
        if spec is not None or major is not None or minor is not None:
            raise InvalidInput(
                "deploymentType NONE deploys nothing; a spec or template version needs "
                "CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION."
            )
        if client_token:
            instance.last_client_request_token = client_token
        return instance
    service = find_service(session, service_name)
    template = session.get(Template, service.template_id)
    assert template is not None
    version = versions.target_version(
        session,
        template,
        deployed=(instance.template_major, instance.template_minor),
        deployment_type=deployment_type,
        major=major,
        minor=minor,
    )
    document = specs.parse_service_spec(spec if spec is not None else instance.spec or "")
    entry = document.instance(name)
    if entry.environment != instance.environment_name:
        raise InvalidInput.at(
            ("instances", entry.index, "environment"),
            f"instance '{name}' runs in '{instance.environment_name}'; an instance cannot move "
            f"to '{entry.environment}'.",
        )
    _, plan = _instance_plan(session, version, document, entry, current=instance.inputs)
    initial = instance_state(
        session, instance, instance.template_major, instance.template_minor, instance.spec
    )
    if client_token:
        # Set after the reads above, so that it goes out in the deployment's UPDATE of the
        # row: set before them, the first read's autoflush sent an UPDATE of its own.
        instance.last_client_request_token = client_token
    _start_instance(session, arns, instance, version, plan, initial, now)
    return instance


def update_service_pipeline(
    session: Session,
    arns: Arns,
    *,
    service_name: str,
    deployment_type: DeploymentUpdateType,
    spec: str,
    major: str | None,
    minor: str | None,
    now: datetime,
) -> ServicePipeline:
    service = find_service(session, service_name, lock=True)
    pipeline = find_pipeline(session, service, lock=True)
    deployments.ensure_idle(pipeline, f"The pipeline of service '{service_name}'")
    if deployment_type == DeploymentUpdateType.NONE:
        # The model requires a spec even here: one that resolves to the inputs the pipeline
        # runs changes nothing; any other would be dropped, so it is refused, as elsewhere.
        document = specs.parse_service_spec(spec)
        changes_spec = document.has_pipeline_key and not _same_inputs(
            session, pipeline, document.pipeline
        )
        if major is not None or minor is not None or changes_spec:
            raise InvalidInput(
                "deploymentType NONE deploys nothing; a new pipeline spec or template version "
                "needs CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION."
            )
        return pipeline
    template = session.get(Template, service.template_id)
    assert template is not None
    version = versions.target_version(
        session,
        template,
        deployed=(pipeline.template_major, pipeline.template_minor),
        deployment_type=deployment_type,
        major=major,
        minor=minor,
    )
    plan = _pipeline_plan(version, specs.parse_service_spec(spec), current=pipeline.inputs)
    deployments.start(
        session,
        pipeline,
        pipeline_target(session, arns, service),
        operation=DeploymentOperation.DEPLOY,
        initial_state=_pipeline_deployed_state(service, pipeline),
        target_state=pipeline_state(service.template_name, version.major, version.minor, spec),
        plan=plan,
        now=now,
    )
    return pipeline


def cancel_waiting_pipeline(session: Session, service: Service, now: datetime) -> bool:
    """Cancels a pipeline deployment that has not started (it waits for instances)."""
    operation = service.operation or {}
    waiting = operation.get("pipeline")
    if not waiting:
        return False
    deployment = session.get(Deployment, waiting)
    pipeline = pipeline_of(session, service)
    if deployment is None or pipeline is None:
        return False
    approval_gate.withdraw(session, deployment.id, now)  # held too: approving it is over
    _end_unstarted(
        deployment, pipeline, DeploymentStatus.CANCELLED, "Cancelled before it started.", now
    )
    service.operation = {
        **operation,
        "pipeline": None,
        "deployments": [*operation["deployments"], deployment.id],
    }
    return True


def waits_for_instances(session: Session, deployment: Deployment) -> bool:
    """Whether ``deployment`` is a pipeline deployment still waiting for its service's
    instance deployments (``after_deployment`` queues its job once they are done)."""
    if deployment.target_type != DeploymentTargetResourceType.SERVICE_PIPELINE:
        return False
    service = session.scalars(
        select(Service).where(Service.name == deployment.service_name)
    ).first()
    return service is not None and (service.operation or {}).get("pipeline") == deployment.id


def _end_unstarted(
    deployment: Deployment,
    pipeline: ServicePipeline,
    status: DeploymentStatus,
    message: str,
    now: datetime,
) -> None:
    deployment.status = status
    deployment.status_message = message
    deployment.completed_at = now
    deployment.last_modified_at = now
    pipeline.deployment_status = status
    pipeline.deployment_status_message = message
    pipeline.last_modified_at = now


# --- the service operation advancing ---------------------------------------------------------


def after_deployment(session: Session, arns: Arns, deployment: Deployment, now: datetime) -> None:
    """Advances the service operation this deployment belonged to, if it was the last one."""
    if deployment.service_name is None:
        return
    # A deployment a service sync started ends that instance's sync attempt.
    service_sync.deployment_ended(session, deployment, now)
    service = session.scalars(_service_named(True), {"name": deployment.service_name}).first()
    if service is None:
        return
    if (
        deployment.status == DeploymentStatus.SUCCEEDED
        and deployment.operation == DeploymentOperation.DEPLOY
    ):
        _sync_service_spec(service, deployment)
    if not service.operation:
        if deployment.status == DeploymentStatus.SUCCEEDED:
            _recover(session, service, now)
        return
    operation = service.operation
    ids = list(operation.get("deployments") or [])
    waiting = operation.get("pipeline")
    if waiting is not None and deployment.id == waiting:
        # The waiting pipeline ended before its turn (its approval was rejected or expired):
        # the operation counts it among its ended deployments and finishes with the rest.
        ids.append(waiting)
        waiting = None
        service.operation = {"deployments": ids, "pipeline": None}
    if deployment.id not in ids:
        return
    rows = session.scalars(select(Deployment).where(Deployment.id.in_(ids))).all()
    if any(row.status not in deployments.TERMINAL for row in rows):
        return
    failed = [row for row in rows if row.status in _UNSUCCESSFUL]
    if waiting:
        pipeline_deployment = session.get(Deployment, waiting)
        pipeline = pipeline_of(session, service)
        if pipeline_deployment is not None and pipeline is not None:
            if not failed:
                _pipeline_turn(session, pipeline_deployment, now)
                service.operation = {"deployments": [*ids, waiting], "pipeline": None}
                return
            # Not started, so not to be approved either.
            approval_gate.withdraw(session, pipeline_deployment.id, now)
            _end_unstarted(
                pipeline_deployment,
                pipeline,
                DeploymentStatus.FAILED,
                "Not started: " + _describe_failures(failed),
                now,
            )
            failed.append(pipeline_deployment)
    _finish_operation(session, arns, service, failed, now)


def _pipeline_turn(session: Session, deployment: Deployment, now: datetime) -> None:
    """The service's instances are deployed: the pipeline runs, unless its approval (decided
    when it was recorded, under its requester's rules) is still pending; then approving it
    queues its job (domain/approvals.py)."""
    if approval_gate.pending(session, deployment.id) is None:
        deployments.enqueue_job(session, deployment, now)
        return
    deployments.log_event(
        session,
        deployment.id,
        "The service's instances are deployed; the pipeline runs once its change is approved.",
        now,
    )


def _sync_service_spec(service: Service, deployment: Deployment) -> None:
    """GetService's spec follows what its instances and pipeline run: a successful
    UpdateServiceInstance or UpdateServicePipeline rewrites that part of it."""
    plan = deployments.plan_of(deployment)
    deployed = (plan.spec if isinstance(plan, TemplatePlan) else None) or ""
    if key_of(deployed) == service.spec_key:
        # Deployed from the service's own spec (a version upgrade, a redeploy): nothing to
        # rewrite, and parsing a fleet-sized spec after every instance would cost more than
        # the deployment itself. Compared by key, the service's text is not even read.
        return
    try:
        document = specs.parse_service_spec(deployed)
        if deployment.target_type == DeploymentTargetResourceType.SERVICE_INSTANCE:
            entry = document.instance(deployment.service_instance_name or "")
            service.spec = specs.edit_service_spec(service.spec, instance=entry)
        elif (
            deployment.target_type == DeploymentTargetResourceType.SERVICE_PIPELINE
            and document.has_pipeline_key
        ):
            service.spec = specs.edit_service_spec(service.spec, pipeline=document.pipeline or {})
    except InvalidInput:
        return  # a spec that no longer parses (older rules): leave the service's as it is


def _recover(session: Session, service: Service, now: datetime) -> None:
    """A failed service whose every part has since been deployed successfully (fixed one by
    one with UpdateServiceInstance and UpdateServicePipeline) is ACTIVE again."""
    if service.status not in (ServiceStatus.CREATE_FAILED, ServiceStatus.UPDATE_FAILED):
        return
    pipeline = pipeline_of(session, service)
    parts: list[ServiceInstance | ServicePipeline] = [
        *instances_of(session, service),
        *([pipeline] if pipeline else []),
    ]
    if all(part.deployment_status == DeploymentStatus.SUCCEEDED for part in parts):
        service.status = ServiceStatus.ACTIVE
        service.status_message = None
        service.last_modified_at = now


def _finish_operation(
    session: Session, arns: Arns, service: Service, failed: list[Deployment], now: datetime
) -> None:
    service.operation = None
    service.last_modified_at = now
    if failed:
        service.status = _FAILED_STATUS.get(service.status, ServiceStatus.UPDATE_FAILED)
        service.status_message = _describe_failures(failed)
        return
    if service.status == ServiceStatus.DELETE_IN_PROGRESS:
        remove_service(session, arns, service)
        return
    service.status = ServiceStatus.ACTIVE
    service.status_message = None


def _describe_failures(failed: list[Deployment]) -> str:
    parts = []
    for row in failed:
        what = (
            f"instance '{row.service_instance_name}'"
            if row.service_instance_name
            else "the pipeline"
        )
        parts.append(f"{what} {row.status}: {row.status_message or 'no reason given'}")
    return "; ".join(parts)
