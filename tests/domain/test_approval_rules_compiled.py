"""Approval rules are read on every change and compiled once per rule set: an edit holds from
the next change, and an unchanged set is not compiled again."""

from __future__ import annotations

from datetime import UTC, datetime

from baryon.domain.approval_gate import Change
from baryon.operations import approval_rules
from baryon.runtime import Runtime
from baryon.service_models.proton import DeploymentTargetResourceType


def _rule(instance: str) -> str:
    return (
        'permit (principal, action == Baryon::Action::"RequireApproval", resource)\n'
        f'when {{ resource.name == "{instance}" }};\n'
    )


def _change(name: str) -> Change:
    return Change(
        deployment_id=f"deployment-{name}",
        target_type=DeploymentTargetResourceType.SERVICE_INSTANCE,
        target_arn=f"arn:aws:proton:us-east-1:123456789012:service/web/service-instance/{name}",
        operation="DEPLOY",
        environment_name="dev",
        service_name="web",
        service_instance_name=name,
        component_name=None,
        template_name="webapp",
        current_version=(1, 0),
        target_version=(1, 1),
    )


def _held(runtime: Runtime, *names: str) -> list[bool]:
    policy = approval_rules.system_policy(runtime.settings, runtime.arns)
    with runtime.db.session() as session:
        found = policy.requirements(session, [_change(name) for name in names])
    return [requirement is not None for requirement in found]


def _put(runtime: Runtime, text: str) -> None:
    with runtime.db.session(write=True) as session:
        approval_rules.put_rule(session, "one", text, "user/test", datetime.now(UTC))


def test_an_unchanged_rule_set_is_compiled_once(runtime: Runtime) -> None:
    _put(runtime, _rule("a"))
    approval_rules.compiled_rules.cache_clear()
    assert _held(runtime, "a", "b") == [True, False]
    assert _held(runtime, "a") == [True]
    info = approval_rules.compiled_rules.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_an_edited_rule_holds_from_the_next_change(runtime: Runtime) -> None:
    _put(runtime, _rule("a"))
    assert _held(runtime, "a", "b") == [True, False]
    _put(runtime, _rule("b"))
    assert _held(runtime, "a", "b") == [False, True]
    with runtime.db.session(write=True) as session:
        approval_rules.delete_rule(session, "one")
    assert _held(runtime, "a", "b") == [False, False]
