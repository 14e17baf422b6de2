"""Undoing an import in-process, against a real store and the local cloud holding Proton's
stacks: Baryon forgets what the import made, every stack stays exactly as it was, and what
Baryon changed since is kept with why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from baryon.domain import imports_undo
from baryon.domain.errors import Conflict
from baryon.runtime import Runtime
from baryon.service_models.baryon import ImportMode
from baryon.store.tables import (
    AdoptedStackRow,
    Deployment,
    Environment,
    ImportItemRow,
    ImportRow,
    Service,
    ServiceInstance,
    Template,
    TemplateVersion,
)
from tests.importing.test_import_plan import _import, export, runtime  # noqa: F401
from tests.support import proton_aftermath as pa


def _stacks(cloudformation: Any) -> dict[str, tuple[str, str]]:
    """Every live stack: name -> (id, status)."""
    return {
        stack["StackName"]: (stack["StackId"], stack["StackStatus"])
        for page in cloudformation.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
    }


def _stack_named(stacks: dict[str, tuple[str, str]], prefix: str) -> str:
    (name,) = [name for name in stacks if name.startswith(prefix)]
    return name


def _undo(baryon: Runtime, import_id: str) -> imports_undo.UndoResult:
    with baryon.db.session(write=True) as session:
        return imports_undo.undo_import(session, baryon.arns, import_id, datetime.now(UTC))


def _latest_import(baryon: Runtime) -> str:
    with baryon.db.session() as session:
        return session.scalars(
            select(ImportRow.id).order_by(ImportRow.created_at.desc()).limit(1)
        ).one()


def _count(baryon: Runtime, table: Any) -> int:
    with baryon.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_undo_removes_everything_the_import_made_and_touches_no_stack(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
    cloudformation: Any,
) -> None:
    status, _ = _import(runtime, export)
    assert status == "SUCCEEDED"
    import_id = _latest_import(runtime)
    before = _stacks(cloudformation)

    result = _undo(runtime, import_id)

    assert result.kept == 0 and result.removed > 0
    assert _stacks(cloudformation) == before  # every stack id and status as Proton left it
    for table in (Template, TemplateVersion, Environment, Service, ServiceInstance):
        assert _count(runtime, table) == 0, table
    assert _count(runtime, AdoptedStackRow) == 0
    assert _count(runtime, Deployment) == 0
    with runtime.db.session() as session:
        row = session.get_one(ImportRow, import_id)
        assert row.status == "UNDONE"
        assert row.status_message == (
            f"Undone: {result.removed} item(s) removed from Baryon; no stack was touched."
        )
        items = session.scalars(select(ImportItemRow).where(ImportItemRow.import_id == import_id))
        released = {(i.action, i.name): (i.status, i.message) for i in items}
    environment = pa.ENVIRONMENT
    assert {status for status, _ in released.values()} == {"RELEASED"}
    assert released[("ADOPT", environment)] == (
        "RELEASED",
        f"stack {_stack_named(before, 'AWSProton-fargate-env-pro-')} released as it stands (undo)",
    )
    assert released[("CREATE", environment)][1].startswith("removed from Baryon by undo; stack ")
    assert released[("CREATE", environment)][1].endswith(" untouched")
    # Undoing again changes nothing; importing again brings it all back, Proton's ids and all.
    assert _undo(runtime, import_id) == imports_undo.UndoResult(0, 0)
    status, items = _import(runtime, export)
    assert status == "SUCCEEDED"
    assert ("CREATE ENVIRONMENT", pa.ENVIRONMENT) in items
    assert _stacks(cloudformation) == before


def test_undo_keeps_what_baryon_changed_since_and_what_it_runs_on(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
    cloudformation: Any,
) -> None:
    _import(runtime, export)
    import_id = _latest_import(runtime)
    with runtime.db.session(write=True) as session:
        instance = session.scalars(
            select(ServiceInstance).where(ServiceInstance.name == "api")
        ).one()
        instance.deployment_status = "IN_PROGRESS"  # Baryon deploys it now
    before = _stacks(cloudformation)

    result = _undo(runtime, import_id)

    assert result.kept > 0
    assert _stacks(cloudformation) == before
    with runtime.db.session() as session:
        row = session.get_one(ImportRow, import_id)
        assert row.status == "SUCCEEDED"
        assert row.status_message.startswith(f"Undo kept {result.kept} item(s)")
        messages = {
            (i.action, i.name): i.message
            for i in session.scalars(
                select(ImportItemRow).where(ImportItemRow.import_id == import_id)
            )
        }
        assert session.scalars(select(Service.name)).all() == ["backend"]
        assert session.scalars(select(Environment.name)).all() == [pa.ENVIRONMENT]
    assert messages[("CREATE", "backend/api")] == (
        "kept by undo: service instance 'backend/api' is IN_PROGRESS in Baryon now"
    )
    assert messages[("ADOPT", "backend/api")] == "kept with its resource"
    assert messages[("CREATE", "backend")] == (
        "kept by undo: service 'backend' is used by instance(s) api, which stay(s) in Baryon"
    )
    assert messages[("CREATE", "frontend/web-one")].startswith("removed from Baryon by undo")

    with runtime.db.session(write=True) as session:
        instance = session.scalars(select(ServiceInstance)).one()
        instance.deployment_status = "SUCCEEDED"
    assert _undo(runtime, import_id).kept == 0
    assert _count(runtime, Template) == 0
    assert _stacks(cloudformation) == before


def test_an_import_being_applied_or_only_planned_is_not_undone(
    runtime: Runtime,  # noqa: F811
    export: Path,  # noqa: F811
) -> None:
    _import(runtime, export, ImportMode.PLAN)
    with pytest.raises(Conflict, match="only planned; it created nothing to undo"):
        _undo(runtime, _latest_import(runtime))
