"""Drift reports and their decisions (issue 18; fleet-change.md 17.5).

A check is asked for (by a person, or by the schedule) and run by a worker with the engine's
own detection; what it finds is reconciled here into items, one per drifted property (or
deleted resource). An item stays until a later check no longer sees it (it closes itself) and
needs a decision: re-apply (deploy the same version and spec again, putting the template's
value back), accept (an input-bound item: the spec's input takes the actual value), or ignore
until a date (it is hidden until then, and comes back if the drift is still there).
At most one unclosed item per fingerprint (resource, engine resource, path, actual value).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.store import jobs
from baryon.store.jobs import JobKind
from baryon.store.tables import DriftCheckRow, DriftItemRow

REASON_MAX = 1000
VALUE_MAX = 4000  # an expected or actual value kept beyond this is cut (and says so)


class CheckStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    IN_SYNC = "IN_SYNC"
    DRIFTED = "DRIFTED"
    FAILED = "FAILED"  # the engine's detection could not run; items stay as they were
    SKIPPED = "SKIPPED"  # a deployment was in flight on the resource


FINISHED = frozenset({CheckStatus.IN_SYNC, CheckStatus.DRIFTED, CheckStatus.FAILED,
                      CheckStatus.SKIPPED})  # fmt: skip


class CheckMethod(StrEnum):
    CLOUDFORMATION = "CLOUDFORMATION_DRIFT_DETECTION"
    TERRAFORM = "TERRAFORM_REFRESH_ONLY_PLAN"


class DriftKind(StrEnum):
    ADD = "ADD"
    REMOVE = "REMOVE"
    NOT_EQUAL = "NOT_EQUAL"
    DELETED = "DELETED"  # the engine resource itself is gone


class Binding(StrEnum):
    """Where the drifted value came from: an instance input (accepting it updates the spec)
    or the template itself (accepting it is a template change: not done here)."""

    INPUT = "INPUT"
    TEMPLATE = "TEMPLATE"


class ItemStatus(StrEnum):
    OPEN = "OPEN"
    IGNORED = "IGNORED"
    REAPPLIED = "REAPPLIED"
    ACCEPTED = "ACCEPTED"
    CLOSED = "CLOSED"  # the drift went away without a decision


class Decision(StrEnum):
    REAPPLY = "REAPPLY"
    ACCEPT = "ACCEPT"
    IGNORE = "IGNORE"


_DECIDED = {
    Decision.REAPPLY: ItemStatus.REAPPLIED,
    Decision.ACCEPT: ItemStatus.ACCEPTED,
    Decision.IGNORE: ItemStatus.IGNORED,
}


@dataclass(frozen=True)
class DriftTarget:
    """The deployed resource a check is about, as the store keeps it."""

    arn: str
    kind: str  # environment | instance | pipeline
    name: str
    service: str | None
    template_name: str


@dataclass(frozen=True)
class ObservedDrift:
    """One difference the engine reported."""

    logical_id: str
    resource_type: str
    physical_id: str | None
    path: str
    expected: str | None
    actual: str | None
    kind: DriftKind


@dataclass(frozen=True)
class Observation:
    """What one run of the engine's detection saw."""

    method: CheckMethod
    resources_checked: int
    resources_not_checked: int
    drifts: tuple[ObservedDrift, ...]


# --- asking for a check ---------------------------------------------------------------------


def request_check(
    session: Session, target: DriftTarget, requested_by: str, now: datetime
) -> DriftCheckRow:
    """A QUEUED check and its job, in the caller's transaction. A check already waiting for
    the resource is answered instead of a second one."""
    waiting = session.scalars(
        select(DriftCheckRow).where(
            DriftCheckRow.resource_arn == target.arn,
            DriftCheckRow.status.in_([CheckStatus.QUEUED, CheckStatus.RUNNING]),
        )
    ).first()
    if waiting is not None:
        return waiting
    check = DriftCheckRow(
        id=str(uuid.uuid4()),
        resource_arn=target.arn,
        resource_kind=target.kind,
        resource_name=target.name,
        service_name=target.service,
        template_name=target.template_name,
        status=CheckStatus.QUEUED,
        resources_checked=0,
        resources_not_checked=0,
        drifted_items=0,
        requested_by=requested_by,
        requested_at=now,
    )
    session.add(check)
    jobs.enqueue(session, JobKind.DRIFT_CHECK, {"check_id": check.id}, now)
    return check


