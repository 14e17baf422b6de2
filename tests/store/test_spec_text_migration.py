"""Migration 0008 moves spec texts into spec_texts and back without loss, on both engines:
the texts read through the mapped classes at head are the texts the columns held at 0007."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect, select

from baryon.store.database import Database
from baryon.store.tables import (
    Deployment,
    Environment,
    Service,
    ServiceInstance,
    ServicePipeline,
    SpecText,
)
from tests.store.test_plan_storage import _migrate
from tests.support.fleet_seed import seed

PIPELINE_SPEC = "proton: ServiceSpec\npipeline:\n  dockerfile: Dockerfile\n"
RESOURCES = (Environment, Service, ServiceInstance, ServicePipeline)


def _states(spec: str) -> dict[str, Any]:
    return {"serviceInstance": {"spec": spec, "templateName": "svc", "templateMajorVersion": "2"}}


def _add_pipeline_and_deployments(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        service = session.scalars(select(Service).order_by(Service.id)).first()
        assert service is not None
        session.add(
            ServicePipeline(
                service_id=service.id,
                template_major=2,
                template_minor=1,
                spec=PIPELINE_SPEC,
                inputs={},
                deployment_status="SUCCEEDED",
                last_deployment_attempted_at=now,
                last_deployment_succeeded_at=now,
                created_at=now,
                last_modified_at=now,
            )
        )
        # An update (both states), a creation, a deletion, and a state without a spec.
        states = [
            (_states(service.spec), _states(service.spec + "# changed\n")),
            (None, _states(PIPELINE_SPEC)),
            (_states(PIPELINE_SPEC), None),
            (None, {"component": {"templateFile": "Resources: {}\n", "serviceSpec": None}}),
        ]
        for number, (initial, target) in enumerate(states):
            session.add(
                Deployment(
                    id=f"d{number}",
                    target_type="SERVICE_INSTANCE",
                    target_arn=f"arn:{number}",
                    operation="DEPLOY" if target else "DELETE",
                    environment_name="env-00",
                    status="SUCCEEDED",
                    cancel_requested=False,
                    initial_state=initial,
                    target_state=target,
                    plan={"format": 2},
                    target_resource_created_at=now,
                    created_at=now,
                    last_modified_at=now,
                )
            )


def _read_mapped(db: Database) -> dict[str, Any]:
    with db.session() as session:
        read: dict[str, Any] = {
            model.__tablename__: {row.id: row.spec for row in session.scalars(select(model))}
            for model in RESOURCES
        }
        read["deployments"] = {
            row.id: (row.initial_state, row.target_state)
            for row in session.scalars(select(Deployment))
        }
    return read


def _read_columns(db: Database) -> dict[str, Any]:
    """The same, from the spec and state columns of revision 0007."""
    read: dict[str, Any] = {}
    with db.engine.connect() as connection:
        for model in RESOURCES:
            table = sa.table(model.__tablename__, sa.column("id"), sa.column("spec"))
            read[model.__tablename__] = {
                row.id: row.spec for row in connection.execute(select(table.c.id, table.c.spec))
            }
        deployments = sa.table(
            "deployments",
            sa.column("id"),
            sa.column("initial_state", sa.JSON()),
            sa.column("target_state", sa.JSON()),
        )
        read["deployments"] = {
            row.id: (row.initial_state, row.target_state)
            for row in connection.execute(select(deployments))
        }
    return read


def test_migration_0008_moves_spec_texts_out_and_back(database: Database) -> None:
    db = database
    seed(db.url, 5, per_service=2, environments=2)
    _add_pipeline_and_deployments(db)
    at_head = _read_mapped(db)
    texts = {
        text
        for table in RESOURCES
        for text in at_head[table.__tablename__].values()
        if text is not None
    }
    texts |= {
        entry["spec"]
        for states in at_head["deployments"].values()
        for state in states
        if state
        for entry in state.values()
        if isinstance(entry.get("spec"), str)
    }

    _migrate(db, "0007", down=True)
    assert "spec_texts" not in inspect(db.engine).get_table_names()
    assert _read_columns(db) == at_head

    db.migrate()
    assert _read_mapped(db) == at_head
    with db.session() as session:
        assert set(session.scalars(select(SpecText.text))) == texts
        assert len(list(session.scalars(select(SpecText.key)))) == len(texts)
