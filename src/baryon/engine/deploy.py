"""The deployment job: render the target's IaC, hand it to its provisioner, record the outcome.

Reads happen in one short transaction, the slow cloud work outside any transaction, and the
outcome in one more; re-running the job after a crash repeats the provisioner's idempotent
steps (what the cloud already holds is awaited or updated, never created twice).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.loader import IacSection
from baryon.bundles.manifest import parse_manifest
from baryon.domain import deployments, outcomes, specs, versions
from baryon.domain.account_settings import read as read_account_settings
from baryon.domain.deployments import (
    CANCELLED,
    DELETE,
    FAILED,
    SUCCEEDED,
)
from baryon.domain.environments import CUSTOMER_MANAGED
from baryon.domain.plan import ComponentPlan, TemplatePlan, plan_from_json
from baryon.domain.templates import template_arn
from baryon.engine import provisioning
from baryon.engine.deployment_io import DatabaseDeploymentIO
from baryon.engine.handlers import JobContext, register_job
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.provisioners.base import DeployRequest, Outcome, ResourceIdentity
from baryon.provisioners.selection import provisioner_for, unsupported_message
from baryon.render.context import (
    ComponentRef,
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    component_namespace,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from baryon.render.errors import RenderError
from baryon.render.iac import RenderedSection
from baryon.render.value_guard import render_guarded
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    Component,
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

log = logging.getLogger(__name__)


@dataclass
class Work:
    """Everything the slow part needs, read up front so no transaction stays open."""

    deployment_id: str
    operation: str
    resource: ResourceIdentity  # role and tags filled in once the resource is read
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


def _execute(runtime: WorkerRuntime, work: Work, io: DatabaseDeploymentIO) -> outcomes.Result:
    if work.cancel_requested:
        io.log("Cancelled before any change was made.")
        return outcomes.Result(CANCELLED, "Cancelled before any change was made.")
    if work.spec_outputs is not None:
        io.log("Customer-managed environment: outputs come from the spec; nothing to deploy.")
        return outcomes.Result(SUCCEEDED, outputs=work.spec_outputs)
    if work.operation == DELETE:
        return _result(provisioning.destroy(work.resource, runtime.settings, io))
    assert work.section is not None and work.namespace is not None
    try:
        rendered = _render_checked(work)
    except RenderError as exc:
        io.log(f"Rendering failed: {exc}")
        return outcomes.Result(FAILED, str(exc))
    section = provisioning.provisioned_section(rendered, work.resource.kind)
    provisioner = provisioner_for(section.engine, runtime.settings)
    if provisioner is None:
        message = unsupported_message(section.engine)
        io.log(message)
        return outcomes.Result(FAILED, message)
    resource = replace(work.resource, role_arn=work.role_arn, tags=work.tags)
    request = DeployRequest(section, resource, request_token=work.deployment_id)
    return _result(provisioner.deploy(request, io))


@dataclass(frozen=True)
class Planned:
    """What a deployment would do: IaC files to deploy, or (customer-managed environments)
    the outputs it would record."""

    files: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] | None = None


def plan_of(session: Session, runtime: WorkerRuntime, deployment: Deployment) -> Planned:
    """Runs the job's own preparation and render on a (possibly unsaved) deployment, so a
    preview shows exactly what the deployment would deploy. Raises RenderError/BundleError."""
    work = _prepare(session, runtime, deployment)
    if work.spec_outputs is not None:
        return Planned(outputs=work.spec_outputs)
    if work.section is None or work.namespace is None:
        raise BundleError(f"the template bundle has no IaC for a {work.render_kind}")
    return Planned(files=dict(_render_checked(work).files))


def _output_text(value: Any) -> str:
    """An output is a string; a spec value of another type reads as it would in JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _render_checked(work: Work) -> RenderedSection:
    assert work.section is not None and work.namespace is not None
    return render_guarded(
        work.section,
        work.namespace,
        kind=work.render_kind,
        resource_arn=work.target_arn,
        proton_tags=work.proton_tags,
    )


def _result(outcome: Outcome) -> outcomes.Result:
    return outcomes.Result(
        str(outcome.status),
        outcome.message,
        dict(outcome.outputs),
        [(r.name, r.identifier, r.engine) for r in outcome.resources],
    )


def _record(runtime: WorkerRuntime, deployment_id: str, result: outcomes.Result) -> None:
    with runtime.db.session(write=True) as session:
        outcomes.record(session, runtime.arns, deployment_id, result, datetime.now(UTC))
    runtime.job_wakeup.set()  # a finished instance may release its service's pipeline


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    message = f"The deployment could not complete after {context.attempt} attempts: {error}"
    _record(context.runtime, payload["deployment_id"], outcomes.Result(FAILED, message))


