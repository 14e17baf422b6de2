"""Deploying a stack again over drift: when the template is unchanged, UpdateStack has
nothing to do ("No updates are to be performed") and would leave every property someone
changed behind CloudFormation's back as it is. A deploy of the same version and spec (a
drift re-apply, or any redeploy) then asks for a drift-aware change set
(``DeploymentMode=REVERT_DRIFT``), which puts drifted properties back to the template's
values, and executes it. A cloud that cannot make one (an older region, an unsupported
resource type) leaves the stack as it was, as before.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from botocore.exceptions import ClientError

from baryon.provisioners.base import Outcome
from baryon.provisioners.cloudformation_api import error_code, error_message
from baryon.provisioners.cloudformation_session import Session
from baryon.provisioners.names import request_token

REVERT_DRIFT = "REVERT_DRIFT"
_PENDING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def revert_drift(
    s: Session, stack: dict[str, Any], template_body: str | None, token: str | None
) -> Outcome | None:
    """Reverts ``stack``'s drift and waits for it; None when nothing drifted or the cloud
    made no drift-aware change set (the stack is then up to date as far as it can be)."""
    name = request_token(f"baryon-{token or 'deploy'}", "revert-drift")
    if not name[0].isalpha():
        name = f"b{name}"[:128]
    arguments: dict[str, Any] = {
        "StackName": stack["StackId"],
        "ChangeSetName": name,
        "ChangeSetType": "UPDATE",
        "UsePreviousTemplate": True,
        "DeploymentMode": REVERT_DRIFT,
        "Capabilities": _CAPABILITIES,
        "Parameters": [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack.get("Parameters") or []
        ],
    }
    if stack.get("RoleARN"):
        arguments["RoleARN"] = stack["RoleARN"]
    try:
        change_set_id = str(s.api.call("create_change_set", **arguments)["Id"])
    except ClientError as exc:
        if error_code(exc) != "AlreadyExistsException":  # ours, from an earlier attempt
            s.io.log(f"could not look for drift to revert: {error_message(exc)}")
            return None
        change_set_id = name
    described = _settled(s, change_set_id, stack["StackId"])
    if described.get("Status") != "CREATE_COMPLETE" or described.get("ExecutionStatus") not in (
        "AVAILABLE",
        "EXECUTE_COMPLETE",
        "EXECUTE_IN_PROGRESS",
    ):
        _delete(s, change_set_id, stack["StackId"])
        return None
    if described.get("ExecutionStatus") == "AVAILABLE":
        s.io.log(f"reverting drift on stack {stack['StackName']} (change set {name})")
        s.api.call("execute_change_set", ChangeSetName=change_set_id, StackName=stack["StackId"])
    return s.outcome(s.wait(stack["StackId"], cancellable=True), template_body)


def _settled(s: Session, change_set_id: str, stack_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + s.p.timeout
    while True:
        described: dict[str, Any] = s.api.call(
            "describe_change_set", ChangeSetName=change_set_id, StackName=stack_id
        )
        if described.get("Status") not in _PENDING or time.monotonic() > deadline:
            return described
        s.io.heartbeat()
        time.sleep(s.p.poll_initial)


def _delete(s: Session, change_set_id: str, stack_id: str) -> None:
    # A change set without changes is harmless (AWS expires it): one that will not go stays.
    with contextlib.suppress(ClientError):
        s.api.call("delete_change_set", ChangeSetName=change_set_id, StackName=stack_id)
