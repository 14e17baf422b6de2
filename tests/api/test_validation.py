"""Model-driven input validation: every constraint, each error naming its member."""

from __future__ import annotations

import pytest

from baryon.api.errors import ValidationException
from baryon.api.service_models import PROTON, service_model
from baryon.api.validation import REDACTED, parse_input


def _input(operation: str):
    return service_model(PROTON).operation_model(operation).input_shape


def _error(operation: str, body: dict) -> str:
    with pytest.raises(ValidationException) as caught:
        parse_input(_input(operation), body)
    return caught.value.message


def test_valid_input_passes_through() -> None:
    body = {"name": "web-1", "displayName": "Web", "tags": [{"key": "team", "value": "a"}]}
    assert parse_input(_input("CreateEnvironmentTemplate"), body) == body


def test_required_member_missing_is_named() -> None:
    message = _error("GetEnvironmentTemplate", {})
    assert message == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_pattern_enum_and_range_are_all_reported() -> None:
    message = _error("UpdateEnvironment", {"name": "bad name!", "deploymentType": "BOGUS"})
    assert message.startswith("2 validation errors detected:")
    assert (
        "Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: ^[0-9A-Za-z]+[0-9A-Za-z_\\-]*$" in message
    )
    assert (
        "Value 'BOGUS' at 'deploymentType' failed to satisfy constraint: Member must "
        "satisfy enum value set: [NONE, CURRENT_VERSION, MINOR_VERSION, MAJOR_VERSION]" in message
    )


def test_max_results_upper_bound() -> None:
    message = _error("ListServices", {"maxResults": 500})
    assert (
        "at 'maxResults' failed to satisfy constraint: Member must have value less than or "
        "equal to 100" in message
    )


def test_lengths_and_nested_list_members() -> None:
    message = _error(
        "CreateEnvironmentTemplate",
        {"name": "x" * 101, "tags": [{"key": "", "value": "v"}, {"value": "w"}]},
    )
    assert (
        "at 'name' failed to satisfy constraint: Member must have length less than or "
        "equal to 100" in message
    )
    assert (
        "Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have "
        "length greater than or equal to 1" in message
    )
    assert "Value null at 'tags.2.member.key'" in message


def test_types_are_checked() -> None:
    message = _error("ListServices", {"maxResults": "10", "nextToken": 5})
    assert (
        "Value '10' at 'maxResults' failed to satisfy constraint: Member must be an integer"
        in message
    )
    assert "at 'nextToken' failed to satisfy constraint: Member must be a string" in message
    message = _error("UpdateAccountSettings", {"deletePipelineProvisioningRepository": "yes"})
    assert "Member must be a boolean" in message


def test_union_needs_exactly_one_member() -> None:
    body = {"templateName": "t", "source": {}}
    message = _error("CreateEnvironmentTemplateVersion", body)
    assert "'source' must have exactly one member set, one of: s3" in message


def test_unknown_members_are_refused() -> None:
    message = _error("GetEnvironmentTemplate", {"name": "a", "nmae": "b"})
    assert "'nmae' is not a member of GetEnvironmentTemplateInput" in message


def test_sensitive_values_are_never_echoed() -> None:
    secret = "very-secret-spec"
    message = _error(
        "CreateEnvironment",
        {
            "name": "e",
            "templateName": "t",
            "templateMajorVersion": "1",
            "spec": secret,
            "description": "d" * 501,
        },
    )
    assert secret not in message
    assert "d" * 50 not in message
    assert REDACTED in message


def test_body_must_be_an_object() -> None:
    with pytest.raises(ValidationException):
        parse_input(_input("ListServices"), ["not", "an", "object"])
