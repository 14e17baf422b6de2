"""JSON in the layout Proton's own files have (Java's Jackson default pretty printer).

Objects put each entry on its own line, indented two spaces per object level, with
``"key" : value``; arrays stay on the line of their parent, ``[ a, b ]``, and do not add
indentation; empty containers are ``{ }`` and ``[ ]``; there is no trailing newline. Users
diff these files in their provisioning repositories, so matching Proton's layout keeps a
migration from showing every line as changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def jackson_dumps(value: Any) -> str:
    out: list[str] = []
    _write(value, 0, out)
    return "".join(out)


def _write(value: Any, level: int, out: list[str]) -> None:
    if isinstance(value, Mapping):
        if not value:
            out.append("{ }")
            return
        out.append("{")
        separator = "\n"
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            out.append(f"{separator}{'  ' * (level + 1)}{_scalar(key)} : ")
            _write(item, level + 1, out)
            separator = ",\n"
        out.append(f"\n{'  ' * level}}}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[ ]")
            return
        out.append("[ ")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _write(item, level, out)
        out.append(" ]")
    else:
        out.append(_scalar(value))


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, str | bool | int | float):
        # Jackson writes non-ASCII text as is and escapes control characters, like this.
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    raise TypeError(f"{type(value).__name__} values cannot be written as JSON")
