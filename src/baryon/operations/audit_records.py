"""The audit trail's reading side: ListAuditRecords and VerifyAuditTrail (baryon model).

Both read the chain of the region the call is signed for (operations/audit_trail.py writes
one per region). Who may read it is the policies' call (operations/authorization.py).
"""

from __future__ import annotations

from datetime import datetime

from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon
from baryon.store import audit_records
from baryon.store.audit_records import AuditFilters, AuditRecord
from baryon.store.tables import AuditRecordRow


def record_view(record: AuditRecord) -> baryon.AuditRecord:
    return {
        "sequence": record.sequence,
        "recordedAt": record.recorded_at,
        "principal": record.principal,
        "principalKind": record.principal_kind,
        "door": baryon.AuditDoor(record.door),
        "service": record.service,
        "operation": record.operation,
        "resources": list(record.resources),
        "region": record.region,
        "requestId": record.request_id,
        "result": baryon.AuditResult(record.result),
        "errorCode": record.error_code,
        "specDiff": record.spec_diff,
        "previousHash": record.previous_hash,
        "recordHash": record.record_hash,
    }


def filters_of(request: baryon.ListAuditRecordsInput) -> AuditFilters:
    result = request.get("result")
    return AuditFilters(
        principal=request.get("principal"),
        operation=request.get("operation"),
        resource=request.get("resource"),
        since=request.get("since"),
        until=request.get("until"),
        result=baryon.AuditResult(result) if result else None,
    )


@baryon_operation("ListAuditRecords")
def list_audit_records(
    ctx: RequestContext, request: baryon.ListAuditRecordsInput
) -> baryon.ListAuditRecordsOutput:
    filters = filters_of(request)
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            audit_records.selection(filters),
            [AuditRecordRow.sequence],
            request,
            scope=_scope(filters),
            descending=True,
        )
        found = [audit_records.record_of(row[0]) for row in rows]
    return {"records": [record_view(record) for record in found], "nextToken": next_token}


@baryon_operation("VerifyAuditTrail")
def verify_audit_trail(
    ctx: RequestContext, request: baryon.VerifyAuditTrailInput
) -> baryon.VerifyAuditTrailOutput:
    verification = audit_records.verify(ctx.db)
    answer: baryon.VerifyAuditTrailOutput = {
        "intact": verification.intact,
        "recordCount": verification.record_count,
        "headHash": verification.head_hash,
    }
    if verification.head_sequence:
        answer["headSequence"] = verification.head_sequence
    if verification.problem is not None:
        problem = verification.problem
        answer["problem"] = {
            "kind": problem.kind,
            "sequence": problem.sequence,
            "message": problem.message,
        }
    return answer


def _scope(filters: AuditFilters) -> dict[str, str | None]:
    """The filters a page token is bound to (a token only works with the same filters)."""

    def text(when: datetime | None) -> str | None:
        return when.isoformat() if when else None

    return {
        "principal": filters.principal,
        "operation": filters.operation,
        "resource": filters.resource,
        "since": text(filters.since),
        "until": text(filters.until),
        "result": filters.result,
    }
