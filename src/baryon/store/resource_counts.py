"""Maintained counts for GetResourcesSummary: ``resource_counts`` holds how many resources sit
in each bucket (kind, template, deployed version, failed or not), so the summary reads a few
rows instead of scanning 100,000 instances.

Every change goes through the ORM session, so the counting is done in one place, the session's
flush: before a flush the buckets the changed rows leave are noted (the database still holds
them), after it the buckets they enter, and the difference is kept with the transaction (or
savepoint) that made it. At commit the differences are added to the counts, in key order, with
``resources = resources + d`` (no lost updates between concurrent writers; key order means two
writers never wait on each other's rows crosswise, and the counter rows are locked only for the
end of the transaction). A savepoint rolled back takes its differences with it.

How far behind a version is depends on the recommended versions, which change at once for a
whole fleet when a version is published: the counts are kept per deployed version and the
version status is worked out when the summary is read (domain/resources_summary.py), so no
fleet-wide recount is ever needed. Writes that bypass the ORM (a seeding script's bulk
INSERT or COPY) must call ``recount`` afterwards.

A service is as stale as its stalest part, and which part that is does not depend on the
recommended versions: it is the part on the lowest deployed (major, minor). Behind a major
means its major is below the newest; else behind a minor means it is on the newest major
below that major's newest minor; a part on a lower version is at least as far behind. So
besides the parts of each service (SERVICE_PART, one row per service and version, kept so
that the lowest can be found again when a part moves), the services are counted by their
lowest version (SERVICE_STALEST): the summary reads a handful of rows however many services
there are. At commit, the services whose parts moved have their lowest version worked out
before and after from their stored parts; on PostgreSQL a transaction-scoped advisory lock
per service (taken in order, at commit only) keeps two writers to one service's parts from
both working from the parts as they were before either.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key

from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import (
    Component,
    Environment,
    ResourceCount,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import UOWTransaction


class CountedKind(StrEnum):
    ENVIRONMENT_TEMPLATE = "ENVIRONMENT_TEMPLATE"
    SERVICE_TEMPLATE = "SERVICE_TEMPLATE"
    ENVIRONMENT = "ENVIRONMENT"
    SERVICE_INSTANCE = "SERVICE_INSTANCE"
    SERVICE_PIPELINE = "SERVICE_PIPELINE"
    SERVICE = "SERVICE"
    # An instance or pipeline counted under its service: a service is as stale as its
    # stalest part, and that depends on the recommended versions of the moment.
    SERVICE_PART = "SERVICE_PART"
    # Services (of a template) by the lowest version among their parts: how stale each is.
    SERVICE_STALEST = "SERVICE_STALEST"
    COMPONENT = "COMPONENT"


TEMPLATE_KINDS = {
    "ENVIRONMENT": CountedKind.ENVIRONMENT_TEMPLATE,
    "SERVICE": CountedKind.SERVICE_TEMPLATE,
}
FAILED_DEPLOYMENTS = (DeploymentStatus.FAILED, DeploymentStatus.DELETE_FAILED)


@dataclass(frozen=True, order=True)
class Bucket:
    """One row of resource_counts; parts of the key a kind does not use are 0."""

    kind: CountedKind
    template_id: int = 0
    service_id: int = 0
    major: int = 0
    minor: int = 0
    failed: bool = False


_KEY = ("kind", "template_id", "service_id", "major", "minor", "failed")
_KEY_COLUMNS = tuple(getattr(ResourceCount, name) for name in _KEY)
# The columns each counted class's buckets are made of (a pipeline's template is its service's).
_TRACKED: dict[type, tuple[str, ...]] = {
    Template: ("kind",),
    Environment: ("template_id", "template_major", "template_minor", "deployment_status"),
    ServiceInstance: (
        "service_id",
        "template_id",
        "template_major",
        "template_minor",
        "deployment_status",
    ),
    ServicePipeline: ("service_id", "template_major", "template_minor", "deployment_status"),
    Service: ("template_id", "status"),
    Component: ("deployment_status",),
}
# The first key of the two-key advisory locks on services' parts (any fixed 32-bit number; the
# one-key locks, such as the migrations', are a separate space).
_SERVICE_PARTS_LOCK_SPACE = 0x5E55_0017
_LOCK_SERVICE_PARTS = text(
    "SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:key AS integer))"
)
_LEAVING = "baryon_resource_counts_leaving"
_PENDING = "baryon_resource_counts_pending"


def buckets(
    row: object, value: Callable[[str], Any], service_template: Callable[[int], int]
) -> tuple[Bucket, ...]:
    """The buckets a row of a counted class is in, given its column values."""
    if isinstance(row, Template):
        return (Bucket(TEMPLATE_KINDS[value("kind")]),)
    if isinstance(row, Service):
        return (Bucket(CountedKind.SERVICE, value("template_id"), failed=_service_failed(value)),)
    failed = value("deployment_status") in FAILED_DEPLOYMENTS
    if isinstance(row, Component):
        return (Bucket(CountedKind.COMPONENT, failed=failed),)
    major, minor = value("template_major"), value("template_minor")
    if isinstance(row, Environment):
        return (Bucket(CountedKind.ENVIRONMENT, value("template_id"), 0, major, minor, failed),)
    service_id = value("service_id")
    if isinstance(row, ServiceInstance):
        kind, template_id = CountedKind.SERVICE_INSTANCE, value("template_id")
    else:
        kind, template_id = CountedKind.SERVICE_PIPELINE, service_template(service_id)
    return (
        Bucket(kind, template_id, 0, major, minor, failed),
        Bucket(CountedKind.SERVICE_PART, template_id, service_id, major, minor),
    )


def _service_failed(value: Callable[[str], Any]) -> bool:
    # Every failed service status (CREATE_FAILED, UPDATE_FAILED_CLEANUP_COMPLETE, ...) says so.
    return "FAILED" in value("status")


class _Unknown(Exception):
    """A changed column's value before the change was never loaded."""


