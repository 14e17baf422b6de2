"""Read models of the portal's lists at fleet scale: environments, service instances and
pipelines (one list, or one kind of them), and services, each filtered and served a page at
a time with the store's keyset paging (ctx.page), so that a list of 100,000 rows reads one
page of them.

Version standing follows the fleet page's counts: ``behind-minor`` holds every resource with
a newer minor of its own major, also one that is behind a major as well.

A resource's team is the value of its tag named by the ``team_tag_key`` setting (an instance
without one takes its service's; a pipeline is its service's): the convention policies can
match too, so that "team" means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, null, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from baryon.domain import deployments, fleet
from baryon.domain import services as service_rules
from baryon.domain.arns import Arns
from baryon.domain.fleet import VersionStatus
from baryon.operations.context import RequestContext
from baryon.operations.fleet import FAILED_STATUSES
from baryon.operations.resource_keys import ENVIRONMENT, INSTANCE, PIPELINE
from baryon.service_models.proton import ServiceStatus
from baryon.store.tables import Environment, Service, ServiceInstance, ServicePipeline, Tag

PAGE_SIZE = 50
MAX_SEARCH = 100  # characters of a name search; longer is refused by the page, not run
KINDS = (ENVIRONMENT, INSTANCE, PIPELINE)


class State(StrEnum):
    """The status filter of a list: what its deployments came to."""

    FAILED = "failed"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"


class Standing(StrEnum):
    """The version filter of a list (the fleet page's columns)."""

    UP_TO_DATE = "up-to-date"
    BEHIND_MINOR = "behind-minor"
    BEHIND_MAJOR = "behind-major"


@dataclass(frozen=True)
class ResourceFilters:
    """Every filter is optional; empty strings and None mean "any"."""

    kind: str = ""  # environment | instance | pipeline
    state: State | None = None
    standing: Standing | None = None
    template: str = ""
    version: str = ""  # "1" (a major) or "1.2"
    environment: str = ""
    service: str = ""
    search: str = ""  # part of the name (or of the service's name), any case
    team: str = ""  # the value of the team tag (settings.team_tag_key)

    def scope(self) -> dict[str, Any]:
        """What a page token is bound to: a token works only with the same filters."""
        return {key: str(value or "") for key, value in asdict(self).items()}


@dataclass(frozen=True)
class ListedResource:
    kind: str  # environment | instance | pipeline
    name: str  # the environment's or instance's name; the service's for a pipeline
    service: str | None
    environment: str | None
    template_name: str
    major: int
    minor: int
    standing: VersionStatus
    minor_newer: bool  # a newer minor of its own major is published
    deployment_status: str
    status_message: str | None
    attempted_at: datetime | None
    team: str | None = None

    @property
    def failed(self) -> bool:
        return self.deployment_status in FAILED_STATUSES


@dataclass(frozen=True)
class ResourcePage:
    rows: list[ListedResource]
    next_token: str | None

    @property
    def busy(self) -> bool:
        return any(row.deployment_status in deployments.ACTIVE for row in self.rows)


def version_parts(text: str) -> tuple[int, int | None] | None:
    """``"1"`` -> (1, None), ``"1.2"`` -> (1, 2); None if it is not a version number."""
    major, _, minor = text.partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()) or len(text) > 20:
        return None
    return int(major), int(minor) if minor else None


def list_resources(
    ctx: RequestContext, filters: ResourceFilters, token: str | None = None
) -> ResourcePage:
    """One page of the environments, instances and pipelines ``filters`` keeps, by kind,
    service and name."""
    kinds = [filters.kind] if filters.kind else list(KINDS)
    teams = _Teams(ctx.arns, ctx.settings.team_tag_key)
    branches = [_branch(kind, filters, teams) for kind in kinds if kind in KINDS]
    if not branches:
        return ResourcePage([], None)
    union = branches[0] if len(branches) == 1 else branches[0].union_all(*branches[1:])
    listed = union.subquery("listed")
    stmt = select(listed)
    if filters.standing is Standing.UP_TO_DATE:
        stmt = stmt.where(listed.c.vstatus == VersionStatus.UP_TO_DATE)
    elif filters.standing is Standing.BEHIND_MAJOR:
        stmt = stmt.where(listed.c.vstatus == VersionStatus.BEHIND_MAJOR)
    elif filters.standing is Standing.BEHIND_MINOR:
        stmt = stmt.where(listed.c.minor_newer == 1)
    keys = [listed.c.kind, listed.c.service, listed.c.name]
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            stmt,
            keys,
            {"nextToken": token, "maxResults": PAGE_SIZE},
            scope=filters.scope(),
        )
    return ResourcePage([_listed(row) for row in rows], next_token)


