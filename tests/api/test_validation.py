"""Model-driven input validation: every constraint, each error naming its member."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from baryon import patterns
from baryon.api.errors import ValidationException
from baryon.api.validation import (
    REDACTED,
    Violation,
    member_problems,
    parse_input,
    string_problems,
)
from baryon.cli import template_publish
from baryon.service_models import BARYON, PROTON, load_json, service_model


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


@pytest.mark.parametrize(
    "value",
    [1e20, -1e20, 10**400, "1e20", "-1e20", "9" * 400, "0001-01-01T00:00:00+05:00"],
    ids=["far-future", "far-past", "huge-integer", "far-future-text", "far-past-text",
         "huge-text", "iso-before-year-1-in-utc"],
)  # fmt: skip
def test_a_timestamp_no_date_can_hold_is_a_validation_error_naming_it(value: object) -> None:
    # The fuzzer found these answering 500: datetime refuses them with OverflowError.
    audit = service_model(BARYON).operation_model("ListAuditRecords").input_shape
    with pytest.raises(ValidationException) as caught:
        parse_input(audit, {"since": value, "until": 1700000000})
    assert "at 'since' failed to satisfy constraint: Member must be a timestamp" in (
        caught.value.message
    )
    assert caught.value.message.startswith("1 validation error detected:")
    drift = service_model(BARYON).operation_model("DecideDriftItem").input_shape
    with pytest.raises(ValidationException) as caught:
        parse_input(drift, {"itemId": "0" * 36, "decision": "IGNORE", "until": value})
    assert "at 'until' failed to satisfy constraint: Member must be a timestamp" in (
        caught.value.message
    )


def test_a_timestamp_with_an_offset_is_read_in_utc() -> None:
    audit = service_model(BARYON).operation_model("ListAuditRecords").input_shape
    parsed = parse_input(audit, {"since": "2024-01-01T00:00:00+02:00", "until": 1700000000.5})
    assert parsed["since"] == datetime(2023, 12, 31, 22, tzinfo=UTC)
    assert parsed["until"] == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)


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


# --- patterns: linear time, length first, whole value, ASCII only (issue 10) ----------------

OVERLONG = {
    # operation, body, member path, max length: values that made Python's backtracking `re`
    # take seconds (name, repository) or minutes (bucket) before the fix.
    "30,000-character name": (
        "CreateEnvironmentTemplate",
        {"name": "a" * 30_000 + "!"},
        "name",
        100,
    ),
    "100,000-character repository name": (
        "CreateRepository",
        {
            "name": "a" * 100_000,
            "provider": "GITHUB",
            "connectionArn": "arn:aws:codestar-connections:us-east-1:111122223333:connection/x",
        },
        "name",
        100,
    ),
    "10 KB bucket name": (
        "CreateEnvironmentTemplateVersion",
        {"templateName": "t", "source": {"s3": {"bucket": "a" * 10_000 + "!", "key": "k"}}},
        "source.s3.bucket",
        63,
    ),
}


@pytest.mark.parametrize("case", list(OVERLONG))
def test_a_value_longer_than_its_maximum_is_refused_without_running_its_pattern(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operation, body, member, maximum = OVERLONG[case]
    matched: list[str] = []
    search = patterns.search

    def counting_search(source: str, text: str) -> bool:
        matched.append(text)
        return search(source, text)

    monkeypatch.setattr(patterns, "search", counting_search)
    message = _error(operation, body)
    assert message.startswith("1 validation error detected: ")
    assert (
        f"at '{member}' failed to satisfy constraint: Member must have length less than or "
        f"equal to {maximum}" in message
    )
    assert "regular expression" not in message
    assert all(len(text) <= maximum for text in matched)


def test_a_value_outside_its_enum_is_not_pattern_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    shape = _input("UpdateEnvironment").members["deploymentType"]
    monkeypatch.setitem(shape.metadata, "pattern", "^[A-Z_]+$")
    matched: list[str] = []
    monkeypatch.setattr(patterns, "search", lambda source, text: matched.append(text) or True)
    problems = string_problems(shape, "bogus")
    assert [problem.violation for problem in problems] == [Violation.NOT_IN_ENUM]
    assert matched == []


def test_every_model_pattern_runs_on_the_linear_time_engine() -> None:
    for service in (PROTON, BARYON):
        for name, shape in load_json(service, "service-2")["shapes"].items():
            if "pattern" in shape:
                compiled = patterns.compile_pattern(shape["pattern"])
                assert compiled.source == shape["pattern"], name


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("shape_name", "text"),
    [
        ("ResourceName", "a" * 100_000 + "!"),
        ("RepositoryName", "a" * 100_000),
        ("S3Bucket", "a" * 100_000 + "!"),
    ],
)
def test_the_super_linear_model_patterns_answer_long_values_at_once(
    shape_name: str, text: str
) -> None:
    # Even without the length check first, these would take seconds to minutes with `re`.
    pattern = service_model(PROTON).shape_for(shape_name).metadata["pattern"]
    assert patterns.search(pattern, text) is False


NOT_THE_WHOLE_VALUE = {
    "template name with a trailing newline": (
        "CreateEnvironmentTemplate",
        {"name": "prod\n"},
        "name",
    ),
    "environment name with a trailing newline": (
        "CreateEnvironment",
        {"name": "x\n", "templateName": "t", "templateMajorVersion": "1", "spec": "s"},
        "name",
    ),
    "major version with an Arabic-Indic digit": (
        "CreateEnvironment",
        {"name": "x", "templateName": "t", "templateMajorVersion": "1\u0661", "spec": "s"},
        "templateMajorVersion",
    ),
    "minor version in Arabic-Indic digits": (
        "UpdateEnvironmentTemplateVersion",
        {"templateName": "t", "majorVersion": "1", "minorVersion": "\u0660"},
        "minorVersion",
    ),
    "account id in Arabic-Indic digits": (
        "CreateEnvironmentAccountConnection",
        {
            "environmentName": "e",
            "managementAccountId": "\u0661" * 12,
            "roleArn": "arn:aws:iam::111122223333:role/r",
        },
        "managementAccountId",
    ),
    "role ARN with an account id in Arabic-Indic digits": (
        "CreateEnvironmentAccountConnection",
        {
            "environmentName": "e",
            "managementAccountId": "111122223333",
            "roleArn": "arn:aws:iam::" + "\u0661" * 12 + ":role/r",
        },
        "roleArn",
    ),
    "word characters beyond ASCII in an ARN": (
        "CreateEnvironmentAccountConnection",
        {
            "environmentName": "e",
            "managementAccountId": "111122223333",
            "roleArn": "arn:aws:iam::111122223333:role/r\u00e9le",
        },
        "roleArn",
    ),
}


@pytest.mark.parametrize("case", list(NOT_THE_WHOLE_VALUE))
def test_patterns_match_the_whole_value_in_ascii_only(case: str) -> None:
    operation, body, member = NOT_THE_WHOLE_VALUE[case]
    message = _error(operation, body)
    assert message.startswith("1 validation error detected: ")
    assert f"at '{member}' failed to satisfy constraint: Member must satisfy regular " in message


def test_the_shared_validator_names_each_broken_constraint() -> None:
    assert member_problems("CreateEnvironmentTemplate", ("name",), "prod") == []
    (problem,) = member_problems("CreateEnvironmentTemplate", ("name",), "prod\n")
    assert problem.violation is Violation.NO_PATTERN_MATCH
    (problem,) = member_problems(
        "CreateServiceTemplateVersion",
        ("compatibleEnvironmentTemplates", "majorVersion"),
        "1\u0661",
    )
    assert problem.violation is Violation.NO_PATTERN_MATCH
    (problem,) = member_problems("CreateEnvironmentTemplate", ("name",), "a" * 101)
    assert problem.violation is Violation.TOO_LONG


@pytest.mark.parametrize("item", ["env:1\u0661", "env\n:1", "env:01", ":1", "env:"])
def test_the_cli_checks_compatible_environments_with_the_api_validator(
    item: str, tmp_path: Path
) -> None:
    with pytest.raises(click.BadParameter):
        template_publish.compatible_environment_entries(tmp_path, (item,))
    assert template_publish.compatible_environment_entries(tmp_path, ("env:10",)) == [
        {"templateName": "env", "majorVersion": "10"}
    ]
