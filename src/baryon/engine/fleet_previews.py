"""The fleet preview jobs: one renders each item and asks its engine for its own preview,
and keeps it; the other drops the change sets of a deleted preview.

Item by item: one short read (the deployed version rendered as deployed, and the target
read exactly as the deploy job will read it), then the target's render, its difference from
what is deployed (domain/file_diffs.py, as the upgrade preview shows it) and the cloud call
outside any transaction, then one short write. A re-run after a crash continues with the
items still PENDING; a change set made by a run that died before recording it has the item's
name, and CloudFormation refuses a second one of that name, so the provisioner reuses it
(provisioners/cloudformation_change_sets.prepare). A change set made for an item deleted
meanwhile (its preview was) is dropped at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from baryon.bundles.errors import BundleError
from baryon.domain import adoption, file_diffs, fleet_previews, render_target
from baryon.domain.environment_account_connections import ConnectionUnavailable
from baryon.domain.fleet_previews import (
    ENVIRONMENT,
    EnginePlan,
    FileChange,
    ItemStatus,
    KeptChangeSet,
    ResourceChangeRecord,
)
from baryon.domain.plan import TemplatePlan
from baryon.domain.render_target import RenderTarget, SpecOutputs, target_for
from baryon.engine import provisioning
from baryon.engine.handlers import JobContext, register_job
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.provisioners.base import (
    DeployRequest,
    ProvisioningEngine,
    ResourceIdentity,
    SilentIO,
)
from baryon.provisioners.cloudformation import CloudFormationProvisioner
from baryon.provisioners.cloudformation_change_sets import PlanStatus
from baryon.provisioners.selection import provisioner_for
from baryon.provisioners.terraform import TerraformProvisioner
from baryon.provisioners.terraform_results import output_changes, plan_changes
from baryon.render.errors import RenderError
from baryon.render.iac import RenderedSection
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.jobs import JobKind
from baryon.store.tables import (
    Deployment,
    Environment,
    FleetPreviewItemRow,
    ServiceInstance,
    TemplateVersion,
)

log = logging.getLogger(__name__)

# Each item is planned once per run; a bound keeps a corrupt preview from looping for ever.
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class ItemWork:
    item_id: int
    change_set_name: str
    resource: ResourceIdentity
    target: RenderTarget
    deployed: dict[str, str]  # the files as deployed now (empty: nothing deployed, or new)
    current: str  # the deployed version, "1.0"
    version: str  # the target version, "1.1"


def run(context: JobContext, payload: dict[str, Any]) -> None:
    runtime = context.runtime
    preview_id = str(payload["preview_id"])
    for _ in range(MAX_ITEMS):
        if context.lease_lost.is_set():
            return
        with runtime.db.session() as session:
            item = fleet_previews.next_pending(session, preview_id)
            if item is None:
                break
            item_id = item.id
            try:
                work: ItemWork | EnginePlan = _read(session, runtime, preview_id, item)
            except (RenderError, BundleError, ConnectionUnavailable) as exc:
                work = EnginePlan(ItemStatus.FAILED, problem=f"could not render: {exc}")
        plan = work if isinstance(work, EnginePlan) else _plan(runtime, work)
        with runtime.db.session(write=True) as session:
            kept = fleet_previews.record_plan(session, item_id, plan)
        if not kept and plan.change_set_id and isinstance(work, ItemWork):
            _drop(runtime, work.resource, plan.change_set_id)
    with runtime.db.session(write=True) as session:
        fleet_previews.finish(session, preview_id, datetime.now(UTC))


def _read(
    session: Any, runtime: WorkerRuntime, preview_id: str, item: FleetPreviewItemRow
) -> ItemWork | EnginePlan:
    """What planning ``item`` needs, read in the job's short transaction."""
    row = fleet_previews.resource_of(session, item)
    if row is None or item.template_version_id is None:
        return EnginePlan(ItemStatus.FAILED, problem="the resource was deleted")
    # The identity a deployment of it would have (names only: see resource_identity).
    record = Deployment(
        target_type=(
            DeploymentTargetResourceType.ENVIRONMENT
            if item.resource_kind == ENVIRONMENT
            else DeploymentTargetResourceType.SERVICE_INSTANCE
        ),
        target_arn=item.target_arn,
        environment_name=row.name if isinstance(row, Environment) else row.environment_name,
        service_name=item.service_name,
        service_instance_name=item.resource_name if isinstance(row, ServiceInstance) else None,
    )
    adopted = adoption.adopted_stack(session, item.target_arn)
    resource = provisioning.resource_identity(
        record,
        runtime.settings,
        stack_name=adopted.stack_name if adopted else None,
        account=provisioning.environment_account(session, record),
    )
    plan = TemplatePlan(item.template_version_id, item.spec, dict(item.inputs or {}))
    target = target_for(session, runtime.settings, runtime.arns, row, item.target_arn, plan)
    if isinstance(target, SpecOutputs):
        return EnginePlan(
            ItemStatus.NO_CHANGE, problem="customer-managed: nothing deploys", diff=()
        )
    name = f"baryon-preview-{preview_id[:8]}-{item.id}"
    return ItemWork(
        item.id,
        name,
        resource,
        target,
        _deployed_files(session, runtime, row, item.target_arn),
        f"{row.template_major}.{row.template_minor}",
        f"{item.target_major}.{item.target_minor}",
    )


