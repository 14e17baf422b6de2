"""Who may check and decide drift with the built-in roles: platform anything; developers check
their services' instances and pipelines and decide their items, never an environment's or a
whole template's; everyone reads reports and lists. A check naming several resources is
decided for each, so an environment cannot ride along with an instance."""

from __future__ import annotations

from typing import Any

import pytest

from baryon.auth.policies import Policies, ResourceFacts, ResourceKind, decide
from baryon.auth.policies.builtin import builtin_policies
from baryon.auth.principals import Principal, PrincipalKind

ENVIRONMENT = ResourceFacts(ResourceKind.ENVIRONMENT, "prod", environment="prod")
INSTANCE = ResourceFacts(ResourceKind.SERVICE_INSTANCE, "shop/one", service="shop")
PIPELINE = ResourceFacts(ResourceKind.PIPELINE, "shop", service="shop")
TEMPLATE = ResourceFacts(ResourceKind.TEMPLATE, "web", service_template="web")
ACCOUNT = ResourceFacts(ResourceKind.ACCOUNT, "")
EVERYONE = {"admin", "platform", "developer", "viewer"}


def _who(role: str) -> Principal:
    return Principal(PrincipalKind.USER, f"a-{role}", frozenset(), frozenset({role}))


@pytest.mark.parametrize(
    ("operation", "resource", "allowed_roles"),
    [
        ("StartDriftCheck", INSTANCE, {"admin", "platform", "developer"}),
        ("StartDriftCheck", PIPELINE, {"admin", "platform", "developer"}),
        ("StartDriftCheck", ENVIRONMENT, {"admin", "platform"}),
        ("StartDriftCheck", TEMPLATE, {"admin", "platform"}),
        ("DecideDriftItem", INSTANCE, {"admin", "platform", "developer"}),
        ("DecideDriftItem", PIPELINE, {"admin", "platform", "developer"}),
        ("DecideDriftItem", ENVIRONMENT, {"admin", "platform"}),
        ("GetDriftReport", ENVIRONMENT, EVERYONE),
        ("GetDriftReport", INSTANCE, EVERYONE),
        ("ListDriftItems", ACCOUNT, EVERYONE),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_the_built_in_roles_check_and_decide_drift_of_what_they_own(
    operation: str, resource: ResourceFacts, allowed_roles: set[str]
) -> None:
    policies = Policies(builtin_policies())
    decided = {role: decide(policies, _who(role), operation, resource).allowed for role in EVERYONE}
    assert {role for role, allowed in decided.items() if allowed} == allowed_roles


def _ref(kind: str, **names: str) -> dict[str, Any]:
    return {"resourceType": kind, **names}
