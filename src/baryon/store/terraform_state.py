"""Terraform state in the store: versions (kept forever, as ciphertext), locks and plans.

Only rows and SQL live here; encryption and the HTTP backend's rules are the application
layer's (operations/terraform_state.py). Versions are numbered per resource; the unique
(resource, version) pair means two writers racing for the same number cannot both win, and a
resource's one lock row is unique on its ARN for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baryon.store.tables import (
    Deployment,
    TerraformPlan,
    TerraformStateLock,
    TerraformStateVersion,
)


def latest_version(session: Session, resource_arn: str) -> TerraformStateVersion | None:
    return session.scalars(
        select(TerraformStateVersion)
        .where(TerraformStateVersion.resource_arn == resource_arn)
        .order_by(TerraformStateVersion.version.desc())
        .limit(1)
    ).first()


def version(session: Session, resource_arn: str, number: int) -> TerraformStateVersion | None:
    return session.scalars(
        select(TerraformStateVersion).where(
            TerraformStateVersion.resource_arn == resource_arn,
            TerraformStateVersion.version == number,
        )
    ).first()


def versions(session: Session, resource_arn: str) -> Sequence[TerraformStateVersion]:
    return session.scalars(
        select(TerraformStateVersion)
        .where(TerraformStateVersion.resource_arn == resource_arn)
        .order_by(TerraformStateVersion.version)
    ).all()


def add_version(
    session: Session,
    resource_arn: str,
    ciphertext: bytes,
    written_by: str | None,
    at: datetime,
) -> int:
    """Appends the next version; a concurrent writer of the same number makes the
    transaction fail on the unique constraint rather than overwrite."""
    highest = session.scalar(
        select(func.max(TerraformStateVersion.version)).where(
            TerraformStateVersion.resource_arn == resource_arn
        )
    )
    number = (highest or 0) + 1
    session.add(
        TerraformStateVersion(
            resource_arn=resource_arn,
            version=number,
            state_ciphertext=ciphertext,
            written_by=written_by,
            created_at=at,
        )
    )
    session.flush()
    return number


def current_lock(session: Session, resource_arn: str) -> TerraformStateLock | None:
    return session.scalars(
        select(TerraformStateLock).where(TerraformStateLock.resource_arn == resource_arn)
    ).first()


def try_lock(
    session: Session, resource_arn: str, lock_id: str, holder: str, info: str, at: datetime
) -> TerraformStateLock:
    """Takes the lock, or returns the lock someone else already holds (whoever inserted first
    wins; the savepoint keeps the loser's transaction usable)."""
    held = current_lock(session, resource_arn)
    if held is not None:
        return held
    row = TerraformStateLock(
        resource_arn=resource_arn, lock_id=lock_id, holder=holder, info=info, created_at=at
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = current_lock(session, resource_arn)
        if winner is None:  # released again in between: the caller may simply retry
            raise
        return winner
    return row


def release_lock(session: Session, resource_arn: str) -> bool:
    held = current_lock(session, resource_arn)
    if held is None:
        return False
    session.delete(held)
    session.flush()
    return True


def deployment_status(session: Session, deployment_id: str) -> str | None:
    """The status of the deployment a lock names (None when no such deployment exists)."""
    return session.scalar(select(Deployment.status).where(Deployment.id == deployment_id))


def save_plan(
    session: Session, deployment_id: str, summary: str, ciphertext: bytes, at: datetime
) -> None:
    """One plan per deployment: a re-run after a crash plans again and replaces it."""
    session.execute(delete(TerraformPlan).where(TerraformPlan.deployment_id == deployment_id))
    session.add(
        TerraformPlan(
            deployment_id=deployment_id,
            summary=summary,
            plan_ciphertext=ciphertext,
            created_at=at,
        )
    )


def plan_of(session: Session, deployment_id: str) -> TerraformPlan | None:
    return session.scalars(
        select(TerraformPlan).where(TerraformPlan.deployment_id == deployment_id)
    ).first()
