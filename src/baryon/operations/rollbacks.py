"""Rollback of a resource (the ``baryon`` model): PreviewRollback, RollbackResource,
RollbackResources (a wave) and GetDeploymentRollbacks, for every front door.

A rollback is previewed first: `preview_rollback` renders the resource's IaC as it is now and
as its last known good deployment left it (the same render and diff as an upgrade's preview,
operations/previews.py), lists what a rollback cannot undo, and hands out the token without
which `start` refuses. The rules are domain/rollbacks.py's; this module reads and translates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from baryon.domain import rollbacks
from baryon.domain.rollbacks import Loss, RollbackTarget
from baryon.operations import authorization, previews
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import load

# The wire's preview members, as GetDeploymentPreview writes them: the same preview.
from baryon.operations.deployment_previews import _file, _input
from baryon.operations.errors import DomainError, InvalidInput, NotFound
from baryon.operations.previews import FileDiff, Preview
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import (
    ENVIRONMENT,
    INSTANCE,
    ResourceKey,
    environment_key,
    instance_key,
    pipeline_key,
)
from baryon.service_models import BARYON
from baryon.service_models.baryon import (
    GetDeploymentRollbacksInput,
    GetDeploymentRollbacksOutput,
    PreviewRollbackInput,
    PreviewRollbackOutput,
    RecoverableResourceType,
    RollbackLoss,
    RollbackLossKind,
    RollbackRequest,
    RollbackResourceInput,
    RollbackResourceOutput,
    RollbackResourcesInput,
    RollbackResourcesOutput,
    RollbackResourceType,
    StartedRollback,
)
from baryon.store.tables import Deployment

# Which request members name each kind of resource.
_NAMES: dict[RollbackResourceType, tuple[str, ...]] = {
    RollbackResourceType.ENVIRONMENT: ("environmentName",),
    RollbackResourceType.SERVICE_INSTANCE: ("serviceName", "serviceInstanceName"),
    RollbackResourceType.SERVICE_PIPELINE: ("serviceName",),
}
_MEMBERS = ("environmentName", "serviceName", "serviceInstanceName")


@dataclass(frozen=True)
class RollbackPreview:
    """What rolling ``key`` back would do; ``token`` is None when it cannot go ahead now
    (``problem`` says why)."""

    key: ResourceKey
    current: str  # the version deployed now, "1.1"
    reverses: str | None  # the deployment taken back
    target: RollbackTarget | None  # the last known good gone back to
    preview: Preview | None  # the rendered difference, now -> after the rollback
    losses: tuple[Loss, ...] = ()
    token: str | None = None
    problem: str | None = None

    @property
    def current_major(self) -> str:
        return self.current.split(".")[0]

    @property
    def current_minor(self) -> str:
        return self.current.split(".")[1]


@dataclass(frozen=True)
class RollbackAsked:
    """One rollback as a front door asks for it."""

    key: ResourceKey
    token: str
    reverses: str | None = None
    where: tuple[str | int, ...] = field(default=())  # the request member it came from


@dataclass(frozen=True)
class Started:
    deployment_id: str
    status: str
    target_arn: str
    target_type: str
    reverses: str
    target: str  # the last known good deployment


# --- operations ---------------------------------------------------------------------------


@baryon_operation("PreviewRollback")
def preview_rollback_operation(
    ctx: RequestContext, request: PreviewRollbackInput
) -> PreviewRollbackOutput:
    preview = preview_rollback(ctx, key_of(request), request.get("deploymentId"))
    return _preview_output(preview)


@baryon_operation("RollbackResource")
def rollback_resource(
    ctx: RequestContext, request: RollbackResourceInput
) -> RollbackResourceOutput:
    asked = RollbackAsked(key_of(request), request["previewToken"], request.get("deploymentId"))
    (started,) = start(ctx, [asked])
    return {"rollback": _started_output(started)}


@baryon_operation("RollbackResources")
def rollback_resources(
    ctx: RequestContext, request: RollbackResourcesInput
) -> RollbackResourcesOutput:
    asked = []
    for index, entry in enumerate(request["resources"]):
        where = ("resources", index)
        # Each entry is decided as the one-resource call would be: a wave of resources the
        # caller may not roll back one by one is refused.
        authorization.authorize(ctx, BARYON, "RollbackResource", entry)
        asked.append(
            RollbackAsked(
                key_of(entry, where), entry["previewToken"], entry.get("deploymentId"), where
            )
        )
    return {"rollbacks": [_started_output(started) for started in start(ctx, asked)]}


@baryon_operation("GetDeploymentRollbacks")
def get_deployment_rollbacks(
    ctx: RequestContext, request: GetDeploymentRollbacksInput
) -> GetDeploymentRollbacksOutput:
    reverses, reversed_by = links(ctx, request["id"])
    output: GetDeploymentRollbacksOutput = {"reversedBy": list(reversed_by)}
    if reverses is not None:
        output["reversesDeploymentId"] = reverses
    return output


# --- what the front doors call ------------------------------------------------------------


def preview_rollback(
    ctx: RequestContext, key: ResourceKey, reverses: str | None = None
) -> RollbackPreview:
    """What rolling ``key`` back (taking back ``reverses``, default its last deployment)
    would do. NotFound for a resource or deployment that does not exist; any other refusal
    is the preview's ``problem``."""
    with ctx.db.session() as session:
        loaded = load(session, key)
        row = loaded.row
        current = f"{row.template_major}.{row.template_minor}"
        reversed_id = reverses or row.last_attempted_deployment_id
        try:
            planned = rollbacks.plan_rollback(session, ctx.arns, row, reverses)
        except (NotFound, InvalidInput):
            raise
        except DomainError as exc:
            target = rollbacks.last_good(session, row, reversed_id) if reversed_id else None
            return RollbackPreview(key, current, reversed_id, target, None, problem=exc.message)
        preview = previews.build(session, ctx, loaded, planned.version, planned.target.spec or "")
        if preview.problem is not None:
            return RollbackPreview(
                key, current, planned.reverses.id, planned.target, preview, problem=preview.problem
            )
        lost = rollbacks.losses(
            _side(preview.files, before=True), _side(preview.files, before=False)
        )
        return RollbackPreview(
            key,
            current,
            planned.reverses.id,
            planned.target,
            preview,
            tuple(lost),
            planned.token,
        )