def _before(session: Session, row: object) -> tuple[Bucket, ...]:
    """The buckets ``row`` is in before this flush: from what the session loaded, or from the
    database (which still holds the row as it was) when the session did not load it."""
    state = inspect(row)

    def loaded(name: str) -> Any:
        history = state.attrs[name].history
        if history.deleted:
            return history.deleted[0]
        if history.unchanged:
            return history.unchanged[0]
        raise _Unknown(name)

    try:
        return buckets(row, loaded, lambda sid: _service_template(session, sid))
    except _Unknown:
        model = type(row)
        columns = [getattr(model, name) for name in _TRACKED[_counted_class(row)]]
        stored = session.connection().execute(
            select(*columns).where(model.id == state.identity[0])  # type: ignore[attr-defined]
        )
        values = stored.one()._mapping
        return buckets(
            row,
            lambda name: values[name],
            lambda sid: _service_template(session, sid),
        )


def _after(session: Session, row: object) -> tuple[Bucket, ...]:
    return buckets(
        row, lambda name: getattr(row, name), lambda sid: _service_template(session, sid)
    )


def _service_template(session: Session, service_id: int) -> int:
    """A service's template (it never changes), from the session or else the database."""
    loaded = session.identity_map.get(identity_key(Service, service_id))
    if isinstance(loaded, Service):
        return loaded.template_id
    template_id = session.connection().scalar(
        select(Service.template_id).where(Service.id == service_id)
    )
    if template_id is None:
        raise LookupError(f"service {service_id} of a counted pipeline is missing")
    return template_id


def _counted_class(row: object) -> type:
    for model in _TRACKED:
        if isinstance(row, model):
            return model
    raise TypeError(type(row).__name__)


def _counted(rows: Iterable[object]) -> list[object]:
    return [row for row in rows if isinstance(row, tuple(_TRACKED))]


@event.listens_for(Session, "before_flush")
def _note_leaving(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    leaving = {
        id(row): (row, _before(session, row))
        for row in _counted([*session.dirty, *session.deleted])
    }
    session.info[_LEAVING] = leaving


@event.listens_for(Session, "after_flush")
def _note_moves(session: Session, _flush: UOWTransaction) -> None:
    leaving: dict[int, tuple[object, tuple[Bucket, ...]]] = session.info.pop(_LEAVING, {})
    moves: Counter[Bucket] = Counter()
    for row in _counted(session.new):
        moves.update(_after(session, row))
    for row in _counted(session.dirty):
        before = leaving[id(row)][1] if id(row) in leaving else _before(session, row)
        moves.subtract(before)
        moves.update(_after(session, row))
    for row in _counted(session.deleted):
        before = leaving[id(row)][1] if id(row) in leaving else _before(session, row)
        moves.subtract(before)
    moves = Counter({bucket: n for bucket, n in moves.items() if n})
    if moves:
        owner = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(_PENDING, []).append((owner, moves))


@event.listens_for(Session, "before_commit")
def _apply_moves(session: Session) -> None:
    savepoint = session.get_nested_transaction()
    pending: list[tuple[SessionTransaction, Counter[Bucket]]] = session.info.get(_PENDING, [])
    if savepoint is not None:
        # A savepoint released: what it counted now stands or falls with its parent.
        parent = _enclosing(savepoint)
        session.info[_PENDING] = [
            (parent if owner is savepoint else owner, moves) for owner, moves in pending
        ]
        return
    # The commit flushes after this hook; flush first so that nothing goes uncounted.
    session.flush()
    total: Counter[Bucket] = Counter()
    for _, moves in session.info.pop(_PENDING, []):
        total.update(moves)
    add_counts(session.connection(), total)


def _enclosing(savepoint: SessionTransaction) -> SessionTransaction | None:
    parent = savepoint.parent
    while parent is not None and not parent.nested and parent.parent is not None:
        parent = parent.parent
    return parent


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)
        return
    pending = session.info.get(_PENDING, [])
    session.info[_PENDING] = [(owner, moves) for owner, moves in pending if owner is not previous]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_LEAVING, None)


