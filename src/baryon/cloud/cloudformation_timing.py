"""The local cloud's CloudFormation with real AWS's stack lifecycle: operations take a while,
failures roll back and name their resource, and every state has a way out.

moto finishes CreateStack, UpdateStack and DeleteStack inside the request, lets a resource's
failure escape as an HTTP 500, and has neither CancelUpdateStack nor ContinueUpdateRollback,
so a provisioner's waiting, failing, cancelling and recovering paths would never run against
it. Here moto still does the work at once, but the stack *shows* ``*_IN_PROGRESS`` for
``stack_operation_seconds`` (0: not at all); the final status and the held-back stack events
appear afterwards:

- CreateStack: CREATE_IN_PROGRESS, then CREATE_COMPLETE. A resource that moto fails to
  create gets a CREATE_FAILED event (`stack_failures`) and the stack ends in
  ROLLBACK_COMPLETE; a template error (moto's own CloudFormation errors) is a synchronous
  ValidationError that leaves no stack behind, as on AWS.
- UpdateStack: UPDATE_IN_PROGRESS, then UPDATE_COMPLETE; a moto failure half-way re-applies
  the previous template (`stack_rollback`) and ends in UPDATE_ROLLBACK_COMPLETE, or in
  UPDATE_ROLLBACK_FAILED when that fails too. Like AWS, an update identical to the stack is
  refused ("No updates are to be performed.") and so is one while an operation is in progress.
- CancelUpdateStack (missing in moto): only during UPDATE_IN_PROGRESS; re-applies the previous
  template, parameters and tags; UPDATE_ROLLBACK_IN_PROGRESS, then UPDATE_ROLLBACK_COMPLETE.
- ContinueUpdateRollback (missing in moto): only in UPDATE_ROLLBACK_FAILED; tries the
  rollback again, leaving ResourcesToSkip as they are. Like AWS, only resources whose
  rollback failed may be skipped; any other id refuses the whole call.
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

from baryon.cloud import resource_lifecycle_fixes, stack_failures
from baryon.cloud.stack_failures import describe, failure_event, stack_event, stack_reason
from baryon.cloud.stack_rollback import (
    PendingRollback,
    PreviousStack,
    definitions,
    drop_pending,
    forget_removed,
    keep_pending,
    pending_rollback,
    previous_of,
    reapply,
    restore_left_behind,
)

log = logging.getLogger("baryon.cloud")

__all__ = ["PreviousStack", "Window", "end_due_windows", "end_restored_windows", "install"]

WINDOW_ATTRIBUTE = "baryon_window"
CANCEL_REFUSED = "CancelUpdateStack cannot be called from current stack status"
CONTINUE_REFUSED = "ContinueUpdateRollback cannot be called from current stack status"
NO_UPDATES = "No updates are to be performed."
CANCELLED = "Resource update cancelled"
CONTINUED = "Continue update rollback requested by user"
SKIPPED = "Skipped by ContinueUpdateRollback (ResourcesToSkip)"
UPDATABLE = frozenset({
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
})  # fmt: skip
# moto's server handles requests on threads; the stack changes below must not interleave.
# Re-entrant: moto may call itself while a request holds it (custom resources).
_lock = threading.RLock()
_installed: list[float] = []


@dataclass
class Window:
    until: float  # time.time(): a snapshot may carry it across a restart
    final_status: str
    held_events: list[Any] = field(default_factory=list)
    final_reason: str | None = None
    # Set while the update may be cancelled; None once a rollback is already under way.
    previous: PreviousStack | None = None
    deleting: bool = False


@dataclass(frozen=True)
class Outcome:
    """How an operation's held-back part ends: its events, final status and reason."""

    events: list[Any]
    final_status: str
    reason: str | None


# --- Installing ------------------------------------------------------------------------------


def install(seconds: float) -> None:
    """Patches moto's CloudFormation; ``seconds`` may be 0 (no visible in-progress window)."""
    from moto.cloudformation import responses

    # Patched as plain attributes: moto's class is typed, its patching is not.
    Response: Any = responses.CloudFormationResponse
    with _lock:
        if _installed:
            _installed[0] = seconds
            return
        _installed.append(seconds)
        stack_failures.install()
        resource_lifecycle_fixes.install()
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
        Response.continue_update_rollback = _continue_update_rollback


def _seconds() -> float:
    return _installed[0]


