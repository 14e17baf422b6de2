"""Cedar decisions: a set of named policies, compiled once, asked "may this principal do this
to this resource?".

A stored policy (a name and Cedar text) may hold several Cedar statements; each becomes one
Cedar policy whose id is the stored name, or ``name/<id>`` when the statement carries an
``@id("...")`` annotation, or ``name#<n>`` for the n-th unannotated one of several. So the
reasons a decision gives name the stored policy that decided it.

The same engine answers the access question (``decide``: may this principal make this call?)
and the approval one (approval.py: does this change wait for approval?); each has its own
schema (schema.py), and ``Policies.ask`` is the one place Cedar is asked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy
import orjson

from baryon.auth.policies import schema
from baryon.auth.policies.actions import namespace_of
from baryon.auth.policies.facts import ResourceFacts
from baryon.auth.principals import Principal, PrincipalKind

_PRINCIPAL_TYPES: dict[PrincipalKind, str] = {
    PrincipalKind.USER: "Baryon::User",
    PrincipalKind.ROBOT: "Baryon::Robot",
    PrincipalKind.ACCOUNT: "Baryon::AccountKey",
    PrincipalKind.PROGRAM: "Baryon::Program",
    PrincipalKind.SYSTEM: "Baryon::System",
}

MAX_POLICY_TEXT = 64 * 1024  # characters of one stored policy: ample for hand-written Cedar
# Access decisions a compiled set remembers (least recently asked dropped first): enough for
# every principal's usual calls on the resources they poll; at most a few MiB per process.
DECISIONS_KEPT = 4096


class InvalidPolicy(ValueError):
    """A policy's text does not parse, or does not fit the schema; the message names it."""


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    text: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]  # the policies that decided: what allowed it, or what forbade it
    errors: tuple[str, ...] = ()  # policies that failed to evaluate (they count as absent)


def _statements(policy: NamedPolicy) -> dict[str, Any]:
    """The policy's Cedar statements in Cedar's JSON form, keyed by their decision ids."""
    if len(policy.text) > MAX_POLICY_TEXT:
        raise InvalidPolicy(f"policy {policy.name}: longer than {MAX_POLICY_TEXT} characters")
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(policy.text))
    except ValueError as error:
        raise InvalidPolicy(f"policy {policy.name}: {error}") from error
    if parsed.get("templates"):
        raise InvalidPolicy(f"policy {policy.name}: Cedar templates (?principal) are not used")
    statements: dict[str, Any] = parsed.get("staticPolicies", {})
    ids: dict[str, Any] = {}
    for position, statement in enumerate(statements.values(), start=1):
        annotation = statement.get("annotations", {}).get("id")
        if annotation:
            key = f"{policy.name}/{annotation}"
        elif len(statements) == 1:
            key = policy.name
        else:
            key = f"{policy.name}#{position}"
        if key in ids:
            raise InvalidPolicy(f"policy {policy.name}: two statements have @id({annotation!r})")
        ids[key] = statement
    return ids


def check(policy: NamedPolicy, against: cedarpy.Schema | None = None) -> int:
    """Raises InvalidPolicy unless the text parses and every statement fits the schema (names
    real actions, entity types and attributes, compares like with like); ``against`` is the
    access schema unless given (approval rules: schema.approval_schema()). Returns how many
    statements the policy holds."""
    count = len(_statements(policy))
    result = cedarpy.validate_policies(policy.text, against or schema.schema())
    if not result.validation_passed:
        problems = sorted({error.error for error in result.errors})
        raise InvalidPolicy(f"policy {policy.name}: " + "; ".join(problems[:5]))
    return count


