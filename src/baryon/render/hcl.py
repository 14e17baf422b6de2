"""Terraform variable files (.tfvars) in HCL, for CodeBuild bundles with ``input_type: HCL``.

Laid out as ``terraform fmt`` would: two-space indentation and ``=`` aligned across
neighbouring single-line attributes. Strings escape ``${`` and ``%{`` so that input values
are never evaluated as Terraform template expressions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def hcl_tfvars(document: Mapping[str, Any]) -> str:
    return "".join(line + "\n" for line in _attributes(document, 0))


def _attributes(values: Mapping[str, Any], level: int) -> list[str]:
    entries = [(_key(key), _value(item, level)) for key, item in values.items()]
    lines: list[str] = []
    group: list[tuple[str, list[str]]] = []

    def flush() -> None:
        width = max((len(key) for key, _ in group), default=0)
        lines.extend(f"{'  ' * level}{key.ljust(width)} = {value[0]}" for key, value in group)
        group.clear()

    for key, value in entries:
        if len(value) == 1:
            group.append((key, value))
            continue
        flush()  # like terraform fmt, a multi-line value ends an alignment group
        lines.append(f"{'  ' * level}{key} = {value[0]}")
        lines.extend(value[1:])
    flush()
    return lines


def _value(value: Any, level: int) -> list[str]:
    """The value's lines; the first continues the attribute line, the rest are complete."""
    if isinstance(value, Mapping):
        if not value:
            return ["{}"]
        return ["{", *_attributes(value, level + 1), f"{'  ' * level}}}"]
    if isinstance(value, list | tuple):
        items = [_value(item, level + 1) for item in value]
        if all(len(item) == 1 for item in items):
            return ["[" + ", ".join(item[0] for item in items) + "]"]
        lines = ["["]
        for item in items:
            lines.append(f"{'  ' * (level + 1)}{item[0]}")
            lines.extend(item[1:])
            lines[-1] += ","
        return [*lines, f"{'  ' * level}]"]
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value, allow_nan=False)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"{type(value).__name__} values cannot be written as HCL")


def _string(text: str) -> str:
    # JSON escapes are HCL escapes too (\n, \", \\, \uXXXX); then disarm template sequences.
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("${", "$${").replace("%{", "%%{")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"HCL object keys must be strings, got {key!r}")
    return key if _IDENTIFIER.match(key) else _string(key)
