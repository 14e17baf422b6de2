"""What the store keeps for CodeBuild-style runs (provisioners/codebuild.py): each resource's
last run (its files and commands, how it ended, its outputs), and the outputs a deployment's
commands reported through NotifyResourceDeploymentStatusChange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from baryon.store.database import Database
from baryon.store.tables import CodeBuildSection, DeploymentOutput


@dataclass(frozen=True)
class SavedRun:
    section: Mapping[str, Any]
    status: str
    outputs: Mapping[str, str]


class CodeBuildRuns:
    def __init__(self, db: Database) -> None:
        self._db = db

    def last(self, resource_arn: str) -> SavedRun | None:
        with self._db.session() as session:
            row = session.scalars(
                select(CodeBuildSection).where(CodeBuildSection.resource_arn == resource_arn)
            ).first()
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
            row = session.scalars(
                select(CodeBuildSection)
                .where(CodeBuildSection.resource_arn == resource_arn)
                .with_for_update()
            ).first()
            if row is None:
                row = CodeBuildSection(resource_arn=resource_arn)
                session.add(row)
            row.section = dict(section)
            row.status = status
            row.outputs = dict(outputs)
            row.updated_at = datetime.now(UTC)

    def forget(self, resource_arn: str) -> None:
        with self._db.session(write=True) as session:
            session.execute(
                delete(CodeBuildSection).where(CodeBuildSection.resource_arn == resource_arn)
            )

    def reported_outputs(self, deployment_id: str) -> dict[str, str]:
        with self._db.session() as session:
            rows = session.execute(
                select(DeploymentOutput.key, DeploymentOutput.value).where(
                    DeploymentOutput.deployment_id == deployment_id
                )
            )
            return {key: value for key, value in rows.all()}
