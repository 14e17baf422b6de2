"""What creating a resource would deploy, before it exists: the create flow's review page.

The version's stored bundle is rendered with the spec being reviewed by a deployment's own
offline render (domain/offline_renders.py, which ``baryon template render`` uses too), with
what the store knows standing in for the rest: each instance sees the outputs of the
environment it is to run in. Nothing is recorded or enqueued. Instance outputs do not exist
before a deployment, so a pipeline that reads them renders with none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from baryon.domain import deployments, specs
from baryon.domain.errors import DomainError
from baryon.domain.offline_renders import (
    RenderedResource,
    RenderFailed,
    StandIns,
    render_bundle,
    stored_bundle,
)
from baryon.domain.render_target import RenderKind
from baryon.domain.templates import TemplateKind
from baryon.operations.context import RequestContext
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import Environment, Template, TemplateVersion

# Environments an instance cannot be put in: nothing deployed to build on, or going away.
_NOT_OFFERED = frozenset(
    {
        DeploymentStatus.FAILED,
        DeploymentStatus.DELETE_IN_PROGRESS,
        DeploymentStatus.DELETE_FAILED,
        DeploymentStatus.DELETE_COMPLETE,
    }
)


def takes_instances(environment: Environment) -> bool:
    """Whether a create form offers ``environment`` for a new instance: deployed once, and
    not failed or being deleted now."""
    return (
        environment.last_succeeded_deployment_id is not None
        and environment.deployment_status not in _NOT_OFFERED
    )


@dataclass(frozen=True)
class CreationPreview:
    resources: list[RenderedResource]
    problem: str | None = None  # why it does not render (the create would fail the same way)


@dataclass(frozen=True)
class Repository:
    connection_arn: str | None = None
    repository_id: str | None = None
    branch_name: str | None = None


def preview_creation(
    ctx: RequestContext,
    version_id: int,
    resource_name: str,
    spec_text: str,
    repository: Repository | None = None,
) -> CreationPreview:
    """The files creating ``resource_name`` from the version ``version_id`` with
    ``spec_text`` would deploy: the environment, or each instance and the pipeline."""
    settings = ctx.settings
    with ctx.db.session() as session:
        version = session.get(TemplateVersion, version_id)
        template = session.get(Template, version.template_id) if version else None
        if version is None or template is None:
            return CreationPreview([], "The template version was deleted.")
        try:
            bundle = stored_bundle(version, template, settings.bundle_limits, settings.work_dir)
        except RenderFailed as exc:
            return CreationPreview([], f"The template's bundle does not load: {exc}")
        kind = TemplateKind(template.kind)
        outputs: dict[str, Mapping[str, str]] = {}
        if kind is TemplateKind.SERVICE:
            try:
                document = specs.parse_service_spec(spec_text)
            except DomainError as exc:
                return CreationPreview([], exc.message)
            wanted = sorted({entry.environment for entry in document.instances})
            for environment in session.scalars(
                select(Environment).where(Environment.name.in_(wanted))
            ):
                outputs[environment.name] = deployments.outputs_of(
                    session, environment.last_succeeded_deployment_id
                )
    repository = repository or Repository()

    def stand_ins(environment: str | None) -> StandIns:
        return StandIns(
            template_name=template.name,
            resource_name=resource_name,
            account_id=settings.account_id,
            region=ctx.arns.region,
            environment_outputs=outputs.get(environment or "", {}),
            instance_outputs={},
            repository_connection_arn=repository.connection_arn,
            repository_id=repository.repository_id,
            branch_name=repository.branch_name,
        )

    try:
        if kind is TemplateKind.ENVIRONMENT:
            return CreationPreview(render_bundle(bundle, kind, spec_text, stand_ins(None)))
        return CreationPreview(
            _service(
                lambda environment: render_bundle(bundle, kind, spec_text, stand_ins(environment)),
                document,
            )
        )
    except DomainError as exc:
        return CreationPreview([], exc.message)
    except RenderFailed as exc:
        return CreationPreview([], f"The template does not render with these inputs: {exc}")


def _service(
    render: Callable[[str | None], list[RenderedResource]], document: specs.ServiceSpecDocument
) -> list[RenderedResource]:
    # One render per environment, each with that environment's outputs; every instance is
    # taken from the render of its own environment, the pipeline from the first.
    where = {entry.name: entry.environment for entry in document.instances}
    chosen: dict[str, RenderedResource] = {}
    pipeline: RenderedResource | None = None
    environments: list[str | None] = [*sorted(set(where.values()))] or [None]
    for environment in environments:
        for resource in render(environment):
            if resource.kind is RenderKind.PIPELINE:
                pipeline = pipeline or resource
            elif where.get(resource.name) == environment:
                chosen[resource.name] = resource
    ordered = [chosen[entry.name] for entry in document.instances if entry.name in chosen]
    return ordered + ([pipeline] if pipeline else [])
