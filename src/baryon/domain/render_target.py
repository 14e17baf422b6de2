"""What a deployment of a resource renders, read from the store once, for a deployment and a
preview alike.

A `RenderTarget` is everything the pure renderer needs (the bundle section, the Jinja
namespace built from the resource and its neighbours, the ARN and Proton's managed tags) and
the role the result deploys as. The deploy job builds one from its plan inside a short
transaction and renders it outside; a preview builds one from a plan it has not recorded and
renders it at once. Both go through `RenderTarget.render` (the render guard), so a preview is
byte for byte what the deployment hands to its provisioner (ARCHITECTURE rule 6), with no
deployment record faked for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from baryon.bundles.errors import BundleError
from baryon.bundles.loader import IacSection
from baryon.bundles.manifest import parse_manifest
from baryon.domain import deployments, specs, versions
from baryon.domain.account_settings import read as read_account_settings
from baryon.domain.arns import Arns
from baryon.domain.environment_account_connections import deploying_roles
from baryon.domain.plan import ComponentPlan, DeploymentPlan, TemplatePlan
from baryon.domain.templates import template_arn
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
from baryon.service_models.proton import Provisioning
from baryon.settings import Settings
from baryon.store.tables import (
    Component,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)

# The resources a template version deploys (components carry their IaC inline).
TemplateResource = Environment | ServiceInstance | ServicePipeline


class RenderKind(StrEnum):
    """Which namespace and which generated files a section renders with (render.iac.KINDS)."""

    ENVIRONMENT = "environment"
    SERVICE_INSTANCE = "service_instance"
    PIPELINE = "pipeline"
    COMPONENT = "component"


@dataclass(frozen=True)
class RenderTarget:
    """One resource's IaC, ready to render: pure from here on."""

    kind: RenderKind
    resource_arn: str
    section: IacSection
    namespace: Mapping[str, Any]
    # Proton puts only its managed tags on what it provisions; customer tags stay on Proton's
    # own resources ("they don't propagate ... to provisioned resources").
    proton_tags: Mapping[str, str]
    role_arn: str | None
    # The codebuildRoleArn (pipelines: pipelineCodebuildRoleArn) CodeBuild sections run as.
    build_role_arn: str | None = None

    def render(self) -> RenderedSection:
        """The files to deploy; RenderError if a value would not reach the template as data."""
        return render_guarded(
            self.section,
            self.namespace,
            kind=self.kind,
            resource_arn=self.resource_arn,
            proton_tags=self.proton_tags,
        )


@dataclass(frozen=True)
class SpecOutputs:
    """A customer-managed environment deploys nothing: its outputs are its spec's inputs."""

    outputs: Mapping[str, str]


Target = RenderTarget | SpecOutputs


def target_for(
    session: Session,
    settings: Settings,
    arns: Arns,
    resource: TemplateResource | Component,
    resource_arn: str,
    plan: DeploymentPlan,
) -> Target:
    """What deploying ``plan`` to ``resource`` renders. Raises BundleError (the bundle or what
    the plan points to is gone, or has no IaC for this resource)."""
    if isinstance(resource, Component):
        assert isinstance(plan, ComponentPlan)
        return component_target(session, settings, arns, resource, resource_arn, plan)
    assert isinstance(plan, TemplatePlan)
    return template_target(session, settings, arns, resource, resource_arn, plan)


def stack_tags(
    account_id: str,
    *,
    template: str | None = None,
    environment: str | None = None,
    component: str | None = None,
    service: str | None = None,
    service_instance: str | None = None,
) -> dict[str, str]:
    """The proton:* tags (ARNs as values) on every stack Baryon deploys, as Proton tagged its
    own: an import finds Proton's stacks by them, and users' scripts and policies read them."""
    tags = {
        "proton:account": account_id,
        "proton:template": template,
        "proton:environment": environment,
        "proton:component": component,
        "proton:service": service,
        "proton:service-instance": service_instance,
    }
    return {key: value for key, value in tags.items() if value is not None}


