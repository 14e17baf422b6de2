"""The deployment job: render the target's IaC, hand it to its provisioner, record the outcome.

Reads happen in one short transaction, the slow cloud work outside any transaction, and the
outcome in one more; re-running the job after a crash repeats the provisioner's idempotent
steps (an existing stack is awaited or updated, never created twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.loader import IacSection
from baryon.domain import deployments, outcomes, versions
from baryon.domain.account_settings import read as read_account_settings
from baryon.domain.deployments import (
    CANCELLED,
    DELETE,
    DEPLOY_JOB,
    ENVIRONMENT,
    FAILED,
    SERVICE_INSTANCE,
    SUCCEEDED,
)
from baryon.domain.environments import CUSTOMER_MANAGED
from baryon.domain.templates import template_arn
from baryon.engine.deployment_io import DatabaseDeploymentIO
from baryon.engine.handlers import JobContext, register_job
from baryon.provisioners.base import Outcome, StackSpec
from baryon.provisioners.names import stack_name_for
from baryon.provisioners.selection import provisioner_for
from baryon.render.context import (
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from baryon.render.errors import RenderError
from baryon.render.iac import render_section
from baryon.runtime import Runtime
from baryon.store.tables import (
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Tag,
    Template,
    TemplateVersion,
)

log = logging.getLogger(__name__)


@dataclass
class Work:
    """Everything the slow part needs, read up front so no transaction stays open."""

    deployment_id: str
    operation: str
    stack_name: str
    cancel_requested: bool
    role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Set for CUSTOMER_MANAGED environments: their outputs are their spec; nothing deploys.
    spec_outputs: dict[str, str] | None = None
    section: IacSection | None = None
    namespace: dict[str, Any] | None = None
    render_kind: str = ""
    target_arn: str = ""
    proton_tags: dict[str, str] = field(default_factory=dict)


def stack_name(deployment: Deployment) -> str:
    """Derived from names only, so any worker finds the same stack after a crash."""
    if deployment.target_type == ENVIRONMENT:
        return stack_name_for("environment", deployment.environment_name)
    if deployment.target_type == SERVICE_INSTANCE:
        return stack_name_for(
            "service-instance",
            deployment.service_name or "",
            deployment.service_instance_name or "",
        )
    return stack_name_for("service-pipeline", deployment.service_name or "")


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    deployment_id = payload["deployment_id"]
    with runtime.db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        if deployment is None or deployment.status in deployments.TERMINAL:
            return
        try:
            work = _prepare(session, runtime, deployment)
        except (RenderError, BundleError) as exc:
            work = None
            failure = str(exc)
    io = DatabaseDeploymentIO(runtime, deployment_id, context.lease_lost)
    if work is None:
        io.log(f"Rendering failed: {failure}")
        _record(runtime, deployment_id, outcomes.Result(FAILED, failure))
        return
    _record(runtime, deployment_id, _execute(runtime, work, io))


def _execute(runtime: Runtime, work: Work, io: DatabaseDeploymentIO) -> outcomes.Result:
    if work.cancel_requested:
        io.log("Cancelled before any change was made.")
        return outcomes.Result(CANCELLED, "Cancelled before any change was made.")
    if work.spec_outputs is not None:
        io.log("Customer-managed environment: outputs come from the spec; nothing to deploy.")
        return outcomes.Result(SUCCEEDED, outputs=work.spec_outputs)
    if work.operation == DELETE:
        provisioner = provisioner_for("cloudformation", runtime.settings)
        io.log(f"Deleting stack {work.stack_name}.")
        return _result(provisioner.destroy(work.stack_name, io))
    assert work.section is not None and work.namespace is not None
    try:
        rendered = render_section(
            work.section,
            work.namespace,
            kind=work.render_kind,
            resource_arn=work.target_arn,
            proton_tags=work.proton_tags,
        )
    except RenderError as exc:
        io.log(f"Rendering failed: {exc}")
        return outcomes.Result(FAILED, str(exc))
    provisioner = provisioner_for(rendered.engine, runtime.settings)
    if provisioner is None:
        message = (
            f"{rendered.engine} provisioning is not available in this Baryon server yet; "
            "only CloudFormation bundles deploy."
        )
        io.log(message)
        return outcomes.Result(FAILED, message)
    template_body = next(iter(rendered.files.values()))
    io.log(f"Deploying stack {work.stack_name}.")
    spec = StackSpec(
        name=work.stack_name,
        template_body=template_body,
        role_arn=work.role_arn,
        tags=work.tags,
        client_token=work.deployment_id,
    )
    return _result(provisioner.deploy(spec, io))


def _result(outcome: Outcome) -> outcomes.Result:
    return outcomes.Result(
        outcome.status,
        outcome.message,
        dict(outcome.outputs),
        [(r.name, r.identifier, r.engine) for r in outcome.resources],
    )


def _record(runtime: Runtime, deployment_id: str, result: outcomes.Result) -> None:
    with runtime.db.session(write=True) as session:
        outcomes.record(session, runtime.arns, deployment_id, result, datetime.now(UTC))
    runtime.job_wakeup.set()  # a finished instance may release its service's pipeline


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    message = f"The deployment could not complete after {context.attempt} attempts: {error}"
    _record(context.runtime, payload["deployment_id"], outcomes.Result(FAILED, message))


# --- reading what a deployment needs --------------------------------------------------------


def _prepare(session: Session, runtime: Runtime, deployment: Deployment) -> Work:
    work = Work(
        deployment_id=deployment.id,
        operation=deployment.operation,
        stack_name=stack_name(deployment),
        cancel_requested=deployment.cancel_requested,
        target_arn=deployment.target_arn,
    )
    resource = outcomes.resource_of(session, deployment)
    if resource is None or work.cancel_requested:
        return work
    if deployment.operation == DELETE:
        if isinstance(resource, Environment) and resource.provisioning == CUSTOMER_MANAGED:
            work.spec_outputs = {}
        return work
    version = session.get(TemplateVersion, deployment.plan["template_version_id"])
    if version is None:
        raise BundleError("the template version this deployment targets was deleted")
    template = session.get(Template, version.template_id)
    assert template is not None
    inputs = deployment.plan.get("inputs") or {}
    if isinstance(resource, Environment) and template.provisioning == CUSTOMER_MANAGED:
        work.spec_outputs = {key: str(value) for key, value in inputs.items()}
        return work
    bundle = versions.version_bundle(
        version, template, runtime.settings.bundle_limits, runtime.settings.work_dir
    )
    settings = runtime.settings
    work.tags = _tags(session, deployment.target_arn)
    work.proton_tags = {
        "proton:account": settings.account_id,
        "proton:template": template_arn(runtime.arns, template),
    }
    if isinstance(resource, Environment):
        work.render_kind = "environment"
        work.section = bundle.infrastructure
        work.namespace = environment_namespace(
            _environment_ref(session, settings, resource, inputs)
        )
        work.role_arn = resource.proton_service_role_arn
        work.proton_tags["proton:environment"] = deployment.target_arn
    elif isinstance(resource, ServiceInstance):
        service = session.get(Service, resource.service_id)
        environment = session.get(Environment, resource.environment_id)
        assert service is not None and environment is not None
        work.render_kind = "service_instance"
        work.section = bundle.instance
        env_ref = _environment_ref(session, settings, environment, environment.inputs or {})
        work.namespace = instance_namespace(
            _service_ref(service),
            InstanceRef(resource.name, inputs, {}, env_ref, {}),
        )
        work.role_arn = environment.proton_service_role_arn
        work.proton_tags.update(
            {
                "proton:environment": runtime.arns.environment(environment.name),
                "proton:service": runtime.arns.service(service.name),
                "proton:service-instance": deployment.target_arn,
            }
        )
    else:
        assert isinstance(resource, ServicePipeline)
        service = session.get(Service, resource.service_id)
        assert service is not None
        work.render_kind = "pipeline"
        work.section = bundle.pipeline
        work.namespace = pipeline_namespace(
            _service_ref(service), inputs, _instance_refs(session, settings, service)
        )
        account = read_account_settings(session)
        work.role_arn = account.pipeline_service_role_arn if account else None
        work.proton_tags["proton:service"] = runtime.arns.service(service.name)
    work.tags = {**work.proton_tags, **work.tags}
    if work.section is None:
        raise BundleError(f"the template bundle has no IaC for a {work.render_kind}")
    return work


def _tags(session: Session, arn: str) -> dict[str, str]:
    rows = session.execute(select(Tag.key, Tag.value).where(Tag.resource_arn == arn))
    return dict(rows.all())


def _environment_ref(
    session: Session, settings: Any, environment: Environment, inputs: dict[str, Any]
) -> EnvironmentRef:
    return EnvironmentRef(
        name=environment.name,
        account_id=environment.environment_account_id or settings.account_id,
        inputs=inputs,
        outputs=deployments.outputs_of(session, environment.last_succeeded_deployment_id),
    )


def _service_ref(service: Service) -> ServiceRef:
    return ServiceRef(
        name=service.name,
        branch_name=service.branch_name,
        repository_connection_arn=service.repository_connection_arn,
        repository_id=service.repository_id,
    )


def _instance_refs(session: Session, settings: Any, service: Service) -> list[InstanceRef]:
    """The deployed instances a pipeline builds for, with their outputs and environments."""
    refs = []
    rows = session.scalars(
        select(ServiceInstance)
        .where(ServiceInstance.service_id == service.id)
        .order_by(ServiceInstance.name)
    )
    for instance in rows:
        if instance.last_succeeded_deployment_id is None:
            continue
        environment = session.get(Environment, instance.environment_id)
        assert environment is not None
        refs.append(
            InstanceRef(
                instance.name,
                instance.inputs or {},
                deployments.outputs_of(session, instance.last_succeeded_deployment_id),
                _environment_ref(session, settings, environment, environment.inputs or {}),
                {},
            )
        )
    return refs


register_job(DEPLOY_JOB, run, give_up)
