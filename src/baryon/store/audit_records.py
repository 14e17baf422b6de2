"""The audit trail's records: appended to one hash chain per region, queried, verified.

Each record's hash is SHA-256 over its canonical JSON (sorted keys, no spaces, UTF-8), which
includes the previous record's hash, so a record changed, removed or slipped in shows when the
chain is recomputed. The chain head row (audit_chain_head, id 1) names the last record:
appenders lock it (``FOR UPDATE`` on PostgreSQL; SQLite's write transactions are BEGIN
IMMEDIATE, one writer at a time), so concurrent appends from threads and replicas stay one
line, and verification compares it with the last record, so a record cut off the end shows.

The hash has no secret: someone who can rewrite the whole table and the head can rewrite the
chain. Keep the head hash that ``baryon audit verify`` prints elsewhere (or an export) to tell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from baryon.service_models.baryon import AuditDoor, AuditProblemKind, AuditResult
from baryon.store.database import Database
from baryon.store.tables import AuditChainHead, AuditRecordRow

GENESIS_HASH = "0" * 64  # the "previous hash" of the first record
HEAD_ID = 1

# Bounds on what one record holds, whatever a caller sends (names, ARNs, specs).
MAX_PRINCIPAL = 300
MAX_RESOURCES = 20
MAX_RESOURCE = 2048
MAX_ERROR_CODE = 100
MAX_REQUEST_ID = 64
VERIFY_BATCH = 1000


@dataclass(frozen=True)
class AuditEntry:
    """What is known about a call when it is recorded; the chain gives it its place."""

    recorded_at: datetime
    principal: str  # Principal.label: "user/alice"
    principal_kind: str
    door: AuditDoor
    service: str
    operation: str
    resources: tuple[str, ...]
    region: str
    request_id: str
    result: AuditResult
    error_code: str | None = None
    spec_diff: str | None = None


@dataclass(frozen=True)
class AuditRecord(AuditEntry):
    sequence: int = 0
    previous_hash: str = GENESIS_HASH
    record_hash: str = GENESIS_HASH


@dataclass(frozen=True)
class AuditFilters:
    principal: str | None = None
    operation: str | None = None
    resource: str | None = None  # any ARN containing this text
    since: datetime | None = None
    until: datetime | None = None
    result: AuditResult | None = None


@dataclass(frozen=True)
class ChainProblem:
    kind: AuditProblemKind
    sequence: int  # the first record changed, removed or inserted
    message: str


@dataclass(frozen=True)
class Verification:
    record_count: int
    head_sequence: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def append(db: Database, entry: AuditEntry) -> AuditRecord:
    """Appends ``entry`` after the chain's last record, in its own transaction."""
    with db.session(write=True) as session:
        return append_in(session, entry)


_HEAD = AuditChainHead.__table__
_RECORDS = AuditRecordRow.__table__
# Core statements, built once: an append is the hot write of every change (one per call), and
# the ORM's unit of work (identity map, flush ordering) bought nothing for three fixed rows.
_LOCK_HEAD = (
    select(_HEAD.c.sequence, _HEAD.c.record_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
)
_INSERT_RECORD = insert(_RECORDS)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(sequence=bindparam("new_sequence"), record_hash=bindparam("new_hash"))
)
# PostgreSQL takes the record's insert and the head's move as one statement (a data-modifying
# WITH), one round trip fewer while the head is locked; SQLite has no such WITH.
_APPEND_AND_MOVE = _MOVE_HEAD.add_cte(
    insert(_RECORDS).values({c.name: bindparam(c.name, type_=c.type) for c in _RECORDS.c}).cte()
)


