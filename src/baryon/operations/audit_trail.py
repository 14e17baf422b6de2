"""What was done, by whom, through any front door: the audit trail's writing side.

operations/registry.py runs every handler inside ``recorded``. Every change is recorded with
its result (done, failed, denied); a read (Get*, List*, and the few other operations in
``READS``) only when it is denied, so a successful read costs no write and no query. Records
go to the region's own chain (store/audit_records.py), as CloudTrail keeps one per region.

Changes Baryon makes on its own (template and service sync, imports, pull requests) reach no
operation: engine/ records them through domain/audit_changes.py; both build an AuditEntry
for store/audit_records.py, the one writer of the chain.

A record is written after the call, in its own transaction: a process that dies between the
call's commit and the record's loses that record (the chain stays whole).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from baryon.domain import audit_subjects
from baryon.domain.audit_changes import ERROR_CODES as ERROR_CODES
from baryon.domain.audit_changes import FAULT as FAULT
from baryon.domain.audit_changes import error_code as error_code
from baryon.domain.errors import DomainError, Forbidden
from baryon.operations.context import RequestContext
from baryon.service_models.baryon import AuditDoor, AuditResult
from baryon.store import audit_records
from baryon.store.audit_records import AuditEntry

log = logging.getLogger(__name__)

READ_PREFIXES = ("Get", "List")
# Reads whose names do not say so.
READS = frozenset({"VerifyAuditTrail"})

# What the baryon CLI adds to its requests' User-Agent (cli/api_clients.py), so that records
# tell its calls from other API clients'. A hint only: who made a call is the key's principal.
CLI_AGENT = "baryon-cli"


def api_door(user_agent: str | None) -> AuditDoor:
    """The door an API request came through: the baryon CLI's, or the API itself."""
    agents = (user_agent or "").split()
    return AuditDoor.CLI if any(a.startswith(CLI_AGENT + "/") for a in agents) else AuditDoor.API


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or operation in READS


@dataclass
class Call:
    """The call being recorded; the registry hands it the handler's result."""

    result: Mapping[str, Any] | None = None


@contextmanager
def recorded(
    context: RequestContext, service: str, operation: str, request: Mapping[str, Any]
) -> Iterator[Call]:
    """Records the call's outcome (done, refused, denied) once the body has run."""
    call = Call()
    read = is_read(operation)
    before = None if read else _spec_before(context, operation, request)
    try:
        yield call
    except Forbidden:
        code = ERROR_CODES[Forbidden]
        _append(context, service, operation, request, call, AuditResult.DENIED, before, code)
        raise
    except DomainError as error:
        if not read:
            code = error_code(error)
            _append(context, service, operation, request, call, AuditResult.FAILED, before, code)
        raise
    except Exception:
        if not read:
            _append(context, service, operation, request, call, AuditResult.FAILED, before, FAULT)
        raise
    if not read:
        _append(context, service, operation, request, call, AuditResult.SUCCEEDED, before)


def refused(
    context: RequestContext, service: str, operation: str, request: Mapping[str, Any]
) -> None:
    """Records a call a front door refused before any operation ran (api/front_door.py: a
    program's key outside its resource, an environment account's key outside its account) as
    DENIED, for the key's principal, like a denial from the policies."""
    code = ERROR_CODES[Forbidden]
    _append(context, service, operation, request, Call(), AuditResult.DENIED, None, code)


@dataclass(frozen=True)
class _Before:
    spec: str | None


def _spec_before(
    context: RequestContext, operation: str, request: Mapping[str, Any]
) -> _Before | None:
    """The resource's spec before the call, read only for calls that send one: a call that
    sends none records no diff (audit_subjects.spec_diff), so reading it would be wasted."""
    if not audit_subjects.sends_spec(operation, request):
        return None
    try:
        with context.db.session() as session:
            return _Before(audit_subjects.current_spec(session, operation, request))
    except SQLAlchemyError as exc:  # the call itself will meet the same trouble and say so
        log.warning("audit: could not read the spec before %s: %s", operation, exc)
        return None


def _append(
    context: RequestContext,
    service: str,
    operation: str,
    request: Mapping[str, Any],
    call: Call,
    result: AuditResult,
    before: _Before | None,
    code: str | None = None,
) -> None:
    resources = audit_subjects.result_arns(call.result) or audit_subjects.request_arns(
        context.arns, operation, request
    )
    diff = None
    if before is not None and result is AuditResult.SUCCEEDED:
        diff = audit_subjects.spec_diff(operation, request, before.spec)
    principal = context.principal
    entry = AuditEntry(
        recorded_at=context.now,
        principal=principal.label,
        principal_kind=str(principal.kind),
        door=context.door,
        service=service,
        operation=operation,
        resources=resources,
        region=context.runtime.region,
        request_id=context.request_id,
        result=result,
        error_code=code,
        spec_diff=diff,
    )
    try:
        audit_records.append(context.db, entry)
    except SQLAlchemyError:
        # The call has happened (or was refused) whatever the trail says: failing it now
        # would make the client retry a change that is done. Said loudly instead.
        log.exception("audit: could not record %s %s by %s", result, operation, principal.label)
