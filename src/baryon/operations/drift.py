"""The baryon model's drift operations: start checks, read a resource's report, list items,
and decide an item (issue 18; docs/drift.md).

A decision that deploys goes through the resource's own registered update operation
(UpdateEnvironment, UpdateServiceInstance, UpdateServicePipeline), called in process: it is
authorized, audited and held for approval exactly as the same update from boto3 would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from baryon.domain import drift
from baryon.domain.drift import Decision, DriftTarget
from baryon.domain.errors import InvalidInput, NotFound
from baryon.operations import authorization, deployed_resources, spec_documents
from baryon.operations.context import RequestContext
from baryon.operations.deployed_resources import Loaded
from baryon.operations.registry import baryon_operation
from baryon.operations.resource_keys import (
    ENVIRONMENT,
    INSTANCE,
    PIPELINE,
    ResourceKey,
    environment_key,
    instance_key,
    pipeline_key,
)
from baryon.service_models import BARYON, baryon
from baryon.store.tables import (
    DriftCheckRow,
    DriftItemRow,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

_RESOURCE_TYPES = {
    ENVIRONMENT: baryon.DriftResourceType.ENVIRONMENT,
    INSTANCE: baryon.DriftResourceType.SERVICE_INSTANCE,
    PIPELINE: baryon.DriftResourceType.SERVICE_PIPELINE,
}


# --- naming a resource ----------------------------------------------------------------------


def resource_key(ref: Mapping[str, Any]) -> ResourceKey:
    """The resource a DriftResourceRef (or GetDriftReport's request) names."""
    kind = ref.get("resourceType")
    if kind == baryon.DriftResourceType.ENVIRONMENT:
        if not ref.get("environmentName"):
            raise InvalidInput("environmentName: required for an ENVIRONMENT.")
        return environment_key(ref["environmentName"])
    if kind == baryon.DriftResourceType.SERVICE_INSTANCE:
        if not ref.get("serviceName") or not ref.get("serviceInstanceName"):
            raise InvalidInput(
                "serviceName, serviceInstanceName: both required for a SERVICE_INSTANCE."
            )
        return instance_key(ref["serviceName"], ref["serviceInstanceName"])
    if not ref.get("serviceName"):
        raise InvalidInput("serviceName: required for a SERVICE_PIPELINE.")
    return pipeline_key(ref["serviceName"])


def _target(ctx: RequestContext, loaded: Loaded) -> DriftTarget:
    key = loaded.key
    return DriftTarget(
        key.arn(ctx.arns),
        key.kind,
        key.name,
        key.service if key.kind != ENVIRONMENT else None,
        loaded.template.name,
    )


def _key_of(check: DriftCheckRow) -> ResourceKey:
    if check.resource_kind == ENVIRONMENT:
        return environment_key(check.resource_name)
    if check.resource_kind == INSTANCE:
        return instance_key(check.service_name or "", check.resource_name)
    return pipeline_key(check.service_name or "")


# --- views ----------------------------------------------------------------------------------


def check_view(check: DriftCheckRow) -> baryon.DriftCheck:
    view: baryon.DriftCheck = {
        "checkId": check.id,
        "resourceArn": check.resource_arn,
        "resourceType": _RESOURCE_TYPES[check.resource_kind],
        "templateName": check.template_name,
        "status": baryon.DriftCheckStatus(check.status),
        "resourcesChecked": check.resources_checked,
        "resourcesNotChecked": check.resources_not_checked,
        "driftedItems": check.drifted_items,
        "requestedBy": check.requested_by,
        "requestedAt": check.requested_at,
    }
    if check.resource_kind == ENVIRONMENT:
        view["environmentName"] = check.resource_name
    else:
        view["serviceName"] = check.service_name or ""
    if check.resource_kind == INSTANCE:
        view["serviceInstanceName"] = check.resource_name
    if check.status_message:
        view["statusMessage"] = check.status_message
    if check.method:
        view["method"] = baryon.DriftCheckMethod(check.method)
    if check.completed_at:
        view["completedAt"] = check.completed_at
    return view


def item_view(item: DriftItemRow) -> baryon.DriftItem:
    view: baryon.DriftItem = {
        "itemId": item.id,
        "resourceArn": item.resource_arn,
        "templateName": item.template_name,
        "logicalResourceId": item.logical_id,
        "engineResourceType": item.resource_type,
        "propertyPath": item.path,
        "kind": baryon.DriftKind(item.kind),
        "binding": baryon.DriftBinding(item.binding),
        "fingerprint": item.fingerprint,
        "status": baryon.DriftItemStatus(item.status),
        "firstSeenAt": item.first_seen_at,
        "lastSeenAt": item.last_seen_at,
    }
    optional = {
        "physicalResourceId": item.physical_id,
        "expectedValue": item.expected,
        "actualValue": item.actual,
        "inputName": item.input_name,
        "decidedBy": item.decided_by,
        "decidedAt": item.decided_at,
        "reason": item.reason,
        "ignoreUntil": item.ignore_until,
        "deploymentId": item.deployment_id,
        "closedAt": item.closed_at,
    }
    for member, value in optional.items():
        if value is not None:
            view[member] = value  # type: ignore[literal-required]
    return view


# --- StartDriftCheck ------------------------------------------------------------------------


@baryon_operation("StartDriftCheck")
def start_drift_check(
    ctx: RequestContext, request: baryon.StartDriftCheckInput
) -> baryon.StartDriftCheckOutput:
    refs = request.get("resources") or []
    template = request.get("templateName")
    if not refs and not template:
        raise InvalidInput("Name the resources to check, or a templateName.")
    if template and not request.get("templateType"):
        raise InvalidInput("templateType: required with templateName.")
    # The registry decided the first resource named (or the template alone); each other one is
    # decided on its own, as a call naming only it would be, so a developer may check their
    # service's instances but not slip an environment in beside them.
    others: list[Mapping[str, Any]] = [{"resources": [ref]} for ref in refs[1:]]
    if refs and template:
        others.append({"templateName": template, "templateType": request.get("templateType")})
    for other in others:
        authorization.authorize(ctx, BARYON, "StartDriftCheck", other)
    with ctx.db.session(write=True) as session:
        loaded = [deployed_resources.load(session, resource_key(ref)) for ref in refs]
        targets = [_target(ctx, one) for one in loaded]
        if template:
            targets += template_targets(
                session, ctx, template, request.get("templateType") or "SERVICE"
            )
        seen: set[str] = set()
        checks = []
        for target in targets:
            if target.arn in seen:
                continue
            seen.add(target.arn)
            checks.append(drift.request_check(session, target, ctx.principal.label, ctx.now))
        session.flush()
        views = [check_view(check) for check in checks]
    ctx.jobs_enqueued()
    return {"checks": views}


def template_targets(
    session: Session, ctx: RequestContext, template_name: str, template_type: str
) -> list[DriftTarget]:
    """Every resource deployed from the template (a service template's pipelines too)."""
    kind = "ENVIRONMENT" if template_type == "ENVIRONMENT" else "SERVICE"
    template = session.scalars(
        select(Template).where(Template.kind == kind, Template.name == template_name)
    ).first()
    if template is None:
        raise NotFound(f"The {kind.lower()} template '{template_name}' was not found.")
    if kind == "ENVIRONMENT":
        return [
            DriftTarget(ctx.arns.environment(e.name), ENVIRONMENT, e.name, None, template.name)
            for e in session.scalars(
                select(Environment).where(Environment.template_id == template.id)
            )
        ]
    found = [
        DriftTarget(
            ctx.arns.service_instance(i.service_name, i.name),
            INSTANCE,
            i.name,
            i.service_name,
            template.name,
        )
        for i in session.scalars(
            select(ServiceInstance).where(ServiceInstance.template_id == template.id)
        )
    ]
    pipelines = session.execute(
        select(Service.name)
        .join(ServicePipeline, ServicePipeline.service_id == Service.id)
        .where(Service.template_id == template.id)
    )
    found += [
        DriftTarget(ctx.arns.service_pipeline(name), PIPELINE, name, name, template.name)
        for (name,) in pipelines
    ]
    return found


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftReport:
    """A resource's drift: its latest check (and latest that saw the cloud), open items."""

    resource_arn: str
    last_check: DriftCheckRow | None
    last_completed_check: DriftCheckRow | None
    items: Sequence[DriftItemRow]


def drift_report(ctx: RequestContext, key: ResourceKey) -> DriftReport:
    arn = key.arn(ctx.arns)
    with ctx.db.session() as session:
        last = drift.last_check(session, arn)
        completed = session.scalars(
            select(DriftCheckRow)
            .where(
                DriftCheckRow.resource_arn == arn,
                DriftCheckRow.status.in_([drift.CheckStatus.IN_SYNC, drift.CheckStatus.DRIFTED]),
            )
            .order_by(DriftCheckRow.requested_at.desc())
            .limit(1)
        ).first()
        items = session.scalars(
            select(DriftItemRow)
            .where(DriftItemRow.resource_arn == arn, DriftItemRow.closed_at.is_(None))
            .order_by(DriftItemRow.first_seen_at, DriftItemRow.logical_id, DriftItemRow.path)
        ).all()
        return DriftReport(arn, last, completed, items)


@baryon_operation("GetDriftReport")
def get_drift_report(
    ctx: RequestContext, request: baryon.GetDriftReportInput
) -> baryon.GetDriftReportOutput:
    key = resource_key(request)
    deployed_resources.deployed_resource(ctx, key)  # NotFound for a resource that is not
    report = drift_report(ctx, key)
    output: baryon.GetDriftReportOutput = {
        "resourceArn": report.resource_arn,
        "items": [item_view(item) for item in report.items],
    }
    if report.last_check is not None:
        output["lastCheck"] = check_view(report.last_check)
    if report.last_completed_check is not None:
        output["lastCompletedCheck"] = check_view(report.last_completed_check)
    return output


def _listing(request: baryon.ListDriftItemsInput) -> Select[tuple[DriftItemRow]]:
    stmt = select(DriftItemRow)
    if request.get("resourceArn"):
        stmt = stmt.where(DriftItemRow.resource_arn == request["resourceArn"])
    if request.get("templateName"):
        stmt = stmt.where(DriftItemRow.template_name == request["templateName"])
    if request.get("status"):
        stmt = stmt.where(DriftItemRow.status == request["status"])
    if not request.get("includeClosed"):
        stmt = stmt.where(DriftItemRow.closed_at.is_(None))
    return stmt


@baryon_operation("ListDriftItems")
def list_drift_items(
    ctx: RequestContext, request: baryon.ListDriftItemsInput
) -> baryon.ListDriftItemsOutput:
    scope = {
        key: request[key]
        for key in ("resourceArn", "templateName", "status", "includeClosed")
        if request.get(key) is not None
    }
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            _listing(request),
            [DriftItemRow.first_seen_at, DriftItemRow.id],
            request,
            scope=scope,
            descending=True,
        )
        output: baryon.ListDriftItemsOutput = {"items": [item_view(row[0]) for row in rows]}
    if next_token:
        output["nextToken"] = next_token
    return output


