"""The values a template sees: read-only containers that know where they sit.

Two Proton rules shape this module (reference section 3.3):

* a missing single property fails the render, so an error must say which one; every
  container carries its path in the namespace ("service_instance.inputs") and the sandbox
  builds the strict "undefined" with that path as the hint;
* a whole missing object renders as ``{}``: ``service_instance.components.default`` and its
  ``outputs`` exist even when no component is attached. The *optional* shape lists the keys
  that answer an empty container instead of failing, so ``.outputs | length`` and
  ``.outputs | proton_cfn_iam_policy_arns`` work, while ``.outputs.x`` still fails.

The containers are dict and list subclasses so that filters (``tojson``, ``dictsort``) and
json serialisation treat them as the plain data they hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from baryon.render.errors import RenderError
from baryon.render.indentation import BLOCK_END, BLOCK_START

Shape = Mapping[str, "Shape"]

# The whole component, and its outputs, render as {} when none is attached.
OPTIONAL_SHAPE: Shape = {"service_instance": {"components": {"default": {"outputs": {}}}}}
_NO_SHAPE: Shape = {}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ContextDict(dict):  # type: ignore[type-arg]
    """A mapping of the namespace, with its dotted path and its optional keys."""

    __slots__ = ("_optional", "_path")

    def __init__(self, data: Mapping[str, Any], path: str, optional: Shape) -> None:
        super().__init__(data)
        self._path = path
        self._optional = optional

    def absent(self, key: str) -> ContextDict | None:
        """The empty stand-in for a missing optional key, or None if the key is required."""
        if key in self._optional:
            return ContextDict({}, child_path(self._path, key), self._optional[key])
        return None


class ContextList(list):  # type: ignore[type-arg]
    __slots__ = ("_path",)

    def __init__(self, items: list[Any], path: str) -> None:
        super().__init__(items)
        self._path = path


def path_of(container: ContextDict | ContextList) -> str:
    return container._path


def child_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def wrap_namespace(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Plain namespace data (see context.py) -> what templates see."""
    return {
        name: wrap_value(value, name, OPTIONAL_SHAPE.get(name, _NO_SHAPE))
        for name, value in namespace.items()
    }


def wrap_value(value: Any, path: str, optional: Shape = _NO_SHAPE) -> Any:
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RenderError(f"{path}: key {key!r} is not a string")
            items[key] = wrap_value(item, child_path(path, key), optional.get(key, _NO_SHAPE))
        return ContextDict(items, path, optional)
    if isinstance(value, list | tuple):
        return ContextList(
            [wrap_value(item, child_path(path, index)) for index, item in enumerate(value)], path
        )
    if isinstance(value, str):
        if BLOCK_START in value or BLOCK_END in value:
            # These two characters mark re-indented filter output; they are not valid in
            # YAML either, so no real input needs them.
            raise RenderError(f"{path}: control characters U+0002/U+0003 are not allowed")
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise RenderError(f"{path}: {type(value).__name__} values cannot be rendered")