# --- Windows ---------------------------------------------------------------------------------


def _window(stack: Any) -> Window | None:
    return getattr(stack, WINDOW_ATTRIBUTE, None)


def _open(backend: Any, stack: Any, shown_status: str, window: Window) -> None:
    """Shows ``shown_status`` until the window is due; without timing, ends it at once."""
    stack.status = shown_status
    setattr(stack, WINDOW_ATTRIBUTE, window)
    if _seconds() <= 0:
        _end(backend, stack, window)


def _new_window(outcome: Outcome) -> Window:
    return Window(time.time() + _seconds(), outcome.final_status, outcome.events, outcome.reason)


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


def _template_error(exc: Exception) -> Exception | None:
    """AWS rejects these before it creates anything; moto finds them half-way.

    Unresolved references are refused up front (`template_references`); what is left are
    moto's own CloudFormation errors (a missing parameter, a bad Fn::GetAtt, an unknown
    export). Any other exception is a resource's failure.
    """
    from moto.cloudformation.exceptions import CloudFormationError

    return exc if isinstance(exc, CloudFormationError) else None


def _failure(stack: Any, exc: Exception, unnamed: str) -> tuple[list[Any], str]:
    """The failed resource's event (if a resource raised) and the stack reason, AWS-shaped."""
    found = failure_event(stack, exc)
    if found is None:
        return [], f"{unnamed}: {describe(exc)}"
    event, resource = found
    return [event], stack_reason([resource])


