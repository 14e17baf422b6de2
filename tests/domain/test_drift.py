"""Drift items reconciled from what each check saw: one unclosed item per fingerprint, an
item closes when its drift is gone, an ignore hides it until its date, a decision whose
deployment did not remove the drift opens it again; classification by the inputs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from baryon.domain import drift
from baryon.domain.drift import (
    Binding,
    CheckMethod,
    Decision,
    DriftKind,
    DriftTarget,
    Observation,
    ObservedDrift,
)
from baryon.domain.errors import Conflict, InvalidInput
from baryon.runtime import Runtime
from baryon.store.tables import DriftItemRow

ARN = "arn:aws:proton:us-east-1:123456789012:environment/dev"
TARGET = DriftTarget(ARN, "environment", "dev", None, "network")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
INPUTS = {"timeout": 30, "name": "orders", "retention": 30}


def seen(
    path: str = "/Properties/DelaySeconds", expected: str = "0", actual: str = "5"
) -> ObservedDrift:
    kind = DriftKind.NOT_EQUAL
    return ObservedDrift("Queue", "AWS::SQS::Queue", "url", path, expected, actual, kind)


def observe(runtime: Runtime, *drifts: ObservedDrift, at: datetime = T0) -> list[DriftItemRow]:
    with runtime.db.session(write=True) as session:
        check = drift.request_check(session, TARGET, "user/alice", at)
        observation = Observation(CheckMethod.CLOUDFORMATION, 1, 0, tuple(drifts))
        drift.record_observation(session, check, observation, INPUTS, at)
    with runtime.db.session() as session:
        return list(session.scalars(select(DriftItemRow).order_by(DriftItemRow.first_seen_at)))


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Runtime]:
    """The domain conftest's runtime: a private SQLite database."""
    yield runtime


def test_the_same_drift_seen_twice_is_one_item_and_it_closes_when_gone(db: Runtime) -> None:
    [first] = observe(db, seen())
    [again] = observe(db, seen(), at=T0 + timedelta(hours=1))
    assert again.id == first.id and again.last_seen_at == T0 + timedelta(hours=1)

    [closed] = observe(db, at=T0 + timedelta(hours=2))

    assert (closed.status, closed.closed_at, closed.open_fingerprint) == (
        "CLOSED",
        T0 + timedelta(hours=2),
        None,
    )
    # Drifting again later is a new item: the closed one stays as history.
    assert len(observe(db, seen(), at=T0 + timedelta(hours=3))) == 2


def test_a_new_actual_value_is_a_new_fingerprint(db: Runtime) -> None:
    observe(db, seen(actual="5"))
    items = observe(db, seen(actual="9"), at=T0 + timedelta(hours=1))
    assert [(i.actual, i.closed_at is None) for i in items] == [("5", False), ("9", True)]


def test_an_ignored_item_stays_hidden_until_its_date_then_opens_again(db: Runtime) -> None:
    [item] = observe(db, seen())
    with db.db.session(write=True) as session:
        row = drift.find_item(session, item.id, lock=True)
        until = T0 + timedelta(days=1)
        drift.check_decision(row, Decision.IGNORE, reason="known", until=until, now=T0)
        drift.record_decision(
            session, row, Decision.IGNORE, decided_by="user/alice", reason="known",
            until=until, deployment_id=None, now=T0,
        )  # fmt: skip
    [still] = observe(db, seen(), at=T0 + timedelta(hours=12))
    assert still.status == "IGNORED"
    [reopened] = observe(db, seen(), at=T0 + timedelta(days=2))
    assert (reopened.id, reopened.status) == (item.id, "OPEN")


def test_a_reapply_that_left_the_drift_opens_the_item_again(db: Runtime) -> None:
    [item] = observe(db, seen())
    with db.db.session(write=True) as session:
        row = drift.find_item(session, item.id, lock=True)
        drift.record_decision(
            session, row, Decision.REAPPLY, decided_by="user/alice", reason=None,
            until=None, deployment_id="d-1", now=T0,
        )  # fmt: skip
        with pytest.raises(Conflict):
            drift.check_decision(row, Decision.IGNORE, reason="x", until=None, now=T0)
    [again] = observe(db, seen(), at=T0 + timedelta(hours=1))
    assert again.status == "OPEN"


def test_items_are_input_bound_only_when_exactly_one_input_has_the_expected_value() -> None:
    assert drift.classify("orders", INPUTS) == (Binding.INPUT, "name")
    assert drift.classify("30", INPUTS) == (Binding.TEMPLATE, None)  # timeout or retention?
    assert drift.classify("345600", INPUTS) == (Binding.TEMPLATE, None)
    assert drift.classify(None, INPUTS) == (Binding.TEMPLATE, None)


def test_accept_and_ignore_are_refused_where_they_cannot_apply(db: Runtime) -> None:
    [item] = observe(db, seen())
    with db.db.session() as session:
        row = drift.find_item(session, item.id)
        assert row.binding == Binding.TEMPLATE
        with pytest.raises(InvalidInput):
            drift.check_decision(row, Decision.ACCEPT, reason=None, until=None, now=T0)
        with pytest.raises(InvalidInput):
            drift.check_decision(row, Decision.IGNORE, reason=None, until=T0 + timedelta(1), now=T0)
        with pytest.raises(InvalidInput):
            drift.check_decision(row, Decision.IGNORE, reason="x", until=T0, now=T0)


def test_an_accepted_value_keeps_the_inputs_type() -> None:
    assert drift.accepted_value("45", 30) == 45
    assert drift.accepted_value("true", False) is True
    assert drift.accepted_value("2.5", 1.0) == 2.5
    assert drift.accepted_value("big", "small") == "big"
