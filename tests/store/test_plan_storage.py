"""A deployment keeps its spec once: the plan (format 2) refers to the target state's, and
migration 0007 moves existing records there and back without loss, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from baryon.domain.deployments import plan_of
from baryon.domain.plan import (
    PLAN_FORMAT,
    ComponentPlan,
    DeletePlan,
    TemplatePlan,
    plan_from_json,
    plan_to_json,
)
from baryon.store.database import Database, alembic_config
from baryon.store.tables import Deployment

SPEC = "proton: ServiceSpec\ninstances:\n  - name: one\n    environment: dev\n"
RESOLVED = "proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile\n"


def _instance_state(spec: str) -> dict[str, Any]:
    return {"serviceInstance": {"spec": spec, "templateName": "web", "templateMajorVersion": "1"}}


def _component_state() -> dict[str, Any]:
    return {
        "component": {
            "serviceName": "svc",
            "serviceInstanceName": "one",
            "serviceSpec": SPEC,
            "templateFile": "Resources: {}\n",
        }
    }


# (plan as Baryon stored it before format 2, target state): an instance deployment, a pipeline
# whose target state keeps ${Proton::CURRENT_VAL} while its plan holds the resolved text, a
# component, a delete, and a record from before plans had a format number.
OLD_RECORDS: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
    (
        {"template_version_id": 1, "spec": SPEC, "inputs": {"port": 80}, "format": 1},
        _instance_state(SPEC),
    ),
    (
        {"template_version_id": 2, "spec": RESOLVED, "inputs": {}, "format": 1},
        {"servicePipeline": {"spec": RESOLVED.replace("Dockerfile\n", "${Proton::CURRENT_VAL}\n")}},
    ),
    (
        {
            "manifest": "infrastructure:\n  templates:\n    - file: t\n",
            "template_file": "Resources: {}\n",
            "service_spec": SPEC,
            "service_name": "svc",
            "service_instance_name": "one",
            "format": 1,
        },
        _component_state(),
    ),
    ({"format": 1}, None),
    (
        {"template_version_id": 3, "spec": SPEC, "inputs": {}, "warnings": ["w"]},
        _instance_state(SPEC),
    ),
]


def test_a_new_plan_leaves_the_spec_to_its_target_state() -> None:
    plan = TemplatePlan(7, SPEC, {"port": 80})
    stored = plan_to_json(plan, _instance_state(SPEC))
    assert stored == {"template_version_id": 7, "inputs": {"port": 80}, "format": PLAN_FORMAT}
    assert plan_from_json(stored, _instance_state(SPEC)) == plan

    component = ComponentPlan("manifest", "Resources: {}\n", SPEC, "svc", "one")
    stored = plan_to_json(component, _component_state())
    assert stored == {"manifest": "manifest", "format": PLAN_FORMAT}
    assert plan_from_json(stored, _component_state()) == component


def test_a_value_the_target_state_does_not_hold_stays_in_the_plan() -> None:
    pipeline_state = {"servicePipeline": {"spec": "proton: ServiceSpec\n"}}
    plan = TemplatePlan(7, RESOLVED, {})
    stored = plan_to_json(plan, pipeline_state)
    assert stored["spec"] == RESOLVED
    assert plan_from_json(stored, pipeline_state) == plan
    assert plan_from_json(plan_to_json(DeletePlan(), None), None) == DeletePlan()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baryon.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    db = Database(url)
    _migrate(db, "0006")
    yield db
    db.dispose()


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    with db.engine.connect() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()


# The deployments table as revisions 0006 and 0007 have it (the mapped class is the head's).
_DEPLOYMENTS = sa.table(
    "deployments",
    *(sa.column(name) for name in ("id", "target_type", "target_arn", "operation")),
    *(sa.column(name) for name in ("environment_name", "status", "cancel_requested")),
    sa.column("initial_state", sa.JSON()),
    sa.column("target_state", sa.JSON()),
    sa.column("plan", sa.JSON()),
    *(sa.column(name) for name in ("target_resource_created_at", "created_at")),
    sa.column("last_modified_at"),
)


def _stored(db: Database) -> list[Deployment]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.select(_DEPLOYMENTS.c.plan, _DEPLOYMENTS.c.target_state).order_by(_DEPLOYMENTS.c.id)
        ).all()
    return [Deployment(plan=row.plan, target_state=row.target_state) for row in rows]


def test_migration_0007_moves_specs_to_the_target_state_and_back(
    database_at_0006: Database,
) -> None:
    db = database_at_0006
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        for number, (plan, target_state) in enumerate(OLD_RECORDS):
            connection.execute(
                sa.insert(_DEPLOYMENTS).values(
                    id=f"d{number}",
                    target_type="SERVICE_INSTANCE",
                    target_arn=f"arn:{number}",
                    operation="DEPLOY" if target_state else "DELETE",
                    environment_name="dev",
                    status="SUCCEEDED",
                    cancel_requested=False,
                    initial_state=None,
                    target_state=target_state,
                    plan=plan,
                    target_resource_created_at=now,
                    created_at=now,
                    last_modified_at=now,
                )
            )
    before = [plan_from_json(plan, state) for plan, state in OLD_RECORDS]

    _migrate(db, "0007")
    rows = _stored(db)
    assert [plan_of(row) for row in rows] == before
    assert all(row.plan["format"] == 2 for row in rows)
    # Equal specs are gone from the plans; the pipeline's resolved text is not its target's.
    assert "spec" not in rows[0].plan and "spec" not in rows[4].plan
    assert rows[1].plan["spec"] == RESOLVED
    assert rows[2].plan == {"manifest": OLD_RECORDS[2][0]["manifest"], "format": 2}
    # The target states, which GetDeployment answers, are untouched.
    assert [row.target_state for row in rows] == [state for _, state in OLD_RECORDS]

    _migrate(db, "0006", down=True)
    rows = _stored(db)
    assert [row.plan for row in rows] == [{**plan, "format": 1} for plan, _ in OLD_RECORDS]
    assert [plan_of(row) for row in rows] == before
