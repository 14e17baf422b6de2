"""The local cloud's CloudFormation with real AWS's timing: stack operations take a while.

moto finishes CreateStack, UpdateStack and DeleteStack inside the request and has no
CancelUpdateStack, so a provisioner's waiting, cancelling and resuming paths would never run
against it. With ``stack_operation_seconds`` > 0 moto still does the work at once, but the
stack *shows* ``*_IN_PROGRESS`` for that long; the final status and the held-back stack events
appear afterwards:

- CreateStack: CREATE_IN_PROGRESS, then CREATE_COMPLETE. A resource that moto fails to
  create ends in ROLLBACK_COMPLETE; a template error (moto's ValidationError or KeyError) is a
  synchronous ValidationError that leaves no stack behind, as on AWS.
- UpdateStack: UPDATE_IN_PROGRESS, then UPDATE_COMPLETE; a moto failure half-way re-applies
  the previous template and ends in UPDATE_ROLLBACK_COMPLETE. Like AWS, an update identical to
  the stack is refused ("No updates are to be performed.") and so is one while an operation
  is in progress.
- CancelUpdateStack (missing in moto): only during UPDATE_IN_PROGRESS; re-applies the previous
  template, parameters and tags through moto's update path; UPDATE_ROLLBACK_IN_PROGRESS, then
  UPDATE_ROLLBACK_COMPLETE.
- DeleteStack: DELETE_IN_PROGRESS (still found by name), then DELETE_COMPLETE; a failed
  resource deletion ends in DELETE_FAILED where moto would lose the stack.

This patches moto's CloudFormation response class in the local cloud's own process, nowhere
else. Only API calls are timed: nested stacks, which moto creates through its backend, are not.
Windows end lazily, when the next CloudFormation request arrives, so there are no timers. A
window rides on its stack with a wall-clock deadline, so snapshots may hold one; a restore
ends them all (`end_restored_windows`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("baryon.cloud")

WINDOW_ATTRIBUTE = "baryon_window"
CANCEL_REFUSED = "CancelUpdateStack cannot be called from current stack status"
NO_UPDATES = "No updates are to be performed."
UPDATABLE = frozenset({
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
})  # fmt: skip
# moto's server handles requests on threads; the stack changes below must not interleave.
# Re-entrant: moto may call itself while a request holds it (custom resources).
_lock = threading.RLock()
_installed: list[float] = []


@dataclass
class PreviousStack:
    """What an update replaced, so that a cancel can put it back."""

    template: Any
    parameters: dict[str, Any]
    role_arn: str | None
    tags: dict[str, str]


@dataclass
class Window:
    until: float  # time.time(): a snapshot may carry it across a restart
    final_status: str
    held_events: list[Any] = field(default_factory=list)
    final_reason: str | None = None
    # Set while the update may be cancelled; None once a rollback is already under way.
    previous: PreviousStack | None = None
    deleting: bool = False


# --- Installing ------------------------------------------------------------------------------


def install(seconds: float) -> None:
    from moto.cloudformation.responses import CloudFormationResponse as Response

    with _lock:
        if _installed:
            _installed[0] = seconds
            return
        _installed.append(seconds)
        backend_property = Response.cloudformation_backend
        create, update, delete = Response.create_stack, Response.update_stack, Response.delete_stack

        def settled_backend(self: Any) -> Any:
            # Every CloudFormation request looks up its backend first: the moment to end
            # the windows that are due, before the request reads any stack.
            backend = backend_property.fget(self)
            end_due_windows(backend)
            return backend

        Response.cloudformation_backend = property(settled_backend)
        Response.create_stack = lambda self: _create_stack(self, create)
        Response.update_stack = lambda self: _update_stack(self, update)
        Response.delete_stack = lambda self: _delete_stack(self, delete)
        # moto dispatches an action to the class's plain function of the same (snake) name.
        Response.cancel_update_stack = _cancel_update_stack


def _seconds() -> float:
    return _installed[0]


# --- Windows ---------------------------------------------------------------------------------


def _window(stack: Any) -> Window | None:
    return getattr(stack, WINDOW_ATTRIBUTE, None)


def _open(stack: Any, shown_status: str, window: Window) -> None:
    stack.status = shown_status
    setattr(stack, WINDOW_ATTRIBUTE, window)


def _event(stack: Any, status: str, reason: str | None = None) -> Any:
    from moto.cloudformation.models import Event

    return Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=stack.name,
        physical_resource_id=stack.stack_id,
        resource_type="AWS::CloudFormation::Stack",
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )


def _end(backend: Any, stack: Any, window: Window) -> None:
    from moto.core.utils import utcnow

    delattr(stack, WINDOW_ATTRIBUTE)
    for event in window.held_events:
        event.timestamp = utcnow()
        stack.events.append(event)
    stack.status = window.final_status
    stack.status_reason = window.final_reason
    if window.deleting and window.final_status == "DELETE_COMPLETE":
        backend.stacks.pop(stack.stack_id, None)
        backend.deleted_stacks[stack.stack_id] = stack


def end_due_windows(backend: Any, now: float | None = None, *, wait: bool = False) -> None:
    """Ends the windows whose time has come.

    Does not wait for the lock by default: a request holding it may be inside moto, calling
    back into this server (custom resources); a window left open ends on the next request.
    """
    now = time.time() if now is None else now
    if not _lock.acquire(blocking=wait):
        return
    try:
        for stack in list(backend.stacks.values()):
            window = _window(stack)
            if window is not None and window.until <= now:
                _end(backend, stack, window)
    finally:
        _lock.release()


def end_restored_windows() -> None:
    """After a restore every stack shows its final status; cheap when no stack was restored."""
    models = sys.modules.get("moto.cloudformation.models")
    if models is None:
        return
    for regions in list(models.cloudformation_backends.values()):
        for backend in list(regions.values()):
            end_due_windows(backend, now=float("inf"), wait=True)


# --- Stack surgery ---------------------------------------------------------------------------
# moto's ResourceMap creates a resource when it is first looked up, so a stack whose creation
# failed would re-create its resources on the next ListStackResources. Forgetting the template
# entries that were never created (or were rolled back) prevents that.


def _forget_uncreated(stack: Any) -> None:
    resources = stack.resource_map
    parsed = resources._parsed_resources
    resources._resource_json_map = {
        k: v for k, v in resources._resource_json_map.items() if k in parsed
    }
    stack.output_map._output_json_map = {}


def _forget_removed(stack: Any, before: set[str]) -> None:
    """moto deletes a removed resource but keeps its object, so adding the logical id back
    later would "create" nothing; forgetting it makes the next add create it again."""
    resources = stack.resource_map
    for logical_id in before - set(resources._resource_json_map):
        resources._parsed_resources.pop(logical_id, None)


def _drop_exports(backend: Any, stack: Any) -> None:
    for name, export in list(backend.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            del backend.exports[name]


def _delete_resources(stack: Any) -> Exception | None:
    try:
        stack.resource_map.delete()
    except Exception as exc:
        return exc
    return None


def _reapply(stack: Any, previous: PreviousStack) -> Exception | None:
    """Puts the previous template back through moto's own update path, without its events."""
    count, before = len(stack.events), set(stack.resource_map._resource_json_map)
    try:
        stack.update(
            previous.template,
            previous.role_arn,
            parameters=previous.parameters,
            tags=previous.tags,
        )
    except Exception as exc:
        return exc
    finally:
        _forget_removed(stack, before)
        del stack.events[count:]
        # moto keeps the newer parameters when the previous ones are empty.
        stack.parameters = dict(previous.parameters)
        stack.resource_map.input_parameters = dict(previous.parameters)
    return None


