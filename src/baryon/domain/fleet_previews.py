"""Fleet previews: what one pending change would do to each resource it touches, kept so that
what was approved is exactly what runs.

A preview is created with its items (one per resource: the target version and spec, the
rendered difference, and the resource's *basis*: what it was when planned) and a job
(engine/fleet_previews.py) that asks each resource's engine for its own preview: a
CloudFormation change set, kept in the cloud. Items with the same change (the same resources,
actions and changed paths, the same rendered difference) share a *signature*, so a person
reviews each distinct change once.

Approving starts one deployment per item that changes something, in the approval's
transaction, each carrying its item (``Deployment.fleet_preview_item_id``): the deploy job
executes that change set instead of planning again (`prepared_change`). A preview is stale,
and its approval refused naming why, once its time to live has passed or any resource moved
since it was planned (another deployment, a changed spec or version).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain import deployments, drift, environments, services, specs
from baryon.domain.arns import Arns
from baryon.domain.environments import EnvironmentSettings
from baryon.domain.errors import Conflict, DomainError, NotFound
from baryon.service_models.proton import DeploymentUpdateType
from baryon.store.jobs import JobKind, enqueue
from baryon.store.tables import (
    Deployment,
    DriftItemRow,
    Environment,
    FleetPreviewItemRow,
    FleetPreviewRow,
    ServiceInstance,
)

ENVIRONMENT, INSTANCE = "environment", "instance"


class PreviewStatus(StrEnum):
    PLANNING = "PLANNING"  # the job is asking the engines
    READY = "READY"  # every item planned (some may have failed to plan: see the summary)
    APPROVED = "APPROVED"  # its deployments were started
    STALE = "STALE"  # found stale when someone tried to approve it


class ItemStatus(StrEnum):
    PENDING = "PENDING"  # not planned yet
    CHANGE = "CHANGE"  # the engine's preview is kept and ready to run
    NO_CHANGE = "NO_CHANGE"  # nothing would change in the cloud
    FAILED = "FAILED"  # could not be planned (problem says why); blocks approval
    FILTERED = "FILTERED"  # left out of the change (problem says why)
    DEPLOYING = "DEPLOYING"  # the approval started its deployment


class Risk(StrEnum):
    # Terraform's plans are recorded in CloudFormation's words (terraform_results.py): a
    # replace is Replacement True with ReplaceAndDelete, a delete is Remove with Delete.
    REPLACEMENT = "REPLACEMENT"  # a resource is replaced (CloudFormation Replacement True)
    CONDITIONAL_REPLACEMENT = "CONDITIONAL_REPLACEMENT"  # may be replaced (Conditional)
    DATA_LOSS = "DATA_LOSS"  # a physical resource is deleted (Delete, ReplaceAndDelete)
    DYNAMIC = "DYNAMIC"  # a change CloudFormation cannot determine before deploying
    # The change touches a property (or replaces or removes a resource) that has unclosed
    # drift (domain/drift.py): deploying it puts the template's value back over the drift.
    DRIFT_OVERWRITE = "DRIFT_OVERWRITE"


# Policy actions that delete the physical resource: its data goes with it.
_DELETING = frozenset({"Delete", "ReplaceAndDelete"})


@dataclass(frozen=True)
class PlannedItem:
    """One resource of a new preview, as the caller (operations/fleet_previews.py) worked it
    out: its change, its rendered difference, or why it is left out."""

    kind: str  # ENVIRONMENT | INSTANCE
    name: str
    service_name: str | None
    target_arn: str
    basis: str
    template_version_id: int | None = None
    target_major: int | None = None
    target_minor: int | None = None
    spec: str | None = None
    inputs: Mapping[str, Any] | None = None
    problem: str | None = None  # it cannot be planned: FAILED
    filtered: str | None = None  # it is left out: FILTERED


@dataclass(frozen=True)
class ResourceChangeRecord:
    """One resource change of an item's change set, as stored (the provisioner's shape)."""

    action: str
    logical_id: str
    resource_type: str
    physical_id: str | None = None
    replacement: str | None = None
    policy_action: str | None = None
    scope: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "logicalId": self.logical_id,
            "resourceType": self.resource_type,
            "physicalId": self.physical_id,
            "replacement": self.replacement,
            "policyAction": self.policy_action,
            "scope": list(self.scope),
            "paths": list(self.paths),
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> ResourceChangeRecord:
        return cls(
            action=str(stored.get("action", "")),
            logical_id=str(stored.get("logicalId", "")),
            resource_type=str(stored.get("resourceType", "")),
            physical_id=stored.get("physicalId"),
            replacement=stored.get("replacement"),
            policy_action=stored.get("policyAction"),
            scope=tuple(stored.get("scope") or ()),
            paths=tuple(stored.get("paths") or ()),
        )


@dataclass(frozen=True)
class FileChange:
    """One rendered file that the change alters: its unified diff's lines."""

    path: str
    lines: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "lines": list(self.lines)}