def find_check(session: Session, check_id: str, *, lock: bool = False) -> DriftCheckRow:
    check = session.get(DriftCheckRow, check_id, with_for_update=lock)
    if check is None:
        raise NotFound(f"Drift check {check_id} does not exist.")
    return check


def last_check(session: Session, resource_arn: str) -> DriftCheckRow | None:
    return session.scalars(
        select(DriftCheckRow)
        .where(DriftCheckRow.resource_arn == resource_arn)
        .order_by(DriftCheckRow.requested_at.desc(), DriftCheckRow.id.desc())
        .limit(1)
    ).first()


def finish_check(
    session: Session, check: DriftCheckRow, status: CheckStatus, message: str, now: datetime
) -> None:
    """Ends a check that saw nothing (FAILED, SKIPPED): its items stay as they were."""
    check.status = status
    check.status_message = message
    check.completed_at = now


# --- what a check found ---------------------------------------------------------------------


def fingerprint(resource_arn: str, logical_id: str, path: str, actual: str | None) -> str:
    return hashlib.sha256(json.dumps([resource_arn, logical_id, path, actual]).encode()).hexdigest()


def classify(expected: str | None, inputs: Mapping[str, Any]) -> tuple[Binding, str | None]:
    """Input-bound when the expected value is exactly one input's value (the render put it
    there); template-bound otherwise, ambiguous matches included (accepting must not guess
    which input to change)."""
    if expected is None or expected == "":
        return Binding.TEMPLATE, None
    matches = [
        name
        for name, value in inputs.items()
        if not isinstance(value, dict | list) and _text(value) == expected
    ]
    if len(matches) == 1:
        return Binding.INPUT, matches[0]
    return Binding.TEMPLATE, None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= VALUE_MAX:
        return value
    return value[:VALUE_MAX] + " ... (cut)"


