"""The Cedar engine: the built-in role policies, added policies, and the stored set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cedarpy
import pytest

from baryon.auth.policies import (
    InvalidPolicy,
    NamedPolicy,
    Policies,
    ResourceFacts,
    ResourceKind,
    check,
    decide,
    stored,
)
from baryon.auth.policies.builtin import builtin_policies
from baryon.auth.policies.schema import schema_json
from baryon.auth.principals import Principal, PrincipalKind
from baryon.auth.roles import BuiltinRole
from baryon.store.database import Database

PROD = ResourceFacts(ResourceKind.ENVIRONMENT, "prod", environment="prod", tags={"stage": "prod"})
INSTANCE = ResourceFacts(
    ResourceKind.SERVICE_INSTANCE,
    "shop/prod-1",
    service="shop",
    environment="payments-prod",
    service_template="web",
    template_major_version="1",
)
TEMPLATE = ResourceFacts(ResourceKind.TEMPLATE, "web", service_template="web")
ACCOUNT = ResourceFacts(ResourceKind.ACCOUNT, "")


def user(name: str, *roles: str, teams: tuple[str, ...] = ()) -> Principal:
    return Principal(PrincipalKind.USER, name, frozenset(teams), frozenset(roles))


@pytest.fixture(scope="module")
def builtin() -> Policies:
    return Policies(builtin_policies())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'baryon.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.mark.parametrize("role", list(BuiltinRole), ids=str)
def test_each_built_in_policy_fits_the_schema(role: BuiltinRole) -> None:
    (policy,) = [p for p in builtin_policies() if p.name == role]
    result = cedarpy.validate_policies(policy.text, schema_json())
    assert result.validation_passed, result.errors


@pytest.mark.parametrize(
    ("role", "action", "resource", "allowed"),
    [
        ("admin", "DeleteEnvironment", PROD, True),
        ("admin", "StartImport", ACCOUNT, True),
        ("platform", "DeleteEnvironment", PROD, True),
        ("platform", "CreateServiceTemplateVersion", TEMPLATE, True),
        ("platform", "UpdateServiceInstance", INSTANCE, True),
        ("platform", "CreateService", ResourceFacts(ResourceKind.SERVICE, "shop"), False),
        ("platform", "StartImport", ACCOUNT, False),
        ("developer", "UpdateServiceInstance", INSTANCE, True),
        ("developer", "RetryDeployment", INSTANCE, True),
        ("developer", "RetryDeployment", PROD, False),
        ("developer", "DeleteEnvironment", PROD, False),
        ("developer", "CreateServiceTemplateVersion", TEMPLATE, False),
        ("developer", "GetEnvironment", PROD, True),
        ("viewer", "GetEnvironment", PROD, True),
        ("viewer", "ListServiceInstances", ACCOUNT, True),
        ("viewer", "UpdateServiceInstance", INSTANCE, False),
        ("viewer", "PutPolicy", ACCOUNT, False),
    ],
    ids=lambda value: value.label if isinstance(value, ResourceFacts) else str(value),
)
def test_built_in_roles_allow_what_their_policy_says(
    builtin: Policies, role: str, action: str, resource: ResourceFacts, allowed: bool
) -> None:
    decision = decide(builtin, user("alice", role), action, resource)
    assert decision.allowed is allowed
    assert decision.errors == ()
    if allowed:
        assert decision.reasons and all(r.startswith(f"{role}/") for r in decision.reasons)


def test_a_user_with_no_role_may_do_nothing(builtin: Policies) -> None:
    decision = decide(builtin, user("nobody"), "GetEnvironment", PROD)
    assert not decision.allowed and decision.reasons == ()


def test_a_team_policy_allows_its_members_on_matching_resources_only() -> None:
    team_policy = NamedPolicy(
        "payments-prod",
        'permit (principal in Baryon::Team::"payments", '
        'action in Baryon::Action::"service_changes", resource) '
        'when { resource.environment == "payments-prod" };',
    )
    policies = Policies([*builtin_policies(), team_policy])
    member = user("bo", BuiltinRole.VIEWER, teams=("payments",))
    allowed = decide(policies, member, "UpdateServiceInstance", INSTANCE)
    assert allowed.allowed and allowed.reasons == ("payments-prod",)
    elsewhere = ResourceFacts(ResourceKind.SERVICE_INSTANCE, "shop/dev", environment="dev")
    assert not decide(policies, member, "UpdateServiceInstance", elsewhere).allowed
    outsider = user("cy", BuiltinRole.VIEWER, teams=("search",))
    assert not decide(policies, outsider, "UpdateServiceInstance", INSTANCE).allowed


def test_a_forbid_on_tags_and_major_upgrades_overrides_a_role_and_names_itself() -> None:
    guard = NamedPolicy(
        "prod-guard",
        '@id("no-prod-deletes")\n'
        'forbid (principal, action == Proton::Action::"DeleteEnvironment", resource) '
        'when { resource.hasTag("stage") && resource.getTag("stage") == "prod" };\n'
        '@id("no-major-upgrades")\n'
        'forbid (principal in Baryon::Role::"developer", action, resource) '
        "when { context.major_upgrade };",
    )
    policies = Policies([*builtin_policies(), guard])
    denied = decide(policies, user("root", "admin"), "DeleteEnvironment", PROD)
    assert not denied.allowed and denied.reasons == ("prod-guard/no-prod-deletes",)
    staging = ResourceFacts(ResourceKind.ENVIRONMENT, "staging", tags={"stage": "staging"})
    assert decide(policies, user("root", "admin"), "DeleteEnvironment", staging).allowed

    upgrade = ResourceFacts(ResourceKind.SERVICE_INSTANCE, "shop/a", major_upgrade=True)
    developer = user("dee", "developer")
    assert not decide(policies, developer, "UpdateServiceInstance", upgrade).allowed
    assert decide(policies, developer, "UpdateServiceInstance", INSTANCE).allowed


def test_requested_tags_are_in_the_context() -> None:
    policy = NamedPolicy(
        "tagged-creates",
        'permit (principal, action == Proton::Action::"CreateService", resource) '
        'when { context.request_tags.contains({key: "team", value: "payments"}) };',
    )
    policies = Policies([policy])
    tagged = ResourceFacts(ResourceKind.SERVICE, "shop", request_tags={"team": "payments"})
    untagged = ResourceFacts(ResourceKind.SERVICE, "shop")
    assert decide(policies, user("a"), "CreateService", tagged).allowed
    assert not decide(policies, user("a"), "CreateService", untagged).allowed


def test_an_operation_of_neither_model_is_denied_with_an_error(builtin: Policies) -> None:
    decision = decide(builtin, user("root", "admin"), "LaunchMissiles", ACCOUNT)
    assert not decision.allowed and "LaunchMissiles" in decision.errors[0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("permit (principal, action, resource", "unexpected end of input"),
        (
            'permit (principal, action == Proton::Action::"LaunchMissiles", resource);',
            "LaunchMissiles",
        ),
        ("permit (principal, action, resource) when { resource.owner == 1 };", "owner"),
    ],
    ids=["does-not-parse", "unknown-action", "unknown-attribute"],
)
def test_a_policy_that_does_not_parse_or_fit_the_schema_is_refused_naming_it(
    text: str, problem: str
) -> None:
    with pytest.raises(InvalidPolicy, match=r"^policy mine: ") as refused:
        check(NamedPolicy("mine", text))
    assert problem in str(refused.value)


def test_a_stored_built_in_policy_is_edited_reset_but_not_deleted(db: Database) -> None:
    names = [p.name for p in stored.list_policies(db)]
    assert names == [str(role) for role in BuiltinRole]
    stored.put_policy(db, "viewer", "// nobody reads\n", by="user/root")
    edited = stored.get_policy(db, "viewer")
    assert edited is not None and edited.edited and edited.updated_by == "user/root"
    with pytest.raises(stored.BuiltinPolicyKept):
        stored.delete_policy(db, "viewer")
    stored.reset_policy(db, "viewer")
    reset = stored.get_policy(db, "viewer")
    assert reset is not None and not reset.edited and "permit" in reset.text
    with pytest.raises(stored.NotBuiltin):
        stored.reset_policy(db, "payments")


def test_a_refused_policy_leaves_the_stored_set_as_it_was(db: Database) -> None:
    before = stored.generation(db)
    with pytest.raises(InvalidPolicy):
        stored.put_policy(db, "bad", "permit (", by="user/root")
    with pytest.raises(stored.PolicyNameInvalid):
        stored.put_policy(db, "has/slash", "", by="user/root")
    assert stored.get_policy(db, "bad") is None and stored.generation(db) == before


def test_every_replica_sees_an_edit_at_its_next_decision(db: Database) -> None:
    # Two Database objects on one file stand for two replicas, each with its own cache.
    other = Database(db.url)
    try:
        viewer = user("vi", "viewer")
        assert decide(stored.policies_in_force(other), viewer, "GetEnvironment", PROD).allowed
        cached = stored.policies_in_force(other)
        assert stored.policies_in_force(other) is cached  # unchanged: not recompiled
        stored.put_policy(db, "viewer", "// reads withdrawn\n", by="user/root")
        assert not decide(stored.policies_in_force(other), viewer, "GetEnvironment", PROD).allowed
        stored.put_policy(
            db,
            "vi-reads",
            'permit (principal == Baryon::User::"vi", action, resource);',
            by="user/root",
        )
        decision = decide(stored.policies_in_force(other), viewer, "GetEnvironment", PROD)
        assert decision.allowed and decision.reasons == ("vi-reads",)
        assert stored.delete_policy(db, "vi-reads")
        assert not decide(stored.policies_in_force(other), viewer, "GetEnvironment", PROD).allowed
    finally:
        other.dispose()


def test_a_repeated_question_is_answered_from_memory_and_any_other_asks_cedar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staging_only = NamedPolicy(
        "staging-only",
        'permit (principal in Baryon::Team::"payments", action, resource)\n'
        'when { resource.hasTag("stage") && resource.getTag("stage") == "staging" };',
    )
    policies = Policies([*builtin_policies(), staging_only])
    asked: list[object] = []
    real = cedarpy.is_authorized

    def counted(*args: object, **kwargs: object) -> cedarpy.AuthzResult:
        asked.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cedarpy, "is_authorized", counted)
    payments = user("pat", teams=("payments",))
    staging = ResourceFacts(ResourceKind.ENVIRONMENT, "stg", tags={"stage": "staging"})

    first = decide(policies, payments, "DeleteEnvironment", staging)
    assert decide(policies, payments, "DeleteEnvironment", staging) == first
    assert first.allowed and len(asked) == 1
    # Whatever Cedar would see differently is a question of its own.
    assert not decide(policies, user("pat"), "DeleteEnvironment", staging).allowed
    assert not decide(policies, payments, "DeleteEnvironment", PROD).allowed
    assert not decide(
        policies, payments, "DeleteEnvironment", ResourceFacts(ResourceKind.ENVIRONMENT, "stg")
    ).allowed
    assert decide(policies, user("pat", "admin"), "DeleteEnvironment", staging).allowed
    assert len(asked) == 5
