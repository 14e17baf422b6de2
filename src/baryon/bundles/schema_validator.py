"""The validator for template schemas: JSON Schema draft 2020-12 with every regular expression
on the linear-time engine (baryon.patterns).

jsonschema evaluates ``pattern`` (and ``patternProperties``, and ``format: regex`` when formats
are asserted) with Python's backtracking ``re``; a schema's ``pattern: '^(a+)+$'`` then froze
the server for seconds on a 26-character spec value, doubling with each character. Here those
keywords use RE2, and a string that already breaks its ``minLength``/``maxLength`` is not
pattern-matched at all: the length error says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from baryon import patterns


def _length_fits(instance: str, schema: dict[str, Any]) -> bool:
    low, high = schema.get("minLength"), schema.get("maxLength")
    return not (
        (isinstance(low, int) and len(instance) < low)
        or (isinstance(high, int) and len(instance) > high)
    )


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string") or not _length_fits(instance, schema):
        return
    try:
        matched = patterns.search(pattern, instance)
    except patterns.PatternError as exc:
        # Registration refuses such patterns; a version stored before that fails closed.
        yield ValidationError(f"pattern {pattern!r} {exc}", cause=exc)
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if patterns.search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


FORMATS = FormatChecker()


@FORMATS.checks("regex", raises=patterns.PatternError)
def _is_pattern(instance: object) -> bool:
    if isinstance(instance, str):
        patterns.compile_pattern(instance)
    return True


SchemaValidator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties},
    format_checker=FORMATS,
)
