"""Small typed accessors for YAML data that raise errors pointing at the offending line."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from baryon.bundles.yaml_source import Path, YamlDocument


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as bundle authors know them from the schema."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def show(value: Any, limit: int = 80) -> str:
    """A short, YAML-flavoured rendering of a value for messages."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(show(item, limit) for item in value) + "]"
    elif value is None or isinstance(value, bool | int | float | dict):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def got(value: Any) -> str:
    """ "string 'x'", "integer 3", or "nothing" for an empty YAML value."""
    return "nothing" if value is None else f"{json_type(value)} {show(value)}"


def mapping(doc: YamlDocument, path: Path, value: Any, what: str = "a mapping") -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise doc.error(path, f"must be {what}, got {got(value)}")
    return value


def string(doc: YamlDocument, path: Path, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise doc.error(path, f"must be a non-empty string, got {got(value)}")
    return value


def string_list(doc: YamlDocument, path: Path, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise doc.error(path, f"must be a list of strings, got {got(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise doc.error((*path, index), f"must be a string, got {got(item)}")
    return value


def no_unknown_keys(
    doc: YamlDocument, path: Path, value: dict[Any, Any], allowed: Iterable[str], what: str
) -> None:
    allowed = sorted(allowed)
    for key in value:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {allowed}"
        raise doc.error((*path, key), f"unknown {what} {key!r}{suggestion}")
