"""Resource types moto does not model still deploy in the local cloud: it simulates them.

moto's CloudFormation knows a few hundred resource types; AWS offers about 1,400. For any
other type moto logs "Tried to parse X but it's not supported", leaves the resource out of
the stack, and then answers a 500 on the first ``Fn::GetAtt`` of it. Here every type that
CloudFormation's published schemas (`baryon.cloud.resource_schemas`) list and moto lacks is
a `SimulatedResource`: created, updated (in place, or replaced when a create-only property
changes) and deleted with its stack, with a physical id for ``Ref`` and a value for every
attribute the schema lets ``Fn::GetAtt`` ask for. A type in neither moto nor the schemas is
left alone: the template checker reports it as AWS does.

Values are derived from the stack, the logical id and a replacement counter, never drawn at
random, so a stack's outputs are stable across reads, updates in place and restarts. A value
follows the attribute's schema: its JSON type, its enum, and its pattern where one is given
(generated from the pattern when the conventional shape does not fit).

Nothing simulated may pass for real: the resource's stack events and its entries in
DescribeStackResources/ListStackResources carry `simulation_note` as ResourceStatusReason,
which Baryon's CloudFormation provisioner shows in the deployment log.

moto types whose ``get_cfn_attribute`` lacks an attribute that the schema lists get the same
kind of simulated value for it, so no GetAtt that AWS allows fails in the local cloud.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.common_models import CloudFormationModel
from rstr.xeger import Xeger

from baryon.cloud.patching import installs_once
from baryon.cloud.resource_schemas import DEFAULT_REGION, ResourceType, resource_type

# The key this class has in moto's model map (moto registers every CloudFormationModel
# subclass under its cloudformation_type()); no template names it.
SIMULATED_MODEL_KEY = "Baryon::LocalCloud::Simulated"
DEFAULT_ACCOUNT = "123456789012"
# Fallback GetAtt values of moto's own resources have no creation time of ours to show.
_FIXED_TIME = "2026-01-01T00:00:00Z"
_MISSING = object()


def simulation_note(type_name: str) -> str:
    return f"Simulated by the local cloud: moto does not model {type_name}"


# --- Values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a simulated value comes from: everything it is derived from."""

    stack_name: str
    logical_id: str
    account_id: str
    region: str
    seed: str  # stack id + logical id + generation: unique per physical resource
    created: str  # ISO 8601, fixed at creation

    def digest(self, salt: str) -> str:
        return hashlib.sha256(f"{self.seed}/{salt}".encode()).hexdigest()


def origin_for(
    stack_id: str, logical_id: str, account_id: str, region: str, generation: int
) -> Origin:
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
    parts = stack_id.split("/")
    stack_name = parts[1] if len(parts) > 2 else stack_id
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    seed = f"{stack_id}/{logical_id}/{generation}"
    return Origin(stack_name, logical_id, account_id, region, seed, created)


def physical_id(kind: ResourceType, origin: Origin, properties: Mapping[str, Any]) -> str:
    """What ``Ref`` answers: the primary identifier (a read-only one when it is composite),
    echoing what the template gave, else made up by the identifier's kind."""
    identifiers = kind.primary_identifier
    read_only = set(kind.attributes)
    chosen = [name for name in identifiers if name in read_only][:1] or list(identifiers)
    if not chosen:
        return _generated_name(origin, None)
    return "|".join(str(attribute_value(kind, name, origin, properties)) for name in chosen)


def attribute_values(
    kind: ResourceType, origin: Origin, properties: Mapping[str, Any]
) -> dict[str, Any]:
    return {name: attribute_value(kind, name, origin, properties) for name in kind.attributes}


def attribute_value(
    kind: ResourceType, attribute: str, origin: Origin, properties: Mapping[str, Any]
) -> Any:
    """A property given in the template is echoed; anything else is derived from ``origin``
    by what the schema says of it."""
    given = _given(properties, attribute)
    if given is not _MISSING:
        return given
    return _value(kind, tuple(attribute.split(".")), origin, properties, depth=0)


def _given(properties: Mapping[str, Any], attribute: str) -> Any:
    node: Any = properties
    for step in attribute.split("."):
        if not isinstance(node, Mapping) or step not in node:
            return _MISSING
        node = node[step]
    return node


