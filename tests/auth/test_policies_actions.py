"""Action groups: every operation of both models is in exactly one, and the built-in roles get
the groups issue 16 gives them (approvals, deletion protection, audit reads, identities)."""

from __future__ import annotations

import pytest

from baryon.auth.policies import (
    ActionGroup,
    NamedPolicy,
    Policies,
    ResourceFacts,
    ResourceKind,
    check,
    decide,
)
from baryon.auth.policies.actions import all_operations, group_of, grouped_operations, groups_naming
from baryon.auth.policies.builtin import builtin_policies
from baryon.auth.principals import Principal, PrincipalKind

ACCOUNT = ResourceFacts(ResourceKind.ACCOUNT, "")
PROD = ResourceFacts(ResourceKind.ENVIRONMENT, "prod", environment="prod")
EVERY_OPERATION = sorted(set().union(*all_operations().values()))


def test_every_operation_of_both_models_is_in_exactly_one_group() -> None:
    ungrouped = [name for name in EVERY_OPERATION if group_of(name) is None]
    assert ungrouped == [], (
        "Operations in no action group: add each to a group in "
        "src/baryon/auth/policies/actions.py (_GROUPS) and say in docs/roles-and-policies.md "
        "which roles get it"
    )
    twice = {name: groups_naming(name) for name in EVERY_OPERATION if len(groups_naming(name)) > 1}
    assert twice == {}


def test_every_grouped_name_is_an_operation_of_a_model() -> None:
    assert sorted(grouped_operations() - set(EVERY_OPERATION)) == []


def test_a_read_by_name_can_still_be_held_to_its_own_group() -> None:
    assert group_of("ListAuditRecords") is ActionGroup.AUDIT_READS
    assert group_of("ListApprovals") is ActionGroup.READS


def _who(role: str) -> Principal:
    return Principal(PrincipalKind.USER, f"a-{role}", frozenset(), frozenset({role}))


@pytest.mark.parametrize(
    ("operation", "resource", "allowed_roles"),
    [
        ("ApproveDeployment", PROD, {"admin", "platform"}),
        ("RejectDeployment", PROD, {"admin", "platform"}),
        ("PutApprovalRule", ACCOUNT, {"admin"}),
        ("DeleteApprovalRule", ACCOUNT, {"admin"}),
        ("ListApprovalRules", ACCOUNT, {"admin", "platform", "developer", "viewer"}),
        ("SetDeletionProtection", PROD, {"admin", "platform"}),
        ("ListAuditRecords", ACCOUNT, {"admin", "platform"}),
        ("VerifyAuditTrail", ACCOUNT, {"admin", "platform"}),
        ("CreateUser", ACCOUNT, {"admin"}),
        ("GrantRole", ACCOUNT, {"admin"}),
        ("AddTeamMember", ACCOUNT, {"admin"}),
        ("ListUsers", ACCOUNT, {"admin", "platform", "developer", "viewer"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_the_built_in_roles_get_the_groups_issue_16_gives_them(
    operation: str, resource: ResourceFacts, allowed_roles: set[str]
) -> None:
    policies = Policies(builtin_policies())
    decided = {
        role: decide(policies, _who(role), operation, resource).allowed
        for role in ("admin", "platform", "developer", "viewer")
    }
    assert {role for role, allowed in decided.items() if allowed} == allowed_roles


def test_a_policy_can_guard_what_runs_in_an_environment_by_that_environments_tags() -> None:
    guard = NamedPolicy(
        "prod-instances",
        'forbid (principal, action == Proton::Action::"UpdateServiceInstance", resource)\n'
        'when { context.environment_tags.contains({"key": "stage", "value": "prod"}) };',
    )
    assert check(guard) == 1
    policies = Policies([*builtin_policies(), guard])
    in_prod = ResourceFacts(
        ResourceKind.SERVICE_INSTANCE,
        "shop/a",
        environment="prod",
        environment_tags={"stage": "prod"},
    )
    in_dev = ResourceFacts(ResourceKind.SERVICE_INSTANCE, "shop/a", environment="dev")
    denied = decide(policies, _who("developer"), "UpdateServiceInstance", in_prod)
    assert not denied.allowed and denied.reasons == ("prod-instances",)
    assert decide(policies, _who("developer"), "UpdateServiceInstance", in_dev).allowed
