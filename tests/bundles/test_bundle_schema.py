"""schema/schema.yaml: header and keyword checks, JSON Schema translation, spec inputs."""

from __future__ import annotations

import pytest

from baryon.bundles import BundleError, SpecError, parse_schema

HEADER = """\
schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  types:
"""

RICH = (
    HEADER
    + """\
    SvcInput:
      type: object
      properties:
        port:
          type: integer
          default: 80
          minimum: 1
          maximum: 65535
        ratio:
          type: number
          minimum: 0
          exclusiveMinimum: true
          maximum: 1
          default: 0.5
        size:
          type: string
          enum: [small, large]
          default: small
        cidr:
          type: string
          pattern: "([0-9]{1,3}\\\\.){3}[0-9]{1,3}/(16|24)"
          default: 10.0.0.0/16
        name:
          type: string
          minLength: 3
          maxLength: 8
        note:
          type: string
          nullable: true
          example: "anything"
        tags:
          type: array
          items:
            type: string
            maxLength: 4
          minItems: 1
          maxItems: 2
        db:
          $ref: "#/Database"
        replicas:
          type: array
          items:
            $ref: "#/Database"
      required: [name]
    Database:
      type: object
      properties:
        engine:
          type: string
          default: postgres
        port:
          type: integer
          default: 5432
          maximum: 65535
    Labels:
      type: object
      additionalProperties:
        type: string
"""
)


def schema_error(text: str) -> str:
    with pytest.raises(BundleError) as caught:
        parse_schema(text)
    return str(caught.value)


def type_error(body: str) -> str:
    return schema_error(HEADER + "    SvcInput:\n      type: object\n" + body)


# -- the header ----------------------------------------------------------------------------


def test_rich_schema_parses() -> None:
    schema = parse_schema(RICH)
    assert schema.kind == "service"
    assert (schema.service_input_type, schema.environment_input_type) == ("SvcInput", None)
    assert schema.pipeline_input_type is None
    assert sorted(schema.types) == ["Database", "Labels", "SvcInput"]
    assert schema.raw_text == RICH and schema.warnings == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schema:\n  format: {openapi: '3.0.0'}\n  types: {}\n",
            "schema/schema.yaml line 1 (schema): declares neither environment_input_type and "
            "service_input_type; exactly one is required",
        ),
        (
            HEADER.replace("  service", "  environment_input_type: X\n  service") + "    X: {}\n",
            "schema/schema.yaml line 1 (schema): declares both environment_input_type and "
            "service_input_type; exactly one is required",
        ),
        (
            HEADER.replace("service_input_type", "environment_input_type").replace(
                "  types:", "  pipeline_input_type: P\n  types:"
            ),
            "schema/schema.yaml line 5 (schema.pipeline_input_type): pipeline_input_type is "
            "only allowed with service_input_type",
        ),
        (
            HEADER + "    SvcInput:\n      type: string\n",
            "schema/schema.yaml line 6 (schema.types.SvcInput): input type 'SvcInput' must be "
            "'type: object'",
        ),
        (
            "schema:\n  format: {openapi: '3.0.0'}\n  service_input_type: S\n",
            "schema/schema.yaml line 1 (schema): missing 'types'",
        ),
        (
            HEADER.replace("  types:", "  typse:") + "    S: {}\n",
            "schema/schema.yaml line 5 (schema.typse): unknown key 'typse'; did you mean 'types'?",
        ),
        (
            "schemas: {}\n",
            "schema/schema.yaml line 1 (schemas): unknown top-level key 'schemas'; did you "
            "mean 'schema'?",
        ),
        ("", "schema/schema.yaml: must be a mapping with a 'schema' key, got nothing"),
    ],
)
def test_header_errors(text: str, expected: str) -> None:
    assert schema_error(text) == expected