def append_in(session: Session, entry: AuditEntry) -> AuditRecord:
    """Appends ``entry`` in the caller's write transaction (the head stays locked until it ends):
    the head read once under its lock, then the record and the head's move (one statement on
    PostgreSQL, two on SQLite)."""
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).first()
    if head is None:  # migration 0021 makes it; a missing row is a damaged store
        raise LookupError("audit_chain_head has no row 1: the audit trail's store is damaged")
    bounded = _bounded(entry)
    sequence = head.sequence + 1
    record = AuditRecord(
        **{f.name: getattr(bounded, f.name) for f in fields(AuditEntry)},
        sequence=sequence,
        previous_hash=head.record_hash,
        record_hash=hash_of(bounded, sequence, head.record_hash),
    )
    values = {
        "sequence": sequence,
        "recorded_at": record.recorded_at,
        "principal": record.principal,
        "principal_kind": record.principal_kind,
        "door": record.door,
        "service": record.service,
        "operation": record.operation,
        "resources": "\n".join(record.resources),
        "region": record.region,
        "request_id": record.request_id,
        "result": record.result,
        "error_code": record.error_code,
        "spec_diff": record.spec_diff,
        "previous_hash": record.previous_hash,
        "record_hash": record.record_hash,
    }
    move = {"new_sequence": sequence, "new_hash": record.record_hash}
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND_AND_MOVE, {**values, **move})
    else:
        connection.execute(_INSERT_RECORD, values)
        connection.execute(_MOVE_HEAD, move)
    return record


