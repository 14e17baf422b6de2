"""GetResourcesSummary from the maintained counts (store/resource_counts.py) agrees with a scan
of the rows (tests/support/resources_summary_scan.py) after every step of a random history of
creates, deployments that succeed or fail, upgrades, new recommended minors and majors,
deletes and template deletes, rolled-back savepoints and transactions, on SQLite and on the
suite's PostgreSQL. The rows are written through the ORM, as every Baryon write path does."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from baryon.domain.resources_summary import resources_summary
from baryon.store import resource_counts
from baryon.store.database import Database, alembic_config
from baryon.store.tables import (
    Component,
    Environment,
    ResourceCount,
    Service,
    ServiceInstance,
    ServicePipeline,
    Template,
    TemplateVersion,
)
from tests.support.resources_summary_scan import scanned_summary

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DEPLOYMENT_STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS", "DELETE_FAILED", "DELETE_IN_PROGRESS")
SERVICE_STATUSES = (
    "ACTIVE",
    "CREATE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_FAILED_CLEANUP_COMPLETE",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baryon.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    db = Database(url)
    db.migrate()
    yield db
    db.dispose()


def _template_row(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "created_at": NOW, "last_modified_at": NOW}


def _version_row(template_id: int, major: int, minor: int) -> dict[str, Any]:
    return {
        "template_id": template_id,
        "major": major,
        "minor": minor,
        "status": "PUBLISHED",
        "source": {},
        "created_at": NOW,
        "last_modified_at": NOW,
    }


def _deployed(major: int, minor: int, status: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "template_major": major,
        "template_minor": minor,
        "deployment_status": status,
        "last_deployment_attempted_at": NOW,
        "last_deployment_succeeded_at": NOW,
        "created_at": NOW,
        "last_modified_at": NOW,
    }


def _environment_row(name: str, template: Template, major: int, minor: int) -> dict[str, Any]:
    return {"name": name, "template_id": template.id, "template_name": template.name}


def _service_row(name: str, template: Template, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "name": name,
        "template_id": template.id,
        "template_name": template.name,
        "status": status,
        "template_major": 1,
        "created_at": NOW,
        "last_modified_at": NOW,
    }


def _component_row(name: str, environment: Environment, status: str) -> dict[str, Any]:
    return {
        "name": name,
        "environment_id": environment.id,
        "environment_name": environment.name,
        "manifest": "",
        "template_file": "",
        "deployment_status": status,
        "last_deployment_attempted_at": NOW,
        "last_deployment_succeeded_at": NOW,
        "created_at": NOW,
        "last_modified_at": NOW,
    }


class History:
    """Random changes, each one transaction written through the ORM."""

    def __init__(self, db: Database, seed: int) -> None:
        self.db, self.rng, self.serial = db, random.Random(seed), 0

    def name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def pick(self, session: Session, model: Any, *where: Any) -> Any:
        rows = session.scalars(select(model).where(*where).order_by(model.id)).all()
        return self.rng.choice(rows) if rows else None

    def version(self, session: Session, template_id: int) -> tuple[int, int]:
        versions = session.execute(
            select(TemplateVersion.major, TemplateVersion.minor)
            .where(TemplateVersion.template_id == template_id)
            .order_by(TemplateVersion.major, TemplateVersion.minor)
        ).all()
        major, minor = self.rng.choice(versions)
        return int(major), int(minor)

    def steps(self) -> list[Callable[[Session], None]]:
        return [
            self.new_template,
            self.publish,
            self.publish,
            self.unpublish,
            self.new_environment,
            self.new_service,
            self.new_service,
            self.new_instance,
            self.new_instance,
            self.deploy,
            self.deploy,
            self.upgrade,
            self.upgrade,
            self.service_status,
            self.new_component,
            self.delete_instance,
            self.delete_pipeline,
            self.delete_service,
            self.delete_environment,
            self.delete_template,
            self.delete_component,
            self.upgrade_unloaded,
        ]

    def new_template(self, session: Session, kind: str | None = None) -> None:
        kind = kind or self.rng.choice(("ENVIRONMENT", "SERVICE"))
        template = Template(**_template_row(kind, self.name(kind.lower())))
        session.add(template)
        session.flush()
        session.add(TemplateVersion(**_version_row(template.id, 1, 0)))

    def publish(self, session: Session) -> None:
        template = self.pick(session, Template)
        if template is None:
            return
        major, minor = max(
            session.execute(
                select(TemplateVersion.major, TemplateVersion.minor).where(
                    TemplateVersion.template_id == template.id
                )
            ).all()
        )
        new = (major + 1, 0) if self.rng.random() < 0.4 else (major, minor + 1)
        session.add(TemplateVersion(**_version_row(template.id, *new)))

    def unpublish(self, session: Session) -> None:
        version = self.pick(
            session, TemplateVersion, TemplateVersion.major + TemplateVersion.minor > 1
        )
        if version is not None:
            version.status = "DEPRECATED" if self.rng.random() < 0.5 else "PUBLISHED"

    def new_environment(self, session: Session) -> None:
        template = self.pick(session, Template, Template.kind == "ENVIRONMENT")
        if template is None:
            return
        major, minor = self.version(session, template.id)
        status = self.rng.choice(DEPLOYMENT_STATUSES)
        row = {**_environment_row(self.name("env"), template, major, minor)}
        session.add(Environment(**row, **_deployed(major, minor, status)))

    def new_service(self, session: Session) -> None:
        template = self.pick(session, Template, Template.kind == "SERVICE")
        if template is None:
            return
        service = Service(**_service_row(self.name("svc"), template))
        session.add(service)
        session.flush()
        if self.rng.random() < 0.6:
            major, minor = self.version(session, template.id)
            session.add(ServicePipeline(service_id=service.id, **_deployed(major, minor)))
        for _ in range(self.rng.randrange(3)):
            self._instance(session, service)

    def new_instance(self, session: Session) -> None:
        service = self.pick(session, Service)
        if service is not None:
            self._instance(session, service)

    def _instance(self, session: Session, service: Service) -> None:
        environment = self.pick(session, Environment)
        if environment is None:
            return
        major, minor = self.version(session, service.template_id)
        session.add(
            ServiceInstance(
                service_id=service.id,
                environment_id=environment.id,
                template_id=service.template_id,
                name=self.name("inst"),
                service_name=service.name,
                environment_name=environment.name,
                template_name=service.template_name,
                **_deployed(major, minor, self.rng.choice(DEPLOYMENT_STATUSES)),
            )
        )

    def _deployable(self, session: Session) -> Any:
        model = self.rng.choice((Environment, ServiceInstance, ServicePipeline, Component))
        return self.pick(session, model)

    def deploy(self, session: Session) -> None:
        row = self._deployable(session)
        if row is not None:
            row.deployment_status = self.rng.choice(DEPLOYMENT_STATUSES)

    def upgrade(self, session: Session) -> None:
        row = self._deployable(session)
        if row is None or isinstance(row, Component):
            return
        template_id = (
            session.get_one(Service, row.service_id).template_id
            if isinstance(row, ServicePipeline)
            else row.template_id
        )
        row.template_major, row.template_minor = self.version(session, template_id)
        # A deployment that fails moves nothing but the failed count; one that succeeds both.
        row.deployment_status = self.rng.choice(("SUCCEEDED", "FAILED"))

    def upgrade_unloaded(self, session: Session) -> None:
        """A row whose old values the session never loaded: counted from the database."""
        instance = self.pick(session, ServiceInstance)
        if instance is None:
            return
        session.expire(instance, ["template_major", "template_minor", "deployment_status"])
        major, minor = self.version(session, instance.template_id)
        instance.template_major, instance.template_minor = major, minor
        instance.deployment_status = self.rng.choice(DEPLOYMENT_STATUSES)

    def service_status(self, session: Session) -> None:
        service = self.pick(session, Service)
        if service is not None:
            service.status = self.rng.choice(SERVICE_STATUSES)

    def new_component(self, session: Session) -> None:
        environment = self.pick(session, Environment)
        if environment is not None:
            status = self.rng.choice(DEPLOYMENT_STATUSES)
            session.add(Component(**_component_row(self.name("comp"), environment, status)))

    def delete_instance(self, session: Session) -> None:
        instance = self.pick(session, ServiceInstance)
        if instance is not None:
            session.delete(instance)

    def delete_pipeline(self, session: Session) -> None:
        pipeline = self.pick(session, ServicePipeline)
        if pipeline is not None:
            session.delete(pipeline)

    def delete_service(self, session: Session) -> None:
        service = self.pick(session, Service)
        if service is None:
            return
        for model in (ServiceInstance, ServicePipeline):
            for row in session.scalars(select(model).where(model.service_id == service.id)):
                session.delete(row)
        session.flush()
        session.delete(service)

    def delete_environment(self, session: Session) -> None:
        environment = self.pick(session, Environment)
        if environment is None:
            return
        for model in (ServiceInstance, Component):
            if session.scalar(select(model.id).where(model.environment_id == environment.id)):
                return
        session.delete(environment)

    def delete_template(self, session: Session) -> None:
        template = self.pick(session, Template)
        if template is None:
            return
        for model in (Environment, Service, ServiceInstance):
            if session.scalar(select(model.id).where(model.template_id == template.id)):
                return
        for version in template.versions:
            session.delete(version)
        session.flush()
        session.delete(template)

    def delete_component(self, session: Session) -> None:
        component = self.pick(session, Component)
        if component is not None:
            session.delete(component)


class Undone(Exception):
    pass


def _summaries(db: Database) -> tuple[Any, Any]:
    with db.session() as session:
        return resources_summary(session), scanned_summary(session)


def _counts(db: Database) -> set[tuple[Any, ...]]:
    with db.session() as session:
        rows = session.execute(select(ResourceCount).where(ResourceCount.resources != 0))
        return {
            (r.kind, r.template_id, r.service_id, r.major, r.minor, bool(r.failed), r.resources)
            for (r,) in rows
        }


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_counted_summary_matches_a_scan_after_every_step(database: Database, seed: int) -> None:
    history = History(database, seed)
    seen: dict[tuple[str, str], int] = {}
    for kind in ("ENVIRONMENT", "SERVICE", "ENVIRONMENT", "SERVICE"):
        with database.session(write=True) as session:
            history.new_template(session, kind)
    for number in range(120):
        step = history.rng.choice(history.steps())
        ending = history.rng.random()
        if ending < 0.1:
            # A savepoint rolled back: its changes and its counts go, the rest stays.
            with database.session(write=True) as session:
                history.deploy(session)
                try:
                    with session.begin_nested():
                        step(session)
                        session.flush()
                        raise Undone
                except Undone:
                    pass
        elif ending < 0.15:
            with pytest.raises(Undone), database.session(write=True) as session:
                step(session)
                session.flush()
                raise Undone
        else:
            with database.session(write=True) as session:
                step(session)
                # Several flushes in one transaction (an autoflush before a query does this).
                if history.rng.random() < 0.5:
                    session.flush()
                    history.rng.choice(history.steps())(session)
        counted, scanned = _summaries(database)
        assert counted == scanned, f"step {number}: {step.__name__}"
        for kind, counts in counted.items():
            for field, n in counts.items():
                seen[kind, field] = max(seen.get((kind, field), 0), n)
    # The history did reach the buckets the comparison is about.
    for kind in ("serviceInstances", "services"):
        assert seen[kind, "failed"] > 0 and seen[kind, "behindMinor"] > 0, kind
    for kind in ("environments", "pipelines", "components"):
        assert seen[kind, "total"] > 0, kind
    assert any(seen[kind, "behindMajor"] > 0 for kind in ("serviceInstances", "services"))
    # Counting again from the rows gives the same rows of counts (none left at zero).
    maintained = _counts(database)
    with database.engine.begin() as connection:
        resource_counts.recount(connection)
    assert _counts(database) == maintained


def test_migration_counts_the_rows_already_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baryon.db'}"
    script = ScriptDirectory.from_config(alembic_config(url))
    before = script.get_revision("0017").down_revision
    assert isinstance(before, str)
    command.upgrade(alembic_config(url), before)
    db = Database(url)
    # Core inserts: the ORM would count them into a table that does not exist yet.
    with db.engine.begin() as connection:
        env_t, svc_t = (
            connection.execute(
                insert(Template).returning(Template.id), _template_row(kind, kind.lower())
            ).scalar_one()
            for kind in ("ENVIRONMENT", "SERVICE")
        )
        connection.execute(
            insert(TemplateVersion),
            [_version_row(env_t, 1, 0), _version_row(svc_t, 1, 0), _version_row(svc_t, 1, 1)],
        )
        env_template = Template(id=env_t, name="environment")
        svc_template = Template(id=svc_t, name="service")
        environment_id = connection.execute(
            insert(Environment).returning(Environment.id),
            {**_environment_row("env", env_template, 1, 0), **_deployed(1, 0, "FAILED")},
        ).scalar_one()
        services = [
            connection.execute(
                insert(Service).returning(Service.id), _service_row(name, svc_template, status)
            ).scalar_one()
            for name, status in (("a", "ACTIVE"), ("b", "UPDATE_FAILED"))
        ]
        connection.execute(insert(ServicePipeline), {"service_id": services[0], **_deployed(1, 0)})
        for number, (service_id, minor) in enumerate([(services[0], 1), (services[1], 1)]):
            connection.execute(
                insert(ServiceInstance),
                {
                    "service_id": service_id,
                    "environment_id": environment_id,
                    "template_id": svc_t,
                    "name": f"i{number}",
                    "service_name": "s",
                    "environment_name": "env",
                    "template_name": "service",
                    **_deployed(1, minor, "DELETE_FAILED" if number else "SUCCEEDED"),
                },
            )
        environment = Environment(id=environment_id, name="env")
        connection.execute(insert(Component), _component_row("c", environment, "FAILED"))
    db.migrate()
    counted, scanned = _summaries(db)
    assert counted == scanned
    assert counted["services"]["behindMinor"] == 1 and counted["components"]["failed"] == 1
    db.dispose()


def _two_instances_on_1_0(db: Database) -> list[int]:
    """Service "svc" (template versions 1.0 and 1.1) with instances "a" and "b" on 1.0, in
    environment "env": their ids."""
    with db.session(write=True) as session:
        template = Template(**_template_row("SERVICE", "svc"))
        env_template = Template(**_template_row("ENVIRONMENT", "env"))
        session.add_all([template, env_template])
        session.flush()
        for template_id, minor in ((template.id, 0), (template.id, 1), (env_template.id, 0)):
            session.add(TemplateVersion(**_version_row(template_id, 1, minor)))
        environment = Environment(**_environment_row("env", env_template, 1, 0), **_deployed(1, 0))
        service = Service(**_service_row("svc", template))
        session.add_all([environment, service])
        session.flush()
        instances = [
            ServiceInstance(
                service_id=service.id,
                environment_id=environment.id,
                template_id=template.id,
                name=name,
                service_name=service.name,
                environment_name=environment.name,
                template_name=template.name,
                **_deployed(1, 0),
            )
            for name in ("a", "b")
        ]
        session.add_all(instances)
    return [instance.id for instance in instances]


def test_two_writers_moving_parts_of_one_service_count_it_once_by_its_stalest_part(
    postgres_server: Any,
) -> None:
    """Two transactions upgrade the two instances of one service to the newest minor at once:
    neither alone moves the service's stalest part, both together do. The second committer
    must see the first one's parts: the first is held just after it read the parts, until the
    second reads them too (which the lock on the service's parts puts off until the first has
    committed) or a while has passed."""
    db = Database(postgres_server.create_database())
    db.migrate()
    ids = _two_instances_on_1_0(db)
    first_read, second_read = threading.Event(), threading.Event()
    stored_parts = resource_counts._stored_parts_statement()

    def after_execute(
        _conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _: Any
    ) -> None:
        if context.compiled is None or context.compiled.statement is not stored_parts:
            return
        if threading.current_thread().name == "first":
            first_read.set()
            second_read.wait(3)
        else:
            second_read.set()

    def upgrade(instance_id: int) -> None:
        with db.session(write=True) as session:
            session.get_one(ServiceInstance, instance_id).template_minor = 1

    event.listen(db.engine, "after_cursor_execute", after_execute)
    try:
        first = threading.Thread(target=upgrade, args=(ids[0],), name="first")
        first.start()
        assert first_read.wait(30)
        second = threading.Thread(target=upgrade, args=(ids[1],), name="second")
        second.start()
        first.join(60)
        second.join(60)
    finally:
        event.remove(db.engine, "after_cursor_execute", after_execute)
    counted, scanned = _summaries(db)
    assert scanned["services"] == {
        "total": 1, "failed": 0, "upToDate": 1, "behindMinor": 0, "behindMajor": 0
    }  # fmt: skip
    assert counted == scanned
    db.dispose()


def test_an_upgrade_adds_its_moves_in_one_statement_and_deletes_only_emptied_counts(
    database: Database,
) -> None:
    """Two instances on 1.0: moving the first to 1.1 leaves the 1.0 buckets with the second
    (one upsert, no delete); moving the second empties them (the upsert, then one delete of
    the rows it left at zero)."""
    _two_instances_on_1_0(database)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if ResourceCount.__tablename__ in statement and "SELECT" not in statement.split()[0]:
            statements.append(statement.split()[0])

    def upgrade(name: str) -> list[str]:
        statements.clear()
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            with database.session(write=True) as session:
                instance = session.scalars(
                    select(ServiceInstance).where(ServiceInstance.name == name)
                ).one()
                instance.template_minor = 1
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        return list(statements)

    assert upgrade("a") == ["INSERT"]  # "b" still holds the 1.0 buckets
    assert upgrade("b") == ["INSERT", "DELETE"]  # now nothing is on 1.0
    counted, scanned = _summaries(database)
    assert counted == scanned
    with database.session() as session:
        left = session.scalars(select(ResourceCount.resources)).all()
    assert left and 0 not in left
