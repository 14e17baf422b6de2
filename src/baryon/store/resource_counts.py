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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    literal,
    select,
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
    """Adds each bucket's difference to its row (made if missing), in key order."""
    changes = sorted((bucket, n) for bucket, n in moves.items() if n)
    if not changes:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(ResourceCount)
    upsert = upsert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"resources": ResourceCount.resources + upsert.excluded.resources},
    )
    connection.execute(upsert, [{**_row(bucket), "resources": n} for bucket, n in changes])
    emptied = [tuple(_row(bucket).values()) for bucket, n in changes if n < 0]
    if emptied:
        # Rows left at zero go (a deleted service's parts would otherwise stay forever); a
        # writer adding to one meanwhile holds it, and the delete then sees its count.
        key = tuple_(*(getattr(ResourceCount, name) for name in _KEY))
        connection.execute(
            delete(ResourceCount).where(key.in_(emptied), ResourceCount.resources == 0)
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