def _value(
    kind: ResourceType,
    path: tuple[str, ...],
    origin: Origin,
    properties: Mapping[str, Any],
    depth: int,
) -> Any:
    schema = kind.property_schema(path) or {}
    salt = ".".join(path)
    choices = schema.get("enum")
    if isinstance(choices, list) and choices:
        return _preferred_choice(choices)
    json_type = _json_type(schema)
    if json_type in ("integer", "number"):
        minimum = schema.get("minimum")
        return int(minimum) if isinstance(minimum, int | float) and minimum > 1 else 1
    if json_type == "boolean":
        return False
    if json_type == "array":
        return [_value(kind, (*path, "*"), origin, properties, depth + 1)] if depth < 3 else []
    if json_type == "object":
        children = schema.get("properties") if depth < 3 else None
        if not isinstance(children, Mapping):
            return {}
        return {
            name: _value(kind, (*path, name), origin, properties, depth + 1) for name in children
        }
    leaf = next((step for step in reversed(path) if step != "*"), "Value")
    text = _conventional_string(kind, leaf, schema, origin, properties, salt)
    return _fitted(text, schema, origin, salt)


def _json_type(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "string")
    if isinstance(declared, str):
        return declared
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _preferred_choice(choices: list[Any]) -> Any:
    """A healthy state when the enum has one (ACTIVE, AVAILABLE, ...), else the first."""
    for choice in choices:
        if str(choice).upper() in ("ACTIVE", "AVAILABLE", "RUNNING", "ENABLED", "READY"):
            return choice
    return choices[0]


def _conventional_string(
    kind: ResourceType,
    leaf: str,
    schema: Mapping[str, Any],
    origin: Origin,
    properties: Mapping[str, Any],
    salt: str,
) -> str:
    digest = origin.digest(salt)
    if leaf.endswith(("Arn", "ARN")):
        return _arn(kind, origin, properties, digest)
    if leaf.endswith(("Url", "URL", "Uri", "URI")) or schema.get("format") == "uri":
        return f"https://{_dns_name(origin, digest)}/"
    if leaf.endswith(("Ip", "IP", "IpAddress")):
        return f"10.{int(digest[0:2], 16)}.{int(digest[2:4], 16)}.{int(digest[4:6], 16)}"
    if "Cidr" in leaf and "Ipv6" in leaf:
        return f"2600:1f18:{digest[:4]}:{digest[4:6]}00::/56"
    if "Cidr" in leaf:
        return f"10.{int(digest[0:2], 16)}.0.0/16"
    if leaf.endswith(("DnsName", "DNSName", "DomainName", "Endpoint", "Hostname", "Address")):
        return _dns_name(origin, digest)
    if leaf.endswith(("Timestamp", "Date", "Time", "At")) or schema.get("format") == "date-time":
        return origin.created
    if leaf.endswith("Name"):
        return _given_name(kind, properties) or _generated_name(origin, schema)
    if leaf.endswith(("Id", "ID")):
        return f"{_id_prefix(kind)}-{digest[:17]}"
    if leaf in ("Status", "State"):
        return "ACTIVE"
    if leaf.endswith(("Version", "Revision")):
        return "1"
    return f"{_slug(origin.logical_id)}-{digest[:12]}"


def _arn(kind: ResourceType, origin: Origin, properties: Mapping[str, Any], digest: str) -> str:
    resource = kind.name.split("::")[-1].lower()
    name = _given_name(kind, properties) or _generated_name(origin, None)
    return (
        f"arn:aws:{kind.service_prefix}:{origin.region}:{origin.account_id}:"
        f"{resource}/{name}/{digest[:12]}"
    )


def _dns_name(origin: Origin, digest: str) -> str:
    return f"{_slug(origin.logical_id)[:40]}-{digest[:10]}.{origin.region}.amazonaws.com"


