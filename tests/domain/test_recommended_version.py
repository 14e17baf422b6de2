"""An update to a new minor without a minor named goes to the highest PUBLISHED minor of the
major it is on (Proton's recommended version), in one read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, insert

from baryon.domain import versions
from baryon.domain.errors import InvalidInput
from baryon.runtime import Runtime
from baryon.service_models.proton import DeploymentUpdateType
from baryon.store.tables import Template, TemplateVersion
from tests.support.fleet_seed import _version_row


def _template(runtime: Runtime, published: list[tuple[int, int, str]]) -> Template:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        template = Template(
            kind="SERVICE",
            name="svc",
            description=None,
            created_at=now,
            last_modified_at=now,
        )
        session.add(template)
        session.flush()
        session.execute(
            insert(TemplateVersion),
            [
                _version_row(template.id, major, minor, now, status=status)
                for major, minor, status in published
            ],
        )
        return template


def _minor_update(runtime: Runtime, template: Template, deployed: tuple[int, int]) -> int:
    with runtime.db.session() as session:
        version = versions.target_version(
            session,
            template,
            deployed=deployed,
            deployment_type=DeploymentUpdateType.MINOR_VERSION,
            major=None,
            minor=None,
        )
        return version.minor


def test_a_minor_update_goes_to_the_highest_published_minor_of_its_major(
    runtime: Runtime,
) -> None:
    template = _template(
        runtime,
        [
            (1, 0, "PUBLISHED"),
            (1, 1, "PUBLISHED"),
            (1, 2, "DRAFT"),
            (2, 0, "PUBLISHED"),
            (2, 3, "PUBLISHED"),
        ],
    )
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        assert _minor_update(runtime, template, (1, 0)) == 1
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert _minor_update(runtime, template, (2, 0)) == 3


def test_a_major_with_no_published_minor_has_nothing_to_update_to(runtime: Runtime) -> None:
    template = _template(runtime, [(1, 0, "PUBLISHED"), (2, 0, "DRAFT")])
    with pytest.raises(InvalidInput):
        _minor_update(runtime, template, (2, 0))
