"""Undoing an import: Baryon forgets what the import created, and no stack is touched.

The way back from ``baryon import`` (docs/migrating-from-proton.md, rollback): every template,
version, service and resource the import created is removed from Baryon, newest first, with
the deployment record and the adoption the import wrote. An adopted stack is released (its
adoption row goes; CloudFormation is never called), a linked repository folder is left as it
is, so that the account is exactly as Proton left it and the export can be imported again.

What Baryon changed since the import is not Baryon's to forget silently: a resource deployed
since (its stack now runs what Baryon deployed), deploying now, or holding something made in
Baryon since (an instance added to an imported service) is kept, and so is what it runs on;
each kept item says why. Undoing again after dealing with them removes the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from baryon.domain import adoption, deployments
from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict
from baryon.domain.imports import UNFINISHED, find_import
from baryon.domain.template_versions import version_arn
from baryon.domain.templates import template_arn
from baryon.service_models.baryon import (
    ImportItemAction,
    ImportItemStatus,
    ImportMode,
    ImportResourceType,
    ImportStatus,
)
from baryon.service_models.proton import DeploymentStatus, TemplateType
from baryon.store.tables import (
    Component,
    Deployment,
    DeploymentEvent,
    DeploymentOutput,
    Environment,
    ImportItemRow,
    Service,
    ServiceInstance,
    ServicePipeline,
    Tag,
    Template,
    TemplateVersion,
)

Kind = ImportResourceType
_MADE = (ImportItemAction.CREATE, ImportItemAction.RECOVER)
_FOLLOWERS = (ImportItemAction.ADOPT, ImportItemAction.LINK)


class _Kept(Exception):
    """Why one item stays in Baryon: caught within this module, never an API error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class UndoResult:
    removed: int
    kept: int


def undo_import(session: Session, arns: Arns, import_id: str, now: datetime) -> UndoResult:
    """Removes what the import created and Baryon has not changed since; marks each removed
    item RELEASED (its stack released with it) and the import UNDONE once nothing is left."""
    row = find_import(session, import_id, lock=True)
    if row.mode == ImportMode.PLAN:
        raise Conflict(f"Import {row.id} only planned; it created nothing to undo.")
    if row.status in UNFINISHED:
        raise Conflict(
            f"Import {row.id} is {row.status}; wait for it to finish (or run it to the end "
            "with baryon import) before undoing it."
        )
    if row.status == ImportStatus.UNDONE:
        return UndoResult(0, 0)
    items = list(
        session.scalars(
            select(ImportItemRow)
            .where(
                ImportItemRow.import_id == row.id,
                ImportItemRow.status == ImportItemStatus.APPLIED,
            )
            .order_by(ImportItemRow.position.desc())
            .with_for_update()
        )
    )
    followers = {
        (item.resource_type, item.name): item for item in items if item.action in _FOLLOWERS
    }
    removed = kept = 0
    for item in items:
        if item.action not in _MADE:
            continue
        follower = followers.get((item.resource_type, item.name))
        try:
            with session.begin_nested():
                said = _remove(session, arns, item)
        except _Kept as exc:
            kept += 1
            item.message = f"kept by undo: {exc.message}"[:4000]
            if follower is not None:
                follower.message = "kept with its resource"
            continue
        removed += 1
        _mark(item, f"removed from Baryon by undo{said}", now)
        if follower is not None:
            what = (
                f"stack {follower.stack_name} released as it stands"
                if follower.stack_name
                else "released; what provisions it was not touched"
            )
            _mark(follower, f"{what} (undo)", now)
    row.last_modified_at = now
    if kept:
        row.status_message = (
            f"Undo kept {kept} item(s) that Baryon changed or uses since the import; their "
            "messages say why. Deal with them and undo again."
        )
    else:
        row.status = ImportStatus.UNDONE
        row.status_message = f"Undone: {removed} item(s) removed from Baryon; no stack was touched."
    session.flush()
    return UndoResult(removed, kept)


def _mark(item: ImportItemRow, message: str, now: datetime) -> None:
    item.status = ImportItemStatus.RELEASED
    item.message = message
    item.applied_at = now