def _given_name(kind: ResourceType, properties: Mapping[str, Any]) -> str | None:
    """The template's name for the resource: ``Name`` or ``<Resource>Name``."""
    short = kind.name.split("::")[-1]
    for key in ("Name", f"{short}Name"):
        value = properties.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _generated_name(origin: Origin, schema: Mapping[str, Any] | None) -> str:
    """CloudFormation's shape for names it makes: ``<stack>-<logical>-<SUFFIX>``."""
    suffix = origin.digest("name")[:12].upper()
    limit = (schema or {}).get("maxLength")
    prefix = f"{origin.stack_name}-{origin.logical_id}"
    if isinstance(limit, int) and len(prefix) + 1 + len(suffix) > limit:
        prefix = prefix[: max(limit - len(suffix) - 1, 1)]
    return f"{prefix}-{suffix}"


def _id_prefix(kind: ResourceType) -> str:
    short = kind.name.split("::")[-1]
    capitals = "".join(c for c in short if c.isupper())
    return capitals.lower() if len(capitals) > 1 else short[:3].lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "x"


def _fitted(text: str, schema: Mapping[str, Any], origin: Origin, salt: str) -> str:
    """The conventional value (or its lower case: many names allow only that) if the schema's
    pattern and length allow it, else one made from the pattern (an ARN then gets the stack's
    partition, region and account back)."""
    for candidate in (text, text.lower()):
        if _fits(candidate, schema):
            return candidate
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        made = _from_pattern(pattern, origin, salt)
        if made is not None:
            return made
    limit = schema.get("maxLength")
    return text[:limit] if isinstance(limit, int) else text


def _fits(text: str, schema: Mapping[str, Any]) -> bool:
    limit, floor = schema.get("maxLength"), schema.get("minLength")
    if isinstance(limit, int) and len(text) > limit:
        return False
    if isinstance(floor, int) and len(text) < floor:
        return False
    pattern = schema.get("pattern")
    return not isinstance(pattern, str) or _matches(pattern, text) is not False


def _matches(pattern: str, text: str) -> bool | None:
    """None when Python cannot read the pattern (the schemas are ECMA-262 dialect)."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return None


class _ShortXeger(Xeger):
    """rstr's generator with short repeats: an unbounded ``+`` would give up to 100 characters."""

    def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
        # rstr's own caps at 100 even when the minimum is higher (``{128}``); ours never does.
        times = self._random.randint(start_range, max(start_range, min(end_range, 6)))
        return "".join("".join(self._handle_state(i) for i in value) for _ in range(times))


def _from_pattern(pattern: str, origin: Origin, salt: str) -> str | None:
    generator = _ShortXeger(random.Random(origin.digest(f"pattern/{salt}")))
    try:
        made = generator.xeger(pattern)
    except (re.error, ValueError, KeyError, IndexError, TypeError):
        return None
    if _matches(pattern, made) is False:
        return None
    fields = made.split(":", 5)
    if made.startswith("arn:") and len(fields) == 6:
        # The stack's own partition, region and account where the pattern allows them (a
        # global service's ARN, such as Route 53's, has neither region nor account).
        service, resource = fields[2], fields[5]
        for region, account in ((origin.region, origin.account_id), (fields[3], fields[4])):
            ours = ":".join(["arn", "aws", service, region, account, resource])
            if _matches(pattern, ours):
                return ours
    return made


# --- The simulated resource --------------------------------------------------------------------