@dataclass(frozen=True)
class EnginePlan:
    """What the engine said of one item (engine/fleet_previews.py records it)."""

    status: ItemStatus  # CHANGE, NO_CHANGE or FAILED
    engine: str | None = None
    change_set_id: str | None = None
    changes: tuple[ResourceChangeRecord, ...] = ()
    problem: str | None = None
    # The rendered difference, made by the job (None: it could not render, see problem).
    diff: tuple[FileChange, ...] | None = None
    plan: bytes | None = None  # Terraform: the saved plan file, sealed


@dataclass(frozen=True)
class KeptChangeSet:
    """A change set a deleted preview kept in the cloud, for the job that drops it: the
    resource tells the job which account's cloud to ask."""

    change_set_id: str
    target_arn: str
    kind: str  # ENVIRONMENT | INSTANCE
    name: str
    service_name: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "changeSetId": self.change_set_id,
            "targetArn": self.target_arn,
            "kind": self.kind,
            "name": self.name,
            "serviceName": self.service_name,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> KeptChangeSet:
        return cls(
            change_set_id=str(stored["changeSetId"]),
            target_arn=str(stored["targetArn"]),
            kind=str(stored["kind"]),
            name=str(stored["name"]),
            service_name=stored.get("serviceName"),
        )


@dataclass(frozen=True)
class PreparedChange:
    """What a deployment started from an approved preview must carry out exactly."""

    engine: str | None
    change_set_id: str | None
    stale: str | None = None  # it can no longer run, and why (the deployment fails with it)
    plan: bytes | None = None  # Terraform: the saved plan file to apply, sealed


@dataclass
class Summary:
    """Counts of a preview's items by what they would do (one item may count twice: a
    replacement is a change too)."""

    no_change: int = 0
    change: int = 0
    replace: int = 0
    data_loss: int = 0
    failed: int = 0
    filtered: int = 0
    pending: int = 0
    drift_overwrite: int = 0
    filtered_reasons: dict[str, int] = field(default_factory=dict)


# --- the basis: what a resource was when planned ---------------------------------------------


def basis_of(session: Session, row: Environment | ServiceInstance) -> str:
    """A digest of what makes a resource's plan valid: its deployed version, its own spec and
    its deployments, and for an instance its environment's last deployment (whose outputs
    it renders with); any change (a deployment started since, by anyone) changes it.

    An instance's spec is its service's whole spec: only its own entry counts, so editing
    one instance's inputs leaves a preview of the others fresh."""
    document: dict[str, Any] = {
        "version": [row.template_major, row.template_minor],
        "spec": own_spec(row),
        "attempted": row.last_attempted_deployment_id,
        "succeeded": row.last_succeeded_deployment_id,
        "status": row.deployment_status,
    }
    if isinstance(row, ServiceInstance):
        environment = session.get(Environment, row.environment_id)
        document["environment"] = (
            None if environment is None else environment.last_succeeded_deployment_id
        )
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def own_spec(row: Environment | ServiceInstance) -> Any:
    """The part of the spec that is the resource's own: an environment's whole spec, an
    instance's entry in its service's spec (the whole text when it does not parse)."""
    text = row.spec or ""
    if isinstance(row, Environment):
        return text
    try:
        entry = specs.parse_service_spec(text).instance(row.name)
    except DomainError:
        return text
    return {"environment": entry.environment, "spec": entry.spec}


def resource_of(
    session: Session, item: FleetPreviewItemRow
) -> Environment | ServiceInstance | None:
    if item.resource_kind == ENVIRONMENT:
        return session.scalar(select(Environment).where(Environment.name == item.resource_name))
    return session.scalar(
        select(ServiceInstance).where(
            ServiceInstance.service_name == item.service_name,
            ServiceInstance.name == item.resource_name,
        )
    )


def label(item: FleetPreviewItemRow) -> str:
    if item.resource_kind == ENVIRONMENT:
        return f"environment {item.resource_name}"
    return f"service instance {item.service_name}/{item.resource_name}"


# --- creating --------------------------------------------------------------------------------


