"""deployment plans (format 2) refer to their deployment's target state for the spec

A deployment's plan repeated the spec (and a component's template file and attachment) that its
target state already holds. Format 2 leaves out every value equal to the target state's, so the
deployment record keeps its spec once; a value that differs stays in the plan. The logic is
written out here, not imported, so that this migration does tomorrow what it does today.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PAGE = 500
# Plan field -> its member in the target state's one entry (as domain/plan.py reads them).
_TEMPLATE_SHARED = {"spec": "spec"}
_COMPONENT_SHARED = {
    "template_file": "templateFile",
    "service_spec": "serviceSpec",
    "service_name": "serviceName",
    "service_instance_name": "serviceInstanceName",
}

_deployments = sa.table(
    "deployments",
    sa.column("id", sa.String(36)),
    sa.column("plan", sa.JSON()),
    sa.column("target_state", sa.JSON()),
)


def _entry(target_state: Any) -> dict[str, Any]:
    entries = list((target_state or {}).values()) if isinstance(target_state, dict) else []
    return entries[0] if len(entries) == 1 and isinstance(entries[0], dict) else {}


def _shared(plan: dict[str, Any]) -> dict[str, str]:
    if "template_version_id" in plan:
        return _TEMPLATE_SHARED
    if "manifest" in plan:
        return _COMPONENT_SHARED
    return {}


def _to_format_2(plan: dict[str, Any], target_state: Any) -> dict[str, Any] | None:
    if plan.get("format", 1) != 1:
        return None
    entry = _entry(target_state)
    moved = {
        key: value
        for key, value in plan.items()
        if not (
            key in _shared(plan)
            and _shared(plan)[key] in entry
            and entry[_shared(plan)[key]] == value
        )
    }
    return {**moved, "format": 2}


def _to_format_1(plan: dict[str, Any], target_state: Any) -> dict[str, Any] | None:
    if plan.get("format", 1) != 2:
        return None
    entry = _entry(target_state)
    restored = {key: entry[member] for key, member in _shared(plan).items() if member in entry}
    return {**restored, **plan, "format": 1}


def _rewrite(change: Callable[[dict[str, Any], Any], dict[str, Any] | None]) -> None:
    connection = op.get_bind()
    after = ""
    while True:
        rows = connection.execute(
            sa.select(_deployments.c.id, _deployments.c.plan, _deployments.c.target_state)
            .where(_deployments.c.id > after)
            .order_by(_deployments.c.id)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        for deployment_id, plan, target_state in rows:
            changed = change(plan if isinstance(plan, dict) else {}, target_state)
            if changed is not None:
                connection.execute(
                    sa.update(_deployments)
                    .where(_deployments.c.id == deployment_id)
                    .values(plan=changed)
                )
        after = rows[-1][0]


def upgrade() -> None:
    _rewrite(_to_format_2)


def downgrade() -> None:
    _rewrite(_to_format_1)
