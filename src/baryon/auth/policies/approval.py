"""Approval rules on the policy engine: does this change wait for approval?

A rule is Cedar on ``Baryon::Action::"RequireApproval"``; a change waits when the rules, taken
together, permit that action for it (a ``forbid`` exempts what a ``permit`` would catch). The
principal is who asked for the change, exactly as access policies see it; the resource is the
change, a ``Baryon::Deployment`` (schema.approval_schema) whose ``environment`` is the
environment it runs in with the access schema's attributes and its tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from baryon.auth.policies import schema
from baryon.auth.policies.engine import (
    Decision,
    NamedPolicy,
    Policies,
    check,
    principal_entities,
    principal_uid,
    resource_entity,
)
from baryon.auth.policies.facts import ResourceFacts
from baryon.auth.principals import Principal

_NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class ChangeFacts:
    """A deployment about to start, as approval rules see it."""

    deployment_id: str
    kind: str  # environment | service_instance | pipeline | component
    operation: str  # DEPLOY | DELETE | RECOVER
    name: str
    environment: ResourceFacts  # the environment it runs in, with its tags
    service: str = ""
    template: str = ""  # "" for a component (inline IaC)
    current_version: str = ""  # "1.0"; "" before the first deployment
    target_version: str = ""  # "" for a delete
    major_upgrade: bool = False
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)  # the resource's own


def check_rule(rule: NamedPolicy) -> int:
    """Raises InvalidPolicy unless the rule parses and fits the approval schema (a misspelt
    attribute, a tag read without ``hasTag``, an access action are refused when put); returns
    how many statements it holds."""
    return check(rule, schema.approval_schema())


def requires_approval(rules: Policies, principal: Principal, change: ChangeFacts) -> Decision:
    """Allowed means: the change waits. Reasons are the deciding statements (``rules.owner``
    names their rules)."""
    resource_uid = {"type": "Baryon::Deployment", "id": change.deployment_id}
    environment = resource_entity(change.environment)
    attributes: dict[str, Any] = {name: getattr(change, name) for name in schema.CHANGE_ATTRIBUTES}
    attributes["major_upgrade"] = change.major_upgrade
    attributes["environment"] = {"__entity": environment["uid"]}
    deployment = {
        "uid": resource_uid,
        "attrs": attributes,
        "parents": [],
        "tags": dict(change.tags),
    }
    request = {
        "principal": principal_uid(principal),
        "action": {"type": "Baryon::Action", "id": schema.APPROVAL_ACTION},
        "resource": resource_uid,
        "context": {},
    }
    entities = [*principal_entities(principal), environment, deployment]
    return rules.ask(request, entities, schema.approval_schema())