def _template_error(exc: Exception) -> Exception | None:
    """AWS rejects these before it creates anything; moto finds them half-way."""
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError

    if isinstance(exc, CloudFormationError):
        return exc
    if isinstance(exc, KeyError):
        return ValidationError(
            message="Template format error: Unresolved resource dependencies "
            f"[{exc.args[0] if exc.args else ''}] in the Resources block of the template"
        )
    return None


def _describe(exc: Exception) -> str:
    # moto's service errors already start their text with their code.
    message = getattr(exc, "message", None) or str(exc)
    return f"{getattr(exc, 'code', None) or type(exc).__name__}: {message}"


# --- Operations ------------------------------------------------------------------------------


def _create_stack(response: Any, original: Callable[[Any], Any]) -> Any:
    from moto.core.responses import ActionResult

    backend = response.cloudformation_backend
    with _lock:
        before = set(backend.stacks)
        try:
            result = original(response)
        except Exception as exc:
            created = [backend.stacks[i] for i in set(backend.stacks) - before]
            if not created:
                raise
            stack = created[0]
            rejection = _template_error(exc)
            if rejection is not None:
                _delete_resources(stack)
                _drop_exports(backend, stack)
                del backend.stacks[stack.stack_id]
                raise rejection from exc
            _fail_create(backend, stack, exc)
            return ActionResult({"StackId": stack.stack_id})
        for stack_id in set(backend.stacks) - before:
            stack = backend.stacks[stack_id]
            if stack.status != "CREATE_COMPLETE":
                continue  # custom resources still running: moto's own timing applies
            # Shown now: CREATE_IN_PROGRESS "User Initiated"; held back: CREATE_COMPLETE.
            window = Window(time.time() + _seconds(), stack.status, stack.events[1:])
            del stack.events[1:]
            _open(stack, "CREATE_IN_PROGRESS", window)
        return result


