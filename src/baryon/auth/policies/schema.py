"""The Cedar schema policies are checked against: who may ask, what they ask to do, and what
they ask it about. Built from the service models, so that a new operation is an action here
the moment it is in a model.

Principals are ``Baryon::User`` and ``Baryon::Robot`` (and the kinds authorization never asks
Cedar about: ``Baryon::AccountKey``, ``Baryon::Program``, ``Baryon::System``); they are members
of ``Baryon::Team``s and of ``Baryon::Role``s, so a role is granted by ``principal in
Baryon::Role::"developer"`` whether it was given to the user or to one of its teams.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import cedarpy

from baryon.auth.policies.actions import BARYON_NAMESPACE, ActionGroup, all_operations, group_of
from baryon.auth.policies.facts import ResourceKind

PRINCIPAL_TYPES = ("User", "Robot", "AccountKey", "Program", "System")

# The attributes every resource entity has (ResourceFacts; "" where one does not apply).
RESOURCE_ATTRIBUTES = (
    "name",
    "arn",
    "environment_template",
    "service_template",
    "template_major_version",
    "environment",
    "service",
)

_STRING = {"type": "String"}


def _principal_types() -> dict[str, Any]:
    types: dict[str, Any] = {"Role": {}, "Team": {"memberOfTypes": ["Role"]}}
    for principal in PRINCIPAL_TYPES:
        types[principal] = {
            "memberOfTypes": ["Team", "Role"],
            "shape": {"type": "Record", "attributes": {"name": _STRING}},
        }
    return types


_RESOURCE_SHAPE = {
    "type": "Record",
    "attributes": {name: _STRING for name in RESOURCE_ATTRIBUTES},
}


def _entity_types() -> dict[str, Any]:
    types = _principal_types()
    for kind in ResourceKind:
        types[kind.cedar_type.removeprefix("Baryon::")] = {
            "shape": _RESOURCE_SHAPE,
            "tags": _STRING,
        }
    return types


_TAG_SET = {
    "type": "Set",
    "element": {"type": "Record", "attributes": {"key": _STRING, "value": _STRING}},
}
_CONTEXT = {
    "type": "Record",
    "attributes": {
        "major_upgrade": {"type": "Boolean"},
        "request_tags": _TAG_SET,
        "environment_tags": _TAG_SET,
    },
}


def _action(operation: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "appliesTo": {
            "principalTypes": [f"Baryon::{p}" for p in PRINCIPAL_TYPES],
            "resourceTypes": [kind.cedar_type for kind in ResourceKind],
            "context": _CONTEXT,
        }
    }
    group = group_of(operation)
    if group is not None:
        action["memberOf"] = [{"type": "Baryon::Action", "id": str(group)}]
    return action


@functools.cache
def schema_json() -> str:
    namespaces: dict[str, Any] = {}
    for namespace, operations in sorted(all_operations().items()):
        namespaces[namespace] = {
            "entityTypes": {},
            "actions": {name: _action(name) for name in sorted(operations)},
        }
    baryon = namespaces[BARYON_NAMESPACE]
    baryon["entityTypes"] = _entity_types()
    baryon["actions"].update({str(group): {} for group in ActionGroup})
    return json.dumps(namespaces, sort_keys=True)


@functools.cache
def schema() -> cedarpy.Schema:
    """Parsed once per process."""
    return cedarpy.Schema.from_json_str(schema_json())


# --- approval rules ---------------------------------------------------------------------------
# A second policy set, asked one question: does this deployment wait for approval? Its
# resource is the change about to deploy, not a call's target, so it has its own schema; the
# principals, teams, roles and the environment are the access schema's.

APPROVAL_ACTION = "RequireApproval"

# A change's attributes (auth/policies/approval.py ChangeFacts), besides its environment.
CHANGE_ATTRIBUTES = (
    "kind",
    "operation",
    "name",
    "service",
    "template",
    "current_version",
    "target_version",
)


def _approval_entity_types() -> dict[str, Any]:
    types = _principal_types()
    types["Environment"] = {"shape": _RESOURCE_SHAPE, "tags": _STRING}
    attributes: dict[str, Any] = {name: _STRING for name in CHANGE_ATTRIBUTES}
    attributes["major_upgrade"] = {"type": "Boolean"}
    attributes["environment"] = {"type": "Entity", "name": "Environment"}
    types["Deployment"] = {"shape": {"type": "Record", "attributes": attributes}, "tags": _STRING}
    return types


@functools.cache
def approval_schema_json() -> str:
    action = {
        "appliesTo": {
            "principalTypes": [f"Baryon::{p}" for p in PRINCIPAL_TYPES],
            "resourceTypes": ["Baryon::Deployment"],
            "context": {"type": "Record", "attributes": {}},
        }
    }
    namespaces = {
        BARYON_NAMESPACE: {
            "entityTypes": _approval_entity_types(),
            "actions": {APPROVAL_ACTION: action},
        }
    }
    return json.dumps(namespaces, sort_keys=True)


@functools.cache
def approval_schema() -> cedarpy.Schema:
    """Parsed once per process."""
    return cedarpy.Schema.from_json_str(approval_schema_json())