# -- keywords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "      properties:\n        a: {type: text}\n",
            "line 9 (schema.types.SvcInput.properties.a.type): unknown type 'text'; expected "
            "one of ('object', 'string', 'number', 'integer', 'boolean', 'array')",
        ),
        (
            "      properties:\n        a: {$ref: '#/Nope'}\n",
            "line 9 (schema.types.SvcInput.properties.a.$ref): $ref '#/Nope' names no type "
            "under 'types'",
        ),
        (
            "      properties:\n        a: {$ref: '#/components/schemas/X'}\n",
            "line 9 (schema.types.SvcInput.properties.a.$ref): $ref '#/components/schemas/X' "
            "must look like '#/TypeName'",
        ),
        (
            "      properties:\n        a: {$ref: '#/SvcInput', default: 1}\n",
            "line 9 (schema.types.SvcInput.properties.a.default): 'default' cannot be combined "
            "with $ref",
        ),
        (
            "      properties:\n        a: {type: number, minimum: 1, exclusiveMinimum: 1}\n",
            "line 9 (schema.types.SvcInput.properties.a.exclusiveMinimum): 'exclusiveMinimum' "
            "must be true or false in OpenAPI 3.0 (it makes 'minimum' exclusive)",
        ),
        (
            "      properties:\n        a: {type: number, exclusiveMaximum: true}\n",
            "line 9 (schema.types.SvcInput.properties.a.exclusiveMaximum): 'exclusiveMaximum' "
            "needs 'maximum'",
        ),
        (
            "      properties:\n        a: {type: string, minLength: 5, maxLength: 2}\n",
            "line 9 (schema.types.SvcInput.properties.a.minLength): 'minLength' 5 is greater "
            "than 'maxLength' 2",
        ),
        (
            "      properties:\n        a: {type: string, maxLength: -1}\n",
            "line 9 (schema.types.SvcInput.properties.a.maxLength): 'maxLength' must be a "
            "whole number >= 0",
        ),
        (
            "      properties:\n        a:\n          type: number\n          enum: [1, two]\n",
            "line 11 (schema.types.SvcInput.properties.a.enum[1]): enum value must be a "
            "number, got string 'two'",
        ),
        (
            "      properties:\n        a: {type: string, enum: []}\n",
            "line 9 (schema.types.SvcInput.properties.a.enum): 'enum' must be a non-empty list",
        ),
        (
            "      properties:\n        a:\n          type: number\n          maximum: .inf\n",
            "line 11 (schema.types.SvcInput.properties.a.maximum): inf is not a number a "
            "schema can use (NaN or Infinity)",
        ),
        (
            "      properties:\n        yes: {type: string}\n",
            "line 9 (schema.types.SvcInput.properties.True): property name True must be a "
            "string (quote it)",
        ),
        (
            "      properties:\n        a: {type: string}\n        a: {type: number}\n",
            "line 10: duplicate key 'a' (first used on line 9)",
        ),
        (
            "      properties:\n        a: {type: string}\n      required: [a, a]\n",
            "line 10 (schema.types.SvcInput.required[1]): 'a' is listed twice",
        ),
        (
            "      properties:\n        a: {type: string, default: !!binary aGk=}\n",
            "line 9: YAML tag 'tag:yaml.org,2002:binary' is not supported here",
        ),
    ],
)
def test_keyword_errors(body: str, expected: str) -> None:
    assert type_error(body) == f"schema/schema.yaml {expected}"


def test_ref_cycle_is_refused() -> None:
    text = HEADER + (
        "    SvcInput:\n      type: object\n      properties:\n        a: {$ref: '#/A'}\n"
        "    A: {$ref: '#/B'}\n    B: {$ref: '#/A'}\n"
    )
    assert schema_error(text) == (
        "schema/schema.yaml line 10 (schema.types.A.$ref): $ref cycle: A -> B -> A"
    )


def test_misplaced_keywords_only_warn() -> None:
    schema = parse_schema(
        HEADER + "    SvcInput:\n      type: object\n      properties:\n"
        "        a: {type: number, maxLength: 3}\n"
    )
    assert schema.warnings == [
        "schema/schema.yaml line 9 (schema.types.SvcInput.properties.a.maxLength): "
        "'maxLength' has no effect on type number (it applies to string)"
    ]


# -- JSON Schema translation ---------------------------------------------------------------