def _fail_create(backend: Any, stack: Any, exc: Exception) -> None:
    reason = f"Resource creation failed in the local cloud: {_describe(exc)}"
    failure = _delete_resources(stack)
    _forget_uncreated(stack)
    _drop_exports(backend, stack)
    final = "ROLLBACK_COMPLETE" if failure is None else "ROLLBACK_FAILED"
    events = [_event(stack, "ROLLBACK_IN_PROGRESS", reason), _event(stack, final)]
    _open(stack, "CREATE_IN_PROGRESS", Window(time.time() + _seconds(), final, events, reason))


def _update_stack(response: Any, original: Callable[[Any], Any]) -> Any:
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    backend = response.cloudformation_backend
    with _lock:
        stack = backend.get_stack(response._get_param("StackName"))
        if stack.status not in UPDATABLE:
            raise ValidationError(
                message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
            )
        if _changes_nothing(response, backend, stack):
            raise ValidationError(message=NO_UPDATES)
        previous = PreviousStack(
            stack.template, dict(stack.parameters), stack.role_arn, dict(stack.tags)
        )
        count, status = len(stack.events), stack.status
        before = set(stack.resource_map._resource_json_map)
        try:
            result = original(response)
        except Exception as exc:
            if len(stack.events) == count:
                raise  # refused before moto changed anything
            failure = _reapply(stack, previous)
            del stack.events[count:]
            rejection = _template_error(exc)
            if rejection is not None and failure is None:
                stack.status = status
                raise rejection from exc
            _fail_update(stack, exc, failure)
            return ActionResult({"StackId": stack.stack_id})
        _forget_removed(stack, before)
        window = Window(time.time() + _seconds(), stack.status, stack.events[count + 1 :])
        window.previous = previous
        del stack.events[count + 1 :]
        stack.status_reason = None
        _open(stack, "UPDATE_IN_PROGRESS", window)
        return result


def _changes_nothing(response: Any, backend: Any, stack: Any) -> bool:
    """AWS refuses an update that changes nothing; moto applies it (without Parameters)."""
    if response._get_bool_param("UsePreviousTemplate", False):
        body = stack.template
    else:
        body = response._get_param("TemplateBody")
    if body is None:
        return False  # TemplateURL: let moto fetch and apply it
    try:
        same_template = body == stack.template or stack.has_template(body)
    except Exception:
        return False
    incoming = response._get_param("Parameters", [])
    try:
        parameters = backend._resolve_update_parameters(stack, incoming)
    except Exception:
        return False
    tags = {t["Key"]: t["Value"] for t in response._get_param("Tags", [])}
    role_arn = response._get_param("RoleARN")
    return (
        same_template
        and parameters == stack.parameters
        and (not tags or tags == stack.tags)
        and (role_arn is None or role_arn == stack.role_arn)
    )