def _listed(row: Any) -> ListedResource:
    return ListedResource(
        kind=row.kind,
        name=row.name,
        service=row.service or None,
        environment=row.environment,
        template_name=row.template_name,
        major=row.major,
        minor=row.minor,
        standing=VersionStatus(row.vstatus),
        minor_newer=bool(row.minor_newer),
        deployment_status=row.deployment_status,
        status_message=row.status_message,
        attempted_at=row.attempted_at,
        team=row.team,
    )


@dataclass(frozen=True)
class _Teams:
    """The team of a resource in SQL: its team tag's value, found by the resource's ARN."""

    arns: Arns
    key: str

    def tagged(self, arn: Any) -> Any:
        return (
            select(Tag.value)
            .where(Tag.resource_arn == arn, Tag.key == self.key)
            .limit(1)
            .scalar_subquery()
        )

    def of_environment(self, name: Any) -> Any:
        return self.tagged(literal(self.arns.environment(""), String) + name)

    def of_service(self, name: Any) -> Any:
        return self.tagged(literal(self.arns.service(""), String) + name)

    def of_instance(self, service: Any, name: Any) -> Any:
        own = self.tagged(
            literal(self.arns.service(""), String) + service + "/service-instance/" + name
        )
        return func.coalesce(own, self.of_service(service))


def _branch(kind: str, filters: ResourceFilters, teams: _Teams) -> Any:
    """The select of one kind of resource, in the union's columns, with its filters."""
    if kind == ENVIRONMENT:
        model: Any = Environment
        template_id: Any = Environment.template_id
        service: Any = literal("", String)
        environment: Any = Environment.name
        template_name: Any = Environment.template_name
        name: Any = Environment.name
        names: Sequence[Any] = (Environment.name,)
        team: Any = teams.of_environment(Environment.name)
        base = select(literal(kind, String).label("kind")).select_from(Environment)
    elif kind == INSTANCE:
        model = ServiceInstance
        template_id = ServiceInstance.template_id
        service = ServiceInstance.service_name
        environment = ServiceInstance.environment_name
        template_name = ServiceInstance.template_name
        name = ServiceInstance.name
        names = (ServiceInstance.name, ServiceInstance.service_name)
        team = teams.of_instance(ServiceInstance.service_name, ServiceInstance.name)
        base = select(literal(kind, String).label("kind")).select_from(ServiceInstance)
    else:
        # A pipeline is named by its service, and runs its service's template.
        model = ServicePipeline
        template_id = Service.template_id
        service = Service.name
        environment = cast(null(), String)
        template_name = Service.template_name
        name = Service.name
        names = (Service.name,)
        team = teams.of_service(Service.name)
        base = (
            select(literal(kind, String).label("kind"))
            .select_from(ServicePipeline)
            .join(Service, Service.id == ServicePipeline.service_id)
        )
    stmt, status = fleet.with_version_status(
        base, template_id, model.template_major, model.template_minor
    )
    stmt, minor_newer = fleet.with_minor_available(
        stmt, template_id, model.template_major, model.template_minor
    )
    stmt = stmt.add_columns(
        service.label("service"),
        name.label("name"),
        environment.label("environment"),
        template_name.label("template_name"),
        model.template_major.label("major"),
        model.template_minor.label("minor"),
        status.label("vstatus"),
        case((minor_newer, 1), else_=0).label("minor_newer"),
        model.deployment_status.label("deployment_status"),
        model.deployment_status_message.label("status_message"),
        model.last_deployment_attempted_at.label("attempted_at"),
        team.label("team"),
    )
    conditions: list[ColumnElement[bool]] = []
    if filters.template:
        conditions.append(template_name == filters.template)
    parts = version_parts(filters.version) if filters.version else None
    if parts is not None:
        conditions.append(model.template_major == parts[0])
        if parts[1] is not None:
            conditions.append(model.template_minor == parts[1])
    if filters.environment:
        conditions.append(environment == filters.environment)
    if filters.service:
        conditions.append(service == filters.service)
    if filters.search:
        needle = filters.search.lower()
        conditions.append(
            or_(*(func.lower(column).contains(needle, autoescape=True) for column in names))
        )
    if filters.team:
        conditions.append(team == filters.team)
    if filters.state is not None:
        conditions.append(_state_condition(model.deployment_status, filters.state))
    return stmt.where(and_(*conditions)) if conditions else stmt


