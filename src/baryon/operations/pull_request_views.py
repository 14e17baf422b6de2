"""Read model of a self-managed deployment's pull request (or, on plain git, its pushed
branch): where it is, its state, and what Baryon waits for before the deployment ends.

The front doors show this beside the deployment; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from baryon.domain.git import PullRequestStatus
from baryon.operations.context import RequestContext
from baryon.service_models.proton import DeploymentStatus
from baryon.store.tables import Deployment, PullRequestRow

# A deployment in these waits on its pull request; one being cancelled waits for nobody (the
# watcher closes what is open).
_WAITING = frozenset({DeploymentStatus.IN_PROGRESS, DeploymentStatus.DELETE_IN_PROGRESS})

# What the deployment waits for while the pull request is in each state (and the deployment
# is still running); the words follow Proton's own documentation of self-managed provisioning.
WAIT_FOR_MERGE = "the pull request to be merged"
WAIT_FOR_REPORT = (
    "the provisioning pipeline to report with notify-resource-deployment-status-change"
)


@dataclass(frozen=True)
class PullRequestView:
    deployment_id: str
    repository_provider: str
    repository_name: str
    base_branch: str
    head_branch: str
    number: int | None  # None on plain git: a pushed branch, no pull request
    url: str | None
    # OPEN, MERGED or CLOSED as the forge last showed it; a pull request Baryon stopped
    # watching (ENDED) shows what its times say.
    state: PullRequestStatus
    watched: bool  # False once the deployment ended (reported, timed out, superseded)
    deletion: bool  # the pull request removes the resource's files
    opened_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    waiting_for: str | None  # what Baryon waits for, while the deployment runs

    @property
    def link(self) -> str | None:
        """The pull request's web address, when it is one a page may link to."""
        if self.url and self.url.lower().startswith(("https://", "http://")):
            return self.url
        return None

    @property
    def is_branch(self) -> bool:
        return self.number is None

    @property
    def is_open(self) -> bool:
        return self.state == PullRequestStatus.OPEN

    @property
    def is_merged(self) -> bool:
        return self.state == PullRequestStatus.MERGED

    @property
    def is_closed(self) -> bool:
        return self.state == PullRequestStatus.CLOSED


def pull_request_of_deployment(ctx: RequestContext, deployment_id: str) -> PullRequestView | None:
    """The pull request of a self-managed deployment; None for any other deployment."""
    with ctx.db.session() as session:
        row = session.scalar(
            select(PullRequestRow).where(PullRequestRow.deployment_id == deployment_id)
        )
        if row is None:
            return None
        status = session.scalar(select(Deployment.status).where(Deployment.id == deployment_id))
        return _view(row, running=status in _WAITING)


def _view(row: PullRequestRow, *, running: bool) -> PullRequestView:
    recorded = PullRequestStatus(row.state)
    state = recorded
    if recorded == PullRequestStatus.ENDED:
        if row.merged_at is not None:
            state = PullRequestStatus.MERGED
        elif row.closed_at is not None:
            state = PullRequestStatus.CLOSED
        else:
            state = PullRequestStatus.OPEN
    waiting_for = None
    if running and recorded == PullRequestStatus.OPEN:
        waiting_for = (
            WAIT_FOR_MERGE
            if row.number is not None
            else f"the branch {row.head_branch} to be merged into {row.base_branch}"
        )
    elif running and recorded == PullRequestStatus.MERGED:
        waiting_for = WAIT_FOR_REPORT
    return PullRequestView(
        deployment_id=row.deployment_id,
        repository_provider=row.repository_provider,
        repository_name=row.repository_name,
        base_branch=row.base_branch,
        head_branch=row.head_branch,
        number=row.number,
        url=row.url,
        state=state,
        watched=recorded != PullRequestStatus.ENDED,
        deletion=row.deletion,
        opened_at=row.opened_at,
        merged_at=row.merged_at,
        closed_at=row.closed_at,
        waiting_for=waiting_for,
    )
