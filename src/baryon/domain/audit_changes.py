"""Changes Baryon makes on its own, in the audit trail: what template sync, service sync,
imports and pull requests change, and the branches whose moves start them.

They reach no registered operation (operations/audit_trail.py records those), so their entry
points in engine/ record them here, in the transaction that makes the change: the change and
its record commit together. The principal is Baryon itself (``system/baryon``, as
auth/principals.SYSTEM names it; tests keep the two equal); the operation is the one the
change corresponds to (CreateServiceTemplateVersion for a synced version), or a
``baryon:<Name>`` that the docs' Audit trail page lists for what has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from baryon.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    QuotaExceeded,
)
from baryon.service_models import BARYON
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store import audit_records
from baryon.store.audit_records import AuditEntry, AuditRecord

# auth/principals.SYSTEM, which domain/ may not import (tests/operations keep them equal).
SYSTEM_PRINCIPAL = "system/baryon"
SYSTEM_KIND = "system"

# The error code a record names for a domain error: the one the API answers with
# (api/front_door.py's table; tests/web/test_audit_pages.py keeps them equal).
ERROR_CODES: Mapping[type[DomainError], str] = {
    InvalidInput: "ValidationException",
    NotFound: "ResourceNotFoundException",
    Conflict: "ConflictException",
    QuotaExceeded: "ServiceQuotaExceededException",
    Forbidden: "AccessDeniedException",
}
FAULT = "InternalServerException"  # anything else that stopped the call

# What has no operation of its own (docs/audit-trail.md lists them).
REPOSITORY_CHANGED = "baryon:RepositoryChanged"  # a watched branch moved: syncs start
APPLY_IMPORT = "baryon:ApplyImport"  # an import's plan applied (StartImport's job)
PULL_REQUEST_MERGED = "baryon:PullRequestMerged"
PULL_REQUEST_CLOSED = "baryon:PullRequestClosed"
IMPORT_FAILED = "ImportFailed"  # the error code of an import that ended FAILED


def error_code(error: DomainError) -> str:
    for kind in type(error).__mro__:
        code = ERROR_CODES.get(kind)
        if code is not None:
            return code
    return FAULT


@dataclass(frozen=True)
class SystemChange:
    """One change Baryon made on its own, as its record tells it."""

    operation: str
    resources: tuple[str, ...]
    result: AuditResult
    # GIT: a repository started it (sync, webhooks, pushes, pull requests); SYSTEM: the rest.
    door: AuditDoor = AuditDoor.SYSTEM
    error_code: str | None = None
    spec_diff: str | None = None
    service: str = BARYON  # the model the operation belongs to


def record_system_change(
    session: Session, change: SystemChange, *, region: str, job_id: int, now: datetime
) -> AuditRecord:
    """Appends ``change`` in ``session``'s write transaction. Its request id names the job
    that made it (``job-<id>``), so the record leads to the job's log lines."""
    return audit_records.append_in(
        session,
        AuditEntry(
            recorded_at=now,
            principal=SYSTEM_PRINCIPAL,
            principal_kind=SYSTEM_KIND,
            door=change.door,
            service=change.service,
            operation=change.operation,
            resources=change.resources,
            region=region,
            request_id=f"job-{job_id}",
            result=change.result,
            error_code=change.error_code,
            spec_diff=change.spec_diff,
        ),
    )
