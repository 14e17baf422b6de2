"""Which resource made a stack operation fail, and the stack events that say so, as on AWS.

moto creates, updates and deletes a stack's resources one by one and lets the first error
escape without saying which resource raised it. CloudFormation instead records a
``CREATE_FAILED`` / ``UPDATE_FAILED`` / ``DELETE_FAILED`` event for that resource (with the
handler's message) and names it in the stack's reason ("The following resource(s) failed to
create: [Bucket]. "), which is what a deployment log shows a person.

`install` wraps moto's per-resource steps so that an escaping exception carries a
`FailedResource`; the stack operations in `cloudformation_timing` turn it into events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from baryon.cloud.patching import installs_once

FAILED_RESOURCE_ATTRIBUTE = "baryon_failed_resource"


class ResourceAction(StrEnum):
    """What CloudFormation was doing to a resource; the verb of its *_FAILED status."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"

    @property
    def failed_status(self) -> str:
        return f"{self.value}_FAILED"

    @property
    def verb(self) -> str:
        return self.value.lower()


@dataclass(frozen=True)
class FailedResource:
    """The resource an exception came from: the first (innermost) one that raised it."""

    logical_id: str
    resource_type: str
    action: ResourceAction
    physical_id: str | None = None


def failed_resource(exc: BaseException) -> FailedResource | None:
    found = getattr(exc, FAILED_RESOURCE_ATTRIBUTE, None)
    return found if isinstance(found, FailedResource) else None


def _tag(exc: BaseException, resource: FailedResource) -> None:
    # A resource that looks up another creates it on the spot: the inner one is to blame.
    if failed_resource(exc) is None:
        setattr(exc, FAILED_RESOURCE_ATTRIBUTE, resource)


def describe(exc: BaseException) -> str:
    """An exception as a person reads it: moto's service errors carry a code and a message."""
    message = getattr(exc, "message", None) or str(exc)
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code and not message.startswith(code):
        return f"{code}: {message}"
    if isinstance(code, str) and code:
        return message
    return f"{type(exc).__name__}: {message}"


def handler_message(exc: BaseException) -> str:
    """A resource event's reason, shaped like AWS's (the handler's own words, quoted)."""
    return f'Resource handler returned message: "{describe(exc)}"'


def stack_reason(failures: list[FailedResource]) -> str:
    """AWS's stack reason: the failed resources by verb, e.g. "...failed to create: [B]. "."""
    text = ""
    for action in ResourceAction:
        ids = [f.logical_id for f in failures if f.action is action]
        if ids:
            text += f"The following resource(s) failed to {action.verb}: [{', '.join(ids)}]. "
    return text


# --- Events ----------------------------------------------------------------------------------


def stack_event(stack: Any, status: str, reason: str | None = None) -> Any:
    return _event(stack, stack.name, stack.stack_id, "AWS::CloudFormation::Stack", status, reason)


def resource_event(stack: Any, resource: FailedResource, status: str, reason: str | None) -> Any:
    return _event(
        stack,
        resource.logical_id,
        resource.physical_id or "",
        resource.resource_type,
        status,
        reason,
    )


def failure_event(stack: Any, exc: BaseException) -> tuple[Any, FailedResource] | None:
    """The resource's *_FAILED event for an exception moto raised, if a resource raised it."""
    resource = failed_resource(exc)
    if resource is None:
        return None
    event = resource_event(stack, resource, resource.action.failed_status, handler_message(exc))
    return event, resource


def _event(
    stack: Any,
    logical_id: str,
    physical_id: str,
    resource_type: str,
    status: str,
    reason: str | None,
) -> Any:
    from moto.cloudformation.models import Event

    return Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id,
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )


# --- Tagging moto's resource steps -----------------------------------------------------------


@installs_once
def install() -> None:
    """Wraps moto's create/update/delete of one resource; safe to call more than once."""
    from moto.cloudformation import parsing

    create, update = parsing.parse_and_create_resource, parsing.parse_and_update_resource
    delete = parsing.ResourceMap._delete_resource
    # ResourceMap looks these names up in its module at each call.
    parsing.parse_and_create_resource = _tagging(create, ResourceAction.CREATE)
    parsing.parse_and_update_resource = _tagging(update, ResourceAction.UPDATE)
    # Deletion goes through the resource's own delete() first and parse_and_delete_resource
    # only as a fallback, and the latter never sees the logical id: wrap their caller.
    parsing.ResourceMap._delete_resource = _tagging_delete(delete)  # type: ignore[method-assign]


def _tagging(step: Callable[..., Any], action: ResourceAction) -> Callable[..., Any]:
    def tagged(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, *args: Any, **kw: Any
    ) -> Any:
        try:
            return step(logical_id, resource_json, resources_map, *args, **kw)
        except Exception as exc:
            physical = None
            if action is ResourceAction.UPDATE:
                physical = _physical_id(resources_map._parsed_resources.get(logical_id))
            _tag(exc, FailedResource(logical_id, str(resource_json.get("Type")), action, physical))
            raise

    return tagged


def _tagging_delete(step: Callable[..., Any]) -> Callable[..., Any]:
    def tagged(resources_map: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> Any:
        try:
            return step(resources_map, parsed_resource, resource_json)
        except Exception as exc:
            logical_id = str(getattr(parsed_resource, "logical_resource_id", "?"))
            resource = FailedResource(
                logical_id,
                str(resource_json.get("Type")),
                ResourceAction.DELETE,
                _physical_id(parsed_resource),
            )
            _tag(exc, resource)
            raise

    return tagged


def _physical_id(resource: Any) -> str | None:
    try:
        physical = getattr(resource, "physical_resource_id", None)
    except Exception:  # some moto models compute it and may fail half-way
        return None
    return str(physical) if physical is not None else None
