"""Approval rules: Cedar policies that say which deployments wait for approval.

A rule is one or more Cedar statements on the action ``Baryon::Action::"RequireApproval"``;
a deployment waits when the rules, taken together, permit that action for it (a ``forbid``
exempts what a ``permit`` would catch). They are kept apart from access policies
(auth/policies/): a permit there lets a call through, a permit here holds a change, and the
facts differ too. The request is asked about

- the principal: who asked for the change, as access policies see it (``Baryon::User``,
  ``Baryon::Robot``, ...; ``principal in Baryon::Role::"developer"``, ``Baryon::Team``s);
- the resource: the deployment, a ``Baryon::Deployment`` whose attributes are ``kind``
  (environment, service_instance, pipeline, component), ``operation`` (DEPLOY, DELETE,
  RECOVER), ``name``, ``service``, ``template``, ``current_version`` and ``target_version``
  ("1.0"; "" when none), ``major_upgrade`` (bool) and ``environment`` (a
  ``Baryon::Environment`` entity with ``name`` and the environment's tags); its own tags are
  the changed resource's tags (``resource.hasTag("stage")``, ``resource.getTag("stage")``).

Rules are not checked against T2's access schema: it has no room for an environment's tags on
an instance's change, and a request naming facts a schema lacks is refused by Cedar.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cedarpy
from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.auth.principals import Principal, PrincipalKind
from baryon.domain import approval_gate
from baryon.domain.approval_gate import ApprovalRequirement, Change
from baryon.domain.errors import InvalidInput, NotFound, QuotaExceeded
from baryon.operations.context import RequestContext
from baryon.service_models.proton import DeploymentTargetResourceType
from baryon.store.tables import ApprovalRuleRow, Tag

log = logging.getLogger(__name__)

ACTION = {"type": "Baryon::Action", "id": "RequireApproval"}
MAX_RULES = 100  # rules are hand-written: a few per install
MAX_RULE_TEXT = 64 * 1024

_PRINCIPAL_TYPES: dict[PrincipalKind, str] = {
    PrincipalKind.USER: "Baryon::User",
    PrincipalKind.ROBOT: "Baryon::Robot",
    PrincipalKind.ACCOUNT: "Baryon::AccountKey",
    PrincipalKind.PROGRAM: "Baryon::Program",
    PrincipalKind.SYSTEM: "Baryon::System",
}
_KINDS = {
    DeploymentTargetResourceType.ENVIRONMENT: "environment",
    DeploymentTargetResourceType.SERVICE_INSTANCE: "service_instance",
    DeploymentTargetResourceType.SERVICE_PIPELINE: "pipeline",
    DeploymentTargetResourceType.COMPONENT: "component",
}


def statements(name: str, text: str) -> dict[str, Any]:
    """The rule's Cedar statements (Cedar's JSON form), keyed ``name`` or ``name#<n>`` so a
    decision's reasons name the rule. Raises InvalidInput naming what does not parse."""
    if len(text) > MAX_RULE_TEXT:
        raise InvalidInput(f"Approval rule {name} is longer than {MAX_RULE_TEXT} characters.")
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise InvalidInput(
            f"Approval rule {name} is not valid Cedar: {exc}", field=("policy",)
        ) from exc
    if parsed.get("templates"):
        raise InvalidInput(
            f"Approval rule {name}: Cedar templates (?principal, ?resource) are not used.",
            field=("policy",),
        )
    found: dict[str, Any] = parsed.get("staticPolicies", {})
    if not found:
        raise InvalidInput(f"Approval rule {name} holds no statement.", field=("policy",))
    if len(found) == 1:
        return {name: next(iter(found.values()))}
    return {f"{name}#{n}": statement for n, statement in enumerate(found.values(), start=1)}