# --- DecideDriftItem ------------------------------------------------------------------------


@baryon_operation("DecideDriftItem")
def decide_drift_item(
    ctx: RequestContext, request: baryon.DecideDriftItemInput
) -> baryon.DecideDriftItemOutput:
    decision = Decision(request["decision"])
    reason, until = request.get("reason"), request.get("until")
    with ctx.db.session() as session:
        item = drift.find_item(session, request["itemId"])
        drift.check_decision(item, decision, reason=reason, until=until, now=ctx.now)
        check = drift.find_check(session, item.check_id)
        key = _key_of(check)
        input_name, actual = item.input_name or "", item.actual or ""
    deployment_id = None
    if decision != Decision.IGNORE:
        loaded = deployed_resources.deployed_resource(ctx, key)
        spec = loaded.row.spec or ""
        if decision == Decision.ACCEPT:
            spec = _accepted_spec(loaded, input_name, actual)
        # The resource's own update operation: authorized, audited, approvals honoured.
        deployed_resources.redeploy_spec(ctx, key, spec)
        deployment_id = deployed_resources.deployed_resource(
            ctx, key
        ).row.last_attempted_deployment_id
    with ctx.db.session(write=True) as session:
        item = drift.find_item(session, request["itemId"], lock=True)
        drift.record_decision(
            session,
            item,
            decision,
            decided_by=ctx.principal.label,
            reason=reason,
            until=until,
            deployment_id=deployment_id,
            now=ctx.now,
        )
        session.flush()
        return {"item": item_view(item)}


def _accepted_spec(loaded: Loaded, input_name: str, actual: str) -> str:
    """The resource's spec with ``input_name`` set to the item's actual value."""
    key = loaded.key
    if key.kind == ENVIRONMENT:
        inputs = spec_documents.environment_inputs(loaded.row.spec)
    elif key.kind == INSTANCE:
        inputs = spec_documents.instance_inputs(loaded.row.spec, key.name)
    else:
        inputs = spec_documents.pipeline_inputs(loaded.row.spec)
    values = dict(inputs or {})
    resolved = dict(loaded.row.inputs or {})
    values[input_name] = drift.accepted_value(
        actual, values.get(input_name, resolved.get(input_name))
    )
    if key.kind == ENVIRONMENT:
        return spec_documents.environment_spec(values)
    if key.kind == INSTANCE:
        return spec_documents.with_instance_inputs(loaded.row.spec, key.name, values)
    return spec_documents.with_pipeline_inputs(loaded.row.spec, values)