def test_json_schema_translation() -> None:
    document = parse_schema(RICH).json_schema("SvcInput")
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    properties = document["properties"]
    assert properties["ratio"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "default": 0.5,
    }
    assert properties["note"] == {"type": ["string", "null"], "examples": ["anything"]}
    assert properties["db"] == {"$ref": "#/$defs/Database"}
    # Undeclared keys are ignored with a warning before validation, not refused by it.
    assert "additionalProperties" not in document
    assert "additionalProperties" not in document["$defs"]["Database"]
    assert document["$defs"]["Labels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    assert "SvcInput" not in document["$defs"]


def test_reference_to_the_root_type_points_at_the_document() -> None:
    schema = parse_schema(
        HEADER + "    SvcInput:\n      type: object\n      properties:\n"
        "        child: {$ref: '#/SvcInput'}\n"
    )
    assert schema.json_schema("SvcInput")["properties"]["child"] == {"$ref": "#"}
    assert schema.apply_inputs("SvcInput", {"child": {"child": {}}}, where="spec") == {
        "child": {"child": {}}
    }


# -- apply_inputs --------------------------------------------------------------------------


def test_defaults_fill_omitted_inputs_recursively() -> None:
    schema = parse_schema(RICH)
    merged = schema.apply_inputs(
        "SvcInput",
        {"name": "web", "db": {"port": 6432}, "replicas": [{}, {"engine": "mysql"}]},
        where="spec",
    )
    assert merged == {
        "name": "web",
        "port": 80,
        "ratio": 0.5,
        "size": "small",
        "cidr": "10.0.0.0/16",
        "db": {"engine": "postgres", "port": 6432},
        "replicas": [
            {"engine": "postgres", "port": 5432},
            {"engine": "mysql", "port": 5432},
        ],
    }


def test_yaml_numbers_fit_number_types() -> None:
    schema = parse_schema(RICH)
    merged = schema.apply_inputs("SvcInput", {"name": "web", "ratio": 1, "port": 8080.0}, where="")
    assert (merged["ratio"], merged["port"]) == (1, 8080.0)


def test_pattern_is_a_search_not_a_full_match() -> None:
    schema = parse_schema(RICH)
    merged = schema.apply_inputs("SvcInput", {"name": "web", "cidr": "cidr=10.1.0.0/24"}, where="")
    assert merged["cidr"] == "cidr=10.1.0.0/24"


def test_empty_spec_means_all_defaults() -> None:
    schema = parse_schema(RICH.replace("      required: [name]\n", ""))
    assert schema.apply_inputs("SvcInput", None, where="spec")["port"] == 80


def test_every_problem_is_reported_with_its_field() -> None:
    schema = parse_schema(RICH)
    values = {
        "port": 70000,
        "ratio": 0,
        "size": "medium",
        "cidr": "not-a-cidr",
        "note": None,
        "tags": ["ok", "toolong", "x"],
        "db": {"port": "5432", "extra": 1},
        "prot": 8080,
        "replicas": [{"port": True}],
    }
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", values, where="instances[0].spec")
    assert [str(problem) for problem in caught.value.problems] == [
        "instances[0].spec.cidr: must match pattern "
        "'([0-9]{1,3}\\\\.){3}[0-9]{1,3}/(16|24)', got 'not-a-cidr'",
        "instances[0].spec.db.port: must be an integer, got string '5432'",
        "instances[0].spec.name: is required",
        "instances[0].spec.port: must be <= 65535, got 70000",
        "instances[0].spec.ratio: must be > 0, got 0",
        "instances[0].spec.replicas[0].port: must be an integer, got boolean true",
        "instances[0].spec.size: must be one of ['small', 'large'], got 'medium'",
        "instances[0].spec.tags: must have at most 2 items, got 3",
        "instances[0].spec.tags[1]: must be at most 4 characters long, got 7",
    ]
    error = caught.value
    assert error.field == "instances[0].spec"
    assert str(error).startswith("9 problems in instances[0].spec: instances[0].spec.cidr")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"name": "ab"}, "spec.name: must be at least 3 characters long, got 2"),
        ({"name": 5}, "spec.name: must be a string, got integer 5"),
        ({"name": "web", "tags": []}, "spec.tags: must have at least 1 items, got 0"),
        ({"name": "web", "port": 0}, "spec.port: must be >= 1, got 0"),
        ({"name": "web", "ratio": 2}, "spec.ratio: must be <= 1, got 2"),
        ({"name": "web", "db": []}, "spec.db: must be a mapping, got array []"),
    ],
)
def test_single_problem_messages(values: dict[str, object], expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_schema(RICH).apply_inputs("SvcInput", values, where="spec")
    assert [str(problem) for problem in caught.value.problems] == [expected]


def test_spec_must_be_a_mapping() -> None:
    with pytest.raises(SpecError) as caught:
        parse_schema(RICH).apply_inputs("SvcInput", ["a"], where="spec")
    assert str(caught.value) == "1 problem in spec: spec: must be a mapping of inputs, got array"


def test_additional_properties_schema_checks_extra_keys() -> None:
    schema = parse_schema(
        RICH.replace('service_input_type: "SvcInput"', 'service_input_type: "Labels"')
    )
    assert schema.apply_inputs("Labels", {"team": "a"}, where="") == {"team": "a"}
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("Labels", {"team": 1}, where="labels")
    assert [str(p) for p in caught.value.problems] == [
        "labels.team: must be a string, got integer 1"
    ]


def test_unknown_input_type_name() -> None:
    with pytest.raises(BundleError, match="input type 'Nope' is not defined in the schema"):
        parse_schema(RICH).apply_inputs("Nope", {}, where="spec")


# -- patterns run in linear time, on the whole value, ASCII only (issue 10) -----------------

CATASTROPHIC = "^(a+)+$"  # Python's re needs 2**n steps to refuse n "a"s and a "!"


def _with_pattern(pattern: str, extra: str = "") -> str:
    return HEADER + (
        "    SvcInput:\n      type: object\n      properties:\n        a:\n"
        f"          type: string\n          pattern: '{pattern}'\n{extra}"
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("length", [40, 26_000])
def test_a_catastrophic_schema_pattern_refuses_a_long_spec_value_at_once(length: int) -> None:
    schema = parse_schema(_with_pattern(CATASTROPHIC))
    value = "a" * length + "!"
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", {"a": value}, where="spec")
    (problem,) = caught.value.problems
    assert problem.field == "spec.a"
    assert problem.message.startswith(f"must match pattern '{CATASTROPHIC}', got ")
    assert schema.apply_inputs("SvcInput", {"a": "a" * length}, where="spec") == {"a": "a" * length}


@pytest.mark.timeout(60)
def test_a_catastrophic_schema_pattern_checks_its_own_default_and_enum_at_once() -> None:
    bad = "a" * 40 + "!"
    (warning,) = parse_schema(_with_pattern(CATASTROPHIC, f"          default: '{bad}'\n")).warnings
    assert warning.startswith(
        "schema/schema.yaml line 12 (schema.types.SvcInput.properties.a.default): default "
        f"must match pattern '{CATASTROPHIC}', got "
    )
    text = _with_pattern(CATASTROPHIC, f"          enum: [aaa, '{bad}']\n")
    assert schema_error(text).startswith(
        "schema/schema.yaml line 12 (schema.types.SvcInput.properties.a.enum[1]): enum value "
        f"must match pattern '{CATASTROPHIC}', got "
    )


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [("^(?=a)a+$", "(?="), ("^(?!b)", "(?!"), ("(?<=a)b", "(?<="), ("^(a)\\1$", "\\1")],
)
def test_a_pattern_that_needs_backtracking_is_refused_at_registration(
    pattern: str, construct: str
) -> None:
    message = schema_error(_with_pattern(pattern))
    assert message.startswith(
        f"schema/schema.yaml line 11 (schema.types.SvcInput.properties.a.pattern): pattern "
        f"{pattern!r} cannot be used: "
    )
    assert construct in message
    assert "linear-time engine" in message


def test_schema_patterns_match_the_whole_value_in_ascii_only() -> None:
    schema = parse_schema(
        HEADER
        + """\
    SvcInput:
      type: object
      properties:
        env: {type: string, pattern: '^[a-z]+$'}
        count: {type: string, pattern: '^\\d+$'}
        word: {type: string, pattern: '^\\w+$'}
        gap: {type: string, pattern: '^a\\sb$'}
        last: {type: string, pattern: 'x\\Z'}
"""
    )
    accepted = {"env": "prod", "count": "12", "word": "a_1", "gap": "a\x0bb", "last": "ax"}
    assert schema.apply_inputs("SvcInput", accepted, where="") == accepted
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs(
            "SvcInput",
            {
                "env": "prod\n",
                "count": "1\u0661",
                "word": "\u00e9",
                "gap": "a\u00a0b",
                "last": "x\n",
            },
            where="spec",
        )
    assert sorted(problem.field for problem in caught.value.problems) == [
        "spec.count",
        "spec.env",
        "spec.gap",
        "spec.last",
        "spec.word",
    ]


def test_a_value_that_breaks_its_length_is_not_pattern_matched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from baryon import patterns

    matched: list[str] = []
    search = patterns.search
    monkeypatch.setattr(
        patterns, "search", lambda source, text: matched.append(text) or search(source, text)
    )
    schema = parse_schema(_with_pattern(CATASTROPHIC, "          maxLength: 8\n"))
    with pytest.raises(SpecError) as caught:
        schema.apply_inputs("SvcInput", {"a": "a" * 10_000 + "!"}, where="spec")
    assert [str(problem) for problem in caught.value.problems] == [
        "spec.a: must be at most 8 characters long, got 10001"
    ]
    assert matched == []


@pytest.mark.timeout(60)
def test_pattern_properties_and_regex_formats_use_the_linear_time_engine() -> None:
    from baryon.bundles.schema_validator import SchemaValidator

    keyed = SchemaValidator({"patternProperties": {CATASTROPHIC: {"type": "integer"}}})
    assert list(keyed.iter_errors({"a" * 40 + "!": "not checked"})) == []
    assert [error.validator for error in keyed.iter_errors({"aaa": "x"})] == ["type"]
    formats = SchemaValidator(
        {"type": "string", "format": "regex"}, format_checker=SchemaValidator.FORMAT_CHECKER
    )
    assert list(formats.iter_errors("^[a-z]+$")) == []
    assert [error.validator for error in formats.iter_errors("(?=a)")] == ["format"]


def test_a_ref_with_a_trailing_newline_is_refused() -> None:
    body = '      properties:\n        a: {$ref: "#/SvcInput\\n"}\n'
    assert type_error(body) == (
        "schema/schema.yaml line 9 (schema.types.SvcInput.properties.a.$ref): $ref "
        "'#/SvcInput\\n' must look like '#/TypeName'"
    )
