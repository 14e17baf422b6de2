"""Specs as Baryon stores them: ${Proton::CURRENT_VAL} resolved, and a service's spec kept
in step with its instances and pipeline."""

from __future__ import annotations

import pytest
import yaml

from baryon.domain import specs
from baryon.domain.errors import InvalidInput

SERVICE = (
    "proton: ServiceSpec\n"
    "# the team's comment\n"
    "pipeline:\n  dockerfile: Dockerfile\n"
    "instances:\n"
    "  - name: a\n    environment: dev\n    spec:\n      port: 80\n"
    "  - name: b\n    environment: prod\n"
)


def test_current_values_are_resolved_in_the_stored_text() -> None:
    text = (
        "proton: ServiceSpec\ninstances:\n"
        "  - name: a\n    environment: dev\n    spec:\n"
        "      port: 81\n      image: ${Proton::CURRENT_VAL}\n"
        "  - name: b\n    environment: dev\n    spec:\n      image: ${Proton::CURRENT_VAL}\n"
    )
    stored = specs.with_current_values(
        text, specs.instance_section("a"), {"port": 81, "image": "httpd"}
    )
    document = yaml.safe_load(stored)
    assert document["instances"][0]["spec"] == {"port": 81, "image": "httpd"}
    # Only the section that was applied changes.
    assert document["instances"][1]["spec"] == {"image": "${Proton::CURRENT_VAL}"}


def test_text_without_current_values_is_kept_byte_for_byte() -> None:
    assert specs.with_current_values(SERVICE, specs.instance_section("a"), {}) == SERVICE
    env = "proton: EnvironmentSpec\nspec:\n  size: ${Proton::CURRENT_VAL}  # keep\n"
    stored = specs.with_current_values(env, specs.environment_section, {"size": "large"})
    assert yaml.safe_load(stored) == {"proton": "EnvironmentSpec", "spec": {"size": "large"}}


def test_edit_service_spec_replaces_adds_and_leaves_alone() -> None:
    same = specs.InstanceSpec("a", "dev", {"port": 80}, 0)
    assert specs.edit_service_spec(SERVICE, instance=same) == SERVICE
    assert specs.edit_service_spec(SERVICE, pipeline={"dockerfile": "Dockerfile"}) == SERVICE

    changed = specs.edit_service_spec(
        SERVICE, instance=specs.InstanceSpec("a", "dev", {"port": 81}, 0)
    )
    added = specs.edit_service_spec(changed, instance=specs.InstanceSpec("c", "dev", None, 0))
    piped = specs.edit_service_spec(added, pipeline={"dockerfile": "Dockerfile.ci"})
    assert yaml.safe_load(piped) == {
        "proton": "ServiceSpec",
        "pipeline": {"dockerfile": "Dockerfile.ci"},
        "instances": [
            {"name": "a", "environment": "dev", "spec": {"port": 81}},
            {"name": "b", "environment": "prod"},
            {"name": "c", "environment": "dev"},
        ],
    }
    assert specs.parse_service_spec(piped).instance("c").spec is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("proton: EnvironmentSpec\nspec: {a: [unclosed\n", "The spec is not valid YAML: spec line"),
        (
            "proton: EnvironmentSpec\nspec:\n  a: " + "[" * 70 + "]" * 70 + "\n",
            "The spec was refused: spec line 3: YAML is nested more than 64 levels deep",
        ),
    ],
)
def test_unreadable_specs_say_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        specs.parse_environment_spec(text)
    assert fragment in caught.value.message