def template_target(
    session: Session,
    settings: Settings,
    arns: Arns,
    resource: TemplateResource,
    resource_arn: str,
    plan: TemplatePlan,
) -> Target:
    """Environments, service instances and pipelines: IaC from a template version's bundle."""
    version = session.get(TemplateVersion, plan.template_version_id)
    if version is None:
        raise BundleError("the template version this deployment targets was deleted")
    template = session.get(Template, version.template_id)
    assert template is not None
    inputs = dict(plan.inputs)
    if isinstance(resource, Environment) and template.provisioning == Provisioning.CUSTOMER_MANAGED:
        return SpecOutputs({key: _output_text(value) for key, value in inputs.items()})
    bundle = versions.version_bundle(version, template, settings.bundle_limits, settings.work_dir)
    section: IacSection | None
    namespace: dict[str, Any]
    if isinstance(resource, Environment):
        kind = RenderKind.ENVIRONMENT
        section = bundle.infrastructure
        namespace = environment_namespace(_environment_ref(session, settings, resource, inputs))
        roles = deploying_roles(session, resource)
        role_arn, build_role_arn = roles.role_arn, roles.codebuild_role_arn
        tags = stack_tags(
            settings.account_id, template=template_arn(arns, template), environment=resource_arn
        )
    elif isinstance(resource, ServiceInstance):
        service = session.get(Service, resource.service_id)
        environment = session.get(Environment, resource.environment_id)
        assert service is not None and environment is not None
        kind = RenderKind.SERVICE_INSTANCE
        section = bundle.instance
        env_ref = _environment_ref(session, settings, environment, environment.inputs or {})
        namespace = instance_namespace(
            _service_ref(service),
            InstanceRef(resource.name, inputs, {}, env_ref, _component_refs(session, resource)),
        )
        roles = deploying_roles(session, environment)
        role_arn, build_role_arn = roles.role_arn, roles.codebuild_role_arn
        tags = stack_tags(
            settings.account_id,
            template=template_arn(arns, template),
            environment=arns.environment(environment.name),
            service=arns.service(service.name),
            service_instance=resource_arn,
        )
    else:
        service = session.get(Service, resource.service_id)
        assert service is not None
        kind = RenderKind.PIPELINE
        section = bundle.pipeline
        namespace = pipeline_namespace(
            _service_ref(service), inputs, _instance_refs(session, settings, service)
        )
        account = read_account_settings(session)
        role_arn = account.pipeline_service_role_arn if account else None
        build_role_arn = account.pipeline_codebuild_role_arn if account else None
        tags = stack_tags(
            settings.account_id,
            template=template_arn(arns, template),
            service=arns.service(service.name),
        )
    if section is None:
        raise BundleError(f"the template bundle has no IaC for a {kind}")
    return RenderTarget(kind, resource_arn, section, namespace, tags, role_arn, build_role_arn)


def component_target(
    session: Session,
    settings: Settings,
    arns: Arns,
    component: Component,
    resource_arn: str,
    plan: ComponentPlan,
) -> RenderTarget:
    """A directly defined component: its IaC is inline, in the plan."""
    manifest = parse_manifest(plan.manifest, "manifest", component=True)
    file_name = manifest.templates[0].file or "template"
    section = IacSection("component", manifest, {file_name: plan.template_file})
    environment = session.get(Environment, component.environment_id)
    assert environment is not None
    env_ref = _environment_ref(session, settings, environment, environment.inputs or {})
    tags = stack_tags(
        settings.account_id, environment=arns.environment(environment.name), component=resource_arn
    )

    def target(namespace: dict[str, Any]) -> RenderTarget:
        return RenderTarget(
            RenderKind.COMPONENT,
            resource_arn,
            section,
            namespace,
            tags,
            deploying_roles(session, environment).component_role_arn,
        )

    service_name, instance_name = plan.service_name, plan.service_instance_name
    if not (service_name and instance_name):
        return target(component_namespace(component.name, env_ref))
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
    tags.update(
        stack_tags(
            settings.account_id,
            service=arns.service(service.name),
            service_instance=arns.service_instance(service.name, instance.name),
        )
    )
    return target(
        component_namespace(
            component.name,
            env_ref,
            _service_ref(service),
            InstanceRef(instance.name, inputs, {}, env_ref, {}),
        )
    )


# --- previews -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """What a deployment would do: IaC files to deploy, or (customer-managed environments)
    the outputs it would record."""

    files: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] | None = None


class NotRenderable(Exception):
    """The plan does not render: its bundle is gone or unusable, or a value would not reach
    the template as data. The text is the renderer's (or the bundle loader's) own."""


def preview(
    session: Session,
    settings: Settings,
    arns: Arns,
    resource: TemplateResource,
    resource_arn: str,
    plan: TemplatePlan,
) -> Planned:
    """What deploying ``plan`` (not recorded anywhere) to ``resource`` would deploy, rendered
    exactly as the deploy job renders it. Raises NotRenderable."""
    try:
        target = template_target(session, settings, arns, resource, resource_arn, plan)
        if isinstance(target, SpecOutputs):
            return Planned(outputs=target.outputs)
        return Planned(files=dict(target.render().files))
    except (RenderError, BundleError) as exc:
        raise NotRenderable(str(exc)) from exc


# --- what the templates see of the resource's neighbours -----------------------------------


def _output_text(value: Any) -> str:
    """An output is a string; a spec value of another type reads as it would in JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _component_refs(session: Session, instance: ServiceInstance) -> dict[str, ComponentRef]:
    """The deployed component attached to an instance, as its templates see it ("default")."""
    params = {"service": instance.service_name, "instance": instance.name}
    component = session.scalars(_ATTACHED_COMPONENT, params).first()
    if component is None or component.last_succeeded_deployment_id is None:
        return {}
    outputs = deployments.outputs_of(session, component.last_succeeded_deployment_id)
    return {"default": ComponentRef(component.name, outputs)}


# Built once (building a select and its cache key costs more than running it: issue 17).
_ATTACHED_COMPONENT = select(Component).where(
    Component.service_name == bindparam("service"),
    Component.service_instance_name == bindparam("instance"),
)


def _environment_ref(
    session: Session, settings: Settings, environment: Environment, inputs: dict[str, Any]
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


def _instance_refs(session: Session, settings: Settings, service: Service) -> list[InstanceRef]:
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
