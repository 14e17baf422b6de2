"""Self-managed deployments and their pull requests: the rules of waiting on them.

A deployment handed off to a pull request (provisioners/pull_request.py) stays IN_PROGRESS
(DELETE_IN_PROGRESS for a deletion) while its pull request is watched (engine/pull_requests.py)
and ends in exactly one of these ways:

- the customer's pipeline reports SUCCEEDED or FAILED (NotifyResourceDeploymentStatusChange);
- a deletion's pull request is merged (Proton completed a deletion on merge);
- the pull request is closed unmerged: CANCELLED (a deletion: DELETE_FAILED, the resource
  stays);
- a cancel, or a newer deployment of the resource (``deployments.start`` supersedes it): the
  pull request is closed, the deployment CANCELLED;
- ``settings.pull_request_timeout_seconds`` pass unmerged after opening, or unreported after
  the merge: FAILED, saying what never came.

Every step reads and writes one transaction with the deployment row locked, so the watcher, a
report and a cancel arriving together settle the deployment once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from baryon.domain import deployments, outcomes, services
from baryon.domain.account_settings import read as read_account_settings
from baryon.domain.arns import Arns
from baryon.domain.git import PullRequestStatus
from baryon.service_models.proton import DeploymentStatus, ResourceDeploymentStatus
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import Deployment, Environment, PullRequestRow

WATCHED = (PullRequestStatus.OPEN, PullRequestStatus.MERGED)


@dataclass(frozen=True)
class RepositoryBranchRef:
    """A provisioning repository as an environment or the account settings name it."""

    provider: str
    name: str
    branch: str


@dataclass(frozen=True)
class Opened:
    """A pull request (or pushed branch) a deployment was handed off to."""

    repository_provider: str
    repository_name: str
    base_branch: str
    head_branch: str
    head_sha: str
    number: int | None
    url: str | None
    deletion: bool
    waiting_for: str  # where it is and what Baryon waits for


@dataclass(frozen=True)
class Watched:
    """A watched pull request as the watcher needs it, read in one short transaction."""

    deployment_id: str
    resource_arn: str
    repository_provider: str
    repository_name: str
    base_branch: str
    head_branch: str
    head_sha: str
    number: int | None
    state: PullRequestStatus
    deletion: bool
    # The deployment no longer waits on it (ended, superseded, or a cancel was asked for):
    # the watcher closes it instead of looking at it.
    withdraw: bool

    @property
    def shown(self) -> str:
        if self.number is not None:
            return f"pull request #{self.number} of {self.repository_name}"
        return f"branch '{self.head_branch}' of {self.repository_name}"


class Next(StrEnum):
    """What the watcher does after settling what it saw."""

    WATCH = "WATCH"  # look again after settings.git_poll_seconds
    WITHDRAW = "WITHDRAW"  # close the pull request (delete the pushed branch), then withdrawn()
    DONE = "DONE"  # nothing more to watch


# --- where self-managed resources go ---------------------------------------------------------


def provisioning_repositories(
    session: Session, environment: Environment | None, *, pipeline: bool
) -> tuple[RepositoryBranchRef | None, RepositoryBranchRef | None]:
    """(the resource's environment's provisioning repository, the account's pipeline
    provisioning repository, read for a ``pipeline`` only): what
    selection.self_managed_repository chooses from."""
    account = read_account_settings(session) if pipeline else None
    return (
        _ref(environment.provisioning_repository if environment else None),
        _ref(account.pipeline_repository if account else None),
    )


def deleted_where_provisioned(session: Session, resource_arn: str) -> RepositoryBranchRef | None:
    """Where a resource's files were proposed (its latest pull request's repository), None
    when it never had a pull request: a delete marks its files where they are, whatever the
    settings say now."""
    row = session.scalars(
        select(PullRequestRow)
        .where(PullRequestRow.resource_arn == resource_arn)
        .order_by(PullRequestRow.opened_at.desc(), PullRequestRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return RepositoryBranchRef(row.repository_provider, row.repository_name, row.base_branch)


def _ref(stored: dict[str, str] | None) -> RepositoryBranchRef | None:
    if not stored:
        return None
    return RepositoryBranchRef(stored["provider"], stored["name"], stored["branch"])


# --- handing off -----------------------------------------------------------------------------


def handed_off(session: Session, deployment_id: str) -> bool:
    """Whether the deployment has a pull request (watched or not): its deploy job is done."""
    return session.scalar(_HANDED_OFF, {"deployment_id": deployment_id}) is not None


# Built once (building a select and its cache key costs more than running it: issue 17).
_HANDED_OFF = select(PullRequestRow.id).where(
    PullRequestRow.deployment_id == bindparam("deployment_id")
)


def record_opened(session: Session, deployment_id: str, opened: Opened, now: datetime) -> None:
    """Records the pull request a deployment was handed off to; the deployment stays in
    progress, its status message saying what it waits for. Recording it again (a deploy job
    re-run after a crash) changes nothing. The watcher is woken at once: it closes the pull
    request if the deployment was cancelled or superseded meanwhile."""
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    row = _row(session, deployment_id)
    if deployment is None:
        return
    if row is None:
        session.add(
            PullRequestRow(
                deployment_id=deployment_id,
                resource_arn=deployment.target_arn,
                repository_provider=opened.repository_provider,
                repository_name=opened.repository_name,
                base_branch=opened.base_branch,
                head_branch=opened.head_branch,
                head_sha=opened.head_sha,
                number=opened.number,
                url=opened.url,
                state=PullRequestStatus.OPEN,
                deletion=opened.deletion,
                opened_at=now,
            )
        )
    if deployment.status not in deployments.TERMINAL:
        _say(session, deployment, opened.waiting_for, now)
    jobs.enqueue_once(session, JobKind.PULL_REQUEST, {"deployment_id": deployment_id}, now)


# --- watching --------------------------------------------------------------------------------


def watched(session: Session, deployment_id: str) -> Watched | None:
    """The deployment's pull request while it is watched (OPEN or MERGED), else None."""
    row = _row(session, deployment_id)
    if row is None or row.state not in WATCHED:
        return None
    deployment = session.get(Deployment, deployment_id)
    return Watched(
        deployment_id=deployment_id,
        resource_arn=row.resource_arn,
        repository_provider=row.repository_provider,
        repository_name=row.repository_name,
        base_branch=row.base_branch,
        head_branch=row.head_branch,
        head_sha=row.head_sha,
        number=row.number,
        state=PullRequestStatus(row.state),
        deletion=row.deletion,
        withdraw=deployment is None or not _waiting(session, deployment),
    )