class SimulatedResource(CloudFormationModel):
    """One resource of a type moto lacks; the type travels as data, so one class (reachable by
    its qualified name) serves every type and unpickles from the local cloud's state file."""

    def __init__(
        self,
        type_name: str,
        stack_id: str,
        origin: Origin,
        generation: int,
        properties: dict[str, Any],
    ) -> None:
        self.type_name = type_name
        self.stack_id = stack_id
        self.origin = origin
        self.generation = generation
        self.properties = properties
        kind = _schema(type_name, origin.region)
        self.attributes = attribute_values(kind, origin, properties)
        self._physical_id = physical_id(kind, origin, properties)
        # moto sets these after creation; set here so a resource is whole on its own.
        self.cf_resource_type = type_name
        self.logical_resource_id = origin.logical_id

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @property
    def note(self) -> str:
        return simulation_note(self.type_name)

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return SIMULATED_MODEL_KEY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        # Called with the attribute only, not the type: `get_cfn_attribute` refuses unknowns.
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.attributes:
            raise UnformattedGetAttTemplateException()
        return self.attributes[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> SimulatedResource:
        stack_id, logical_id = str(kwargs["StackId"]), str(kwargs["LogicalId"])
        origin = origin_for(stack_id, logical_id, account_id, region_name, 0)
        resource = cls(
            str(kwargs["ResourceType"]),
            stack_id,
            origin,
            0,
            dict(cloudformation_json.get("Properties") or {}),
        )
        resource._record("CREATE_IN_PROGRESS", None)
        resource._record("CREATE_COMPLETE", resource.note)
        return resource

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> SimulatedResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        type_name = str(cloudformation_json["Type"])
        if not isinstance(original_resource, SimulatedResource):
            raise TypeError(f"{type_name}: no simulated resource to update")
        old = original_resource
        replaced = old.type_name != type_name or _replaces(
            _schema(type_name, region_name), old.properties, properties
        )
        generation = old.generation + 1 if replaced else old.generation
        origin = old.origin
        if replaced:
            origin = origin_for(
                old.stack_id, old.origin.logical_id, account_id, region_name, generation
            )
        resource = cls(type_name, old.stack_id, origin, generation, properties)
        reason = f"{resource.note} (replaced)" if replaced else resource.note
        resource._record("UPDATE_IN_PROGRESS", None)
        resource._record("UPDATE_COMPLETE", reason)
        return resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Nothing outside the stack holds a simulated resource."""

    def delete(self, account_id: str, region_name: str) -> None:
        """Forgotten with the stack's resource map. The events show when an update removes
        it; a stack being deleted has already left moto's list, so its events stop there."""
        self._record("DELETE_IN_PROGRESS", None)
        self._record("DELETE_COMPLETE", self.note)

    def is_created(self) -> bool:
        return True

    def _record(self, status: str, reason: str | None) -> None:
        """A stack event for this resource, as AWS writes one per resource change (moto
        writes only the stack's own)."""
        from moto.cloudformation.models import Event, cloudformation_backends

        backend = cloudformation_backends[self.origin.account_id][self.origin.region]
        stack = backend.stacks.get(self.stack_id)
        if stack is None:
            return
        event = Event(
            stack_id=self.stack_id,
            stack_name=stack.name,
            logical_resource_id=self.origin.logical_id,
            physical_resource_id=self.physical_resource_id,
            resource_type=self.type_name,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
        event.sendToSns(self.origin.account_id, self.origin.region, stack.notification_arns)
        stack.events.append(event)


def _schema(type_name: str, region: str) -> ResourceType:
    kind = resource_type(type_name, region) or resource_type(type_name, DEFAULT_REGION)
    if kind is None:  # `simulates` let only schema types through
        raise KeyError(type_name)
    return kind


def _replaces(kind: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return any(_given(old, name) != _given(new, name) for name in kind.create_only)


def simulates(type_name: str) -> bool:
    """Whether the local cloud simulates ``type_name``: a schema type moto does not model."""
    from moto.cloudformation import parsing

    if type_name.startswith("Custom::") or type_name == SIMULATED_MODEL_KEY:
        return False
    model = parsing.get_model_map().get(type_name)
    return model is None and resource_type(type_name) is not None


# --- Attributes moto's own models lack ---------------------------------------------------------


_CAMEL_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def fallback_attribute(resource: Any, type_name: str, attribute: str) -> Any:
    """A simulated value for an attribute the schema lists but moto's model cannot answer;
    `_MISSING` when the schema does not list it either."""
    kind = resource_type(type_name)
    if kind is None or attribute not in kind.attributes:
        return _MISSING
    identity = str(getattr(resource, "physical_resource_id", "") or "")
    if identity and _names_the_resource(kind, attribute):
        return identity
    known = _known_value(resource, kind, attribute)
    if known is not None:
        return known
    origin = Origin(
        stack_name=str(getattr(resource, "logical_resource_id", "") or "stack"),
        logical_id=str(getattr(resource, "logical_resource_id", "") or "Resource"),
        account_id=str(getattr(resource, "account_id", "") or DEFAULT_ACCOUNT),
        region=str(getattr(resource, "region_name", "") or DEFAULT_REGION),
        seed=f"{type_name}/{identity}",
        created=_FIXED_TIME,
    )
    return attribute_value(kind, attribute, origin, {})


def _known_value(resource: Any, kind: ResourceType, attribute: str) -> Any:
    """What moto's object already holds under the attribute's own name (``TargetGroupName``
    as ``target_group_name``, or as ``name``/``arn`` when the attribute is the type's own
    name or ARN): the real value beats a made-up one."""
    short = kind.name.split("::")[-1]
    candidates = [_CAMEL_WORD.sub("_", attribute).lower()]
    if attribute in ("Name", f"{short}Name"):
        candidates.append("name")
    if attribute in ("Arn", f"{short}Arn"):
        candidates.append("arn")
    for candidate in candidates:
        value = getattr(resource, candidate, None)
        if isinstance(value, str | int | float | list) and not isinstance(value, bool) and value:
            return value
    return None


def _names_the_resource(kind: ResourceType, attribute: str) -> bool:
    """An attribute that is the resource's own id (``VpcId`` of a VPC, ``GroupId`` of a
    security group): moto's physical id is its value."""
    short = kind.name.split("::")[-1]
    if attribute == "Id" or kind.primary_identifier == (attribute,):
        return True
    stem = attribute.removesuffix("Id")
    return stem != attribute and bool(stem) and short.endswith(stem)


def _answer_every_schema_attribute(model: type[Any], type_name: str) -> None:
    original_has: Callable[[str], bool] = model.has_cfn_attr
    original_get: Callable[[Any, str], Any] | None = getattr(model, "get_cfn_attribute", None)
    listed = frozenset(kind.attributes) if (kind := resource_type(type_name)) else frozenset()

    def has_cfn_attr(cls: type[Any], attr: str) -> bool:
        return attr in listed or original_has(attr)

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        try:
            if original_get is None:
                raise NotImplementedError(attribute_name)
            return original_get(self, attribute_name)
        except (UnformattedGetAttTemplateException, NotImplementedError):
            value = fallback_attribute(self, type_name, attribute_name)
            if value is _MISSING:
                raise
            return value

    model.has_cfn_attr = classmethod(has_cfn_attr)
    model.get_cfn_attribute = get_cfn_attribute


# --- Installing --------------------------------------------------------------------------------


@installs_once
def install() -> None:
    """Patches moto's CloudFormation in this process; safe to call more than once."""
    from moto.cloudformation import parsing, responses

    for type_name, model in list(parsing.get_model_map().items()):
        if model is not SimulatedResource and resource_type(type_name) is not None:
            _answer_every_schema_attribute(model, type_name)
    _resolve_simulated_types(parsing)
    _mark_stack_resources(responses)


def _resolve_simulated_types(parsing: Any) -> None:
    """moto's parser looks a type up through this module-level function (its model map is
    lru_cached, and NULL_MODELS is checked inside it), so replacing it is enough."""
    original: Callable[[str], Any] = parsing.resource_class_from_type

    def resource_class_from_type(type_name: str) -> Any:
        if simulates(type_name):
            return SimulatedResource
        return original(type_name)

    parsing.resource_class_from_type = resource_class_from_type


def _mark_stack_resources(responses: Any) -> None:
    """DescribeStackResource(s) and ListStackResources say which resources are simulated."""
    dto = responses.StackResourceDTO
    original_init: Callable[..., None] = dto.__init__

    def init(self: Any, stack: Any, resource: Any) -> None:
        original_init(self, stack, resource)
        if isinstance(resource, SimulatedResource):
            self.resource_status_reason = resource.note

    dto.__init__ = init
    response = responses.CloudFormationResponse
    original_list: Callable[[Any], Any] = response.list_stack_resources

    def list_stack_resources(self: Any) -> Any:
        result = original_list(self)
        _, resources = self.cloudformation_backend.list_stack_resources(
            self._get_param("StackName")
        )
        _note_summaries(result.result["StackResourceSummaries"], resources)
        return result

    response.list_stack_resources = list_stack_resources


def _note_summaries(summaries: list[dict[str, Any]], resources: Iterable[Any]) -> None:
    notes = {
        resource.logical_resource_id: resource.note
        for resource in resources
        if isinstance(resource, SimulatedResource)
    }
    for summary in summaries:
        note = notes.get(str(summary.get("LogicalResourceId")))
        if note is not None:
            summary["ResourceStatusReason"] = note
