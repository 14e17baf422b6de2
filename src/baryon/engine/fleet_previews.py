"""The fleet preview job: asks each item's engine for its own preview and keeps it.

Item by item: one short read (render the target exactly as the deploy job will), the cloud
call outside any transaction, one short write. A re-run after a crash continues with the
items still PENDING; a change set made by a run that died before recording it is made again
under the same name (CloudFormation refuses a second one of that name, so the item fails to
plan and says so rather than keeping an unknown change set).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from baryon.bundles.errors import BundleError
from baryon.domain import adoption, fleet_previews
from baryon.domain.environment_account_connections import ConnectionUnavailable
from baryon.domain.fleet_previews import (
    ENVIRONMENT,
    EnginePlan,
    ItemStatus,
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
from baryon.render.errors import RenderError
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.jobs import JobKind
from baryon.store.tables import Deployment, Environment, FleetPreviewItemRow, ServiceInstance

log = logging.getLogger(__name__)

# Each item is planned once per run; a bound keeps a corrupt preview from looping for ever.
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class ItemWork:
    item_id: int
    change_set_name: str
    resource: ResourceIdentity
    target: RenderTarget


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
            fleet_previews.record_plan(session, item_id, plan)
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
        return EnginePlan(ItemStatus.NO_CHANGE, problem="customer-managed: nothing deploys")
    name = f"baryon-preview-{preview_id[:8]}-{item.id}"
    return ItemWork(item.id, name, resource, target)


def _plan(runtime: WorkerRuntime, work: ItemWork) -> EnginePlan:
    try:
        rendered = work.target.render()
    except RenderError as exc:
        return EnginePlan(ItemStatus.FAILED, problem=f"could not render: {exc}")
    section = provisioning.provisioned_section(rendered, work.resource.kind)
    resource = replace(
        work.resource,
        role_arn=work.target.role_arn,
        build_role_arn=work.target.build_role_arn,
        tags=dict(work.target.proton_tags),
    )
    engine = section.engine
    if engine != ProvisioningEngine.CLOUDFORMATION:
        return EnginePlan(
            ItemStatus.FAILED,
            engine=engine.value,
            problem=(
                f"the {engine.value} engine's own preview is not kept yet (fleet previews keep "
                "CloudFormation change sets); deploy this resource without a fleet preview"
            ),
        )
    provisioner = provisioner_for(
        engine, runtime.settings, runtime.provisioner_parts, resource.account_role_arn
    )
    assert isinstance(provisioner, CloudFormationProvisioner)
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


def give_up(context: JobContext, payload: dict[str, Any], error: str) -> None:
    with context.runtime.db.session(write=True) as session:
        fleet_previews.fail_pending(
            session,
            str(payload["preview_id"]),
            f"planning gave up after {context.attempt} attempts: {error}",
            datetime.now(UTC),
        )


register_job(JobKind.FLEET_PREVIEW, run, give_up)