def _rollback_outcome(stack: Any, rollback_failure: Exception | None) -> Outcome:
    """How an update's rollback ends; a failed one keeps the stack ready for a continue."""
    if rollback_failure is None:
        drop_pending(stack)
        tail = ["UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]
        return Outcome([stack_event(stack, s) for s in tail], "UPDATE_ROLLBACK_COMPLETE", None)
    events, reason = _failure(stack, rollback_failure, "Rollback failed in the local cloud")
    events.append(stack_event(stack, "UPDATE_ROLLBACK_FAILED", reason))
    return Outcome(events, "UPDATE_ROLLBACK_FAILED", reason)


def _roll_back(stack: Any, previous: PreviousStack, skip: list[str] | None = None) -> Outcome:
    """Re-applies ``previous``; when that fails, remembers where the stack should go."""
    pending = pending_rollback(stack) or PendingRollback(previous, definitions(stack))
    failure = reapply(stack, previous, skip or ())
    if failure is not None:
        log.info("stack %s: rollback failed: %s", stack.name, describe(failure))
        resource = stack_failures.failed_resource(failure)
        keep_pending(stack, pending.failing([] if resource is None else [resource.logical_id]))
    return _rollback_outcome(stack, failure)


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
            _open(backend, stack, "CREATE_IN_PROGRESS", window)
        return result


def _fail_create(backend: Any, stack: Any, exc: Exception) -> None:
    events, reason = _failure(stack, exc, "Resource creation failed in the local cloud")
    log.info("stack %s: create failed: %s", stack.name, describe(exc))
    del stack.events[1:]
    failure = _delete_resources(stack)
    _forget_uncreated(stack)
    _drop_exports(backend, stack)
    final = "ROLLBACK_COMPLETE" if failure is None else "ROLLBACK_FAILED"
    events.append(stack_event(stack, "ROLLBACK_IN_PROGRESS", reason))
    if failure is not None:
        failed, rollback_reason = _failure(stack, failure, "Rollback failed in the local cloud")
        events += failed
        reason = rollback_reason
    events.append(stack_event(stack, final, None if failure is None else reason))
    _open(backend, stack, "CREATE_IN_PROGRESS", _new_window(Outcome(events, final, reason)))


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
        previous = previous_of(stack)
        count, status = len(stack.events), stack.status
        before = set(stack.resource_map._resource_json_map)
        try:
            result = original(response)
        except Exception as exc:
            if len(stack.events) == count:
                raise  # refused before moto changed anything
            rejection = _template_error(exc)
            if rejection is not None:
                failure = reapply(stack, previous)
                del stack.events[count:]
                if failure is None:
                    stack.status = status
                    raise rejection from exc
            _fail_update(backend, stack, exc, previous, count)
            return ActionResult({"StackId": stack.stack_id})
        forget_removed(stack, before)
        window = Window(time.time() + _seconds(), stack.status, stack.events[count + 1 :])
        window.previous = previous
        del stack.events[count + 1 :]
        stack.status_reason = None
        _open(backend, stack, "UPDATE_IN_PROGRESS", window)
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


def _fail_update(
    backend: Any, stack: Any, exc: Exception, previous: PreviousStack, count: int
) -> None:
    log.info("stack %s: update failed: %s", stack.name, describe(exc))
    events, reason = _failure(stack, exc, "Resource update failed in the local cloud")
    rollback = _roll_back(stack, previous)
    del stack.events[count:]
    stack.events.append(stack_event(stack, "UPDATE_IN_PROGRESS", "User Initiated"))
    events.append(stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason))
    final_reason = rollback.reason if rollback.reason is not None else reason
    outcome = Outcome(events + rollback.events, rollback.final_status, final_reason)
    _open(backend, stack, "UPDATE_IN_PROGRESS", _new_window(outcome))


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
        rollback = _roll_back(stack, window.previous)
        stack.events.append(stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", CANCELLED))
        _open(backend, stack, "UPDATE_ROLLBACK_IN_PROGRESS", _new_window(rollback))
        stack.status_reason = CANCELLED
        return EmptyResult()


def _continue_update_rollback(response: Any) -> Any:
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import EmptyResult

    backend = response.cloudformation_backend
    with _lock:
        stack = backend.get_stack(response._get_param("StackName"))
        pending = pending_rollback(stack)
        if stack.status != "UPDATE_ROLLBACK_FAILED" or _window(stack) is not None:
            raise ValidationError(message=CONTINUE_REFUSED)
        if pending is None:
            raise ValidationError(
                message=f"Stack:{stack.stack_id} holds no previous template to roll back to "
                "(the local cloud keeps it only for rollbacks that failed in it)"
            )
        skip = [str(s) for s in response._get_param("ResourcesToSkip", []) or []]
        refused = pending.not_skippable(skip)
        if refused:
            raise ValidationError(message=_skip_refusal(refused, pending))
        continued = pending.skipping(stack, skip)
        keep_pending(stack, continued)
        restore_left_behind(stack, continued)
        rollback = _roll_back(stack, pending.previous, skip)
        stack.events.append(stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", CONTINUED))
        skipped = [_skipped_event(stack, pending, s) for s in skip]
        outcome = Outcome(
            [e for e in skipped if e is not None] + rollback.events,
            rollback.final_status,
            rollback.reason,
        )
        _open(backend, stack, "UPDATE_ROLLBACK_IN_PROGRESS", _new_window(outcome))
        stack.status_reason = CONTINUED
        return EmptyResult()


def _skip_refusal(refused: list[str], pending: PendingRollback) -> str:
    # AWS's own wording for this refusal is not published; this says the same in its style.
    failed = ", ".join(sorted(pending.failed)) or "none"
    return (
        f"ResourcesToSkip can only name resources in UPDATE_FAILED state whose rollback "
        f"failed; these are not: [{', '.join(refused)}] (rollback failed for: [{failed}])"
    )


def _skipped_event(stack: Any, pending: PendingRollback, logical_id: str) -> Any:
    definition = pending.left_behind.get(logical_id)
    if definition is None:
        return None
    resource = stack_failures.FailedResource(
        logical_id, str(definition.get("Type")), stack_failures.ResourceAction.UPDATE
    )
    return stack_failures.resource_event(stack, resource, "UPDATE_COMPLETE", SKIPPED)


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
            log.info("stack %s: delete failed: %s", stack.name, describe(exc))
            events, reason = _failure(stack, exc, "Resource deletion failed in the local cloud")
            del stack.events[count + 1 :]
            events.append(stack_event(stack, "DELETE_FAILED", reason))
            outcome = Outcome(events, "DELETE_FAILED", reason)
            _open(backend, stack, "DELETE_IN_PROGRESS", _new_window(outcome))
            return EmptyResult()
        backend.deleted_stacks.pop(stack.stack_id, None)
        backend.stacks[stack.stack_id] = stack
        drop_pending(stack)
        window = Window(time.time() + _seconds(), stack.status, stack.events[count + 1 :])
        window.deleting = True
        del stack.events[count + 1 :]
        # The resources are gone; outputs referring to them would fail every DescribeStacks.
        _forget_uncreated(stack)
        stack.status_reason = None
        _open(backend, stack, "DELETE_IN_PROGRESS", window)
        return EmptyResult()
