"""Hostile request bodies for every operation of a service model, made from the model itself.

Each case starts from a valid input (tests/support/model_inputs.py) and breaks one member:
a wrong type, a length at or past its limits, a string built to make a backtracking regular
expression engine crawl, invalid Unicode, a number out of range or not a number at all, a list
too long, a structure with members it does not have. Raw cases break the body as a whole:
deep nesting, bytes that are not UTF-8, lone surrogates, JSON that is not an object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, Shape

from tests.support.model_inputs import sample_value

# Deep enough to overflow a recursive decoder or validator, small enough to send quickly.
DEEP = 100_000
# Long strings: far past every model limit, as the hardening issue's probes were.
LONG = 30_000
# How far below an operation's input the walk goes; Proton's inputs are shallow.
MAX_DEPTH = 4


@dataclass(frozen=True)
class FuzzCase:
    operation: str
    label: str
    body: bytes


def _json(value: Any) -> bytes:
    # NaN and Infinity stay in: JavaScript clients cannot send them, but a hostile client can.
    return json.dumps(value, allow_nan=True).encode()


def _pathological_strings(shape: Shape) -> Iterator[tuple[str, str]]:
    """Strings that make backtracking engines slow on the model's patterns, and their kin."""
    yield "trailing newline", "probe\n"
    yield "arabic-indic digits", "\u0661\u0662" * 6
    yield "mixed digits", "1\u0661"
    yield "nul byte", "pro\x00be"
    yield "non-ascii letters", "pröbe-ñame"
    yield "long run then a bad char", "a" * LONG + "!"
    yield "long digits then a newline", "1" * LONG + "\n"
    yield "long arn-shaped", "arn:aws:iam::123456789012:role/" + "a/" * (LONG // 2) + "!"
    yield "long repository-shaped", "a/" * (LONG // 2) + "\n"
    yield "long dotted bucket", "a" + "-." * (LONG // 2) + "-"
    if shape.metadata.get("pattern"):
        yield "huge", "b" * 100_000


def _string_values(shape: Shape) -> Iterator[tuple[str, Any]]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low:
        yield "length below min", "a" * (low - 1)
        yield "length at min", "a" * low
    if high is not None:
        yield "length at max", "a" * high
        yield "length past max", "a" * (high + 1)
    if shape.enum:
        yield "not in enum", "NOT_A_MEMBER_OF_THE_ENUM"
        yield "enum in lower case", shape.enum[0].lower()
    yield from _pathological_strings(shape)
    yield "a number", 12
    yield "an object", {"a": "b"}
    yield "a list", ["a"]


def _number_values(shape: Shape) -> Iterator[tuple[str, Any]]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None:
        yield "below min", low - 1
    if high is not None:
        yield "above max", high + 1
    yield "huge", 10**400
    yield "negative huge", -(10**30)
    yield "fraction", 1.5
    yield "nan", float("nan")
    yield "infinity", float("inf")
    yield "a string", "1"
    yield "a boolean", True


def _timestamp_values() -> Iterator[tuple[str, Any]]:
    yield "far future", 1e20
    yield "far past", -1e20
    yield "nan", float("nan")
    yield "infinity", float("inf")
    yield "huge integer", 10**400
    yield "text", "not a time"
    yield "iso without zone", "2026-13-45T99:99:99"
    yield "a boolean", True
    yield "an object", {"a": 1}


def _values(shape: Shape) -> Iterator[tuple[str, Any]]:
    kind = shape.type_name
    yield "null", None
    if kind == "string":
        yield from _string_values(shape)
    elif kind in ("integer", "long", "float", "double"):
        yield from _number_values(shape)
    elif kind == "boolean":
        yield "a string", "true"
        yield "a number", 1
    elif kind == "timestamp":
        yield from _timestamp_values()
    elif kind == "list":
        high = shape.metadata.get("max")
        if high is not None:
            yield "too many items", [sample_value(shape.member)] * (high + 1)  # type: ignore[attr-defined]
        yield "items of the wrong type", [[["x"]], {"a": 1}, 3.5]
        yield "null items", [None, None]
        yield "an object", {"a": 1}
        yield "ten thousand items", ["x"] * 10_000
    elif kind == "structure":
        yield "a string", "x"
        yield "a list", [{}]
        yield "unknown member", {"notAMember": 1, "__proto__": {"a": 1}}
        members = list(shape.members)  # type: ignore[attr-defined]
        if len(members) > 1:
            yield (
                "two members of a union",
                {
                    name: sample_value(shape.members[name])  # type: ignore[attr-defined]
                    for name in members[:2]
                },
            )
    else:
        yield "a string", "x"


def _paths(
    shape: Shape, path: tuple[Any, ...], depth: int
) -> Iterator[tuple[tuple[Any, ...], Shape]]:
    """Every member reachable from ``shape``: its path (names and list indexes) and shape."""
    if depth > MAX_DEPTH:
        return
    if shape.type_name == "structure":
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            yield (*path, name), member
            yield from _paths(member, (*path, name), depth + 1)
    elif shape.type_name == "list":
        yield (*path, 0), shape.member  # type: ignore[attr-defined]
        yield from _paths(shape.member, (*path, 0), depth + 1)  # type: ignore[attr-defined]


def _with(shape: Shape, path: tuple[Any, ...], value: Any) -> Any:
    """A valid input for ``shape`` in which the member at ``path`` holds ``value``."""
    base = sample_value(shape)
    if not path:
        return value
    step, rest = path[0], path[1:]
    if shape.type_name == "list":
        return [_with(shape.member, rest, value)]  # type: ignore[attr-defined]
    member = shape.members[step]  # type: ignore[attr-defined]
    if shape.is_tagged_union:  # type: ignore[attr-defined]
        base = {}
    base[step] = _with(member, rest, value)
    return base


def member_cases(operation: OperationModel) -> Iterator[FuzzCase]:
    shape = operation.input_shape
    if shape is None:
        yield FuzzCase(operation.name, "unexpected member", _json({"notAMember": 1}))
        return
    for path, member_shape in _paths(shape, (), 0):
        where = ".".join(str(step) for step in path)
        for label, value in _values(member_shape):
            yield FuzzCase(operation.name, f"{where}: {label}", _json(_with(shape, path, value)))
        if member_shape.type_name == "string":
            # json.dumps escapes a lone surrogate as the six characters \ud800: the wire form.
            body = _json(_with(shape, path, "probe\ud800probe"))
            yield FuzzCase(operation.name, f"{where}: lone surrogate", body)


def raw_cases(operation: OperationModel) -> Iterator[FuzzCase]:
    name = operation.name
    member = next(iter(operation.input_shape.members), "x") if operation.input_shape else "x"
    key = b'{"' + member.encode() + b'":'

    def case(label: str, body: bytes) -> FuzzCase:
        return FuzzCase(name, label, body)

    yield case("deeply nested arrays", b"[" * DEEP + b"]" * DEEP)
    yield case("deeply nested objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP)
    yield case("deeply nested member", key + b"[" * DEEP + b"]" * DEEP + b"}")
    yield case("unclosed nesting", key + b"[" * DEEP)
    yield case("invalid utf-8", key + b'"\xff\xfe\xc0\xaf"}')
    yield case("overlong utf-8 nul", key + b'"\xc0\x80"}')
    yield case("raw surrogate bytes", key + b'"\xed\xa0\x80"}')
    yield case("escaped lone surrogate", key + b'"\\udfff"}')
    yield case("escaped surrogate pair reversed", key + b'"\\udc00\\ud800"}')
    yield case("not json", b"this is not json")
    yield case("json null", b"null")
    yield case("json list", b"[1, 2]")
    yield case("json string", b'"text"')
    yield case("huge exponent", key + b"1e999999}")
    yield case("huge integer literal", key + b"9" * 5000 + b"}")
    yield case("bare NaN", key + b"NaN}")
    yield case("duplicate keys", key + b"1," + key[1:] + b'"x"}')
    yield case("truncated", key + b'"abc')
    yield case("utf-8 bom", b"\xef\xbb\xbf{}")
    yield case("utf-16", "{}".encode("utf-16"))


def all_cases(model: Any) -> list[FuzzCase]:
    cases: list[FuzzCase] = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        cases.extend(member_cases(operation))
        cases.extend(raw_cases(operation))
    return cases