def _deployed_files(
    session: Any, runtime: WorkerRuntime, row: Environment | ServiceInstance, arn: str
) -> dict[str, str]:
    """The resource's files as its deployed version and inputs render them (as
    operations/previews.py renders the left-hand side); empty when nothing succeeded yet or
    the deployed version is gone or no longer renders: everything then shows as new."""
    if row.last_succeeded_deployment_id is None:
        return {}
    version = session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.template_id == row.template_id,
            TemplateVersion.major == row.template_major,
            TemplateVersion.minor == row.template_minor,
        )
    ).first()
    if version is None:
        return {}
    deployed = TemplatePlan(version.id, row.spec or "", dict(row.inputs or {}))
    try:
        planned = render_target.preview(session, runtime.settings, runtime.arns, row, arn, deployed)
    except render_target.NotRenderable:
        return {}
    return dict(planned.files or {})


def _diff(work: ItemWork, rendered: dict[str, str]) -> tuple[FileChange, ...]:
    """The rendered files that change, with their unified diffs."""
    found = []
    for name in sorted(set(work.deployed) | set(rendered)):
        lines = file_diffs.unified_lines(
            name, work.deployed.get(name), rendered.get(name), work.current, work.version
        )
        if any(line[:1] in "+-" and line[:3] not in ("+++", "---") for line in lines):
            found.append(FileChange(name, tuple(lines)))
    return tuple(found)


def _plan(runtime: WorkerRuntime, work: ItemWork) -> EnginePlan:
    try:
        rendered = work.target.render()
    except RenderError as exc:
        return EnginePlan(ItemStatus.FAILED, problem=f"could not render: {exc}")
    return replace(_engine_plan(runtime, work, rendered), diff=_diff(work, dict(rendered.files)))


def _engine_plan(runtime: WorkerRuntime, work: ItemWork, rendered: RenderedSection) -> EnginePlan:
    section = provisioning.provisioned_section(rendered, work.resource.kind)
    resource = replace(
        work.resource,
        role_arn=work.target.role_arn,
        build_role_arn=work.target.build_role_arn,
        tags=dict(work.target.proton_tags),
    )
    engine = section.engine
    provisioner = provisioner_for(
        engine, runtime.settings, runtime.provisioner_parts, resource.account_role_arn
    )
    if isinstance(provisioner, TerraformProvisioner):
        return _terraform_plan(provisioner, DeployRequest(section, resource))
    if not isinstance(provisioner, CloudFormationProvisioner):
        return EnginePlan(
            ItemStatus.FAILED,
            engine=engine.value,
            problem=(
                f"the {engine.value} engine has no preview to keep (fleet previews keep "
                "CloudFormation change sets and Terraform saved plans); deploy this resource "
                "without a fleet preview"
            ),
        )
    request = DeployRequest(section, resource, request_token=work.change_set_name)
    planned = provisioner.prepare(request, work.change_set_name, SilentIO())
    if planned.status == PlanStatus.NO_CHANGES:
        return EnginePlan(ItemStatus.NO_CHANGE, engine=engine.value)
    if planned.status == PlanStatus.FAILED:
        return EnginePlan(
            ItemStatus.FAILED,
            engine=engine.value,
            change_set_id=planned.change_set_id,
            problem=f"CloudFormation could not make a change set: {planned.reason}",
        )
    changes = tuple(
        ResourceChangeRecord(
            action=c.action,
            logical_id=c.logical_id,
            resource_type=c.resource_type,
            physical_id=c.physical_id,
            replacement=c.replacement,
            policy_action=c.policy_action,
            scope=c.scope,
            paths=c.paths,
        )
        for c in planned.changes
    )
    return EnginePlan(
        ItemStatus.CHANGE,
        engine=engine.value,
        change_set_id=planned.change_set_id,
        changes=changes,
    )


