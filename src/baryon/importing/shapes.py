"""Checks a JSON document the AWS CLI printed against the Proton model's output shape.

The export is whatever `aws proton get-*` printed, so its members are the model's: this walks
the vendored botocore model (the same one the API serves) instead of hand-written field lists.
Required members, types, enums and lengths are checked; timestamps (the CLI prints ISO 8601,
or epoch seconds with ``cli_timestamp_format = none``) become aware datetimes. Members the
vendored model does not know are left out with a warning: a newer CLI may print more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from baryon.importing.errors import ExportError
from baryon.patterns import search
from baryon.service_models import PROTON, service_model


@dataclass
class ShapeReading:
    """A checked document and what was left out of it."""

    value: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def read_output(operation: str, document: Any, *, file: str) -> ShapeReading:
    """``document`` as operation ``operation``'s output (``GetEnvironment`` and so on)."""
    shape = service_model(PROTON).operation_model(operation).output_shape
    assert isinstance(shape, StructureShape)
    warnings: list[str] = []
    value = _structure(shape, document, file, "", warnings)
    return ShapeReading(value, warnings)


def _where(path: str, member: str | int) -> str:
    if isinstance(member, int):
        return f"{path}[{member}]"
    return f"{path}.{member}" if path else member


def _value(shape: Shape, value: Any, file: str, path: str, warnings: list[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        return _structure(shape, value, file, path, warnings)
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            raise ExportError(f"must be a list, not {_kind(value)}", file=file, field=path)
        return [
            _value(shape.member, item, file, _where(path, index), warnings)
            for index, item in enumerate(value)
        ]
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            raise ExportError(f"must be an object, not {_kind(value)}", file=file, field=path)
        return {
            _value(shape.key, key, file, path, warnings): _value(
                shape.value, item, file, _where(path, str(key)), warnings
            )
            for key, item in value.items()
        }
    if kind == "string":
        return _string(shape, value, file, path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExportError(f"must be a whole number, not {_kind(value)}", file=file, field=path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ExportError(f"must be true or false, not {_kind(value)}", file=file, field=path)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExportError(f"must be a number, not {_kind(value)}", file=file, field=path)
        return value
    if kind == "timestamp":
        return _timestamp(value, file, path)
    raise ExportError(f"has a member type ({kind}) an export never holds", file=file, field=path)


def _structure(
    shape: StructureShape, value: Any, file: str, path: str, warnings: list[str]
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExportError(f"must be an object, not {_kind(value)}", file=file, field=path or None)
    result: dict[str, Any] = {}
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            warnings.append(
                f"{file}: {_where(path, name)} is not in Baryon's Proton model; ignored"
            )
            continue
        if item is None:
            continue  # the CLI prints null for members some SDKs leave unset
        result[name] = _value(member, item, file, _where(path, name), warnings)
    for name in shape.required_members:
        if name not in result:
            raise ExportError("is required and missing", file=file, field=_where(path, name))
    return result


def _string(shape: Shape, value: Any, file: str, path: str) -> str:
    if not isinstance(value, str):
        raise ExportError(f"must be a string, not {_kind(value)}", file=file, field=path)
    largest = shape.metadata.get("max")
    if largest is not None and len(value) > largest:
        raise ExportError(
            f"is {len(value):,} characters; Proton allows at most {largest:,}",
            file=file,
            field=path,
        )
    pattern = shape.metadata.get("pattern")
    if pattern and not search(pattern, value):
        raise ExportError(
            f"is {value[:100]!r}, which does not match Proton's pattern {pattern}",
            file=file,
            field=path,
        )
    allowed = shape.metadata.get("enum")
    if allowed and value not in allowed:
        raise ExportError(
            f"is {value[:100]!r}; Proton's values are {', '.join(allowed)}", file=file, field=path
        )
    return value


def _timestamp(value: Any, file: str, path: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ExportError("is not a time", file=file, field=path) from None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ExportError(
        "must be a time as the AWS CLI prints it (ISO 8601, or seconds since 1970)",
        file=file,
        field=path,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
