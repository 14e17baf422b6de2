"""CloudFormation change sets: a deployment's preview kept in the cloud, and its execution.

`prepare` makes the change set a fleet preview keeps for one stack (CreateChangeSet of type
UPDATE, waited for, described); `execute` carries out exactly that change set when the
approved deployment runs (ExecuteChangeSet), never an UpdateStack of its own: if the stack
changed since (the change set is OBSOLETE, gone, or another's), the deploy fails at once,
saying to preview again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from baryon.provisioners.base import Outcome, OutcomeStatus
from baryon.provisioners.cloudformation_api import error_code, error_message
from baryon.provisioners.cloudformation_session import UPDATABLE, Session, in_progress
from baryon.provisioners.names import request_token

CHANGES_PAGES_MAX = 20
NOT_FOUND = "ChangeSetNotFound"
ALREADY_EXISTS = "AlreadyExistsException"
# Change set statuses on the way to CREATE_COMPLETE.
_PENDING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})
# AWS's word for an approved change set a deploy can no longer run.
_NOT_RUNNABLE = frozenset({"OBSOLETE", "UNAVAILABLE", "EXECUTE_FAILED"})


class PlanStatus(StrEnum):
    READY = "READY"  # a change set to execute
    NO_CHANGES = "NO_CHANGES"  # the stack already is what the deployment renders
    FAILED = "FAILED"  # CloudFormation could not make a change set (reason says why)


@dataclass(frozen=True)
class ResourceChange:
    """One resource's change as the change set describes it."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    physical_id: str | None
    replacement: str | None  # True | False | Conditional
    policy_action: str | None  # Delete | Retain | Snapshot | ReplaceAndDelete | ...
    scope: tuple[str, ...]
    paths: tuple[str, ...]  # the changed properties (their Target.Path or Name)


@dataclass(frozen=True)
class ChangeSetPlan:
    status: PlanStatus
    change_set_id: str | None = None
    reason: str | None = None
    changes: tuple[ResourceChange, ...] = ()


def prepare(s: Session, stack_name: str, template_body: str, name: str) -> ChangeSetPlan:
    """The change set that would bring ``stack_name`` to ``template_body``, made and kept."""
    stack = s.api.stack(stack_name)
    if stack is None:
        return ChangeSetPlan(
            PlanStatus.FAILED,
            reason=f"stack {stack_name} does not exist yet: nothing to compare with",
        )
    if stack["StackStatus"] not in UPDATABLE:
        return ChangeSetPlan(
            PlanStatus.FAILED,
            reason=f"stack {stack_name} is {stack['StackStatus']} and cannot be updated",
        )
    current = s.api.call("get_template", StackName=stack["StackId"]).get("TemplateBody")
    if current == template_body:
        return ChangeSetPlan(PlanStatus.NO_CHANGES)
    arguments: dict[str, Any] = {
        "StackName": stack["StackName"],  # moto finds an UPDATE change set's stack by name only
        "ChangeSetName": name,
        "ChangeSetType": "UPDATE",
        "TemplateBody": template_body,
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    }
    if stack.get("RoleARN"):
        arguments["RoleARN"] = stack["RoleARN"]
    if stack.get("Tags"):
        arguments["Tags"] = stack["Tags"]
    try:
        created = s.api.call("create_change_set", **arguments)
    except ClientError as exc:
        if error_code(exc) != ALREADY_EXISTS:
            return ChangeSetPlan(PlanStatus.FAILED, reason=error_message(exc))
        # A run that died after making it and before recording it: the name is the item's,
        # so it is the same change (rendering is pure). Reused while it can still run;
        # one the stack has moved past is dropped and made again.
        made = s.api.call("describe_change_set", ChangeSetName=name, StackName=stack["StackName"])
        if made.get("ExecutionStatus") in _NOT_RUNNABLE or made.get("Status") == "FAILED":
            delete(s, str(made["ChangeSetId"]))
            try:
                created = s.api.call("create_change_set", **arguments)
            except ClientError as again:
                return ChangeSetPlan(PlanStatus.FAILED, reason=error_message(again))
        else:
            s.io.log(f"reusing change set {name}, made by an earlier run of this preview")
            created = {"Id": made["ChangeSetId"]}
    change_set_id = str(created["Id"])
    described = _settled(s, change_set_id)
    if described.get("Status") == "FAILED":
        return ChangeSetPlan(
            PlanStatus.FAILED,
            change_set_id,
            reason=str(described.get("StatusReason") or "the change set failed"),
        )
    return ChangeSetPlan(PlanStatus.READY, change_set_id, changes=tuple(_changes(s, described)))