def _fail_update(stack: Any, exc: Exception, rollback_failure: Exception | None) -> None:
    reason = f"Resource update failed in the local cloud: {_describe(exc)}"
    if rollback_failure is None:
        final = "UPDATE_ROLLBACK_COMPLETE"
        tail = ["UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", final]
    else:
        final = "UPDATE_ROLLBACK_FAILED"
        tail = [final]
        reason += f"; the rollback failed too: {_describe(rollback_failure)}"
    stack.events.append(_event(stack, "UPDATE_IN_PROGRESS", "User Initiated"))
    events = [_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)]
    events += [_event(stack, status) for status in tail]
    _open(stack, "UPDATE_IN_PROGRESS", Window(time.time() + _seconds(), final, events, reason))


def _cancel_update_stack(response: Any) -> Any:
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import EmptyResult

    backend = response.cloudformation_backend
    with _lock:
        stack = backend.get_stack(response._get_param("StackName"))
        window = _window(stack)
        if stack.status != "UPDATE_IN_PROGRESS" or window is None:
            raise ValidationError(message=CANCEL_REFUSED)
        if window.previous is None:
            return EmptyResult()  # already rolling back
        reason = "Resource update cancelled"
        failure = _reapply(stack, window.previous)
        final = "UPDATE_ROLLBACK_COMPLETE" if failure is None else "UPDATE_ROLLBACK_FAILED"
        final_reason = None if failure is None else f"Rollback failed: {_describe(failure)}"
        stack.events.append(_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason))
        tail = ["UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"] if failure is None else []
        events = [_event(stack, status) for status in [*tail, final]]
        rollback = Window(time.time() + _seconds(), final, events, final_reason)
        _open(stack, "UPDATE_ROLLBACK_IN_PROGRESS", rollback)
        stack.status_reason = reason
        return EmptyResult()


def _delete_stack(response: Any, original: Callable[[Any], Any]) -> Any:
    from moto.core.responses import EmptyResult

    backend = response.cloudformation_backend
    name = response._get_param("StackName")
    with _lock:
        stack = backend.stacks.get(name) or next(
            (s for s in backend.stacks.values() if s.name == name), None
        )
        if stack is None:
            return original(response)  # AWS: deleting a missing stack succeeds
        window = _window(stack)
        if window is not None and window.deleting:
            return EmptyResult()
        if window is not None:
            delattr(stack, WINDOW_ATTRIBUTE)
        count = len(stack.events)
        try:
            original(response)
        except Exception as exc:
            # moto dropped the stack before its resources failed to go; AWS keeps it.
            backend.stacks[stack.stack_id] = stack
            backend.deleted_stacks.pop(stack.stack_id, None)
            reason = f"Resource deletion failed in the local cloud: {_describe(exc)}"
            del stack.events[count + 1 :]
            events = [_event(stack, "DELETE_FAILED", reason)]
            final = Window(time.time() + _seconds(), "DELETE_FAILED", events, reason)
            _open(stack, "DELETE_IN_PROGRESS", final)
            return EmptyResult()
        backend.deleted_stacks.pop(stack.stack_id, None)
        backend.stacks[stack.stack_id] = stack
        window = Window(time.time() + _seconds(), stack.status, stack.events[count + 1 :])
        window.deleting = True
        del stack.events[count + 1 :]
        # The resources are gone; outputs referring to them would fail every DescribeStacks.
        _forget_uncreated(stack)
        stack.status_reason = None
        _open(stack, "DELETE_IN_PROGRESS", window)
        return EmptyResult()
