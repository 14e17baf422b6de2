"""Approval rules through the policy engine: what a rule sees of a change, and what a rule
that does not fit the approval schema gets when put."""

from __future__ import annotations

import pytest

from baryon.auth.policies import InvalidPolicy, NamedPolicy, Policies, ResourceFacts, ResourceKind
from baryon.auth.policies.approval import ChangeFacts, check_rule, requires_approval
from baryon.auth.principals import Principal, PrincipalKind

PROD_ENVIRONMENT = ResourceFacts(
    ResourceKind.ENVIRONMENT,
    "prod",
    environment="prod",
    environment_template="vpc",
    tags={"stage": "prod"},
)
DEV_ENVIRONMENT = ResourceFacts(ResourceKind.ENVIRONMENT, "dev", environment="dev")
ALICE = Principal(PrincipalKind.USER, "alice", frozenset({"payments"}), frozenset({"developer"}))
PLATFORM = Principal(PrincipalKind.USER, "pat", frozenset(), frozenset({"platform"}))

PROD_RULE = """
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when {
  resource.kind == "service_instance" &&
  resource.environment.hasTag("stage") && resource.environment.getTag("stage") == "prod"
};
"""
MAJOR_RULES = """
@id("majors")
permit (principal, action == Baryon::Action::"RequireApproval", resource)
when { resource.major_upgrade };

@id("platform-environments")
forbid (
  principal in Baryon::Role::"platform",
  action == Baryon::Action::"RequireApproval",
  resource
)
when { resource.kind == "environment" };
"""


def _change(
    environment: ResourceFacts, kind: str = "service_instance", **facts: object
) -> ChangeFacts:
    return ChangeFacts(
        deployment_id="d-1",
        kind=kind,
        operation="DEPLOY",
        name="shop/one",
        environment=environment,
        service="shop",
        template="web",
        current_version="1.0",
        target_version="1.1",
        **facts,  # type: ignore[arg-type]
    )


def test_a_change_in_a_prod_tagged_environment_waits_and_names_its_rule() -> None:
    rules = Policies([NamedPolicy("prod", PROD_RULE)])
    held = requires_approval(rules, ALICE, _change(PROD_ENVIRONMENT))
    assert held.allowed and [rules.owner(reason) for reason in held.reasons] == ["prod"]
    assert not requires_approval(rules, ALICE, _change(DEV_ENVIRONMENT)).allowed


def test_a_forbid_exempts_what_a_permit_would_hold() -> None:
    rules = Policies([NamedPolicy("majors", MAJOR_RULES)])
    major = _change(DEV_ENVIRONMENT, kind="environment", major_upgrade=True)
    assert requires_approval(rules, ALICE, major).allowed
    exempt = requires_approval(rules, PLATFORM, major)
    assert not exempt.allowed and exempt.reasons == ("majors/platform-environments",)
    assert rules.owner(exempt.reasons[0]) == "majors"


def test_a_rule_may_read_the_environments_template_and_the_changes_own_tags() -> None:
    rule = (
        'permit (principal, action == Baryon::Action::"RequireApproval", resource)\n'
        'when { resource.environment.environment_template == "vpc" &&\n'
        '       resource.hasTag("tier") && resource.getTag("tier") == "gold" };'
    )
    check_rule(NamedPolicy("gold", rule))
    rules = Policies([NamedPolicy("gold", rule)])
    assert requires_approval(rules, ALICE, _change(PROD_ENVIRONMENT, tags={"tier": "gold"})).allowed
    assert not requires_approval(rules, ALICE, _change(PROD_ENVIRONMENT)).allowed


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            'permit (principal, action == Baryon::Action::"RequireApproval", resource)'
            ' when { resource.knd == "environment" };',
            "knd",
        ),
        (
            'permit (principal, action == Baryon::Action::"RequireApproval", resource)'
            ' when { resource.getTag("stage") == "prod" };',
            "stage",
        ),
        ('permit (principal, action == Proton::Action::"DeleteEnvironment", resource);', "Proton"),
    ],
    ids=["misspelt attribute", "tag read without hasTag", "an access action"],
)
def test_a_rule_that_does_not_fit_the_approval_schema_is_refused_naming_why(
    text: str, named: str
) -> None:
    with pytest.raises(InvalidPolicy, match=named):
        check_rule(NamedPolicy("bad", text))


def test_the_documented_rules_fit() -> None:
    assert check_rule(NamedPolicy("prod", PROD_RULE)) == 1
    assert check_rule(NamedPolicy("majors", MAJOR_RULES)) == 2