class Policies:
    """A compiled set of named policies; immutable, shared by every request of a process."""

    def __init__(self, policies: Iterable[NamedPolicy], generation: int = 0) -> None:
        self.generation = generation
        self.names: tuple[str, ...] = ()
        statements: dict[str, Any] = {}
        problems: list[str] = []
        names: list[str] = []
        self._owners: dict[str, str] = {}
        for policy in policies:
            names.append(policy.name)
            try:
                found = _statements(policy)
                statements.update(found)
                self._owners.update(dict.fromkeys(found, policy.name))
            except InvalidPolicy as error:
                # Stored policies were checked when put; one that no longer parses (a newer
                # Cedar) is left out, and every decision says so, rather than locking all out.
                problems.append(str(error))
        self.names = tuple(names)
        self.problems = tuple(problems)
        document = {"staticPolicies": statements, "templates": {}, "templateLinks": []}
        self._set = cedarpy.PolicySet.from_json_str(json.dumps(document))
        # An access decision is a pure function of this set (one policy generation), the
        # request and the entities Cedar is given, so the same question is answered from
        # memory, keyed by exactly that input (principal with its teams and roles, action,
        # resource facts, context). A new generation is a new Policies: nothing outlives it.
        self._decided = functools.lru_cache(maxsize=DECISIONS_KEPT)(self._decide_json)

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: ResourceFacts,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        namespace = namespace_of(action)
        if namespace is None:
            return Decision(False, (), (f"{action} is not an operation of Proton or Baryon",))
        entities = [*principal_entities(principal), resource_entity(resource)]
        request = {
            "principal": principal_uid(principal),
            "action": {"type": f"{namespace}::Action", "id": action},
            "resource": {"type": resource.kind.cedar_type, "id": resource.name},
            "context": {
                "major_upgrade": resource.major_upgrade,
                "request_tags": _tag_set(resource.request_tags),
                "environment_tags": _tag_set(resource.environment_tags),
                **(context or {}),
            },
        }
        return self._decided(_json_key(request), _json_key(entities))

    def _decide_json(self, request: bytes, entities: bytes) -> Decision:
        return self.ask(orjson.loads(request), entities.decode(), schema.schema())

    def ask(
        self,
        request: Mapping[str, Any],
        entities: list[dict[str, Any]] | str,
        against: cedarpy.Schema,
    ) -> Decision:
        """Cedar's answer to a request in Cedar's JSON form, its entities (a list, or that
        list as JSON) checked against ``against`` (a request that does not fit is denied,
        saying why)."""
        result = cedarpy.is_authorized(dict(request), self._set, entities, against)
        errors = tuple(str(error) for error in result.diagnostics.errors) + self.problems
        return Decision(result.allowed, tuple(result.diagnostics.reasons), errors)

    def owner(self, reason: str) -> str:
        """The stored policy a decision's reason (a statement id) belongs to."""
        return self._owners.get(reason, reason)


def decide(
    policies: Policies,
    principal: Principal,
    action: str,
    resource: ResourceFacts,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """May ``principal`` perform ``action`` (an operation's name: "DeleteEnvironment",
    "StartImport") on ``resource``? ``context`` adds to the facts' own Cedar context."""
    return policies.decide(principal, action, resource, context)


def _json_key(value: Any) -> bytes:
    """``value`` as JSON, the same bytes for the same content (keys sorted)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _tag_set(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in sorted(tags.items())]


def _bare(entity_type: str, entity_id: str) -> dict[str, Any]:
    return {"uid": {"type": entity_type, "id": entity_id}, "attrs": {}, "parents": []}


def principal_uid(principal: Principal) -> dict[str, str]:
    return {"type": _PRINCIPAL_TYPES[principal.kind], "id": principal.name}


def principal_entities(principal: Principal) -> list[dict[str, Any]]:
    """The principal, and its teams and roles (they exist so that ``in`` finds them)."""
    parents = [{"type": "Baryon::Team", "id": team} for team in sorted(principal.teams)]
    parents += [{"type": "Baryon::Role", "id": role} for role in sorted(principal.roles)]
    entity = {"uid": principal_uid(principal), "attrs": {"name": principal.name}}
    return [{**entity, "parents": parents}, *(_bare(p["type"], p["id"]) for p in parents)]


def resource_entity(resource: ResourceFacts) -> dict[str, Any]:
    return {
        "uid": {"type": resource.kind.cedar_type, "id": resource.name},
        "attrs": {name: getattr(resource, name) for name in schema.RESOURCE_ATTRIBUTES},
        "parents": [],
        "tags": dict(resource.tags),
    }
