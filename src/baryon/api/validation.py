"""Input validation driven by the model: every constraint the model states, checked server-side.

botocore only checks required members, types and ``min`` on the client; ``enum``, ``pattern``
and ``max`` reach the wire unchecked, and other clients check nothing. Messages follow AWS's
wording ("Value ... at 'member' failed to satisfy constraint: ...") and name the member path;
values of sensitive members are never echoed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from baryon.api.errors import ValidationException

REDACTED = "*** Sensitive Data Redacted ***"
_MAX_SHOWN = 80


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class _Report:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, value: Any, sensitive: bool, constraint: str) -> None:
        shown = _describe(value, sensitive)
        self.problems.append(
            f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        count = len(self.problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(
            f"{count} validation {noun} detected: " + "; ".join(self.problems)
        )


def _describe(value: Any, sensitive: bool) -> str:
    if value is None:
        return "null"
    if sensitive:
        return f"'{REDACTED}'"
    text = str(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return f"'{text}'"


def _is_sensitive(shape: Shape) -> bool:
    return bool(shape.serialization.get("sensitive") or shape.metadata.get("sensitive"))


def parse_input(shape: StructureShape | None, body: Any) -> dict[str, Any]:
    """Checks ``body`` against the operation's input shape and returns the parsed request.

    Timestamps become aware datetimes; everything else keeps its JSON type. All problems are
    reported together in one ValidationException.
    """
    if shape is None:
        if body not in ({}, None):
            raise ValidationException("This operation takes no input members.")
        return {}
    report = _Report()
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object.")
    parsed = _structure(shape, body, "", report)
    report.raise_if_any()
    return parsed


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _structure(shape: StructureShape, value: dict[str, Any], path: str, report: _Report) -> dict:
    result: dict[str, Any] = {}
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            report.add(_join(path, name), None, False, "Member must not be null")
    for name, member_value in value.items():
        member_path = _join(path, name)
        if name not in members:
            report.problems.append(f"'{member_path}' is not a member of {shape.name}")
            continue
        if member_value is None:
            continue
        parsed = _value(members[name], member_value, member_path, report)
        if parsed is not None:
            result[name] = parsed
    if shape.is_tagged_union and len(result) != 1:
        choices = ", ".join(members)
        report.problems.append(
            f"'{path or shape.name}' must have exactly one member set, one of: {choices}"
        )
    return result


def _value(shape: Shape, value: Any, path: str, report: _Report) -> Any:
    kind = shape.type_name
    sensitive = _is_sensitive(shape)
    if kind == "structure":
        if not isinstance(value, dict):
            report.add(path, value, sensitive, "Member must be an object")
            return None
        return _structure(shape, value, path, report)  # type: ignore[arg-type]
    if kind == "list":
        return _list(shape, value, path, report)  # type: ignore[arg-type]
    if kind == "string":
        return _string(shape, value, path, report, sensitive)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            report.add(path, value, sensitive, "Member must be an integer")
            return None
        _range(shape, value, path, report, sensitive)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            report.add(path, value, sensitive, "Member must be a boolean")
            return None
        return value
    if kind == "timestamp":
        parsed = _timestamp(value)
        if parsed is None:
            report.add(path, value, sensitive, "Member must be a timestamp (epoch seconds)")
        return parsed
    report.add(path, value, sensitive, f"Member has unsupported type {kind}")
    return None


def _list(shape: ListShape, value: Any, path: str, report: _Report) -> list | None:
    if not isinstance(value, list):
        report.add(path, value, False, "Member must be a list")
        return None
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        report.add(path, value, False, f"Member must have length greater than or equal to {low}")
    if high is not None and len(value) > high:
        report.add(
            path,
            f"list of {len(value)}",
            False,
            f"Member must have length less than or equal to {high}",
        )
    items = []
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            report.add(item_path, None, False, "Member must not be null")
            continue
        items.append(_value(shape.member, item, item_path, report))
    return items


def _string(shape: Shape, value: Any, path: str, report: _Report, sensitive: bool) -> Any:
    if not isinstance(value, str):
        report.add(path, value, sensitive, "Member must be a string")
        return None
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        report.add(
            path, value, sensitive, f"Member must have length greater than or equal to {low}"
        )
    if high is not None and len(value) > high:
        report.add(path, value, sensitive, f"Member must have length less than or equal to {high}")
    if shape.enum and value not in shape.enum:
        report.add(
            path, value, sensitive, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    # Smithy patterns are unanchored: search, not match.
    if pattern and not _regex(pattern).search(value):
        report.add(
            path, value, sensitive, f"Member must satisfy regular expression pattern: {pattern}"
        )
    return value


def _range(shape: Shape, value: int, path: str, report: _Report, sensitive: bool) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        report.add(path, value, sensitive, f"Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        report.add(path, value, sensitive, f"Member must have value less than or equal to {high}")


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
