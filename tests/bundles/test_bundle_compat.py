"""Minor-version compatibility: each narrowing rule has its sentence; widening passes."""

from __future__ import annotations

import pytest

from baryon.bundles import minor_version_problems, parse_schema

BASE = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  pipeline_input_type: "PipeInput"
  types:
    SvcInput:
      type: object
      properties:
        port:
          type: number
          default: 8080
          minimum: 1
          maximum: 65535
        size:
          type: string
          enum: [small, medium, large]
          default: small
        name:
          type: string
          minLength: 1
          maxLength: 50
          pattern: "^[a-z]+$"
        image:
          type: string
          default: nginx
        tags:
          type: array
          items:
            type: string
            maxLength: 10
          minItems: 0
          maxItems: 5
        db:
          $ref: "#/Database"
        weight:
          type: integer
          nullable: true
      required: [name]
    Database:
      type: object
      properties:
        engine:
          type: string
          enum: [postgres, mysql]
    PipeInput:
      type: object
      properties:
        dockerfile:
          type: string
          default: Dockerfile
"""

SVC = "service input 'SvcInput'"


def problems(old: str, new: str) -> list[str]:
    return minor_version_problems(parse_schema(old), parse_schema(new))


def changed(*edits: tuple[str, str]) -> str:
    text = BASE
    for before, after in edits:
        assert before in text, before
        text = text.replace(before, after, 1)
    return text


NARROWING = {
    "property removed": (
        changed(("        image:\n          type: string\n          default: nginx\n", "")),
        [f"{SVC} property 'image' was removed"],
    ),
    "type changed": (
        changed(
            (
                "          type: number\n          default: 8080",
                "          type: string\n          default: '8080'",
            )
        ),
        [f"{SVC} property 'port': type changed from number to string"],
    ),
    "new required property without default": (
        changed(
            ("      required: [name]", "      required: [name, owner]"),
            ("        weight:", "        owner:\n          type: string\n        weight:"),
        ),
        [f"{SVC} property 'owner' is new, required and has no default"],
    ),
    "property became required": (
        changed(("      required: [name]", "      required: [name, weight]")),
        [f"{SVC} property 'weight' became required and has no default"],
    ),
    "maximum lowered": (
        changed(("maximum: 65535", "maximum: 10000")),
        [f"{SVC} property 'port': maximum lowered from 65535 to 10000"],
    ),
    "minimum raised": (
        changed(("minimum: 1\n", "minimum: 1024\n")),
        [f"{SVC} property 'port': minimum raised from 1 to 1024"],
    ),
    "minimum became exclusive": (
        changed(("minimum: 1\n", "minimum: 1\n          exclusiveMinimum: true\n")),
        [f"{SVC} property 'port': minimum 1 became exclusive"],
    ),
    "enum narrowed": (
        changed(("enum: [small, medium, large]", "enum: [small, medium]")),
        [f"{SVC} property 'size': enum no longer allows ['large']"],
    ),
    "enum added": (
        changed(
            ("          default: nginx", "          default: nginx\n          enum: [nginx, httpd]")
        ),
        [f"{SVC} property 'image': enum ['nginx', 'httpd'] added"],
    ),
    "pattern changed": (
        changed(('pattern: "^[a-z]+$"', 'pattern: "^[a-z0-9]+$"')),
        [f"{SVC} property 'name': pattern changed from '^[a-z]+$' to '^[a-z0-9]+$'"],
    ),
    "pattern added": (
        changed(("          default: nginx", "          default: nginx\n          pattern: x")),
        [f"{SVC} property 'image': pattern 'x' added"],
    ),
    "minLength raised and maxLength lowered": (
        changed(("minLength: 1", "minLength: 2"), ("maxLength: 50", "maxLength: 20")),
        [
            f"{SVC} property 'name': minLength raised from 1 to 2",
            f"{SVC} property 'name': maxLength lowered from 50 to 20",
        ],
    ),
    "maxLength added": (
        changed(("          default: nginx", "          default: nginx\n          maxLength: 9")),
        [f"{SVC} property 'image': maxLength 9 added"],
    ),
    "items narrowed": (
        changed(("maxLength: 10", "maxLength: 5")),
        [f"{SVC} property 'tags[]': maxLength lowered from 10 to 5"],
    ),
    "minItems raised and maxItems lowered": (
        changed(("minItems: 0", "minItems: 1"), ("maxItems: 5", "maxItems: 3")),
        [
            f"{SVC} property 'tags': minItems raised from 0 to 1",
            f"{SVC} property 'tags': maxItems lowered from 5 to 3",
        ],
    ),
    "nested type through $ref narrowed": (
        changed(("enum: [postgres, mysql]", "enum: [postgres]")),
        [f"{SVC} property 'db.engine': enum no longer allows ['mysql']"],
    ),
    "no longer nullable": (
        changed(("          nullable: true\n", "")),
        [f"{SVC} property 'weight': no longer nullable"],
    ),
    "integer instead of number": (
        changed(
            (
                "          type: number\n          default: 8080",
                "          type: integer\n          default: 8080",
            )
        ),
        [f"{SVC} property 'port': type changed from number to integer"],
    ),
    "pipeline removed": (
        changed(('  pipeline_input_type: "PipeInput"\n', "")),
        [
            "pipeline input type 'PipeInput' was removed; a minor version must keep the same "
            "input types"
        ],
    ),
    "pipeline property removed": (
        changed(
            (
                "          default: Dockerfile\n",
                "          default: Dockerfile\n        context:\n          type: string\n",
            ),
        ),
        [],  # the reverse direction is checked below
    ),
}


@pytest.mark.parametrize("case", list(NARROWING))
def test_narrowing_is_reported(case: str) -> None:
    new, expected = NARROWING[case]
    assert problems(BASE, new) == expected


def test_pipeline_added_and_pipeline_property_removed() -> None:
    without_pipeline = changed(('  pipeline_input_type: "PipeInput"\n', ""))
    assert problems(without_pipeline, BASE) == [
        "pipeline input type 'PipeInput' was added; a minor version must keep the same input types"
    ]
    with_context = NARROWING["pipeline property removed"][0]
    assert problems(with_context, BASE) == [
        "pipeline input 'PipeInput' property 'context' was removed"
    ]


def test_required_property_that_loses_its_default() -> None:
    # Old specs could omit `image` because of its default; now they would fail.
    old = changed(("      required: [name]", "      required: [name, image]"))
    new = changed(
        ("      required: [name]", "      required: [name, image]"),
        ("          default: nginx\n", ""),
    )
    assert problems(old, new) == [f"{SVC} property 'image' is required and no longer has a default"]


def test_environment_schema_cannot_become_a_service_schema() -> None:
    env = BASE.replace("service_input_type", "environment_input_type").replace(
        '  pipeline_input_type: "PipeInput"\n', ""
    )
    assert problems(env, BASE) == [
        "environment input type 'SvcInput' was removed; a minor version must keep the same "
        "input types",
        "service input type 'SvcInput' was added; a minor version must keep the same input types",
        "pipeline input type 'PipeInput' was added; a minor version must keep the same input types",
    ]


WIDENING = {
    "identical": changed(),
    "default changed": changed(("default: 8080", "default: 80")),
    "maximum raised and minimum lowered": changed(
        ("maximum: 65535", "maximum: 70000"), ("minimum: 1\n", "minimum: 0\n")
    ),
    "bounds removed": changed(("          minimum: 1\n          maximum: 65535\n", "")),
    "enum widened": changed(("enum: [small, medium, large]", "enum: [small, medium, large, xl]")),
    "enum removed": changed(("          enum: [small, medium, large]\n", "")),
    "pattern removed": changed(('          pattern: "^[a-z]+$"\n', "")),
    "length limits relaxed": changed(
        ("minLength: 1", "minLength: 0"), ("maxLength: 50", "maxLength: 99")
    ),
    "new optional property": changed(
        ("        weight:", "        owner:\n          type: string\n        weight:")
    ),
    "new required property with default": changed(
        ("      required: [name]", "      required: [name, owner]"),
        (
            "        weight:",
            "        owner:\n          type: string\n          default: me\n        weight:",
        ),
    ),
    "required property dropped": changed(("      required: [name]\n", "")),
    "integer widened to number": changed(
        ("type: integer\n          nullable", "type: number\n          nullable")
    ),
    "became nullable": changed(
        ("          default: nginx", "          default: nginx\n          nullable: true")
    ),
    "input type renamed": changed(
        ('service_input_type: "SvcInput"', 'service_input_type: "WebInput"'),
        ("    SvcInput:", "    WebInput:"),
    ),
    "type made inline instead of $ref": changed(
        (
            '          $ref: "#/Database"',
            "          type: object\n          properties:\n"
            "            engine: {type: string, enum: [postgres, mysql, sqlite]}",
        ),
    ),
}


@pytest.mark.parametrize("case", list(WIDENING))
def test_widening_is_accepted(case: str) -> None:
    assert problems(BASE, WIDENING[case]) == []
