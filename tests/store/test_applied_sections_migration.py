"""Revision 0012 moves the CodeBuild provisioner's kept runs into the table both provisioners
that run programs share: a resource CodeBuild deployed before the upgrade still deprovisions
with its last run's commands, and a downgrade gives CodeBuild's rows back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from baryon.provisioners import ProvisioningEngine
from baryon.store.applied_sections import AppliedSections
from baryon.store.database import Database, alembic_config

ARN = "arn:aws:proton:us-east-1:123456789012:environment/dev"
SECTION = {"files": {"lib/tool.sh": "echo tool"}, "deprovision": ["echo removing"]}

_CODEBUILD_SECTIONS = sa.table(
    "codebuild_sections",
    *(sa.column(name) for name in ("resource_arn", "status", "updated_at")),
    sa.column("section", sa.JSON()),
    sa.column("outputs", sa.JSON()),
)


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    with db.engine.connect() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()


def test_codebuilds_kept_runs_survive_the_move_to_applied_sections_and_back(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'baryon.db'}")
    _migrate(db, "0011")
    with db.engine.begin() as connection:
        connection.execute(
            _CODEBUILD_SECTIONS.insert().values(
                resource_arn=ARN,
                section=SECTION,
                status="SUCCEEDED",
                outputs={"Url": "https://dev"},
                updated_at=datetime.now(UTC),
            )
        )
    _migrate(db, "0012")
    codebuild = AppliedSections(db, ProvisioningEngine.CODEBUILD)
    kept = codebuild.last(ARN)
    assert kept is not None and dict(kept.section) == SECTION
    assert kept.status == "SUCCEEDED" and dict(kept.outputs) == {"Url": "https://dev"}
    assert AppliedSections(db, ProvisioningEngine.TERRAFORM).last(ARN) is None
    AppliedSections(db, ProvisioningEngine.TERRAFORM).save(ARN, {"files": {}}, "SUCCEEDED", {})
    _migrate(db, "0011", down=True)
    with db.engine.connect() as connection:
        rows = connection.execute(sa.select(_CODEBUILD_SECTIONS.c.resource_arn)).all()
    assert rows == [(ARN,)], "only CodeBuild's row goes back"
    db.dispose()
