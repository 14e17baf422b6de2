"""What the store keeps of the last section each provisioner that runs programs applied to a
resource (provisioners/codebuild.py, provisioners/terraform.py), and the outputs a
deployment's commands reported through NotifyResourceDeploymentStatusChange.

A delete needs no bundle (engine/provisioning.py), yet what it runs lives in the bundle: a
CodeBuild section's ``deprovision`` commands and the files they use, a Terraform
configuration's provider blocks and variables. So each provisioner keeps what it last applied
(its files, commands, the role it ran as) per resource, under its own engine's name: one
resource whose bundle moved from one engine to another is destroyed by each in turn, each
with what it applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from baryon.store.database import Database
from baryon.store.tables import AppliedSection, DeploymentOutput


@dataclass(frozen=True)
class SavedRun:
    section: Mapping[str, Any]
    status: str
    outputs: Mapping[str, str]


class AppliedSections:
    """The last applied section of one engine's resources (``engine`` is a
    provisioners.base.ProvisioningEngine value)."""

    def __init__(self, db: Database, engine: str) -> None:
        self._db, self._engine = db, engine

    def last(self, resource_arn: str) -> SavedRun | None:
        with self._db.session() as session:
            row = session.scalars(self._select(resource_arn)).first()
            if row is None:
                return None
            return SavedRun(dict(row.section), row.status, dict(row.outputs))

    def save(
        self,
        resource_arn: str,
        section: Mapping[str, Any],
        status: str,
        outputs: Mapping[str, str],
    ) -> None:
        with self._db.session(write=True) as session:
            row = session.scalars(self._select(resource_arn).with_for_update()).first()
            if row is None:
                row = AppliedSection(engine=self._engine, resource_arn=resource_arn)
                session.add(row)
            row.section = dict(section)
            row.status = status
            row.outputs = dict(outputs)
            row.updated_at = datetime.now(UTC)

    def forget(self, resource_arn: str) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                delete(AppliedSection).where(
                    AppliedSection.engine == self._engine,
                    AppliedSection.resource_arn == resource_arn,
                )
            )

    def reported_outputs(self, deployment_id: str) -> dict[str, str]:
        with self._db.session() as session:
            rows = session.execute(
                select(DeploymentOutput.key, DeploymentOutput.value).where(
                    DeploymentOutput.deployment_id == deployment_id
                )
            )
            return {key: value for key, value in rows.all()}

    def _select(self, resource_arn: str) -> Any:
        return select(AppliedSection).where(
            AppliedSection.engine == self._engine, AppliedSection.resource_arn == resource_arn
        )