def settle(
    session: Session,
    arns: Arns,
    deployment_id: str,
    observed: PullRequestStatus | None,
    now: datetime,
    timeout: timedelta,
) -> Next:
    """Applies what the watcher saw of the pull request (None: it could not look) and the
    timeouts; says what the watcher does next."""
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    row = _row(session, deployment_id)
    if row is None or row.state not in WATCHED:
        return Next.DONE
    if deployment is None or not _waiting(session, deployment):
        if deployment is not None and deployment.status in deployments.TERMINAL:
            # Ended by a newer deployment (deployments.start supersedes it), which cannot
            # reach services/: a service operation that counted on it moves on now.
            services.after_deployment(session, arns, deployment, now)
        return _withdraw_or_end(session, arns, deployment, row, now)
    if observed == PullRequestStatus.CLOSED:
        row.state = PullRequestStatus.CLOSED
        row.closed_at = now
        message = (
            f"The {_shown(row)} was closed without merging: the deletion is cancelled and the "
            "resource stays."
            if row.deletion
            else f"The {_shown(row)} was closed without merging: the deployment is cancelled."
        )
        deployments.log_event(session, deployment.id, message, now)
        _end(session, arns, deployment, DeploymentStatus.CANCELLED, message, now)
        return Next.DONE
    if observed == PullRequestStatus.MERGED and row.state == PullRequestStatus.OPEN:
        row.state = PullRequestStatus.MERGED
        row.merged_at = now
        if row.deletion:
            message = f"The {_shown(row)} was merged: the deletion is complete."
            deployments.log_event(session, deployment.id, message, now)
            row.state = PullRequestStatus.ENDED
            _end(session, arns, deployment, DeploymentStatus.SUCCEEDED, message, now)
            return Next.DONE
        deployments.log_event(
            session,
            deployment.id,
            f"The {_shown(row)} was merged; waiting for the provisioning pipeline to report.",
            now,
        )
        _say(
            session,
            deployment,
            f"The {_shown(row)} was merged: waiting for the repository's pipeline to report "
            f"with notify-resource-deployment-status-change (deployment id {deployment.id}).",
            now,
        )
    return _timed_out(session, arns, deployment, row, now, timeout)


def withdrawn(
    session: Session, arns: Arns, deployment_id: str, now: datetime, failure: str | None = None
) -> None:
    """The watcher closed the pull request (``failure``: it could not, and gave up): the row
    is no longer watched, and a deployment that was being cancelled ends CANCELLED."""
    deployment = session.get(Deployment, deployment_id, with_for_update=True)
    row = _row(session, deployment_id)
    if row is None or row.state not in WATCHED:
        return
    if failure is None:
        row.state = PullRequestStatus.CLOSED
        row.closed_at = now
        said = (
            f"Closed the {_shown(row)}."
            if row.url or row.number is not None
            else f"Deleted the {_shown(row)}."
        )
    else:
        row.state = PullRequestStatus.ENDED
        said = f"Could not close the {_shown(row)} ({failure}); close it by hand."
    if deployment is None:
        return
    deployments.log_event(session, deployment.id, said, now)
    if deployment.status not in deployments.TERMINAL and deployment.cancel_requested:
        _end(session, arns, deployment, DeploymentStatus.CANCELLED, f"Cancelled. {said}", now)


