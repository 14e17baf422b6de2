"""The deployment plan's stored form: the keys Baryon always wrote, read back typed."""

from __future__ import annotations

import pytest

from baryon.domain.plan import (
    PLAN_FORMAT,
    ComponentPlan,
    DeletePlan,
    TemplatePlan,
    plan_from_json,
    plan_to_json,
)


def test_a_template_plan_keeps_its_stored_keys_and_reads_back() -> None:
    plan = TemplatePlan(7, "proton: EnvironmentSpec\n", {"port": 80}, ("warning",))
    stored = plan_to_json(plan)
    assert stored == {
        "template_version_id": 7,
        "spec": "proton: EnvironmentSpec\n",
        "inputs": {"port": 80},
        "warnings": ["warning"],
        "format": PLAN_FORMAT,
    }
    assert plan_from_json(stored) == plan


def test_component_and_delete_plans_read_back() -> None:
    plan = ComponentPlan("manifest", "template", None, "svc", "web")
    assert plan_from_json(plan_to_json(plan)) == plan
    assert plan_from_json(plan_to_json(DeletePlan())) == DeletePlan()


def test_records_written_before_the_format_number_still_read() -> None:
    old = {"template_version_id": 3, "spec": "s", "inputs": {}, "warnings": []}
    assert plan_from_json(old) == TemplatePlan(3, "s", {})
    assert plan_from_json({}) == DeletePlan()
    assert plan_from_json(None) == DeletePlan()


def test_a_newer_format_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        plan_from_json({"format": PLAN_FORMAT + 1})