def create(
    session: Session,
    items: Sequence[PlannedItem],
    *,
    description: str | None,
    created_by: str,
    ttl: timedelta,
    now: datetime,
) -> FleetPreviewRow:
    """Records a preview with its items and queues the job that plans them."""
    preview = FleetPreviewRow(
        id=str(uuid.uuid4()),
        status=PreviewStatus.PLANNING,
        description=description,
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(preview)
    session.flush()
    for position, planned in enumerate(items):
        status = ItemStatus.PENDING
        if planned.filtered is not None:
            status = ItemStatus.FILTERED
        elif planned.problem is not None:
            status = ItemStatus.FAILED
        session.add(
            FleetPreviewItemRow(
                preview_id=preview.id,
                position=position,
                resource_kind=planned.kind,
                resource_name=planned.name,
                service_name=planned.service_name,
                target_arn=planned.target_arn,
                status=status,
                problem=planned.filtered or planned.problem,
                template_version_id=planned.template_version_id,
                target_major=planned.target_major,
                target_minor=planned.target_minor,
                spec=planned.spec,
                inputs=dict(planned.inputs) if planned.inputs is not None else None,
                basis=planned.basis,
                diff=[],
            )
        )
    enqueue(session, JobKind.FLEET_PREVIEW, {"preview_id": preview.id}, now)
    return preview


def find(session: Session, preview_id: str, *, lock: bool = False) -> FleetPreviewRow:
    preview = session.get(FleetPreviewRow, preview_id, with_for_update=lock)
    if preview is None:
        raise NotFound(f"The fleet preview '{preview_id}' was not found.")
    return preview


def items_of(session: Session, preview_id: str) -> list[FleetPreviewItemRow]:
    return list(
        session.scalars(
            select(FleetPreviewItemRow)
            .where(FleetPreviewItemRow.preview_id == preview_id)
            .order_by(FleetPreviewItemRow.position)
        )
    )


# --- planning (the job) ----------------------------------------------------------------------


def next_pending(session: Session, preview_id: str) -> FleetPreviewItemRow | None:
    return session.scalars(
        select(FleetPreviewItemRow)
        .where(
            FleetPreviewItemRow.preview_id == preview_id,
            FleetPreviewItemRow.status == ItemStatus.PENDING,
        )
        .order_by(FleetPreviewItemRow.position)
        .limit(1)
    ).first()


def record_plan(session: Session, item_id: int, plan: EnginePlan) -> bool:
    """Records what the engine said; False when the item was deleted meanwhile (its change
    set is then nobody's: the job drops it) or recorded by an earlier run of the job."""
    item = session.get(FleetPreviewItemRow, item_id, with_for_update=True)
    if item is None:
        return False
    if item.status != ItemStatus.PENDING:
        return True
    item.status = plan.status
    item.engine = plan.engine
    item.change_set_id = plan.change_set_id
    item.plan_ciphertext = plan.plan
    item.problem = plan.problem
    if plan.diff is not None:
        item.diff = [f.as_json() for f in plan.diff]
    item.resource_changes = [c.as_json() for c in plan.changes]
    found = risks_of(plan.changes)
    if overwrites_drift(plan.changes, drift.open_items(session, item.target_arn)):
        found = sorted({*found, Risk.DRIFT_OVERWRITE})
    item.risks = [str(r) for r in found]
    item.signature = signature_of(item, plan.changes)
    return True


def finish(session: Session, preview_id: str, now: datetime) -> None:
    preview = session.get(FleetPreviewRow, preview_id, with_for_update=True)
    if preview is not None and preview.status == PreviewStatus.PLANNING:
        preview.status = PreviewStatus.READY
        preview.completed_at = now


def fail_pending(session: Session, preview_id: str, reason: str, now: datetime) -> None:
    """The job gave up: what is left unplanned failed to plan, and the preview is done."""
    for item in items_of(session, preview_id):
        if item.status == ItemStatus.PENDING:
            item.status = ItemStatus.FAILED
            item.problem = reason
    finish(session, preview_id, now)


def risks_of(changes: Sequence[ResourceChangeRecord]) -> list[Risk]:
    found: list[Risk] = []
    for change in changes:
        if change.replacement == "True":
            found.append(Risk.REPLACEMENT)
        elif change.replacement == "Conditional":
            found.append(Risk.CONDITIONAL_REPLACEMENT)
        if change.policy_action in _DELETING:
            found.append(Risk.DATA_LOSS)
        if change.action == "Dynamic":
            found.append(Risk.DYNAMIC)
    return sorted(set(found))


def overwrites_drift(
    changes: Sequence[ResourceChangeRecord], drifted: Sequence[DriftItemRow]
) -> bool:
    """Whether a change touches drift not closed yet (open, or ignored for now): a change to
    the drifted engine resource that replaces or removes it, or changes the drifted property
    (compared by its first path segment: CloudFormation's change set says
    ``/Properties/Name``, its drift detection ``/Name``; Terraform's both ``/name``), or any
    change to a resource whose drift is that it was deleted."""
    for change in changes:
        touched = {_first_segment(p) for p in change.paths}
        whole = change.action in ("Remove", "Dynamic") or change.replacement == "True"
        for item in drifted:
            if item.logical_id != change.logical_id:
                continue
            segment = _first_segment(item.path)
            if whole or segment is None or segment in touched or not touched:
                return True
    return False


def _first_segment(path: str) -> str | None:
    """``/Properties/Tags/0`` -> ``Tags``; ``/`` (the whole resource) -> None."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "Properties":
        parts = parts[1:]
    return parts[0] if parts else None


def signature_of(item: FleetPreviewItemRow, changes: Sequence[ResourceChangeRecord]) -> str:
    """Identical changes share it: each resource change's type, logical id, action and
    changed paths, and the rendered difference's added and removed lines."""
    rendered = [
        [entry.get("path"), [line for line in entry.get("lines", []) if line[:1] in "+-"]]
        for entry in item.diff or []
    ]
    document = {
        "target": [item.target_major, item.target_minor],
        "changes": sorted(
            [c.resource_type, c.logical_id, c.action, list(c.paths), c.replacement] for c in changes
        ),
        "rendered": rendered,
        "status": item.status,
        # The same change over drift on one resource and none on another is two reviews.
        "risks": sorted(item.risks or []),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


def summary_of(items: Sequence[FleetPreviewItemRow]) -> Summary:
    summary = Summary()
    for item in items:
        risks = set(item.risks or [])
        if item.status == ItemStatus.NO_CHANGE:
            summary.no_change += 1
        elif item.status in (ItemStatus.CHANGE, ItemStatus.DEPLOYING):
            summary.change += 1
        elif item.status == ItemStatus.FAILED:
            summary.failed += 1
        elif item.status == ItemStatus.FILTERED:
            summary.filtered += 1
            reason = item.problem or "filtered"
            summary.filtered_reasons[reason] = summary.filtered_reasons.get(reason, 0) + 1
        else:
            summary.pending += 1
        if Risk.REPLACEMENT in risks or Risk.CONDITIONAL_REPLACEMENT in risks:
            summary.replace += 1
        if Risk.DATA_LOSS in risks:
            summary.data_loss += 1
        if Risk.DRIFT_OVERWRITE in risks:
            summary.drift_overwrite += 1
    return summary


# --- staleness and approval ------------------------------------------------------------------


def stale_reason(
    session: Session,
    preview: FleetPreviewRow,
    items: Sequence[FleetPreviewItemRow],
    now: datetime,
) -> str | None:
    """Why the preview no longer says what its approval would do; None while it does."""
    if now >= preview.expires_at:
        return (
            f"it was planned at {preview.created_at.isoformat()} and expired at "
            f"{preview.expires_at.isoformat()}"
        )
    for item in items:
        if item.status == ItemStatus.FILTERED:
            continue
        row = resource_of(session, item)
        if row is None:
            return f"{label(item)} was deleted since the preview"
        if basis_of(session, row) != item.basis:
            return f"{label(item)} changed since the preview (a deployment, its spec or version)"
    return None


def approve(
    session: Session, arns: Arns, preview_id: str, *, approved_by: str, now: datetime
) -> list[Deployment]:
    """Starts the deployments of a READY, fresh preview, each carrying its item; Conflict
    naming why when it is not ready, failed to plan somewhere, or stale."""
    preview = find(session, preview_id, lock=True)
    if preview.status != PreviewStatus.READY:
        raise Conflict(
            f"The fleet preview '{preview_id}' is {preview.status}; only a READY preview can "
            "be approved."
        )
    items = items_of(session, preview_id)
    failed = [item for item in items if item.status == ItemStatus.FAILED]
    if failed:
        raise Conflict(
            f"The fleet preview '{preview_id}' could not plan {len(failed)} resource(s) (first: "
            f"{label(failed[0])}: {failed[0].problem}); fix them and preview again."
        )
    reason = stale_reason(session, preview, items, now)
    if reason is not None:
        preview.status = PreviewStatus.STALE
        raise Conflict(
            f"The fleet preview '{preview_id}' is stale: {reason}. Preview the change again."
        )
    started: list[Deployment] = []
    for item in items:
        if item.status not in (ItemStatus.CHANGE, ItemStatus.NO_CHANGE):
            continue
        deployment = _start(session, arns, item, now)
        deployment.fleet_preview_item_id = item.id
        item.deployment_id = deployment.id
        item.status = ItemStatus.DEPLOYING
        started.append(deployment)
    preview.status = PreviewStatus.APPROVED
    preview.approved_by = approved_by
    preview.approved_at = now
    return started


@dataclass(frozen=True)
class ApprovedUpdate:
    """The update an approved item makes, as UpdateEnvironment / UpdateServiceInstance take
    it: the approval is decided and audited per resource as those calls would be."""

    kind: str  # ENVIRONMENT | INSTANCE
    name: str
    service_name: str | None
    deployment_type: DeploymentUpdateType
    spec: str | None
    major: str | None
    minor: str | None


def approved_updates(session: Session, preview_id: str) -> list[ApprovedUpdate]:
    """The updates approving the preview would make (its items that run), as they stand."""
    found = []
    for item in items_of(session, preview_id):
        if item.status not in (ItemStatus.CHANGE, ItemStatus.NO_CHANGE):
            continue
        row = resource_of(session, item)
        if row is not None:
            found.append(update_of(item, row))
    return found


def update_of(item: FleetPreviewItemRow, row: Environment | ServiceInstance) -> ApprovedUpdate:
    if item.target_major != row.template_major:
        deployment_type = DeploymentUpdateType.MAJOR_VERSION
    elif item.target_minor != row.template_minor:
        deployment_type = DeploymentUpdateType.MINOR_VERSION
    else:
        deployment_type = DeploymentUpdateType.CURRENT_VERSION
    major = (
        str(item.target_major) if deployment_type == DeploymentUpdateType.MAJOR_VERSION else None
    )
    minor = (
        None if deployment_type == DeploymentUpdateType.CURRENT_VERSION else str(item.target_minor)
    )
    return ApprovedUpdate(
        item.resource_kind, item.resource_name, item.service_name, deployment_type,
        item.spec, major, minor,
    )  # fmt: skip


def _start(session: Session, arns: Arns, item: FleetPreviewItemRow, now: datetime) -> Deployment:
    row = resource_of(session, item)
    assert row is not None  # checked by stale_reason in this transaction
    update = update_of(item, row)
    started: Environment | ServiceInstance
    if item.resource_kind == ENVIRONMENT:
        started = environments.update_environment(
            session,
            arns,
            name=item.resource_name,
            deployment_type=update.deployment_type,
            spec=update.spec,
            major=update.major,
            minor=update.minor,
            settings=EnvironmentSettings(),
            now=now,
        )
    else:
        started = services.update_service_instance(
            session,
            arns,
            service_name=item.service_name or "",
            name=item.resource_name,
            deployment_type=update.deployment_type,
            spec=update.spec,
            major=update.major,
            minor=update.minor,
            client_token=None,
            now=now,
        )
    return deployments.find_deployment(session, started.last_attempted_deployment_id or "")


def prepared_change(session: Session, deployment: Deployment) -> PreparedChange | None:
    """The approved change ``deployment`` must carry out (None: it came from no preview)."""
    if deployment.fleet_preview_item_id is None:
        return None
    item = session.get(FleetPreviewItemRow, deployment.fleet_preview_item_id)
    if item is None:
        return PreparedChange(
            None, None, stale="its approved fleet preview was deleted; preview the change again"
        )
    if item.deployment_id != deployment.id:
        return PreparedChange(
            item.engine,
            item.change_set_id,
            stale="its fleet preview item was approved for another deployment; preview again",
        )
    return PreparedChange(item.engine, item.change_set_id, plan=item.plan_ciphertext)


def delete(session: Session, preview_id: str, now: datetime) -> list[KeptChangeSet]:
    """Deletes a preview and queues the job that drops the change sets it kept and no
    deployment executed (returned). An approved preview's items stay with their deployments
    until those end: deleting it then is refused."""
    preview = find(session, preview_id, lock=True)
    items = items_of(session, preview_id)
    running = [
        item
        for item in items
        if item.deployment_id is not None
        and (deployment := session.get(Deployment, item.deployment_id)) is not None
        and deployment.status not in deployments.TERMINAL
    ]
    if running:
        raise Conflict(
            f"The fleet preview '{preview_id}' has {len(running)} deployment(s) in progress "
            f"(first: {label(running[0])}); delete it once they end."
        )
    kept = [
        KeptChangeSet(item.change_set_id, item.target_arn, item.resource_kind,
                      item.resource_name, item.service_name)
        for item in items
        if item.change_set_id and item.deployment_id is None
    ]  # fmt: skip
    session.delete(preview)
    if kept:
        payload = {"changeSets": [k.as_json() for k in kept]}
        enqueue(session, JobKind.FLEET_PREVIEW_CLEANUP, payload, now)
    return kept
