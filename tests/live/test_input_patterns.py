"""The model's patterns through the API of a real `baryon up`, with boto3 (issue 10).

Values far longer than their maximum are refused for their length alone, without running the
pattern that made Python's backtracking ``re`` freeze the server for seconds or minutes.
Patterns match the whole value in ASCII: a name with a trailing newline or a number written
in Arabic-Indic digits is refused, not stored as a look-alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.deploying import error_message

SUFFIX = uuid.uuid4().hex[:6]
CONNECTION = "arn:aws:codestar-connections:us-east-1:111122223333:connection/example"
ARABIC_INDIC_ONE = "\u0661"


def _refused(proton: Any, call: str, **request: Any) -> str:
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        getattr(proton, call)(**request)
    return error_message(caught)


@pytest.mark.parametrize(
    ("call", "request_", "member", "maximum"),
    [
        ("create_environment_template", {"name": "a" * 30_000 + "!"}, "name", 100),
        (
            "create_repository",
            {"name": "a" * 100_000, "provider": "GITHUB", "connectionArn": CONNECTION},
            "name",
            100,
        ),
        (
            "create_environment_template_version",
            {
                "templateName": "t",
                "source": {"s3": {"bucket": "a" * 10_240 + "!", "key": "k"}},
            },
            "source.s3.bucket",
            63,
        ),
    ],
    ids=["30,000-character name", "100,000-character repository name", "10 KB bucket name"],
)
def test_an_overlong_value_is_refused_for_its_length(
    proton: Any, call: str, request_: dict[str, Any], member: str, maximum: int
) -> None:
    message = _refused(proton, call, **request_)
    assert message.startswith("1 validation error detected: ")
    assert (
        f"at '{member}' failed to satisfy constraint: Member must have length less than or "
        f"equal to {maximum}" in message
    )


def test_a_template_name_with_a_trailing_newline_is_refused(proton: Any) -> None:
    name = f"prod{SUFFIX}"
    proton.create_environment_template(name=name)
    message = _refused(proton, "create_environment_template", name=name + "\n")
    assert f"Value '{name}\n' at 'name' failed to satisfy constraint: Member must satisfy " in (
        message
    )
    names = [t["name"] for t in proton.list_environment_templates()["templates"]]
    assert [each for each in names if each.startswith(name)] == [name]


def test_an_environment_name_with_a_trailing_newline_is_refused(proton: Any) -> None:
    message = _refused(
        proton,
        "create_environment",
        name=f"x{SUFFIX}\n",
        templateName=f"prod{SUFFIX}",
        templateMajorVersion="1",
        spec="proton: EnvironmentSpec\n",
    )
    assert "at 'name' failed to satisfy constraint: Member must satisfy regular expression" in (
        message
    )
    with pytest.raises(proton.exceptions.ResourceNotFoundException):
        proton.get_environment(name=f"x{SUFFIX}")


def test_a_major_version_in_arabic_indic_digits_is_refused(proton: Any) -> None:
    message = _refused(
        proton,
        "create_environment",
        name=f"x{SUFFIX}",
        templateName=f"prod{SUFFIX}",
        templateMajorVersion="1" + ARABIC_INDIC_ONE,
        spec="proton: EnvironmentSpec\n",
    )
    assert message.startswith("1 validation error detected: ")
    assert "at 'templateMajorVersion' failed to satisfy constraint: Member must satisfy " in (
        message
    )


def test_an_account_id_in_arabic_indic_digits_is_refused(proton: Any) -> None:
    message = _refused(
        proton,
        "create_environment_account_connection",
        environmentName=f"x{SUFFIX}",
        managementAccountId=ARABIC_INDIC_ONE * 12,
        roleArn="arn:aws:iam::111122223333:role/baryon",
    )
    assert message.startswith("1 validation error detected: ")
    assert "at 'managementAccountId' failed to satisfy constraint: Member must satisfy " in (
        message
    )
