"""Turns jsonschema validation errors into short sentences about one field each.

jsonschema's own messages ("80000 is greater than the maximum of 65535") do not say which
input is wrong in spec terms, and some errors cover several fields at once (`required`,
`additionalProperties`); this splits them so every problem names exactly one field.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from jsonschema import ValidationError

from baryon.bundles.checks import json_type, show
from baryon.bundles.yaml_source import Path

_ARTICLE = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


class PatternMismatch(str):
    """The message of a value that does not match its schema's pattern, carrying the pattern,
    so that a form can say it in words and show the pattern apart (it is a plain str to
    everyone else)."""

    pattern: str

    def __new__(cls, message: str, pattern: str) -> PatternMismatch:
        made = super().__new__(cls, message)
        made.pattern = pattern
        return made


def _expected_type(want: Any) -> str:
    kinds = want if isinstance(want, list) else [want]
    return " or ".join(_ARTICLE.get(kind, str(kind)) for kind in kinds)


def unknown_key_message(path: Path, name: str, known: list[str]) -> str:
    """ "unknown input 'x'; did you mean 'y'?" (or the known names), for a key at `path`."""
    what, plural = ("input", "inputs") if not path else ("property", "properties")
    hint = difflib.get_close_matches(name, known, n=1)
    if hint:
        return f"unknown {what} {name!r}; did you mean {hint[0]!r}?"
    listed = ", ".join(known) if known else "none"
    return f"unknown {what} {name!r}; known {plural}: {listed}"


def _describe(error: ValidationError) -> list[tuple[Path, str]]:
    path: Path = tuple(error.absolute_path)
    want, got = error.validator_value, error.instance
    keyword = error.validator
    if keyword == "required" and isinstance(got, dict):
        return [((*path, name), "is required") for name in want if name not in got]
    if keyword == "additionalProperties" and isinstance(got, dict):
        known = sorted(error.schema.get("properties", {}))
        return [
            ((*path, name), unknown_key_message(path, name, known))
            for name in got
            if name not in known
        ]
    simple = {
        "type": lambda: f"must be {_expected_type(want)}, got {json_type(got)} {show(got)}",
        "enum": lambda: f"must be one of {show(want)}, got {show(got)}",
        "const": lambda: f"must be {show(want)}, got {show(got)}",
        "minimum": lambda: f"must be >= {want}, got {show(got)}",
        "maximum": lambda: f"must be <= {want}, got {show(got)}",
        "exclusiveMinimum": lambda: f"must be > {want}, got {show(got)}",
        "exclusiveMaximum": lambda: f"must be < {want}, got {show(got)}",
        "minLength": lambda: f"must be at least {want} characters long, got {len(got)}",
        "maxLength": lambda: f"must be at most {want} characters long, got {len(got)}",
        "pattern": lambda: PatternMismatch(f"must match pattern {want!r}, got {show(got)}", want),
        "minItems": lambda: f"must have at least {want} items, got {len(got)}",
        "maxItems": lambda: f"must have at most {want} items, got {len(got)}",
    }
    if keyword in simple:
        return [(path, simple[keyword]())]
    return [(path, error.message)]


def describe_errors(errors: Iterable[ValidationError]) -> list[tuple[Path, str]]:
    """One (path, message) per problem, deduplicated and ordered by path."""
    seen: dict[tuple[Path, str], None] = {}
    for error in errors:
        for problem in _describe(error):
            seen.setdefault(problem, None)
    return sorted(seen, key=lambda item: (_sort_key(item[0]), item[1]))


def _sort_key(path: Path) -> list[tuple[int, int | str]]:
    # Indexes sort numerically ([2] before [10]) and before names at the same depth.
    return [(0, part) if isinstance(part, int) else (1, part) for part in path]