def add_counts(connection: Connection, moves: Mapping[Bucket, int]) -> None:
    """Adds each bucket's difference to its row (made if missing), in key order, and moves
    the services whose stalest part changed between SERVICE_STALEST buckets."""
    moves = Counter({bucket: n for bucket, n in moves.items() if n})
    moves.update(_stalest_moves(connection, moves))
    changes = sorted((bucket, n) for bucket, n in moves.items() if n)
    if not changes:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # One statement for every bucket (its rows in key order, as they are locked), answering
    # the counts it leaves: a deployment moves about four buckets, which were four
    # statements, and the delete below ran whenever one went down (bench.fleet_upgrade).
    upsert = dialect.insert(ResourceCount).values(
        [{**_row(bucket), "resources": n} for bucket, n in changes]
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"resources": ResourceCount.resources + upsert.excluded.resources},
    ).returning(*_KEY_COLUMNS, ResourceCount.resources)
    emptied = [tuple(row[:-1]) for row in connection.execute(upsert) if row[-1] == 0]
    if emptied:
        # Rows left at zero go (a deleted service's parts would otherwise stay forever); the
        # upsert holds them until commit, so none gains a resource meanwhile.
        key = tuple_(*_KEY_COLUMNS)
        connection.execute(
            delete(ResourceCount).where(key.in_(emptied), ResourceCount.resources == 0)
        )


def _stalest_moves(connection: Connection, moves: Mapping[Bucket, int]) -> Counter[Bucket]:
    """SERVICE_STALEST differences for the services whose parts ``moves`` changes, from
    their parts as stored (committed) before and after the change."""
    services = sorted({b.service_id for b in moves if b.kind == CountedKind.SERVICE_PART})
    if not services:
        return Counter()
    if connection.dialect.name == "postgresql":
        # In id order, and only here at commit: two committers never wait crosswise. Ids
        # past 2**31 share a lock with another service, which only makes one wait longer.
        for service_id in services:
            connection.execute(
                _LOCK_SERVICE_PARTS,
                {"space": _SERVICE_PARTS_LOCK_SPACE, "key": service_id % 2**31},
            )
    before: dict[tuple[int, int], Counter[tuple[int, int]]] = {}
    stored = connection.execute(_stored_parts_statement(), {"services": services})
    for template_id, service_id, major, minor, resources in stored:
        before.setdefault((service_id, template_id), Counter())[major, minor] += resources
    after = {key: Counter(versions) for key, versions in before.items()}
    for bucket, n in moves.items():
        if bucket.kind == CountedKind.SERVICE_PART:
            versions = after.setdefault((bucket.service_id, bucket.template_id), Counter())
            versions[bucket.major, bucket.minor] += n
    stalest: Counter[Bucket] = Counter()
    for (service_id, template_id), versions in after.items():
        old = _lowest(before.get((service_id, template_id), Counter()))
        new = _lowest(versions)
        if old != new:
            if old is not None:
                stalest[Bucket(CountedKind.SERVICE_STALEST, template_id, 0, *old)] -= 1
            if new is not None:
                stalest[Bucket(CountedKind.SERVICE_STALEST, template_id, 0, *new)] += 1
    return stalest


def _lowest(versions: Counter[tuple[int, int]]) -> tuple[int, int] | None:
    return min((version for version, n in versions.items() if n > 0), default=None)


@functools.cache
def _stored_parts_statement() -> Select[Any]:
    return select(
        ResourceCount.template_id,
        ResourceCount.service_id,
        ResourceCount.major,
        ResourceCount.minor,
        ResourceCount.resources,
    ).where(
        ResourceCount.kind == CountedKind.SERVICE_PART,
        ResourceCount.service_id.in_(bindparam("services", expanding=True)),
    )


def _row(bucket: Bucket) -> dict[str, Any]:
    return {name: getattr(bucket, name) for name in _KEY}


def recount(connection: Connection) -> None:
    """Counts every resource again from the rows (after writes that bypassed the ORM)."""
    connection.execute(delete(ResourceCount))
    columns = [*_KEY, "resources"]
    for counted in _recount_statements():
        connection.execute(insert(ResourceCount).from_select(columns, counted))