@dataclass(frozen=True)
class RulePolicy:
    """The approval rules, for the caller of one request (domain/approval_gate.py asks it)."""

    context: RequestContext

    @property
    def requester(self) -> str:
        return self.context.principal.label

    @property
    def expiry(self) -> timedelta:
        return timedelta(hours=self.context.settings.approval_expiry_hours)

    def requires_approval(self, session: Session, change: Change) -> ApprovalRequirement | None:
        rules = session.scalars(select(ApprovalRuleRow).order_by(ApprovalRuleRow.name)).all()
        if not rules:
            return None
        policies: dict[str, Any] = {}
        for rule in rules:
            try:
                policies.update(statements(rule.name, rule.text))
            except InvalidInput as exc:
                # Checked when put; one a newer Cedar no longer reads holds nothing.
                log.warning("Approval rule %s is left out: %s", rule.name, exc.message)
        document = {"staticPolicies": policies, "templates": {}, "templateLinks": []}
        principal = self.context.principal
        request = {
            "principal": _principal_uid(principal),
            "action": ACTION,
            "resource": {"type": "Baryon::Deployment", "id": change.deployment_id},
            "context": {},
        }
        entities = _entities(session, self.context, change, principal)
        result = cedarpy.is_authorized(
            request, cedarpy.PolicySet.from_json_str(json.dumps(document)), entities
        )
        for error in result.diagnostics.errors:
            log.warning("An approval rule failed on deployment %s: %s", change.deployment_id, error)
        if not result.allowed:
            return None
        names = tuple(dict.fromkeys(reason.split("#")[0] for reason in result.diagnostics.reasons))
        return ApprovalRequirement(names, "approval rule " + ", ".join(names))


@contextmanager
def in_effect(context: RequestContext) -> Iterator[None]:
    """Deployments this request starts are held when the rules say so (operations/registry.py
    runs every handler inside)."""
    with approval_gate.in_effect(RulePolicy(context)):
        yield


def _principal_uid(principal: Principal) -> dict[str, str]:
    return {"type": _PRINCIPAL_TYPES[principal.kind], "id": principal.name}


def _entities(
    session: Session, context: RequestContext, change: Change, principal: Principal
) -> list[dict[str, Any]]:
    environment_arn = context.arns.environment(change.environment_name)
    parents = [{"type": "Baryon::Team", "id": team} for team in sorted(principal.teams)]
    parents += [{"type": "Baryon::Role", "id": role} for role in sorted(principal.roles)]
    name = (
        change.component_name
        or change.service_instance_name
        or change.service_name
        or change.environment_name
    )

    def version(value: tuple[int, int] | None) -> str:
        return f"{value[0]}.{value[1]}" if value else ""

    return [
        {"uid": _principal_uid(principal), "attrs": {"name": principal.name}, "parents": parents},
        *(
            {"uid": parent, "attrs": {}, "parents": []}
            for parent in parents  # teams and roles exist so that ``in`` finds them
        ),
        {
            "uid": {"type": "Baryon::Environment", "id": change.environment_name},
            "attrs": {"name": change.environment_name},
            "parents": [],
            "tags": _tags(session, environment_arn),
        },
        {
            "uid": {"type": "Baryon::Deployment", "id": change.deployment_id},
            "attrs": {
                "kind": _KINDS.get(DeploymentTargetResourceType(change.target_type), ""),
                "operation": change.operation,
                "name": name,
                "service": change.service_name or "",
                "template": change.template_name or "",
                "current_version": version(change.current_version),
                "target_version": version(change.target_version),
                "major_upgrade": change.major_upgrade,
                "environment": {
                    "__entity": {"type": "Baryon::Environment", "id": change.environment_name}
                },
            },
            "parents": [],
            "tags": _tags(session, change.target_arn),
        },
    ]


def _tags(session: Session, arn: str) -> dict[str, str]:
    rows = session.execute(select(Tag.key, Tag.value).where(Tag.resource_arn == arn))
    return {key: value for key, value in rows.all()}


# --- the rules, stored ------------------------------------------------------------------------


def list_rules(session: Session) -> list[ApprovalRuleRow]:
    return list(session.scalars(select(ApprovalRuleRow).order_by(ApprovalRuleRow.name)))


def put_rule(session: Session, name: str, text: str, by: str, now: datetime) -> ApprovalRuleRow:
    statements(name, text)  # refuses what does not parse, before anything is stored
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
