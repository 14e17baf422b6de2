"""Deciding on a held deployment (domain/approval_gate.py holds it): approve, reject, expire.

Approved, its job is queued and it runs like any other. Rejected or expired, it ends
CANCELLED through the same recording a finished deployment goes through (domain/outcomes.py),
without a job ever running it: nothing reaches the cloud. Nobody approves their own change, not
even an admin: a rule that asks for approval asks for a second person (rejecting one's own
change is allowed: it is a cancel).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from baryon.domain import deployments, outcomes, services
from baryon.domain.approval_gate import ApprovalStatus
from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, Forbidden, NotFound
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import ApprovalRow, Deployment


def find(session: Session, deployment_id: str, *, lock: bool = False) -> ApprovalRow:
    row = session.get(ApprovalRow, deployment_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"No approval was asked for the deployment '{deployment_id}'.")
    return row


def _waiting(session: Session, deployment_id: str, now: datetime) -> ApprovalRow:
    row = find(session, deployment_id, lock=True)
    if row.status == ApprovalStatus.PENDING and now >= row.expires_at:
        # Its expiry job has not run yet (workers busy or stopped): the decision is too late.
        raise Conflict(
            f"The approval of deployment '{deployment_id}' expired at "
            f"{row.expires_at:%Y-%m-%d %H:%M} UTC; the deployment ends as it expires."
        )
    if row.status != ApprovalStatus.PENDING:
        by = f" by {row.decided_by}" if row.decided_by else ""
        raise Conflict(
            f"The deployment '{deployment_id}' no longer waits for approval: it was "
            f"{row.status.lower()}{by}."
        )
    return row


def _decide(
    row: ApprovalRow, status: ApprovalStatus, by: str, comment: str | None, now: datetime
) -> None:
    row.status = status
    row.decided_by = by
    row.decided_at = now
    row.comment = comment or None


def approve(
    session: Session, deployment_id: str, by: str, comment: str | None, now: datetime
) -> ApprovalRow:
    """Queues the held deployment's job. Raises Forbidden when ``by`` asked for it."""
    row = _waiting(session, deployment_id, now)
    if by == row.requested_by:
        raise Forbidden(
            f"{by} requested deployment '{deployment_id}' and may not approve it: someone "
            "else must (rejecting it is allowed)."
        )
    _decide(row, ApprovalStatus.APPROVED, by, comment, now)
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    if deployment is None:
        raise NotFound(f"The deployment '{deployment_id}' was not found.")
    if deployment.status in deployments.TERMINAL:
        # Ended otherwise meanwhile (its service's instances failed): nothing left to run.
        raise Conflict(f"The deployment '{deployment_id}' ended {deployment.status} already.")
    message = f"Approved by {by}" + (f": {comment}" if comment else ".")
    if services.waits_for_instances(session, deployment):
        # Its turn has not come: the service operation queues it once its instances are done.
        message += " It runs once the service's instances are deployed."
    else:
        deployments.enqueue_job(session, deployment, now)
    deployment.status_message = message
    deployment.last_modified_at = now
    deployments.log_event(session, deployment_id, message, now)
    return row


def reject(
    session: Session, arns: Arns, deployment_id: str, by: str, comment: str | None, now: datetime
) -> ApprovalRow:
    """Ends the held deployment CANCELLED; no job ever ran it."""
    row = _waiting(session, deployment_id, now)
    _decide(row, ApprovalStatus.REJECTED, by, comment, now)
    message = f"Rejected by {by}" + (f": {comment}" if comment else ".") + " Nothing was deployed."
    _end(session, arns, deployment_id, message, now)
    return row


def expire(session: Session, arns: Arns, deployment_id: str, now: datetime) -> bool:
    """Ends the deployment when its approval is still pending past its expiry (the expiry
    job's work); True when it did."""
    row = session.get(ApprovalRow, deployment_id, with_for_update=True)
    if row is None or row.status != ApprovalStatus.PENDING or now < row.expires_at:
        return False
    _decide(row, ApprovalStatus.EXPIRED, "system/baryon", None, now)
    message = (
        f"The approval expired at {row.expires_at:%Y-%m-%d %H:%M} UTC: nobody approved the "
        f"change {row.requested_by} requested in time. Nothing was deployed."
    )
    _end(session, arns, deployment_id, message, now)
    return True


def _end(session: Session, arns: Arns, deployment_id: str, message: str, now: datetime) -> None:
    deployments.log_event(session, deployment_id, message, now)
    outcomes.record(
        session, arns, deployment_id, outcomes.Result(DeploymentStatus.CANCELLED, message), now
    )
