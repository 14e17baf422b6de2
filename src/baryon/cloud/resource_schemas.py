"""CloudFormation's published resource schemas: which types exist and what they offer.

The schemas are the registry documents AWS publishes per region (``typeName``, ``properties``,
``readOnlyProperties``, ``primaryIdentifier``, ...), as cfn-lint ships them: a provider index
per region (type name -> schema file) and one JSON file per distinct schema. cfn-lint is a
pinned dependency, so the catalog changes only when the pin does, like the botocore model.
Nothing here keeps a hand-written list of types or attributes.

Schemas load lazily, one file per type on first use (~1,400 types per region; reading them
all would cost about a second at start-up for types a stack never names).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_REGION = "us-east-1"
_SCHEMAS = resources.files("cfnlint") / "data" / "schemas"
_lock = threading.Lock()


@dataclass(frozen=True)
class ResourceType:
    """One resource type as its schema states it."""

    name: str  # e.g. "AWS::ServiceDiscovery::Service"
    schema: Mapping[str, Any]

    @property
    def attributes(self) -> tuple[str, ...]:
        """What ``Fn::GetAtt`` may ask for: the read-only properties, nested ones dotted
        (``/properties/Endpoint/Address`` -> ``Endpoint.Address``)."""
        return tuple(_property_name(path) for path in self.schema.get("readOnlyProperties", ()))

    @property
    def primary_identifier(self) -> tuple[str, ...]:
        return tuple(_property_name(path) for path in self.schema.get("primaryIdentifier", ()))

    @property
    def create_only(self) -> frozenset[str]:
        """Properties whose change replaces the resource."""
        return frozenset(
            _property_name(path) for path in self.schema.get("createOnlyProperties", ())
        )

    def property_schema(self, path: tuple[str, ...]) -> Mapping[str, Any] | None:
        """The schema of a (nested) property, ``$ref``s followed; None if the schema has none."""
        node: Mapping[str, Any] | None = self.schema
        for step in path:
            node = _resolve(self.schema, node)
            if node is None:
                return None
            if step.isdigit() or step == "*":
                node = node.get("items")
            else:
                node = (node.get("properties") or {}).get(step)
        return _resolve(self.schema, node)

    def attribute_schema(self, attribute: str) -> Mapping[str, Any] | None:
        """The schema of a GetAtt attribute as ``attributes`` names it (dotted when nested)."""
        return self.property_schema(tuple(attribute.split(".")))

    @property
    def service_prefix(self) -> str:
        """The service name ARNs and IAM actions use for this type (``AWS::KinesisFirehose::*``
        -> ``firehose``), read from the schema's own handler permissions; else the type's
        service segment in lower case."""
        namespace = self.name.split("::")[1].lower()
        permissions = (self.schema.get("handlers") or {}).get("create", {}).get("permissions", ())
        candidates = {str(p).split(":", 1)[0] for p in permissions if ":" in str(p)}
        fitting = [
            prefix
            for prefix in candidates
            if (flat := prefix.replace("-", "")) in namespace or namespace in flat
        ]
        return max(fitting, key=len) if fitting else namespace


def _property_name(path: str) -> str:
    return path.removeprefix("/properties/").replace("/", ".")


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    seen = 0
    while node is not None and "$ref" in node and seen < 32:
        reference = str(node["$ref"])
        if not reference.startswith("#/"):
            return None
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        node = target if isinstance(target, Mapping) else None
        seen += 1
    return node


@cache
def _index(region: str) -> Mapping[str, str]:
    providers = _SCHEMAS / "providers"
    source = providers / f"{region}.json"
    if not source.is_file():
        source = providers / f"{DEFAULT_REGION}.json"
    index: dict[str, str] = json.loads(source.read_text())
    return index


@cache
def _schema_file(digest: str) -> Mapping[str, Any]:
    document: Mapping[str, Any] = json.loads(
        (_SCHEMAS / "resources" / f"{digest}.json").read_text()
    )
    return document


def type_names(region: str = DEFAULT_REGION) -> frozenset[str]:
    """Every resource type CloudFormation offers in ``region``."""
    return frozenset(_index(region))


def resource_type(name: str, region: str = DEFAULT_REGION) -> ResourceType | None:
    """The type's schema, or None when CloudFormation has no such type in ``region``."""
    digest = _index(region).get(name)
    if digest is None:
        return None
    with _lock:  # one reader per file: the local cloud serves requests on threads
        return ResourceType(name, _schema_file(digest))