def start(ctx: RequestContext, asked: Sequence[RollbackAsked]) -> list[Started]:
    """Starts every rollback ``asked`` in one transaction, or none: a refusal names the
    entry it is about."""
    seen: dict[ResourceKey, tuple[str | int, ...]] = {}
    for one in asked:
        if one.key in seen:
            raise InvalidInput.at(
                (*one.where, "resourceType"),
                f"{one.key.label} is named twice; roll each resource back once.",
            )
        seen[one.key] = one.where
    started = []
    with ctx.db.session(write=True) as session:
        for one in asked:
            try:
                row = load(session, one.key, lock=True).row
                deployment = rollbacks.start_rollback(
                    session, ctx.arns, row, one.reverses, ctx.now, token=one.token
                )
                # What it went back to, found as the domain found it (the link is to the
                # reversed deployment; the last known good follows from it).
                target = rollbacks.last_good(session, row, deployment.reverses_deployment_id)
            except DomainError as exc:
                raise _at(exc, one.where) from exc
            assert target is not None  # start_rollback refuses a rollback without one
            started.append(_started(deployment, target))
    ctx.jobs_enqueued()
    return started


def links(ctx: RequestContext, deployment_id: str) -> tuple[str | None, tuple[str, ...]]:
    """The deployment ``deployment_id`` takes back (if it is a rollback), and the rollbacks
    that took it back, oldest first."""
    with ctx.db.session() as session:
        deployment = session.get(Deployment, deployment_id)
        if deployment is None:
            raise NotFound(f"The deployment '{deployment_id}' was not found.")
        reversed_by = session.scalars(
            select(Deployment.id)
            .where(Deployment.reverses_deployment_id == deployment_id)
            .order_by(Deployment.created_at)
        ).all()
        return deployment.reverses_deployment_id, tuple(reversed_by)


