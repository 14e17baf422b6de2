"""The audit trail's chain: appends stay one line under concurrency, and verification names
the first record that was changed, removed or inserted."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, event, select, update

from baryon.service_models.baryon import AuditDoor, AuditProblemKind, AuditResult
from baryon.store import audit_records
from baryon.store.audit_records import GENESIS_HASH, AuditEntry, AuditFilters
from baryon.store.database import Database
from baryon.store.tables import AuditRecordRow

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _entry(number: int, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "recorded_at": START + timedelta(minutes=number),
        "principal": "user/alice",
        "principal_kind": "user",
        "door": AuditDoor.API,
        "service": "proton",
        "operation": "UpdateEnvironment",
        "resources": (f"arn:aws:proton:us-east-1:111122223333:environment/env-{number}",),
        "region": "us-east-1",
        "request_id": f"request-{number}",
        "result": AuditResult.SUCCEEDED,
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def _fill(db: Database, count: int) -> None:
    for number in range(1, count + 1):
        audit_records.append(db, _entry(number))


def test_each_record_follows_the_one_before_it(database: Database) -> None:
    first = audit_records.append(database, _entry(1))
    second = audit_records.append(database, _entry(2, spec_diff="-a\n+b\n"))
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.record_hash
    verification = audit_records.verify(database)
    assert verification.intact and verification.record_count == 2
    assert verification.head_sequence == 2 and verification.head_hash == second.record_hash


def test_an_empty_trail_is_intact(database: Database) -> None:
    verification = audit_records.verify(database)
    assert verification.intact and verification.record_count == 0


def test_a_changed_record_is_named(database: Database) -> None:
    _fill(database, 5)
    with database.session(write=True) as session:
        session.execute(
            update(AuditRecordRow)
            .where(AuditRecordRow.sequence == 3)
            .values(principal="user/mallory")
        )
    problem = audit_records.verify(database).problem
    assert problem is not None
    assert (problem.kind, problem.sequence) == (AuditProblemKind.CHANGED, 3)
    assert "record 3 was changed" in problem.message


def test_a_removed_record_is_named(database: Database) -> None:
    _fill(database, 5)
    with database.session(write=True) as session:
        session.execute(delete(AuditRecordRow).where(AuditRecordRow.sequence == 2))
    problem = audit_records.verify(database).problem
    assert problem is not None and (problem.kind, problem.sequence) == (AuditProblemKind.REMOVED, 2)


def test_records_cut_off_the_end_are_named(database: Database) -> None:
    _fill(database, 5)
    with database.session(write=True) as session:
        session.execute(delete(AuditRecordRow).where(AuditRecordRow.sequence >= 4))
    problem = audit_records.verify(database).problem
    assert problem is not None and (problem.kind, problem.sequence) == (AuditProblemKind.REMOVED, 4)
    assert "records 4 to 5 removed" in problem.message


def test_an_inserted_record_is_named_even_when_its_hash_is_right(database: Database) -> None:
    _fill(database, 3)
    with database.session() as session:
        last = session.get(AuditRecordRow, 3)
        assert last is not None
        previous = last.record_hash
    forged = _entry(9, principal="user/mallory", operation="DeleteEnvironment")
    with database.session(write=True) as session:
        session.add(
            AuditRecordRow(
                sequence=4,
                recorded_at=forged.recorded_at,
                principal=forged.principal,
                principal_kind=forged.principal_kind,
                door=forged.door,
                service=forged.service,
                operation=forged.operation,
                resources="\n".join(forged.resources),
                region=forged.region,
                request_id=forged.request_id,
                result=forged.result,
                previous_hash=previous,
                record_hash=audit_records.hash_of(forged, 4, previous),
            )
        )
    problem = audit_records.verify(database).problem
    assert problem is not None
    assert (problem.kind, problem.sequence) == (AuditProblemKind.INSERTED, 4)


def test_a_record_replaced_by_one_that_does_not_link_is_named(database: Database) -> None:
    _fill(database, 4)
    forged = _entry(2, principal="user/mallory")
    with database.session(write=True) as session:
        session.execute(
            update(AuditRecordRow)
            .where(AuditRecordRow.sequence == 2)
            .values(
                principal=forged.principal,
                previous_hash="f" * 64,
                record_hash=audit_records.hash_of(forged, 2, "f" * 64),
            )
        )
    problem = audit_records.verify(database).problem
    assert problem is not None
    assert (problem.kind, problem.sequence) == (AuditProblemKind.UNLINKED, 2)


def test_concurrent_appends_from_threads_keep_one_chain(database: Database) -> None:
    errors: list[BaseException] = []

    def appender(worker: int) -> None:
        try:
            for number in range(10):
                audit_records.append(database, _entry(worker * 100 + number))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    verification = audit_records.verify(database)
    assert verification.intact, verification.problem
    assert verification.record_count == 60 and verification.head_sequence == 60


def test_filters_and_oldest_first_reading(database: Database) -> None:
    _fill(database, 3)
    audit_records.append(
        database, _entry(4, principal="robot/ci", result=AuditResult.DENIED, error_code="X")
    )
    denied = list(audit_records.records(database, AuditFilters(result=AuditResult.DENIED)))
    assert [record.principal for record in denied] == ["robot/ci"]
    by_resource = list(audit_records.records(database, AuditFilters(resource="env-2")))
    assert [record.sequence for record in by_resource] == [2]
    since = list(audit_records.records(database, AuditFilters(since=START + timedelta(minutes=3))))
    assert [record.sequence for record in since] == [3, 4]
    wildcard = list(audit_records.records(database, AuditFilters(resource="env_%")))
    assert wildcard == []  # LIKE's wildcards are taken literally
    with database.session() as session:
        assert session.scalars(select(AuditRecordRow.sequence)).all() == [1, 2, 3, 4]


def test_oversized_fields_are_bounded(database: Database) -> None:
    record = audit_records.append(
        database,
        _entry(1, principal="user/" + "a" * 5000, resources=tuple(f"arn-{n}" for n in range(99))),
    )
    assert len(record.principal) == audit_records.MAX_PRINCIPAL
    assert len(record.resources) == audit_records.MAX_RESOURCES
    assert audit_records.verify(database).intact


def test_an_append_reads_the_chain_head_once_under_its_lock_then_writes_in_one_go_where_it_can(
    database: Database,
) -> None:
    audit_records.append(database, _entry(1))
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]).split(None, 1)[0].upper())

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        record = audit_records.append(database, _entry(2))
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    writes = ["WITH"] if database.engine.dialect.name == "postgresql" else ["INSERT", "UPDATE"]
    assert [s for s in statements if s not in {"BEGIN", "COMMIT"}] == ["SELECT", *writes]
    assert record.sequence == 2 and audit_records.verify(database).intact
