"""What a CodeBuild run's proton-outputs.json may hold: what --outputs takes, or one object."""

from __future__ import annotations

import json

import pytest

from baryon.provisioners.codebuild import MAX_OUTPUT_CHARS, MAX_OUTPUTS, parse_outputs_file


def test_the_notify_shape_and_a_plain_object_give_the_same_outputs() -> None:
    as_notify = [{"key": "Url", "valueString": "https://x"}, {"key": "Port", "valueString": "80"}]
    assert parse_outputs_file(json.dumps(as_notify).encode()) == {"Url": "https://x", "Port": "80"}
    assert parse_outputs_file(b'{"Url": "https://x", "Port": "80"}') == {
        "Url": "https://x",
        "Port": "80",
    }


def test_a_value_that_is_not_a_string_is_kept_as_its_json_text() -> None:
    found = parse_outputs_file(b'{"Port": 8080, "Subnets": ["a", "b"], "On": true}')
    assert found == {"Port": "8080", "Subnets": '["a", "b"]', "On": "true"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'"a string"', "must be a list"),
        (b'[{"valueString": "no key"}]', "objects"),
        (json.dumps({f"k{i}": "v" for i in range(MAX_OUTPUTS + 1)}).encode(), "at most 50"),
        (json.dumps({"Big": "x" * (MAX_OUTPUT_CHARS + 1)}).encode(), "longer than 1024"),
        (json.dumps({"": "empty key"}).encode(), "1 to 1024"),
    ],
)
def test_an_unusable_outputs_file_is_refused_saying_why(content: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_outputs_file(content)
