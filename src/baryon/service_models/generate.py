"""Writes the typed shapes of each service model: ``python -m baryon.service_models.generate``.

In the manner of LocalStack's generated API stubs, each service gets one checked-in module
(``proton.py``, ``baryon.py`` beside this file) generated from its vendored model: a
``StrEnum`` for every enum string shape and a ``TypedDict`` for every input and output
structure. TypedDicts, not dataclasses, because they type the wire form itself: the dicts
that ``api.validation.parse_input`` produces and ``api.serialization.serialize_output``
consumes, so operations become typed with no change in what runs. The modules sit in this
leaf package, not in operations/, so that the domain can use the model's enums too (one enum
per concept, its values taken from the model). tests/service_models/test_shapes_current.py
regenerates them in memory and fails when a checked-in module is stale.

How members are typed:

- A required member is a required key; an optional one is ``NotRequired``.
- An optional member of a structure that an operation's output reaches may also be None:
  the serializer treats None as unset, so views may leave a member empty that way. The
  parser never produces None, so optional input members are never None.
- An enum member is typed with its StrEnum. The parser hands in the wire string, which a
  StrEnum compares and hashes equal to (``request["deploymentType"] == DeploymentUpdateType
  .NONE``); compare with ``==`` or ``in``, never ``is``.
- Timestamps are datetimes (the parser makes them aware; the serializer takes any datetime).
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baryon.service_models import SERVICE_API_VERSIONS, load_json

HERE = Path(__file__).parent

_PRIMITIVES = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "boolean": "bool",
    "float": "float",
    "double": "float",
    "timestamp": "datetime",
    "blob": "bytes",
}


def module_path(service: str) -> Path:
    return HERE / f"{service}.py"


def generate(service: str) -> str:
    """The source of ``service``'s shapes module, from its vendored model."""
    model = load_json(service, "service-2")
    return _Generator(service, model).source()


class _Generator:
    def __init__(self, service: str, model: dict[str, Any]) -> None:
        self.service = service
        self.shapes: dict[str, dict[str, Any]] = model["shapes"]
        self.operations: dict[str, dict[str, Any]] = model["operations"]
        self.metadata: dict[str, Any] = model["metadata"]
        self.inputs = self._reachable("input")
        self.outputs = self._reachable("output")

    def _roots(self, direction: str) -> Iterator[str]:
        for operation in self.operations.values():
            if direction in operation:
                yield operation[direction]["shape"]

    def _children(self, name: str) -> Iterator[str]:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            for member in shape["members"].values():
                yield member["shape"]
        elif kind == "list":
            yield shape["member"]["shape"]
        elif kind == "map":
            yield shape["key"]["shape"]
            yield shape["value"]["shape"]

    def _reachable(self, direction: str) -> set[str]:
        seen: set[str] = set()
        pending = list(self._roots(direction))
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(self._children(name))
        return seen

    def _type(self, name: str) -> str:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure" or (kind == "string" and "enum" in shape):
            return name
        if kind == "list":
            return f"list[{self._type(shape['member']['shape'])}]"
        if kind == "map":
            key, value = shape["key"]["shape"], shape["value"]["shape"]
            return f"dict[{self._type(key)}, {self._type(value)}]"
        return _PRIMITIVES[kind]

    def _structures(self) -> list[str]:
        """Every input or output structure, each after the structures it names (the module
        is evaluated at import, so a class must exist before another names it)."""
        used = self.inputs | self.outputs
        wanted = sorted(n for n in used if self.shapes[n]["type"] == "structure")
        ordered: list[str] = []
        placed: set[str] = set()

        def place(name: str, path: tuple[str, ...]) -> None:
            if name in placed:
                return
            if name in path:
                raise ValueError(f"{self.service} shape {name} is recursive: {' -> '.join(path)}")
            for child in self._structure_children(name):
                place(child, (*path, name))
            placed.add(name)
            ordered.append(name)

        for name in wanted:
            place(name, ())
        return ordered

    def _structure_children(self, name: str) -> Iterator[str]:
        for child in self._children(name):
            kind = self.shapes[child]["type"]
            if kind == "structure":
                yield child
            elif kind in ("list", "map"):
                yield from self._structure_children(child)

    def _enums(self) -> list[str]:
        used = self.inputs | self.outputs
        return sorted(
            n for n in used if self.shapes[n]["type"] == "string" and "enum" in self.shapes[n]
        )

    def source(self) -> str:
        enums, structures = self._enums(), self._structures()
        for name in (*enums, *structures):
            if name in _RESERVED or keyword.iskeyword(name):
                raise ValueError(f"{self.service} shape {name} would shadow a Python name")
        body: list[str] = []
        for name in enums:
            body += ["", "", f"class {name}(StrEnum):"]
            body += [f"    {_member_name(v)} = {_quoted(v)}" for v in self.shapes[name]["enum"]]
        for name in structures:
            body += ["", "", *self._typed_dict(name)]
        text = "\n".join(body)
        imports = [
            line
            for line, used in (
                ("from datetime import datetime", "datetime" in text),
                ("from enum import StrEnum", bool(enums)),
                ("from typing import NotRequired, TypedDict", "NotRequired[" in text),
                ("from typing import TypedDict", "NotRequired[" not in text),
            )
            if used
        ]
        title = self.metadata.get("serviceFullName", self.service)
        header = [
            f'"""Typed shapes of the {title} model ({self.service} '
            f"{SERVICE_API_VERSIONS[self.service]}).",
            "",
            "Generated by ``python -m baryon.service_models.generate`` from the vendored model;",
            "do not edit (see generate.py for how members are typed).",
            '"""',
        ]
        if any(len(line) > 100 for line in body):
            header += ["", "# ruff: noqa: E501"]
        return "\n".join([*header, "", *imports, *body, ""])

    def _typed_dict(self, name: str) -> list[str]:
        shape = self.shapes[name]
        required = set(shape.get("required", ()))
        nullable = name in self.outputs
        fields: list[tuple[str, str]] = []
        for member, ref in shape["members"].items():
            annotation = self._type(ref["shape"])
            if member not in required:
                annotation = f"NotRequired[{annotation}{' | None' if nullable else ''}]"
            fields.append((member, annotation))
        if not fields:
            return [f"class {name}(TypedDict):", "    pass"]
        if any(keyword.iskeyword(m) or not m.isidentifier() for m, _ in fields):
            body = ", ".join(f"{_quoted(m)}: {a}" for m, a in fields)
            return [f"{name} = TypedDict({_quoted(name)}, {{{body}}})"]
        return [f"class {name}(TypedDict):"] + [f"    {m}: {a}" for m, a in fields]


_RESERVED = frozenset({"datetime", "StrEnum", "NotRequired", "TypedDict"})


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _member_name(value: str) -> str:
    # "deploymentStatus" -> DEPLOYMENT_STATUS, "IN_PROGRESS" stays.
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value)
    name = re.sub(r"\W", "_", name).upper()
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        name = "_" + name
    return name


def main() -> int:
    for service in SERVICE_API_VERSIONS:
        path = module_path(service)
        # Written aside, then renamed over the module: a process importing it meanwhile reads
        # the old module or the new one, never half of one.
        staged = path.with_suffix(".py.new")
        staged.write_text(generate(service), encoding="utf-8")
        staged.replace(path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