# --- reading what a deployment needs --------------------------------------------------------


def _prepare(session: Session, runtime: WorkerRuntime, deployment: Deployment) -> Work:
    work = Work(
        deployment_id=deployment.id,
        operation=deployment.operation,
        resource=provisioning.resource_identity(deployment, runtime.settings),
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
    if isinstance(resource, Component):
        _prepare_component(session, runtime, deployment, resource, work)
    else:
        _prepare_from_template(session, runtime, deployment, resource, work)
        if work.spec_outputs is not None:
            return work
    # Proton puts only its managed tags on what it provisions; customer tags stay on Proton's
    # own resources ("they don't propagate ... to provisioned resources").
    work.tags = dict(work.proton_tags)
    if work.section is None:
        raise BundleError(f"the template bundle has no IaC for a {work.render_kind}")
    return work


def _prepare_from_template(
    session: Session, runtime: WorkerRuntime, deployment: Deployment, resource: Any, work: Work
) -> None:
    """Environments, service instances and pipelines: IaC from a template version's bundle."""
    plan = plan_from_json(deployment.plan)
    assert isinstance(plan, TemplatePlan)
    version = session.get(TemplateVersion, plan.template_version_id)
    if version is None:
        raise BundleError("the template version this deployment targets was deleted")
    template = session.get(Template, version.template_id)
    assert template is not None
    inputs = dict(plan.inputs)
    if isinstance(resource, Environment) and template.provisioning == CUSTOMER_MANAGED:
        work.spec_outputs = {key: _output_text(value) for key, value in inputs.items()}
        return
    bundle = versions.version_bundle(
        version, template, runtime.settings.bundle_limits, runtime.settings.work_dir
    )
    settings = runtime.settings
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
            InstanceRef(resource.name, inputs, {}, env_ref, _component_refs(session, resource)),
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


def _prepare_component(
    session: Session,
    runtime: WorkerRuntime,
    deployment: Deployment,
    component: Component,
    work: Work,
) -> None:
    """A directly defined component: its IaC is inline, in the deployment's plan."""
    plan = plan_from_json(deployment.plan)
    assert isinstance(plan, ComponentPlan)
    manifest = parse_manifest(plan.manifest, "manifest", component=True)
    file_name = manifest.templates[0].file or "template"
    work.section = IacSection("component", manifest, {file_name: plan.template_file})
    work.render_kind = "component"
    settings = runtime.settings
    environment = session.get(Environment, component.environment_id)
    assert environment is not None
    env_ref = _environment_ref(session, settings, environment, environment.inputs or {})
    work.role_arn = environment.component_role_arn
    work.proton_tags = {
        "proton:account": settings.account_id,
        "proton:environment": runtime.arns.environment(environment.name),
        "proton:component": deployment.target_arn,
    }
    service_name, instance_name = plan.service_name, plan.service_instance_name
    if not (service_name and instance_name):
        work.namespace = component_namespace(component.name, env_ref)
        return
    service = session.scalars(select(Service).where(Service.name == service_name)).first()
    instance = session.scalars(
        select(ServiceInstance).where(
            ServiceInstance.service_name == service_name, ServiceInstance.name == instance_name
        )
    ).first()
    if service is None or instance is None:
        raise BundleError(f"the service instance {service_name}/{instance_name} is gone")
    inputs = dict(instance.inputs or {})
    if plan.service_spec:
        # The spec the developer gave the component wins over the instance's deployed inputs.
        entry = specs.parse_service_spec(plan.service_spec).instance(instance_name)
        inputs.update(entry.spec or {})
    work.namespace = component_namespace(
        component.name,
        env_ref,
        _service_ref(service),
        InstanceRef(instance.name, inputs, {}, env_ref, {}),
    )
    work.proton_tags.update(
        {
            "proton:service": runtime.arns.service(service.name),
            "proton:service-instance": runtime.arns.service_instance(service.name, instance.name),
        }
    )


def _component_refs(session: Session, instance: ServiceInstance) -> dict[str, ComponentRef]:
    """The deployed component attached to an instance, as its templates see it ("default")."""
    component = session.scalars(
        select(Component).where(
            Component.service_name == instance.service_name,
            Component.service_instance_name == instance.name,
        )
    ).first()
    if component is None or component.last_succeeded_deployment_id is None:
        return {}
    outputs = deployments.outputs_of(session, component.last_succeeded_deployment_id)
    return {"default": ComponentRef(component.name, outputs)}


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


register_job(JobKind.DEPLOY, run, give_up)
