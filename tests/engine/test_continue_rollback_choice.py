"""Continuing a rollback asks the engine that holds the resource, and reports its answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from baryon.engine import provisioning
from baryon.provisioners.base import (
    Outcome,
    OutcomeStatus,
    ResourceIdentity,
    ResourceKind,
    SilentIO,
)
from baryon.settings import Settings

RESOURCE = ResourceIdentity(
    kind=ResourceKind.ENVIRONMENT,
    names=("dev",),
    arn="arn:aws:proton:us-east-1:123456789012:environment/dev",
    account="123456789012",
    region="us-east-1",
)


@dataclass
class FakeProvisioner:
    holds: bool
    answer: Outcome
    asked: list[str] = field(default_factory=list)

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        return Outcome(OutcomeStatus.SUCCEEDED) if self.holds else None

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: Any
    ) -> Outcome:
        self.asked.append(resource.arn)
        return self.answer


def _with(monkeypatch: pytest.MonkeyPatch, *provisioners: FakeProvisioner) -> None:
    monkeypatch.setattr(provisioning, "deploying_provisioners", lambda *_: list(provisioners))


def test_the_failure_reported_is_the_one_of_the_engine_that_holds_the_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = FakeProvisioner(True, Outcome(OutcomeStatus.FAILED, "Bucket could not roll back"))
    other = FakeProvisioner(False, Outcome(OutcomeStatus.FAILED, "nothing to roll back"))
    _with(monkeypatch, holder, other)
    outcome = provisioning.continue_rollback(RESOURCE, (), Settings(), SilentIO())
    assert outcome.message == "Bucket could not roll back"
    assert other.asked == []


def test_an_engine_that_brings_the_resource_back_ends_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = FakeProvisioner(True, Outcome(OutcomeStatus.SUCCEEDED))
    later = FakeProvisioner(True, Outcome(OutcomeStatus.FAILED, "never asked"))
    _with(monkeypatch, holder, later)
    outcome = provisioning.continue_rollback(RESOURCE, (), Settings(), SilentIO())
    assert outcome.status == OutcomeStatus.SUCCEEDED
    assert later.asked == []


def test_nothing_provisioned_is_a_failure_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, FakeProvisioner(False, Outcome(OutcomeStatus.SUCCEEDED)))
    outcome = provisioning.continue_rollback(RESOURCE, (), Settings(), SilentIO())
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.message is not None and "Nothing is provisioned" in outcome.message