def _recount_statements() -> list[Select[Any]]:
    def failed(status: Any) -> ColumnElement[bool]:
        return status.in_(FAILED_DEPLOYMENTS)

    zero = literal(0)
    statements: list[Select[Any]] = [
        select(literal(kind.value), zero, zero, zero, zero, false(), func.count())
        .where(Template.kind == template_kind)
        .group_by(Template.kind)
        for template_kind, kind in TEMPLATE_KINDS.items()
    ]
    env_failed = failed(Environment.deployment_status)
    statements.append(
        select(
            literal(CountedKind.ENVIRONMENT.value),
            Environment.template_id,
            zero,
            Environment.template_major,
            Environment.template_minor,
            env_failed,
            func.count(),
        ).group_by(
            Environment.template_id,
            Environment.template_major,
            Environment.template_minor,
            env_failed,
        )
    )
    instance_failed = failed(ServiceInstance.deployment_status)
    statements.append(
        select(
            literal(CountedKind.SERVICE_INSTANCE.value),
            ServiceInstance.template_id,
            zero,
            ServiceInstance.template_major,
            ServiceInstance.template_minor,
            instance_failed,
            func.count(),
        ).group_by(
            ServiceInstance.template_id,
            ServiceInstance.template_major,
            ServiceInstance.template_minor,
            instance_failed,
        )
    )
    pipeline_failed = failed(ServicePipeline.deployment_status)
    statements.append(
        select(
            literal(CountedKind.SERVICE_PIPELINE.value),
            Service.template_id,
            zero,
            ServicePipeline.template_major,
            ServicePipeline.template_minor,
            pipeline_failed,
            func.count(),
        )
        .join(Service, Service.id == ServicePipeline.service_id)
        .group_by(
            Service.template_id,
            ServicePipeline.template_major,
            ServicePipeline.template_minor,
            pipeline_failed,
        )
    )
    parts = union_all(
        select(
            ServiceInstance.template_id.label("template_id"),
            ServiceInstance.service_id.label("service_id"),
            ServiceInstance.template_major.label("major"),
            ServiceInstance.template_minor.label("minor"),
        ),
        select(
            Service.template_id,
            ServicePipeline.service_id,
            ServicePipeline.template_major,
            ServicePipeline.template_minor,
        ).join(Service, Service.id == ServicePipeline.service_id),
    ).subquery()
    statements.append(
        select(
            literal(CountedKind.SERVICE_PART.value),
            parts.c.template_id,
            parts.c.service_id,
            parts.c.major,
            parts.c.minor,
            false(),
            func.count(),
        ).group_by(parts.c.template_id, parts.c.service_id, parts.c.major, parts.c.minor)
    )
    statements.append(_stalest_from_parts())
    service_failed = Service.status.like("%FAILED%")
    statements.append(
        select(
            literal(CountedKind.SERVICE.value),
            Service.template_id,
            zero,
            zero,
            zero,
            service_failed,
            func.count(),
        ).group_by(Service.template_id, service_failed)
    )
    component_failed = failed(Component.deployment_status)
    statements.append(
        select(
            literal(CountedKind.COMPONENT.value),
            zero,
            zero,
            zero,
            zero,
            component_failed,
            func.count(),
        ).group_by(component_failed)
    )
    return statements


def _stalest_from_parts() -> Select[Any]:
    """SERVICE_STALEST rows from the SERVICE_PART rows (so it runs after they are counted):
    per service, the lowest major among its parts, then the lowest minor on that major."""
    counted = ResourceCount.__table__
    part = (counted.c.kind == CountedKind.SERVICE_PART.value) & (counted.c.resources != 0)
    lowest_major = (
        select(
            counted.c.template_id, counted.c.service_id, func.min(counted.c.major).label("major")
        )
        .where(part)
        .group_by(counted.c.template_id, counted.c.service_id)
        .subquery("lowest_major")
    )
    lowest = (
        select(
            counted.c.template_id,
            counted.c.service_id,
            counted.c.major,
            func.min(counted.c.minor).label("minor"),
        )
        .join(
            lowest_major,
            (lowest_major.c.template_id == counted.c.template_id)
            & (lowest_major.c.service_id == counted.c.service_id)
            & (lowest_major.c.major == counted.c.major),
        )
        .where(part)
        .group_by(counted.c.template_id, counted.c.service_id, counted.c.major)
        .subquery("lowest")
    )
    zero = literal(0)
    return select(
        literal(CountedKind.SERVICE_STALEST.value),
        lowest.c.template_id,
        zero,
        lowest.c.major,
        lowest.c.minor,
        false(),
        func.count(),
    ).group_by(lowest.c.template_id, lowest.c.major, lowest.c.minor)