def _remove(session: Session, arns: Arns, item: ImportItemRow) -> str:
    kind = Kind(item.resource_type)
    removers: dict[Kind, Callable[[Session, Arns, ImportItemRow], str]] = {
        Kind.COMPONENT: _component,
        Kind.SERVICE_PIPELINE: _pipeline,
        Kind.SERVICE_INSTANCE: _instance,
        Kind.SERVICE: _service,
        Kind.ENVIRONMENT: _environment,
        Kind.SERVICE_TEMPLATE_VERSION: _version,
        Kind.ENVIRONMENT_TEMPLATE_VERSION: _version,
        Kind.SERVICE_TEMPLATE: _template,
        Kind.ENVIRONMENT_TEMPLATE: _template,
    }
    remover = removers.get(kind)
    if remover is None:
        return ""
    said = remover(session, arns, item)
    session.flush()
    return said


# --- resources -------------------------------------------------------------------------------


def _forget_deployed(
    session: Session, arn: str, resource: deployments.Deployable, label: str
) -> str:
    """Drops the imported deployment record and the adoption: refused when Baryon deployed
    the resource since (or deploys it now)."""
    if resource.deployment_status != DeploymentStatus.SUCCEEDED:
        raise _Kept(f"{label} is {resource.deployment_status} in Baryon now")
    since = list(
        session.scalars(
            select(Deployment.id).where(
                Deployment.target_arn == arn, Deployment.created_at >= resource.created_at
            )
        )
    )
    imported = resource.last_succeeded_deployment_id
    if resource.last_attempted_deployment_id != imported or since != [imported]:
        raise _Kept(
            f"{label} was deployed by Baryon since the import (its stack runs that now); "
            "delete it in Baryon (which deletes what it provisioned) or keep it"
        )
    kept = adoption.adopted_stack(session, arn)
    session.execute(delete(DeploymentEvent).where(DeploymentEvent.deployment_id == imported))
    session.execute(delete(DeploymentOutput).where(DeploymentOutput.deployment_id == imported))
    session.execute(delete(Deployment).where(Deployment.id == imported))
    session.execute(delete(Tag).where(Tag.resource_arn == arn))
    deployments.forget_resource(session, arn)  # the adoption goes; the stack stays
    return f"; stack {kept.stack_name} ({kept.stack_id}) untouched" if kept else ""


def _component(session: Session, arns: Arns, item: ImportItemRow) -> str:
    row = session.scalars(select(Component).where(Component.name == item.name)).first()
    if row is None:
        return " (it was gone already)"
    said = _forget_deployed(session, arns.component(row.name), row, f"component '{row.name}'")
    session.delete(row)
    return said


def _pipeline(session: Session, arns: Arns, item: ImportItemRow) -> str:
    row = session.scalars(
        select(ServicePipeline)
        .join(Service, Service.id == ServicePipeline.service_id)
        .where(Service.name == item.name)
    ).first()
    if row is None:
        return " (it was gone already)"
    arn = arns.service_pipeline(item.name)
    said = _forget_deployed(session, arn, row, f"the pipeline of service '{item.name}'")
    session.delete(row)
    return said


def _instance(session: Session, arns: Arns, item: ImportItemRow) -> str:
    service_name, _, name = item.name.partition("/")
    row = session.scalars(
        select(ServiceInstance).where(
            ServiceInstance.service_name == service_name, ServiceInstance.name == name
        )
    ).first()
    if row is None:
        return " (it was gone already)"
    _refuse_users(
        session,
        select(Component.name).where(
            Component.service_name == service_name, Component.service_instance_name == name
        ),
        f"service instance '{item.name}'",
        "component",
    )
    arn = arns.service_instance(service_name, name)
    said = _forget_deployed(session, arn, row, f"service instance '{item.name}'")
    session.delete(row)
    return said


def _service(session: Session, arns: Arns, item: ImportItemRow) -> str:
    row = session.scalars(select(Service).where(Service.name == item.name)).first()
    if row is None:
        return " (it was gone already)"
    _refuse_users(
        session,
        select(ServiceInstance.name).where(ServiceInstance.service_id == row.id),
        f"service '{item.name}'",
        "instance",
    )
    _refuse_users(
        session,
        select(Service.name)
        .join(ServicePipeline, ServicePipeline.service_id == Service.id)
        .where(Service.id == row.id),
        f"service '{item.name}'",
        "pipeline of service",
    )
    session.execute(delete(Tag).where(Tag.resource_arn == arns.service(row.name)))
    session.delete(row)
    return ""