def canonical_json(entry: AuditEntry, sequence: int, previous_hash: str) -> bytes:
    """The bytes a record's hash is taken over; exports carry the same members."""
    document = {
        "sequence": sequence,
        "recordedAt": _utc(entry.recorded_at).isoformat(),
        "principal": entry.principal,
        "principalKind": entry.principal_kind,
        "door": str(entry.door),
        "service": entry.service,
        "operation": entry.operation,
        "resources": list(entry.resources),
        "region": entry.region,
        "requestId": entry.request_id,
        "result": str(entry.result),
        "errorCode": entry.error_code,
        "specDiff": entry.spec_diff,
        "previousHash": previous_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_of(entry: AuditEntry, sequence: int, previous_hash: str) -> str:
    return hashlib.sha256(canonical_json(entry, sequence, previous_hash)).hexdigest()


def record_of(row: AuditRecordRow) -> AuditRecord:
    return AuditRecord(
        recorded_at=row.recorded_at,
        principal=row.principal,
        principal_kind=row.principal_kind,
        # A tampered row may hold any text here: verification must name it, not fail on it.
        door=cast(AuditDoor, row.door),
        service=row.service,
        operation=row.operation,
        resources=tuple(row.resources.split("\n")) if row.resources else (),
        region=row.region,
        request_id=row.request_id,
        result=cast(AuditResult, row.result),
        error_code=row.error_code,
        spec_diff=row.spec_diff,
        sequence=row.sequence,
        previous_hash=row.previous_hash,
        record_hash=row.record_hash,
    )


def selection(filters: AuditFilters) -> Select[tuple[AuditRecordRow]]:
    """The records ``filters`` keep; the caller orders and pages them (newest first)."""
    stmt = select(AuditRecordRow)
    if filters.principal:
        stmt = stmt.where(AuditRecordRow.principal == filters.principal)
    if filters.operation:
        stmt = stmt.where(AuditRecordRow.operation == filters.operation)
    if filters.resource:
        stmt = stmt.where(AuditRecordRow.resources.contains(filters.resource, autoescape=True))
    if filters.since is not None:
        stmt = stmt.where(AuditRecordRow.recorded_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditRecordRow.recorded_at < filters.until)
    if filters.result is not None:
        stmt = stmt.where(AuditRecordRow.result == filters.result)
    return stmt


def records(
    db: Database, filters: AuditFilters, batch: int = VERIFY_BATCH
) -> Iterator[AuditRecord]:
    """Every record ``filters`` keep, oldest first, read a batch at a time (for exports)."""
    after = 0
    while True:
        with db.session() as session:
            stmt = selection(filters).where(AuditRecordRow.sequence > after)
            rows = session.scalars(stmt.order_by(AuditRecordRow.sequence).limit(batch)).all()
            found = [record_of(row) for row in rows]
        yield from found
        if len(found) < batch:
            return
        after = found[-1].sequence


def verify(db: Database, batch: int = VERIFY_BATCH) -> Verification:
    """Recomputes the chain from the first record and names the first one that breaks it."""
    with db.session() as session:
        head = session.get(AuditChainHead, HEAD_ID)
    head_sequence = head.sequence if head else 0
    head_hash = head.record_hash if head else GENESIS_HASH
    previous: AuditRecord | None = None
    count = 0
    for record in records(db, AuditFilters(), batch):
        count += 1
        problem = _break_at(previous, record)
        if problem is not None:
            return Verification(count, head_sequence, head_hash, problem)
        previous = record
    last_sequence = previous.sequence if previous else 0
    last_hash = previous.record_hash if previous else GENESIS_HASH
    problem = _head_problem(head_sequence, head_hash, last_sequence, last_hash)
    return Verification(count, head_sequence, head_hash, problem)


def _break_at(previous: AuditRecord | None, record: AuditRecord) -> ChainProblem | None:
    expected = previous.sequence + 1 if previous else 1
    if record.sequence > expected:
        missing = (
            f"record {expected}"
            if record.sequence == expected + 1
            else f"records {expected} to {record.sequence - 1}"
        )
        return ChainProblem(
            AuditProblemKind.REMOVED,
            expected,
            f"{missing} removed: record {record.sequence} follows "
            + (f"record {previous.sequence}" if previous else "the start of the chain"),
        )
    if hash_of(record, record.sequence, record.previous_hash) != record.record_hash:
        return ChainProblem(
            AuditProblemKind.CHANGED,
            record.sequence,
            f"record {record.sequence} was changed: its contents do not give its hash",
        )
    if record.previous_hash != (previous.record_hash if previous else GENESIS_HASH):
        before = f"record {previous.sequence}" if previous else "the start of the chain"
        return ChainProblem(
            AuditProblemKind.UNLINKED,
            record.sequence,
            f"record {record.sequence} does not follow {before}: one of them was replaced "
            "or inserted",
        )
    return None


def _head_problem(
    head_sequence: int, head_hash: str, last_sequence: int, last_hash: str
) -> ChainProblem | None:
    if last_sequence > head_sequence:
        return ChainProblem(
            AuditProblemKind.INSERTED,
            head_sequence + 1,
            f"record {head_sequence + 1} was inserted: the chain ends at record {head_sequence}",
        )
    if last_sequence < head_sequence:
        first = last_sequence + 1
        missing = (
            f"record {first}" if first == head_sequence else f"records {first} to {head_sequence}"
        )
        return ChainProblem(
            AuditProblemKind.REMOVED,
            first,
            f"{missing} removed: the chain ends at record {head_sequence}",
        )
    if last_hash != head_hash:
        return ChainProblem(
            AuditProblemKind.CHANGED,
            head_sequence,
            f"record {head_sequence} was replaced: its hash is not the chain head's",
        )
    return None


def _bounded(entry: AuditEntry) -> AuditEntry:
    resources = tuple(arn[:MAX_RESOURCE] for arn in entry.resources if arn)[:MAX_RESOURCES]
    return AuditEntry(
        recorded_at=_utc(entry.recorded_at),
        principal=entry.principal[:MAX_PRINCIPAL],
        principal_kind=entry.principal_kind[:16],
        door=entry.door,
        service=entry.service[:16],
        operation=entry.operation[:100],
        resources=tuple(dict.fromkeys(arn.replace("\n", " ") for arn in resources)),
        region=entry.region[:32],
        request_id=entry.request_id[:MAX_REQUEST_ID],
        result=entry.result,
        error_code=entry.error_code[:MAX_ERROR_CODE] if entry.error_code else None,
        spec_diff=entry.spec_diff,
    )


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def as_json(record: AuditRecord) -> dict[str, Any]:
    """A record as an export line holds it: the hashed members plus the record's hash."""
    document: dict[str, Any] = json.loads(
        canonical_json(record, record.sequence, record.previous_hash)
    )
    document["recordHash"] = record.record_hash
    return document
