"""What a bundle would deploy for a spec, with nothing registered or deployed: the
``baryon template render`` preview (Proton's roadmap #60), offline.

The spec is read and checked by the same functions CreateEnvironment and CreateService use
(domain/specs.py, with the same ``where`` names, so the same messages), the Jinja namespace
is built by the render context's builders from the same kind of resource descriptions the
deploy job fills from the store, and the files come from `RenderTarget.render` (the render
guard the deploy job and the previews go through). What the store would supply (the
environment's outputs, the instances' outputs, names, the account) is handed in instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from baryon.bundles.errors import BundleError
from baryon.bundles.limits import BundleLimits
from baryon.bundles.loader import Bundle, IacSection
from baryon.domain import specs, versions
from baryon.domain.arns import Arns
from baryon.domain.render_target import RenderKind, RenderTarget, stack_tags
from baryon.domain.templates import TemplateKind
from baryon.render.context import (
    EnvironmentRef,
    InstanceRef,
    ServiceRef,
    environment_namespace,
    instance_namespace,
    pipeline_namespace,
)
from baryon.render.errors import RenderError
from baryon.store.tables import Template, TemplateVersion


@dataclass(frozen=True)
class StandIns:
    """What a deployment reads from the store, given by hand for an offline render."""

    template_name: str
    # The environment's name (environment bundles), or the service's (service bundles).
    resource_name: str
    account_id: str
    region: str
    # Outputs of the environment(s) a service's instances run in.
    environment_outputs: Mapping[str, str]
    # Outputs of every instance, as the pipeline sees its deployed instances.
    instance_outputs: Mapping[str, str]
    # The service's source repository (a service with a pipeline names one).
    repository_connection_arn: str | None = None
    repository_id: str | None = None
    branch_name: str | None = None


@dataclass(frozen=True)
class RenderedResource:
    """One resource's deployable files."""

    kind: RenderKind
    # The instance's name; the environment's or service's name for the other kinds.
    name: str
    # cloudformation, terraform or codebuild
    engine: str
    files: Mapping[str, str]
    # Spec keys the schema does not declare (left out, as a deployment reports them).
    warnings: tuple[str, ...]


class RenderFailed(Exception):
    """The bundle does not render for this spec; names the file and line when it can."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.file = file
        self.line = line


def stored_bundle(
    version: TemplateVersion, template: Template, limits: BundleLimits, workdir: Path
) -> Bundle:
    """A registered version's bundle, for a render of what creating a resource would deploy
    (operations/creation_previews.py); RenderFailed when it does not load."""
    try:
        return versions.version_bundle(version, template, limits, workdir)
    except BundleError as exc:
        raise RenderFailed(str(exc), file=exc.file, line=exc.line) from exc


def render_bundle(
    bundle: Bundle, kind: TemplateKind, spec_text: str, stand_ins: StandIns
) -> list[RenderedResource]:
    """Every resource ``spec_text`` deploys from ``bundle``: the environment, or each service
    instance and the pipeline. Raises InvalidInput (the spec, with the field) or
    RenderFailed."""
    arns = Arns(stand_ins.region, stand_ins.account_id)
    template = arns.template(kind.arn_type, stand_ins.template_name)
    if kind is TemplateKind.ENVIRONMENT:
        return [_environment(bundle, spec_text, stand_ins, arns, template)]
    return _service(bundle, spec_text, stand_ins, arns, template)


def _environment(
    bundle: Bundle, spec_text: str, stand_ins: StandIns, arns: Arns, template: str
) -> RenderedResource:
    document = specs.read_environment_spec(spec_text)
    schema = bundle.schema
    applied = specs.resolve_inputs(
        schema, schema.environment_input_type, document.values, where="spec"
    )
    name = stand_ins.resource_name
    resource_arn = arns.environment(name)
    namespace = environment_namespace(EnvironmentRef(name, stand_ins.account_id, applied.values))
    target = RenderTarget(
        RenderKind.ENVIRONMENT,
        resource_arn,
        _section(bundle.infrastructure, RenderKind.ENVIRONMENT),
        namespace,
        stack_tags(stand_ins.account_id, template=template, environment=resource_arn),
        None,
    )
    return _render(target, name, tuple(specs.ignored_input_messages(applied)))


def _service(
    bundle: Bundle, spec_text: str, stand_ins: StandIns, arns: Arns, template: str
) -> list[RenderedResource]:
    document = specs.parse_service_spec(spec_text)
    schema = bundle.schema
    service = ServiceRef(
        stand_ins.resource_name,
        branch_name=stand_ins.branch_name,
        repository_connection_arn=stand_ins.repository_connection_arn,
        repository_id=stand_ins.repository_id,
    )
    service_arn = arns.service(service.name)
    rendered: list[RenderedResource] = []
    instances: list[InstanceRef] = []
    for entry in document.instances:
        applied = specs.resolve_inputs(
            schema, schema.service_input_type, entry.spec, where=f"instances[{entry.index}].spec"
        )
        environment = EnvironmentRef(
            entry.environment, stand_ins.account_id, {}, dict(stand_ins.environment_outputs)
        )
        instance = InstanceRef(entry.name, applied.values, {}, environment)
        resource_arn = arns.service_instance(service.name, entry.name)
        target = RenderTarget(
            RenderKind.SERVICE_INSTANCE,
            resource_arn,
            _section(bundle.instance, RenderKind.SERVICE_INSTANCE),
            instance_namespace(service, instance),
            stack_tags(
                stand_ins.account_id,
                template=template,
                environment=arns.environment(entry.environment),
                service=service_arn,
                service_instance=resource_arn,
            ),
            None,
        )
        rendered.append(_render(target, entry.name, tuple(specs.ignored_input_messages(applied))))
        instances.append(
            InstanceRef(entry.name, applied.values, dict(stand_ins.instance_outputs), environment)
        )
    if bundle.pipeline is not None:
        applied = specs.resolve_inputs(
            schema, schema.pipeline_input_type, document.pipeline, where="pipeline"
        )
        # The deploy job lists a pipeline's instances by name (domain/render_target.py).
        instances.sort(key=lambda instance: instance.name)
        target = RenderTarget(
            RenderKind.PIPELINE,
            arns.service_pipeline(service.name),
            bundle.pipeline,
            pipeline_namespace(service, applied.values, instances),
            stack_tags(stand_ins.account_id, template=template, service=service_arn),
            None,
        )
        rendered.append(_render(target, service.name, tuple(specs.ignored_input_messages(applied))))
    return rendered


def _section(section: IacSection | None, kind: RenderKind) -> IacSection:
    if section is None:
        raise RenderFailed(
            f"the template bundle has no IaC for a {kind}: a customer-managed template deploys "
            "nothing"
        )
    return section


def _render(target: RenderTarget, name: str, warnings: tuple[str, ...]) -> RenderedResource:
    try:
        section = target.render()
    except RenderError as exc:
        raise RenderFailed(str(exc), file=exc.file, line=exc.line) from exc
    except BundleError as exc:
        raise RenderFailed(str(exc), file=exc.file, line=exc.line) from exc
    return RenderedResource(target.kind, name, section.engine, dict(section.files), warnings)