def _environment(session: Session, arns: Arns, item: ImportItemRow) -> str:
    row = session.scalars(select(Environment).where(Environment.name == item.name)).first()
    if row is None:
        return " (it was gone already)"
    where = f"environment '{item.name}'"
    _refuse_users(
        session,
        select(ServiceInstance.service_name + "/" + ServiceInstance.name).where(
            ServiceInstance.environment_id == row.id
        ),
        where,
        "service instance",
    )
    _refuse_users(
        session, select(Component.name).where(Component.environment_id == row.id), where,
        "component",
    )  # fmt: skip
    said = _forget_deployed(session, arns.environment(row.name), row, where)
    session.delete(row)
    return said


def _refuse_users(session: Session, query: Select[Any], where: str, word: str) -> None:
    names = list(session.scalars(query.limit(4)))
    if names:
        shown = ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")
        raise _Kept(f"{where} is used by {word}(s) {shown}, which stay(s) in Baryon")


# --- templates and versions ------------------------------------------------------------------


def _version(session: Session, arns: Arns, item: ImportItemRow) -> str:
    kind = (
        TemplateType.ENVIRONMENT
        if item.resource_type == Kind.ENVIRONMENT_TEMPLATE_VERSION
        else TemplateType.SERVICE
    )
    major, _, minor = (item.template_version or "").partition(".")
    row = session.scalars(
        select(TemplateVersion)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where(
            Template.kind == kind,
            Template.name == item.name,
            TemplateVersion.major == int(major),
            TemplateVersion.minor == int(minor),
        )
    ).first()
    if row is None:
        return " (it was gone already)"
    template = row.template
    users = _version_users(session, kind, item.name, row.major, row.minor)
    if users:
        raise _Kept(f"version {item.template_version} runs {', '.join(users)}, which stay")
    session.execute(delete(Tag).where(Tag.resource_arn == version_arn(arns, template, row)))
    session.delete(row)
    return ""


def _version_users(
    session: Session, kind: TemplateType, name: str, major: int, minor: int
) -> list[str]:
    if kind == TemplateType.ENVIRONMENT:
        found = session.scalars(
            select(Environment.name)
            .where(
                Environment.template_name == name,
                Environment.template_major == major,
                Environment.template_minor == minor,
            )
            .limit(3)
        )
        return [f"environment {n}" for n in found]
    instances = session.scalars(
        select(ServiceInstance.service_name + "/" + ServiceInstance.name)
        .where(
            ServiceInstance.template_name == name,
            ServiceInstance.template_major == major,
            ServiceInstance.template_minor == minor,
        )
        .limit(3)
    )
    pipelines = session.scalars(
        select(Service.name)
        .join(ServicePipeline, ServicePipeline.service_id == Service.id)
        .where(
            Service.template_name == name,
            ServicePipeline.template_major == major,
            ServicePipeline.template_minor == minor,
        )
        .limit(3)
    )
    return [f"service instance {n}" for n in instances] + [f"pipeline of {n}" for n in pipelines]


def _template(session: Session, arns: Arns, item: ImportItemRow) -> str:
    kind = (
        TemplateType.ENVIRONMENT
        if item.resource_type == Kind.ENVIRONMENT_TEMPLATE
        else TemplateType.SERVICE
    )
    row = session.scalars(
        select(Template).where(Template.kind == kind, Template.name == item.name)
    ).first()
    if row is None:
        return " (it was gone already)"
    versions = session.scalar(
        select(func.count())
        .select_from(TemplateVersion)
        .where(TemplateVersion.template_id == row.id)
    )
    if versions:
        raise _Kept(f"it still has {versions} version(s) in Baryon")
    if kind == TemplateType.SERVICE:
        users = list(session.scalars(select(Service.name).where(Service.template_id == row.id)))
        if users:
            raise _Kept(f"services {', '.join(users[:3])} use it")
    session.execute(delete(Tag).where(Tag.resource_arn == template_arn(arns, row)))
    session.delete(row)
    return ""
