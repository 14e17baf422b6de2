"""A repository changed: a push to Baryon's own git server, or a forge's webhook.

Both front doors (git hosting's receive hook, the webhook route in api/) call in here, and
both end in domain.git.branch_changed: a REPOSITORY_CHANGED job per branch, in one
transaction. A webhook is believed only once its signature checks out with the secret of
the connection it is addressed to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.git import PullRequestStatus, branch_changed
from baryon.git.hosting import RefUpdate
from baryon.git.webhooks import (
    MAX_WEBHOOK_BYTES,
    PullRequestEvent,
    PushEvent,
    WebhookEvent,
    WebhookRefused,
    parse_bitbucket_all,
    parse_github,
    parse_gitlab,
)
from baryon.operations.connections import secrets_of_row
from baryon.runtime import Runtime
from baryon.service_models.baryon import ConnectionProvider
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import Connection, PullRequestRow, Repository

_BRANCH_REF = "refs/heads/"
Parser = Callable[[Mapping[str, str], bytes, str], tuple[WebhookEvent, ...]]


def _one(parse: Callable[[Mapping[str, str], bytes, str], WebhookEvent | None]) -> Parser:
    def parse_all(headers: Mapping[str, str], body: bytes, secret: str) -> tuple[WebhookEvent, ...]:
        event = parse(headers, body, secret)
        return (event,) if event is not None else ()

    return parse_all


# GitHub and GitLab deliver one event per webhook; one Bitbucket push may move several branches.
_PARSERS: dict[ConnectionProvider, Parser] = {
    ConnectionProvider.GITHUB: _one(parse_github),
    ConnectionProvider.GITHUB_ENTERPRISE: _one(parse_github),
    ConnectionProvider.GITLAB: _one(parse_gitlab),
    ConnectionProvider.BITBUCKET: parse_bitbucket_all,
}


class WebhookVerdict(StrEnum):
    ACCEPTED = "ACCEPTED"  # acted on, or read and deliberately ignored
    REFUSED = "REFUSED"  # not proven to come from the forge: nothing changed
    UNKNOWN_CONNECTION = "UNKNOWN_CONNECTION"


@dataclass(frozen=True)
class WebhookAnswer:
    """What the route answers the forge (it shows the text in its delivery log)."""

    verdict: WebhookVerdict
    message: str
    # True once the delivery enqueued work (a region that merely read it says False).
    acted: bool = False


# The most a delivery may carry (the route reads no more).
MAX_WEBHOOK_BODY_BYTES = MAX_WEBHOOK_BYTES


def hosted_push(runtime: Runtime, name: str, updates: Sequence[RefUpdate]) -> None:
    """A push to Baryon's own git server reached ``name``: every registration of it (in any
    provider name space) sees its branches move."""
    now = datetime.now(UTC)
    branches = [
        (u.ref.removeprefix(_BRANCH_REF), u.new) for u in updates if u.ref.startswith(_BRANCH_REF)
    ]
    if not branches:
        return
    with runtime.db.session(write=True) as session:
        registered = session.execute(
            select(Repository.provider, Repository.name)
            .join(Connection, Connection.arn == Repository.connection_arn)
            .where(Repository.name == name, Connection.provider == ConnectionProvider.BARYON)
        ).all()
        for provider, repository in registered:
            for branch, sha in branches:
                branch_changed(session, provider, repository, branch, sha, now)
    runtime.job_wakeup.set()


def webhook_received_in_any_region(
    runtime: Runtime, connection_name: str, headers: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """Connections are regional and the webhook URL names only the connection, so every
    region that has a connection of that name checks the delivery with its own secret
    (regions hold no secret in common): the forge hears the most telling answer."""
    answers = [webhook_received(cell, connection_name, headers, body) for cell in runtime.cells]
    return min(answers, key=_telling)


# Which region's answer the forge sees: work done, then read, then refused, then not found.
_RANK = {
    WebhookVerdict.ACCEPTED: 1,
    WebhookVerdict.REFUSED: 2,
    WebhookVerdict.UNKNOWN_CONNECTION: 3,
}


def _telling(answer: WebhookAnswer) -> int:
    return 0 if answer.acted else _RANK[answer.verdict]


def webhook_received(
    runtime: Runtime, connection_name: str, headers: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """A delivery that is not proven (no webhook secret on the connection, a signature that
    does not check out) is REFUSED and enqueues nothing."""
    with runtime.db.session() as session:
        connection = session.scalar(select(Connection).where(Connection.name == connection_name))
        if connection is None:
            return WebhookAnswer(
                WebhookVerdict.UNKNOWN_CONNECTION, f"No connection is named '{connection_name}'."
            )
        provider = ConnectionProvider(connection.provider)
        secret = secrets_of_row(runtime, connection).webhook_secret
        arn = connection.arn
    parse = _PARSERS.get(provider)
    if parse is None or not secret:
        return WebhookAnswer(
            WebhookVerdict.REFUSED,
            f"The connection '{connection_name}' takes no webhooks: create it with a "
            "webhookSecret on a forge provider.",
        )
    try:
        events = parse(headers, body, secret)
    except WebhookRefused as exc:
        return WebhookAnswer(WebhookVerdict.REFUSED, f"Webhook refused: {exc.reason}")
    if not events:
        return WebhookAnswer(
            WebhookVerdict.ACCEPTED, "Ignored: Baryon acts on pushes and pull requests only."
        )
    return _act(runtime, arn, events)


def _act(runtime: Runtime, connection_arn: str, events: Sequence[WebhookEvent]) -> WebhookAnswer:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        for event in events:
            if not _act_on(session, connection_arn, event, now):
                return WebhookAnswer(
                    WebhookVerdict.ACCEPTED, f"Ignored: '{event.repository}' is not registered."
                )
    runtime.job_wakeup.set()
    return WebhookAnswer(WebhookVerdict.ACCEPTED, "Accepted.", acted=True)


def _act_on(session: Session, connection_arn: str, event: WebhookEvent, now: datetime) -> bool:
    """Enqueues what the event wakes; False when its repository is not registered."""
    registered = session.execute(
        select(Repository.provider, Repository.name).where(
            Repository.connection_arn == connection_arn,
            Repository.name == event.repository,
        )
    ).all()
    if not registered:
        return False
    for provider, name in registered:
        if isinstance(event, PushEvent):
            branch_changed(session, provider, name, event.branch, event.after, now)
            continue
        assert isinstance(event, PullRequestEvent)
        for deployment_id in session.scalars(
            select(PullRequestRow.deployment_id).where(
                PullRequestRow.repository_provider == provider,
                PullRequestRow.repository_name == name,
                PullRequestRow.number == event.number,
                PullRequestRow.state.in_((PullRequestStatus.OPEN, PullRequestStatus.MERGED)),
            )
        ):
            jobs.enqueue_once(session, JobKind.PULL_REQUEST, {"deployment_id": deployment_id}, now)
    return True
