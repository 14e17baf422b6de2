"""The documents Proton hands to Terraform and CodeBuild: a namespace, in file key order.

Reference section 4.3 gives the observed shapes (2022-2023 files written by Proton). Each
kind lists its blocks and, per block, the keys in the order Proton wrote them; building the
document from these lists (never by dumping the namespace) keeps Jinja-only entries such as
``service_instance.environment`` out, and the key order stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

ResourceKind = Literal["environment", "service_instance", "pipeline", "component"]
KINDS: tuple[ResourceKind, ...] = ("environment", "service_instance", "pipeline", "component")

_ENVIRONMENT_OUTPUTS = ("account_id", "name", "outputs")
_SERVICE = ("name", "repository_connection_arn", "repository_id", "branch_name")
_COMPONENT = ("name", "outputs")

# kind -> [(block, keys, required)]; a block that is not required appears only when the
# namespace has it (a component's service and service_instance, while attached).
_BLOCKS: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {
    "environment": [("environment", ("name", "inputs"), True)],
    "service_instance": [
        ("environment", _ENVIRONMENT_OUTPUTS, True),
        ("service", _SERVICE, True),
        ("service_instance", ("name", "inputs", "components"), True),
    ],
    "pipeline": [
        ("pipeline", ("inputs",), True),
        ("service", _SERVICE, True),
        ("service_instances", ("name", "inputs", "outputs", "environment"), True),
    ],
    "component": [
        ("component", ("name",), True),
        ("environment", _ENVIRONMENT_OUTPUTS, True),
        ("service", ("name",), False),
        ("service_instance", ("name", "inputs"), False),
    ],
}


def inputs_document(kind: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    if kind not in _BLOCKS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {', '.join(KINDS)}")
    document: dict[str, Any] = {}
    for block, keys, required in _BLOCKS[kind]:
        if block not in namespace:
            if required:
                raise ValueError(f"a {kind} namespace needs {block!r}")
            continue
        value = namespace[block]
        if block == "service_instances":
            document[block] = [_instance_item(item) for item in value]
        else:
            document[block] = _pick(value, keys, block)
    return document


def infer_kind(namespace: Mapping[str, Any]) -> ResourceKind:
    """Which builder of context.py made this namespace."""
    if "component" in namespace:
        return "component"
    if "pipeline" in namespace:
        return "pipeline"
    if "service_instance" in namespace:
        return "service_instance"
    return "environment"


def _instance_item(item: Mapping[str, Any]) -> dict[str, Any]:
    picked = _pick(item, ("name", "inputs", "outputs", "environment"), "service_instances[]")
    picked["environment"] = _pick(
        item["environment"], _ENVIRONMENT_OUTPUTS, "service_instances[].environment"
    )
    return picked


def _pick(value: Mapping[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    picked = {key: _plain(value[key]) for key in keys}
    if "components" in picked:
        picked["components"] = {
            name: _pick(component, _COMPONENT, f"{where}.components.{name}")
            for name, component in picked["components"].items()
        }
    return picked


def _plain(value: Any) -> Any:
    # Copies, so the document never aliases the namespace it came from.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
