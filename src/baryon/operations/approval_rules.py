"""Approval rules: Cedar policies that say which deployments wait for approval, asked through
the policy engine (auth/policies/approval.py holds what a rule sees and the schema it is
checked against).

A rule is one or more Cedar statements on the action ``Baryon::Action::"RequireApproval"``;
a deployment waits when the rules, taken together, permit that action for it (a ``forbid``
exempts what a ``permit`` would catch). They are kept apart from access policies: a permit
there lets a call through, a permit here holds a change, and the resource differs too (the
change about to deploy, with the environment it runs in and that environment's tags).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.auth.policies import InvalidPolicy, NamedPolicy, Policies
from baryon.auth.policies.approval import ChangeFacts, check_rule, requires_approval
from baryon.auth.policies.facts import ResourceFacts
from baryon.auth.principals import SYSTEM, Principal
from baryon.domain import approval_gate
from baryon.domain.approval_gate import ApprovalRequirement, Change
from baryon.domain.arns import Arns
from baryon.domain.errors import InvalidInput, NotFound, QuotaExceeded
from baryon.operations.authorization import environment_facts
from baryon.operations.context import RequestContext
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.settings import Settings
from baryon.store.tables import ApprovalRuleRow, Tag

log = logging.getLogger(__name__)

MAX_RULES = 100  # rules are hand-written: a few per install

_KINDS = {
    DeploymentTargetResourceType.ENVIRONMENT: "environment",
    DeploymentTargetResourceType.SERVICE_INSTANCE: "service_instance",
    DeploymentTargetResourceType.SERVICE_PIPELINE: "pipeline",
    DeploymentTargetResourceType.COMPONENT: "component",
}


def check(name: str, text: str) -> None:
    """Raises InvalidInput naming what does not parse or fit the approval schema."""
    try:
        statements = check_rule(NamedPolicy(name, text))
    except InvalidPolicy as exc:
        raise InvalidInput(f"Approval rule {exc}", field=("policy",)) from exc
    if statements == 0:
        raise InvalidInput(f"Approval rule {name} holds no statement.", field=("policy",))


@dataclass(frozen=True)
class RulePolicy:
    """The approval rules, for one requester (domain/approval_gate.py asks it): the caller of
    a request, or Baryon itself for what a job starts on its own (``system_policy``)."""

    principal: Principal
    arns: Arns
    expiry_hours: float

    @property
    def requester(self) -> str:
        return self.principal.label

    @property
    def expiry(self) -> timedelta:
        return timedelta(hours=self.expiry_hours)

    def requires_approval(self, session: Session, change: Change) -> ApprovalRequirement | None:
        return self.requirements(session, [change])[0]

    def requirements(
        self, session: Session, changes: Sequence[Change]
    ) -> list[ApprovalRequirement | None]:
        if not changes:
            return []
        # The rules are read on every call, so a rule edit holds from the next change on every
        # replica; compiling is keyed by what was read (compiled_rules), so it happens once per
        # rule set and process. A rollout's changes share one set and each environment's facts.
        # A rule a newer Cedar no longer reads is left out (checked when put), and one that
        # fails on this change counts as absent for it: both are logged, neither holds it.
        # Nothing that starts deployments writes rules: what the change has written so far
        # stays pending for the commit's flush instead of being flushed by this read.
        with session.no_autoflush:
            texts = tuple(session.execute(_RULE_TEXTS).tuples())
        if not texts:
            return [None] * len(changes)
        rules = compiled_rules(texts)
        environments: dict[str, ResourceFacts] = {}
        found: list[ApprovalRequirement | None] = []
        for change in changes:
            environment = environments.get(change.environment_name)
            if environment is None:
                environment = environment_facts(session, self.arns, change.environment_name)
                environments[change.environment_name] = environment
            facts = _change_facts(session, change, environment)
            decision = requires_approval(rules, self.principal, facts)
            for error in decision.errors:
                log.warning("Approval rules on deployment %s: %s", change.deployment_id, error)
            if not decision.allowed:
                found.append(None)
                continue
            names = tuple(dict.fromkeys(rules.owner(reason) for reason in decision.reasons))
            found.append(ApprovalRequirement(names, "approval rule " + ", ".join(names)))
        return found


_RULE_TEXTS = select(ApprovalRuleRow.name, ApprovalRuleRow.text).order_by(ApprovalRuleRow.name)


@functools.lru_cache(maxsize=8)
def compiled_rules(texts: tuple[tuple[str, str], ...]) -> Policies:
    """The rules as one compiled set, for their (name, text) pairs as read, in name order.

    Keyed by the texts themselves rather than by a generation counter: the read is needed
    anyway, an edit gives a new key (no invalidation to get wrong across replicas), and the
    set in force is kept compiled (Cedar's parse of every rule cost more than deciding).
    A few sets are kept, for the moment a rule changes while requests still hold the old."""
    return Policies(NamedPolicy(name, text) for name, text in texts)


@contextmanager
def in_effect(context: RequestContext) -> Iterator[None]:
    """Deployments this request starts are held when the rules say so (operations/registry.py
    runs every handler inside)."""
    policy = RulePolicy(context.principal, context.arns, context.settings.approval_expiry_hours)
    with approval_gate.in_effect(policy):
        yield


def system_policy(settings: Settings, arns: Arns) -> RulePolicy:
    """The rules for deployments Baryon starts on its own behalf (a service sync's push): the
    requester is ``system/baryon``, the principal the audit trail records them under, so a
    rule holds them as it holds a person's change (and any person may approve them)."""
    return RulePolicy(SYSTEM, arns, settings.approval_expiry_hours)


def _change_facts(session: Session, change: Change, environment: ResourceFacts) -> ChangeFacts:
    def version(value: tuple[int, int] | None) -> str:
        return f"{value[0]}.{value[1]}" if value else ""

    return ChangeFacts(
        deployment_id=change.deployment_id,
        kind=_KINDS.get(DeploymentTargetResourceType(change.target_type), ""),
        operation=change.operation,
        name=(
            change.component_name
            or change.service_instance_name
            or change.service_name
            or change.environment_name
        ),
        environment=environment,
        service=change.service_name or "",
        template=change.template_name or "",
        current_version=version(change.current_version),
        target_version=version(change.target_version),
        major_upgrade=change.major_upgrade,
        tags=_tags(session, change.target_arn),
    )


def _tags(session: Session, arn: str) -> dict[str, str]:
    rows = session.execute(select(Tag.key, Tag.value).where(Tag.resource_arn == arn))
    return {key: value for key, value in rows.all()}


# --- the rules, stored ------------------------------------------------------------------------


def list_rules(session: Session) -> list[ApprovalRuleRow]:
    return list(session.scalars(select(ApprovalRuleRow).order_by(ApprovalRuleRow.name)))


def put_rule(session: Session, name: str, text: str, by: str, now: datetime) -> ApprovalRuleRow:
    check(name, text)  # refuses what does not parse or fit, before anything is stored
    row = session.get(ApprovalRuleRow, name, with_for_update=True)
    if row is None:
        if len(list_rules(session)) >= MAX_RULES:
            raise QuotaExceeded(f"There are {MAX_RULES} approval rules already; delete one first.")
        row = ApprovalRuleRow(name=name)
        session.add(row)
    row.text = text
    row.updated_by = by
    row.updated_at = now
    return row


def delete_rule(session: Session, name: str) -> ApprovalRuleRow:
    row = session.get(ApprovalRuleRow, name, with_for_update=True)
    if row is None:
        raise NotFound(f"The approval rule '{name}' was not found.")
    session.delete(row)
    return row