def _settled(s: Session, change_set_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + s.p.timeout
    while True:
        described = s.api.call("describe_change_set", ChangeSetName=change_set_id)
        if described.get("Status") not in _PENDING or time.monotonic() > deadline:
            return described
        s.io.heartbeat()
        time.sleep(s.p.poll_initial)


def _changes(s: Session, first: dict[str, Any]) -> list[ResourceChange]:
    found = [_change(c["ResourceChange"]) for c in first.get("Changes", []) if _is_resource(c)]
    token = first.get("NextToken")
    for _ in range(CHANGES_PAGES_MAX):
        if not token:
            break
        page = s.api.call(
            "describe_change_set", ChangeSetName=first["ChangeSetId"], NextToken=token
        )
        found.extend(
            _change(c["ResourceChange"]) for c in page.get("Changes", []) if _is_resource(c)
        )
        token = page.get("NextToken")
    return found


def _is_resource(change: dict[str, Any]) -> bool:
    return change.get("Type") == "Resource" and "ResourceChange" in change


def _change(raw: dict[str, Any]) -> ResourceChange:
    paths: list[str] = []
    for detail in raw.get("Details") or []:
        target = detail.get("Target") or {}
        path = target.get("Path") or target.get("Name") or target.get("Attribute")
        if path and path not in paths:
            paths.append(str(path))
    return ResourceChange(
        action=str(raw.get("Action", "")),
        logical_id=str(raw.get("LogicalResourceId", "")),
        resource_type=str(raw.get("ResourceType", "")),
        physical_id=raw.get("PhysicalResourceId"),
        replacement=raw.get("Replacement"),
        policy_action=raw.get("PolicyAction"),
        scope=tuple(str(x) for x in raw.get("Scope") or ()),
        paths=tuple(sorted(paths)),
    )


def delete(s: Session, change_set_id: str) -> None:
    """Drops a kept change set; one already gone is fine."""
    try:
        s.api.call("delete_change_set", ChangeSetName=change_set_id)
    except ClientError as exc:
        if error_code(exc) != NOT_FOUND:
            raise


def execute(
    s: Session, stack_name: str, template_body: str, change_set_id: str, token: str | None
) -> Outcome:
    """Carries out the approved change set ``change_set_id`` on ``stack_name``, and waits.
    Re-run after a crash, it finds the change set executed and waits for the stack."""
    failed = OutcomeStatus.FAILED
    again = "preview the change again and approve the new preview"
    try:
        described = s.api.call("describe_change_set", ChangeSetName=change_set_id)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND or error_code(exc) == "ValidationError":
            return Outcome(failed, f"the approved change set {change_set_id} is gone; {again}")
        raise
    stack = s.api.stack(stack_name)
    if stack is None or stack["StackId"] != described.get("StackId"):
        return Outcome(
            failed,
            f"the approved change set {change_set_id} is not for stack {stack_name} as it "
            f"stands now; {again}",
        )
    execution = str(described.get("ExecutionStatus", ""))
    ours = stack.get("ChangeSetId") == change_set_id
    if execution in ("EXECUTE_COMPLETE", "EXECUTE_IN_PROGRESS") or (
        ours and in_progress(stack["StackStatus"])
    ):
        s.io.log(f"change set {change_set_id} was executed already: waiting for the stack")
        return s.outcome(s.wait(stack["StackId"], cancellable=True), template_body)
    if execution in _NOT_RUNNABLE or execution != "AVAILABLE":
        reason = described.get("StatusReason")
        why = f" ({reason})" if reason else ""
        return Outcome(
            failed,
            f"the approved change set {change_set_id} is {execution}{why}: the stack changed "
            f"since the preview; {again}",
            *s.state_of(stack),
            engine_status=stack["StackStatus"],
        )
    if s.io.cancel_requested():
        return Outcome(OutcomeStatus.CANCELLED, "cancelled before the change set was executed")
    s.io.log(f"executing the approved change set {change_set_id} on stack {stack_name}")
    arguments: dict[str, Any] = {"ChangeSetName": change_set_id}
    if token:
        arguments["ClientRequestToken"] = request_token(token, "execute")
    try:
        s.api.call("execute_change_set", **arguments)
    except ClientError as exc:
        return Outcome(
            failed,
            f"CloudFormation refused to execute the approved change set {change_set_id} "
            f"({error_message(exc)}); {again}",
            *s.state_of(stack),
            engine_status=stack["StackStatus"],
        )
    return s.outcome(s.wait(stack["StackId"], cancellable=True), template_body)