def _withdraw_or_end(
    session: Session,
    arns: Arns,
    deployment: Deployment | None,
    row: PullRequestRow,
    now: datetime,
) -> Next:
    """The deployment no longer waits: an open pull request is closed; a merged one cannot
    be, and a cancel then ends the deployment at once."""
    if row.state == PullRequestStatus.OPEN:
        return Next.WITHDRAW
    row.state = PullRequestStatus.ENDED
    if deployment is not None and deployment.status not in deployments.TERMINAL:
        message = (
            f"Cancelled after the {_shown(row)} was merged: its change stays in the repository."
        )
        deployments.log_event(session, deployment.id, message, now)
        _end(session, arns, deployment, DeploymentStatus.CANCELLED, message, now)
    return Next.DONE


def _timed_out(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    row: PullRequestRow,
    now: datetime,
    timeout: timedelta,
) -> Next:
    since = row.merged_at if row.state == PullRequestStatus.MERGED else row.opened_at
    if since is None or now < since + timeout:
        return Next.WATCH
    waited = _duration(timeout)
    if row.state == PullRequestStatus.OPEN:
        message = (
            f"The {_shown(row)} was neither merged nor closed within {waited} of opening "
            "(pull_request_timeout_seconds): Baryon never saw it merged, so it closes it."
        )
        deployments.log_event(session, deployment.id, message, now)
        _end(session, arns, deployment, DeploymentStatus.FAILED, message, now)
        return Next.WITHDRAW
    message = (
        f"The {_shown(row)} was merged, but no notify-resource-deployment-status-change "
        f"reporting SUCCEEDED or FAILED for deployment {deployment.id} arrived within {waited} "
        "of the merge (pull_request_timeout_seconds)."
    )
    deployments.log_event(session, deployment.id, message, now)
    row.state = PullRequestStatus.ENDED
    _end(session, arns, deployment, DeploymentStatus.FAILED, message, now)
    return Next.DONE


# --- reports ---------------------------------------------------------------------------------


def report(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    status: ResourceDeploymentStatus | None,
    message: str | None,
    now: datetime,
) -> bool:
    """A pipeline's report on a handed-off deployment (its outputs already merged onto the
    deployment): SUCCEEDED and FAILED end it. False when the deployment was not handed off
    (Baryon runs it, and its commands' exit status ends it)."""
    row = _row(session, deployment.id)
    if row is None:
        return False
    if status not in (ResourceDeploymentStatus.SUCCEEDED, ResourceDeploymentStatus.FAILED):
        return True
    if row.state in WATCHED:
        row.state = PullRequestStatus.ENDED
    if status == ResourceDeploymentStatus.SUCCEEDED:
        said = message or "The provisioning pipeline reported SUCCEEDED."
        _end(session, arns, deployment, DeploymentStatus.SUCCEEDED, said, now)
    else:
        said = message or "The provisioning pipeline reported FAILED."
        _end(session, arns, deployment, DeploymentStatus.FAILED, said, now)
    return True


def can_report(session: Session, deployment: Deployment) -> bool:
    """A handed-off deletion waits in DELETE_IN_PROGRESS, and may be reported on too."""
    return deployment.status == DeploymentStatus.IN_PROGRESS or (
        deployment.status == DeploymentStatus.DELETE_IN_PROGRESS
        and _row(session, deployment.id) is not None
    )


# --- inside ----------------------------------------------------------------------------------


def _row(session: Session, deployment_id: str) -> PullRequestRow | None:
    return session.scalar(
        select(PullRequestRow).where(PullRequestRow.deployment_id == deployment_id)
    )


def _waiting(session: Session, deployment: Deployment) -> bool:
    """The deployment still waits on its pull request: in progress, not being cancelled, and
    still its resource's latest."""
    if deployment.status in deployments.TERMINAL or deployment.cancel_requested:
        return False
    resource = outcomes.resource_of(session, deployment)
    return resource is not None and resource.last_attempted_deployment_id == deployment.id


def _end(
    session: Session,
    arns: Arns,
    deployment: Deployment,
    status: DeploymentStatus,
    message: str,
    now: datetime,
) -> None:
    """Ends the deployment as the worker would have, in the caller's transaction: a delete's
    SUCCEEDED removes the resource, and its FAILED or CANCELLED is DELETE_FAILED."""
    outputs = deployments.outputs_of(session, deployment.id)
    result = outcomes.Result(
        status, message, outputs if status == DeploymentStatus.SUCCEEDED else {}
    )
    outcomes.record(session, arns, deployment.id, result, now)


def _say(session: Session, deployment: Deployment, message: str, now: datetime) -> None:
    """What a waiting deployment waits for, where Proton's API shows it: the deployment's and
    the resource's status message."""
    deployment.status_message = message
    deployment.last_modified_at = now
    resource = outcomes.resource_of(session, deployment)
    if resource is not None and resource.last_attempted_deployment_id == deployment.id:
        resource.deployment_status_message = message


def _shown(row: PullRequestRow) -> str:
    if row.url:
        return f"pull request {row.url}"
    if row.number is not None:
        return f"pull request #{row.number} of {row.repository_name}"
    return f"pushed branch '{row.head_branch}' of {row.repository_name}"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
