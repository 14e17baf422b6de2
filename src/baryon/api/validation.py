"""Input validation driven by the model: every constraint the model states, checked server-side.

botocore only checks required members, types and ``min`` on the client; ``enum``, ``pattern``
and ``max`` reach the wire unchecked, and other clients check nothing. Messages follow AWS's
wording ("Value ... at 'member' failed to satisfy constraint: ...") and name the member path;
values of sensitive members are never echoed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from baryon import patterns
from baryon.api.errors import ValidationException
from baryon.service_models import BARYON, PROTON, load_json, service_model

REDACTED = "*** Sensitive Data Redacted ***"
_MAX_SHOWN = 80


class Violation(enum.Enum):
    TOO_SHORT = "too short"
    TOO_LONG = "too long"
    NOT_IN_ENUM = "not in enum"
    NO_PATTERN_MATCH = "no pattern match"


@dataclass(frozen=True)
class StringProblem:
    """One constraint of a string shape that a value breaks."""

    violation: Violation
    constraint: str  # in AWS's words, e.g. "Member must have length less than or equal to 100"


def string_problems(shape: Shape, value: str) -> list[StringProblem]:
    """Every constraint of string ``shape`` that ``value`` breaks; the one check of names,
    versions and other modeled strings behind the API, the portal and the CLI alike.

    Length and enum come first, and a value that fails them is not matched against the
    pattern at all: the answer is already no, and a pattern costs time in the value's length.
    Patterns run on the linear-time engine (baryon.patterns), ASCII only and anchored as the
    model means them ("prod\\n" does not match ``^...$``, an Arabic-Indic digit is not ``\\d``).
    """
    problems: list[StringProblem] = []
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        problems.append(
            StringProblem(
                Violation.TOO_SHORT, f"Member must have length greater than or equal to {low}"
            )
        )
    if high is not None and len(value) > high:
        problems.append(
            StringProblem(
                Violation.TOO_LONG, f"Member must have length less than or equal to {high}"
            )
        )
    if shape.enum and value not in shape.enum:
        problems.append(
            StringProblem(
                Violation.NOT_IN_ENUM,
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]",
            )
        )
    pattern = shape.metadata.get("pattern")
    # Smithy patterns are unanchored: search, not match.
    if pattern and not problems and not patterns.search(pattern, value):
        problems.append(
            StringProblem(
                Violation.NO_PATTERN_MATCH,
                f"Member must satisfy regular expression pattern: {pattern}",
            )
        )
    return problems


@cache
def input_member(operation: str, *path: str, service: str = PROTON) -> Shape:
    """The shape of a member of ``operation``'s input, e.g. ("compatibleEnvironmentTemplates",
    "majorVersion"); list members are stepped through."""
    shape: Shape | None = service_model(service).operation_model(operation).input_shape
    for name in path:
        while isinstance(shape, ListShape):
            shape = shape.member
        if not isinstance(shape, StructureShape) or name not in shape.members:
            raise LookupError(f"{name!r} is not a member on the path {path} of {operation}")
        shape = shape.members[name]
    assert shape is not None
    return shape


def member_problems(
    operation: str, path: tuple[str, ...], value: str, *, service: str = PROTON
) -> list[StringProblem]:
    """``string_problems`` for a member of ``operation``'s input named by ``path``."""
    return string_problems(input_member(operation, *path, service=service), value)


def _compile_model_patterns() -> None:
    # Every pattern of both models compiles on the linear-time engine, or start-up fails
    # naming the shape (as registry.py does for operation names).
    for service in (PROTON, BARYON):
        for name, shape in load_json(service, "service-2")["shapes"].items():
            if "pattern" not in shape:
                continue
            try:
                patterns.compile_pattern(shape["pattern"])
            except patterns.PatternError as exc:
                raise LookupError(
                    f"{service} shape {name}: pattern {shape['pattern']!r} {exc}"
                ) from None


_compile_model_patterns()


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
    for problem in string_problems(shape, value):
        report.add(path, value, sensitive, problem.constraint)
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
        return _from_epoch(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            return _from_epoch(number)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:  # in UTC, as stored; an offset can carry year 1 or 9999 out of range
            return parsed.astimezone(UTC)
        except OverflowError:
            return None
    return None


def _from_epoch(seconds: float) -> datetime | None:
    """None for seconds no datetime holds: NaN, infinities, and values past year 1 or 9999
    (or the platform's time_t), which datetime refuses with three different errors."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