def _state_condition(column: QueryableAttribute[str], state: State) -> ColumnElement[bool]:
    if state is State.FAILED:
        return column.in_(FAILED_STATUSES)
    if state is State.DEPLOYING:
        return column.in_(deployments.ACTIVE)
    return column.not_in([*FAILED_STATUSES, *deployments.ACTIVE])


# --- services -------------------------------------------------------------------------------

_SERVICE_FAILED = frozenset(
    {
        ServiceStatus.CREATE_FAILED,
        ServiceStatus.CREATE_FAILED_CLEANUP_FAILED,
        ServiceStatus.UPDATE_FAILED,
        ServiceStatus.UPDATE_FAILED_CLEANUP_FAILED,
        ServiceStatus.UPDATE_COMPLETE_CLEANUP_FAILED,
        ServiceStatus.DELETE_FAILED,
    }
)


@dataclass(frozen=True)
class ServiceFilters:
    state: State | None = None
    template: str = ""
    search: str = ""
    team: str = ""

    def scope(self) -> dict[str, Any]:
        return {key: str(value or "") for key, value in asdict(self).items()}


@dataclass(frozen=True)
class ListedService:
    service: Service
    instances: int
    busy: bool  # the service, or one of its instances, is changing
    team: str | None = None


@dataclass(frozen=True)
class ServicePage:
    rows: list[ListedService]
    next_token: str | None

    @property
    def busy(self) -> bool:
        return any(row.busy for row in self.rows)


def list_services(
    ctx: RequestContext, filters: ServiceFilters, token: str | None = None
) -> ServicePage:
    """One page of the services ``filters`` keeps, by name, with their instance counts."""
    team = _Teams(ctx.arns, ctx.settings.team_tag_key).of_service(Service.name)
    stmt = select(Service, team.label("team"))
    if filters.team:
        stmt = stmt.where(team == filters.team)
    if filters.template:
        stmt = stmt.where(Service.template_name == filters.template)
    if filters.search:
        stmt = stmt.where(
            func.lower(Service.name).contains(filters.search.lower(), autoescape=True)
        )
    if filters.state is State.FAILED:
        stmt = stmt.where(Service.status.in_(_SERVICE_FAILED))
    elif filters.state is State.DEPLOYING:
        stmt = stmt.where(Service.status.in_(service_rules.BUSY))
    elif filters.state is State.DEPLOYED:
        stmt = stmt.where(Service.status.not_in([*_SERVICE_FAILED, *service_rules.BUSY]))
    with ctx.db.session() as session:
        rows, next_token = ctx.page(
            session,
            stmt,
            [Service.name],
            {"nextToken": token, "maxResults": PAGE_SIZE},
            scope=filters.scope(),
        )
        services = [(row[0], row[1]) for row in rows]
        return ServicePage(_with_counts(session, services), next_token)


def _with_counts(
    session: Session, services: list[tuple[Service, str | None]]
) -> list[ListedService]:
    ids = [service.id for service, _ in services]
    if not ids:
        return []
    counts: dict[int, int] = dict(
        session.execute(
            select(ServiceInstance.service_id, func.count())
            .where(ServiceInstance.service_id.in_(ids))
            .group_by(ServiceInstance.service_id)
        )
        .tuples()
        .all()
    )
    busy = set(
        session.scalars(
            select(ServiceInstance.service_id).where(
                ServiceInstance.service_id.in_(ids),
                ServiceInstance.deployment_status.in_(deployments.ACTIVE),
            )
        )
    )
    return [
        ListedService(
            service,
            counts.get(service.id, 0),
            service.operation is not None or service.id in busy,
            team,
        )
        for service, team in services
    ]