def record_observation(
    session: Session,
    check: DriftCheckRow,
    observation: Observation,
    inputs: Mapping[str, Any],
    now: datetime,
) -> None:
    """Reconciles the resource's items with what the check saw: a new drift opens an item, one
    still there is seen again (an ignore that ran out opens it again, and so does a decision
    whose deployment did not remove it), and an unclosed item not seen any more closes."""
    arn = check.resource_arn
    unclosed = {
        item.fingerprint: item
        for item in session.scalars(
            select(DriftItemRow)
            .where(DriftItemRow.resource_arn == arn, DriftItemRow.closed_at.is_(None))
            .with_for_update()
        )
    }
    seen: set[str] = set()
    for drift in observation.drifts:
        actual = _cut(drift.actual)
        key = fingerprint(arn, drift.logical_id, drift.path, actual)
        if key in seen:
            continue
        seen.add(key)
        item = unclosed.get(key)
        if item is None:
            binding, input_name = classify(drift.expected, inputs)
            session.add(
                DriftItemRow(
                    id=str(uuid.uuid4()),
                    resource_arn=arn,
                    template_name=check.template_name,
                    check_id=check.id,
                    logical_id=drift.logical_id[:256],
                    resource_type=drift.resource_type[:256],
                    physical_id=(drift.physical_id or None) and drift.physical_id[:2048],
                    path=drift.path[:1024],
                    expected=_cut(drift.expected),
                    actual=actual,
                    kind=drift.kind,
                    binding=binding,
                    input_name=input_name,
                    fingerprint=key,
                    open_fingerprint=key,
                    status=ItemStatus.OPEN,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            continue
        item.check_id = check.id
        item.last_seen_at = now
        if _reopens(item, now):
            item.status = ItemStatus.OPEN
    for key, item in unclosed.items():
        if key not in seen:
            item.closed_at = now
            item.open_fingerprint = None
            if item.status == ItemStatus.OPEN:
                item.status = ItemStatus.CLOSED
    check.status = CheckStatus.DRIFTED if seen else CheckStatus.IN_SYNC
    check.method = observation.method
    check.resources_checked = observation.resources_checked
    check.resources_not_checked = observation.resources_not_checked
    check.drifted_items = len(seen)
    check.completed_at = now
    check.status_message = None


def _reopens(item: DriftItemRow, now: datetime) -> bool:
    if item.status == ItemStatus.IGNORED:
        return item.ignore_until is not None and item.ignore_until <= now
    # A check runs only while no deployment is in flight: a decision's deployment has ended,
    # and the drift is still there.
    return item.status in (ItemStatus.REAPPLIED, ItemStatus.ACCEPTED)


# --- decisions ------------------------------------------------------------------------------


def find_item(session: Session, item_id: str, *, lock: bool = False) -> DriftItemRow:
    item = session.get(DriftItemRow, item_id, with_for_update=lock)
    if item is None:
        raise NotFound(f"Drift item {item_id} does not exist.")
    return item


def check_decision(
    item: DriftItemRow,
    decision: Decision,
    *,
    reason: str | None,
    until: datetime | None,
    now: datetime,
) -> None:
    """Raises when ``decision`` cannot be taken on ``item`` (before anything is deployed)."""
    if item.closed_at is not None:
        raise Conflict(f"Drift item {item.id} is closed: the drift is gone.")
    if item.status not in (ItemStatus.OPEN, ItemStatus.IGNORED):
        raise Conflict(
            f"Drift item {item.id} is {item.status}: its decision is being carried out; the "
            "next drift check says whether it worked."
        )
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidInput(f"reason: at most {REASON_MAX} characters.")
    if decision == Decision.ACCEPT:
        if item.kind == DriftKind.DELETED:
            raise InvalidInput(
                f"Drift item {item.id}: {item.logical_id} was deleted behind Baryon's back, and "
                "there is no value to accept: re-apply to create it again, or remove it from "
                "the template."
            )
        if item.binding != Binding.INPUT or not item.input_name:
            raise InvalidInput(
                f"Drift item {item.id} is template-bound (its value is written in the "
                "template, not taken from an input): change the template, re-apply or "
                "ignore it."
            )
        if item.actual is None:
            raise InvalidInput(f"Drift item {item.id} has no actual value to accept.")
    if decision == Decision.IGNORE:
        if not reason or not reason.strip():
            raise InvalidInput("reason: ignoring drift needs a reason.")
        if until is None or until <= now:
            raise InvalidInput("until: ignoring drift needs a date in the future.")


def record_decision(
    session: Session,
    item: DriftItemRow,
    decision: Decision,
    *,
    decided_by: str,
    reason: str | None,
    until: datetime | None,
    deployment_id: str | None,
    now: datetime,
) -> None:
    """Marks ``item`` (and every other unclosed item the same deployment carries out, for a
    re-apply or accept of the same resource) decided."""
    item.status = _DECIDED[decision]
    item.decided_by = decided_by
    item.decided_at = now
    item.reason = reason
    item.ignore_until = until if decision == Decision.IGNORE else None
    item.deployment_id = deployment_id
    if decision == Decision.REAPPLY:
        # A re-apply deploys the whole resource again: every open item of it goes with it.
        for other in open_items(session, item.resource_arn):
            if other.id != item.id and other.status == ItemStatus.OPEN:
                other.status = ItemStatus.REAPPLIED
                other.decided_by, other.decided_at = decided_by, now
                other.deployment_id = deployment_id
                other.reason = f"Re-applied with drift item {item.id}."


def open_items(session: Session, resource_arn: str) -> Sequence[DriftItemRow]:
    return session.scalars(
        select(DriftItemRow).where(
            DriftItemRow.resource_arn == resource_arn, DriftItemRow.closed_at.is_(None)
        )
    ).all()


def accepted_value(actual: str, current: Any) -> Any:
    """The actual value as the input takes it: the current value's type where it reads so
    (a number stays a number, a boolean a boolean)."""
    if isinstance(current, bool):
        if actual.lower() in ("true", "false"):
            return actual.lower() == "true"
    elif isinstance(current, int):
        try:
            return int(actual)
        except ValueError:
            pass
    elif isinstance(current, float):
        try:
            return float(actual)
        except ValueError:
            pass
    return actual
