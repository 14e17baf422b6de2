"""Output serialization driven by the model.

Walks the operation's output shape so that only modeled members leave the server, timestamps
go out as epoch seconds (awsJson has no timestampFormat for Proton), unions carry exactly one
member, and a missing required member is caught as a server bug instead of reaching clients.

Each shape is compiled once per process into a function of the value (members, required
names, union or not looked up then, not per value), and the path of a misfit is put together
only when there is one: a page of 50 summaries spent a third of a listing's CPU walking the
shapes and formatting paths nobody read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

Serializer = Callable[[Any], Any]


class OutputShapeError(Exception):
    """A handler returned something its output shape does not allow (a Baryon bug)."""


class _Misfit(Exception):
    """What does not fit, and where (innermost step first), on its way up to serialize_output,
    which names the whole path."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []


def serialize_output(shape: StructureShape | None, data: dict[str, Any] | None) -> dict[str, Any]:
    if shape is None:
        return {}
    try:
        result: dict[str, Any] = _compiled(shape)(data or {})
    except _Misfit as misfit:
        path = shape.name + "".join(reversed(misfit.where))
        raise OutputShapeError(f"{path}: {misfit.message}") from None
    return result


@functools.cache
def _compiled(shape: Shape) -> Serializer:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape)
    if kind == "list":
        return _list(shape)
    if kind == "timestamp":
        return _epoch
    if kind == "string":
        return _string
    if kind in ("integer", "long"):
        return int
    if kind == "boolean":
        return bool
    return _unsupported(kind)


def _structure(shape: StructureShape) -> Serializer:
    required = tuple(shape.required_members)
    union = shape.is_tagged_union
    # Members are compiled at first use: a shape may contain itself.
    members: list[tuple[str, Serializer]] | None = None

    def serialize(value: Any) -> dict[str, Any]:
        nonlocal members
        if members is None:
            members = [(name, _compiled(m)) for name, m in shape.members.items()]
        if not isinstance(value, dict):
            raise _Misfit(f"expected an object, got {type(value).__name__}")
        result: dict[str, Any] = {}
        for name, member in members:
            item = value.get(name)
            if item is None:
                continue
            try:
                result[name] = member(item)
            except _Misfit as misfit:
                misfit.where.append(f".{name}")
                raise
        missing = [name for name in required if name not in result]
        if missing:
            raise _Misfit(f"required member(s) missing: {', '.join(missing)}")
        if union and len(result) != 1:
            raise _Misfit(f"a union must have exactly one member, has {len(result)}")
        return result

    return serialize


def _list(shape: ListShape) -> Serializer:
    def serialize(value: Any) -> list[Any]:
        member = _compiled(shape.member)
        result: list[Any] = []
        try:
            for item in value:
                result.append(member(item))
        except _Misfit as misfit:
            misfit.where.append(f"[{len(result)}]")  # the item that did not fit
            raise
        return result

    return serialize


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Misfit(f"expected a string, got {type(value).__name__}")
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(aware.timestamp(), 3)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _Misfit(f"expected a timestamp, got {type(value).__name__}")


def _unsupported(kind: str) -> Serializer:
    def serialize(value: Any) -> Any:
        raise _Misfit(f"unsupported shape type {kind}")

    return serialize