def _terraform_plan(provisioner: TerraformProvisioner, request: DeployRequest) -> EnginePlan:
    """The saved plan of a Terraform resource, kept sealed, with its changes in a change
    set's words (terraform_results.plan_changes)."""
    engine = ProvisioningEngine.TERRAFORM.value
    prepared = provisioner.prepare_plan(request, SilentIO())
    if prepared.failure is not None or prepared.plan_json is None:
        return EnginePlan(
            ItemStatus.FAILED,
            engine=engine,
            problem=f"Terraform could not plan: {prepared.failure}",
        )
    document = json.loads(prepared.plan_json)
    found = plan_changes(document)
    changes = tuple(
        ResourceChangeRecord(
            action=c.action,
            logical_id=c.logical_id,
            resource_type=c.resource_type,
            physical_id=c.physical_id,
            replacement=c.replacement,
            policy_action=c.policy_action,
            scope=c.scope,
            paths=c.paths,
        )
        for c in found
    )
    if not changes and not output_changes(document):
        return EnginePlan(ItemStatus.NO_CHANGE, engine=engine)
    return EnginePlan(ItemStatus.CHANGE, engine=engine, changes=changes, plan=prepared.sealed)


def _drop(runtime: WorkerRuntime, resource: ResourceIdentity, change_set_id: str) -> None:
    provisioner = provisioner_for(
        ProvisioningEngine.CLOUDFORMATION,
        runtime.settings,
        runtime.provisioner_parts,
        resource.account_role_arn,
    )
    assert isinstance(provisioner, CloudFormationProvisioner)
    provisioner.drop_change_set(resource, change_set_id)


def clean_up(context: JobContext, payload: dict[str, Any]) -> None:
    """Drops the change sets a deleted preview kept, each in its resource's account; one
    already gone (expired, or dropped by an earlier run of this job) is fine."""
    runtime = context.runtime
    for stored in payload.get("changeSets") or []:
        if context.lease_lost.is_set():
            return
        kept = KeptChangeSet.of(stored)
        try:
            with runtime.db.session() as session:
                resource = _kept_identity(session, runtime, kept)
        except ConnectionUnavailable as exc:
            # Baryon may no longer act in that account; the change set expires there.
            log.warning("fleet preview cleanup: %s left in place: %s", kept.change_set_id, exc)
            continue
        _drop(runtime, resource, kept.change_set_id)


def _cleanup_given_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    # A kept change set changes nothing by itself, and CloudFormation expires it.
    log.warning("fleet preview cleanup gave up after %s attempts: %s", context.attempt, error)


def _kept_identity(session: Any, runtime: WorkerRuntime, kept: KeptChangeSet) -> ResourceIdentity:
    """The identity the change set was made with: the resource's account (the default one
    when the resource is gone since)."""
    environment = kept.name if kept.kind == ENVIRONMENT else None
    if kept.kind != ENVIRONMENT:
        instance = session.scalar(
            select(ServiceInstance).where(
                ServiceInstance.service_name == kept.service_name,
                ServiceInstance.name == kept.name,
            )
        )
        environment = instance.environment_name if instance is not None else None
    record = Deployment(
        target_type=(
            DeploymentTargetResourceType.ENVIRONMENT
            if kept.kind == ENVIRONMENT
            else DeploymentTargetResourceType.SERVICE_INSTANCE
        ),
        target_arn=kept.target_arn,
        environment_name=environment,
        service_name=kept.service_name,
        service_instance_name=kept.name if kept.kind != ENVIRONMENT else None,
    )
    account = provisioning.environment_account(session, record) if environment else None
    return provisioning.resource_identity(record, runtime.settings, account=account)


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    with context.runtime.db.session(write=True) as session:
        fleet_previews.fail_pending(
            session,
            str(payload["preview_id"]),
            f"planning gave up after {context.attempt} attempts: {error}",
            datetime.now(UTC),
        )


register_job(JobKind.FLEET_PREVIEW, run, give_up)
register_job(JobKind.FLEET_PREVIEW_CLEANUP, clean_up, _cleanup_given_up)