def key_of(
    request: PreviewRollbackInput | RollbackResourceInput | RollbackRequest,
    where: tuple[str | int, ...] = (),
) -> ResourceKey:
    """The resource the request names; exactly the members its resourceType calls for."""
    kind = RollbackResourceType(request["resourceType"])
    wanted = _NAMES[kind]
    names: Mapping[str, object] = request
    for member in _MEMBERS:
        given = names.get(member) is not None
        if member in wanted and not given:
            raise InvalidInput.at((*where, member), f"a {kind} names its {' and '.join(wanted)}")
        if member not in wanted and given:
            raise InvalidInput.at(
                (*where, member), f"a {kind} is named by {' and '.join(wanted)} only"
            )
    if kind == RollbackResourceType.ENVIRONMENT:
        return environment_key(request.get("environmentName") or "")
    if kind == RollbackResourceType.SERVICE_INSTANCE:
        return instance_key(
            request.get("serviceName") or "", request.get("serviceInstanceName") or ""
        )
    return pipeline_key(request.get("serviceName") or "")


def request_of(key: ResourceKey) -> PreviewRollbackInput:
    """The portal's resource as the API names it (resourceType and names)."""
    if key.kind == ENVIRONMENT:
        return {"resourceType": RollbackResourceType.ENVIRONMENT, "environmentName": key.name}
    if key.kind == INSTANCE:
        return {
            "resourceType": RollbackResourceType.SERVICE_INSTANCE,
            "serviceName": key.service or "",
            "serviceInstanceName": key.name,
        }
    return {"resourceType": RollbackResourceType.SERVICE_PIPELINE, "serviceName": key.service or ""}


# --- translation ----------------------------------------------------------------------------


def _side(files: Sequence[FileDiff], *, before: bool) -> dict[str, str]:
    texts = {diff.name: diff.before if before else diff.after for diff in files}
    return {name: text for name, text in texts.items() if text is not None}


def _at(exc: DomainError, where: tuple[str | int, ...]) -> DomainError:
    """``exc`` about the request entry at ``where`` (nothing to add for a lone request)."""
    if not where:
        return exc
    path = (*where, *(exc.field or ()))
    return type(exc)(f"{where[0]}[{where[1]}]: {exc.message}", field=path, reason=exc.reason)


def _started(deployment: Deployment, target: RollbackTarget) -> Started:
    return Started(
        deployment.id,
        deployment.status,
        deployment.target_arn,
        deployment.target_type,
        deployment.reverses_deployment_id or "",
        target.deployment_id,
    )


def _started_output(started: Started) -> StartedRollback:
    return {
        "arn": started.target_arn,
        "deployment": {
            "id": started.deployment_id,
            "status": started.status,
            "targetArn": started.target_arn,
            "targetResourceType": RecoverableResourceType(started.target_type),
        },
        "reversesDeploymentId": started.reverses,
        "targetDeploymentId": started.target,
    }


def _preview_output(found: RollbackPreview) -> PreviewRollbackOutput:
    output: PreviewRollbackOutput = {
        "currentTemplateMajorVersion": found.current_major,
        "currentTemplateMinorVersion": found.current_minor,
        "changed": found.preview.changed if found.preview is not None else False,
        "inputs": [],
        "files": [],
        "losses": [loss_output(loss) for loss in found.losses],
    }
    if found.reverses is not None:
        output["reversesDeploymentId"] = found.reverses
    if found.target is not None:
        output["targetDeploymentId"] = found.target.deployment_id
        output["targetTemplateMajorVersion"] = str(found.target.major)
        output["targetTemplateMinorVersion"] = str(found.target.minor)
    if found.preview is not None and found.problem is None:
        output["inputs"] = [_input(change) for change in found.preview.inputs]
        output["files"] = [_file(diff) for diff in found.preview.files]
        if found.preview.note is not None:
            output["note"] = found.preview.note
    if found.token is not None:
        output["previewToken"] = found.token
    if found.problem is not None:
        output["problem"] = found.problem
    return output


def loss_output(loss: Loss) -> RollbackLoss:
    return {
        "kind": RollbackLossKind(loss.kind.value),
        "name": loss.name,
        "type": loss.type,
        "file": loss.file,
        "message": loss.message,
    }
