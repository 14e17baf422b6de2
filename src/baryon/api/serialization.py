"""Output serialization driven by the model.

Walks the operation's output shape so that only modeled members leave the server, timestamps
go out as epoch seconds (awsJson has no timestampFormat for Proton), unions carry exactly one
member, and a missing required member is caught as a server bug instead of reaching clients.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape, StructureShape


class OutputShapeError(Exception):
    """A handler returned something its output shape does not allow (a Baryon bug)."""


def serialize_output(shape: StructureShape | None, data: dict[str, Any] | None) -> dict[str, Any]:
    if shape is None:
        return {}
    return _structure(shape, data or {}, shape.name)


def _structure(shape: StructureShape, value: dict[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OutputShapeError(f"{path}: expected an object, got {type(value).__name__}")
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        result[name] = _value(member, item, f"{path}.{name}")
    missing = [name for name in shape.required_members if name not in result]
    if missing:
        raise OutputShapeError(f"{path}: required member(s) missing: {', '.join(missing)}")
    if shape.is_tagged_union and len(result) != 1:
        raise OutputShapeError(f"{path}: a union must have exactly one member, has {len(result)}")
    return result


def _value(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path)  # type: ignore[arg-type]
    if kind == "list":
        return [_value(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "timestamp":
        return _epoch(value, path)
    if kind == "string":
        if not isinstance(value, str):
            raise OutputShapeError(f"{path}: expected a string, got {type(value).__name__}")
        return value
    if kind in ("integer", "long"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    raise OutputShapeError(f"{path}: unsupported shape type {kind}")


def _epoch(value: Any, path: str) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(aware.timestamp(), 3)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise OutputShapeError(f"{path}: expected a timestamp, got {type(value).__name__}")
