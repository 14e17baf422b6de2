"""What the deploy job reads before it renders (deploy._prepare), counted on a private SQLite
store: each row once, and nothing an instance's deployment does not use (issue 17: a fleet
upgrade pays each statement once per instance)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import event, select

from baryon.engine import deploy
from baryon.runtime import Runtime
from baryon.store.tables import AccountSettingsRow, Deployment, Environment
from tests.domain.conftest import runtime  # noqa: F401 (the fixture)
from tests.domain.test_spec_parsing import _work_off
from tests.domain.test_spec_storage import _create_service


def test_an_instance_deployment_reads_its_environment_once_and_no_account_settings(
    runtime: Runtime,  # noqa: F811
) -> None:
    _create_service(runtime)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    with runtime.db.session() as session:
        deployment = session.scalars(
            select(Deployment).where(Deployment.service_instance_name == "one")
        ).one()
        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            work = deploy._prepare(session, runtime, deployment)
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert work.target is not None and work.self_managed is None
    tables = Counter(
        table.__tablename__
        for statement in statements
        for table in (Environment, AccountSettingsRow)
        if f"FROM {table.__tablename__}" in statement
    )
    assert tables == {Environment.__tablename__: 1}
    assert _work_off(runtime) >= 1  # and the deployment still renders
