"""One CloudFormation operation: its client, its DeploymentIO and its deadline; waiting for
a stack with cancels honoured, and reading what a stack holds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from baryon.provisioners.base import DeploymentIO, Outcome, OutcomeStatus, ProvisionedResource
from baryon.provisioners.cloudformation_api import (
    CLOUD_ERRORS,
    CloudFailure,
    OperationEvents,
    Retrying,
    StackApi,
    error_message,
    is_simulated,
)
from baryon.provisioners.cloudformation_template import declared_outputs
from baryon.provisioners.polling import Backoff, pause

if TYPE_CHECKING:
    from baryon.provisioners.cloudformation import CloudFormationProvisioner

ENGINE = "CLOUDFORMATION"
GONE = "DELETE_COMPLETE"  # how a deleted stack's status reads, and what absent means
# A failed update whose rollback failed too: nothing deploys until the rollback is continued.
ROLLBACK_FAILED = "UPDATE_ROLLBACK_FAILED"
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
UPDATABLE = frozenset({
    "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
})  # fmt: skip


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


@dataclass
class Settled:
    """Where a wait ended."""

    status: str  # a final StackStatus; DELETE_COMPLETE when the stack is gone
    stack: dict[str, Any] | None
    reason: str | None
    cancelled: bool  # we asked CloudFormation to stop (cancel or, for a create, delete)


class Session:
    """One operation: its client, its IO and its deadline."""

    def __init__(self, provisioner: CloudFormationProvisioner, io: DeploymentIO) -> None:
        self.p = provisioner
        self.io = io
        retrying = Retrying(
            provisioner.poll_initial,
            provisioner.poll_max,
            provisioner.max_retries,
            provisioner.heartbeat_interval,
            provisioner.server_error_retries,
            provisioner.server_error_pause,
        )
        self.api = StackApi(provisioner.client_factory(), io, retrying)
        self.deadline = time.monotonic() + provisioner.timeout
        # The events of the stack the last wait watched, for a last look when the cloud fails
        # a call mid-way.
        self.events: OperationEvents | None = None

    # --- waiting ---

    def wait(self, ref: str, *, cancellable: bool) -> Settled:
        """Polls until the stack leaves *_IN_PROGRESS. ``ref`` should be the stack id: by id,
        CloudFormation still answers for a deleted stack."""
        backoff = Backoff(self.p.poll_initial, self.p.poll_max)
        events: OperationEvents | None = None
        cancelled = False
        while True:
            stack = self.api.stack(ref)
            status = stack["StackStatus"] if stack else GONE
            if events is None and stack is not None:
                events = self.events = OperationEvents(self.api, stack["StackId"])
            # By id, events stay readable after the stack is gone: the last ones say so.
            if events is not None and events.poll():
                backoff.reset()  # things are moving: look again soon
            if not in_progress(status):
                reason = events.failure_reason() if events else None
                if reason is None and stack is not None:
                    reason = stack.get("StackStatusReason")
                return Settled(status, stack, reason, cancelled)
            if cancellable and not cancelled and self.io.cancel_requested():
                cancelled = True
                self.stop(stack, status)
            if time.monotonic() > self.deadline:
                shown = stack["StackName"] if stack else ref
                raise CloudFailure(
                    f"timed out after {self.p.timeout:.0f} s: stack {shown} is still {status}"
                )
            pause(
                backoff.next_delay(),
                self.io,
                heartbeat_interval=self.p.heartbeat_interval,
                wake_on_cancel=cancellable and not cancelled,
            )

    def stop(self, stack: dict[str, Any] | None, status: str) -> None:
        """Acts on a cancel request; what is possible depends on the status."""
        if stack is None:
            return
        stack_id = stack["StackId"]
        if status == "UPDATE_IN_PROGRESS":
            self.io.log(f"cancelling the update of stack {stack['StackName']}")
            try:
                self.api.call("cancel_update_stack", StackName=stack_id)
            except ClientError as exc:  # it finished meanwhile; the wait will see how
                self.io.log(f"CloudFormation did not cancel: {error_message(exc)}")
        elif status == "CREATE_IN_PROGRESS":
            # CloudFormation cannot cancel a create; deleting the stack stops it.
            self.io.log(f"cancelling the creation of stack {stack['StackName']}: deleting it")
            self.api.call("delete_stack", StackName=stack_id)
        else:
            self.io.log(f"stack {stack['StackName']} is {status}, which cannot be cancelled")

    # --- results ---

    def outcome(
        self,
        settled: Settled,
        template_body: str | None,
        *,
        success: frozenset[str] = SUCCESS,
    ) -> Outcome:
        """``success``: the statuses that mean the operation did what it was for."""
        status, stack = settled.status, settled.stack
        if status in success and stack is not None:
            if settled.cancelled:
                self.io.log("the cancel came too late: CloudFormation had already finished")
            return self.succeeded(stack, template_body)
        healthy = stack is not None and status in UPDATABLE
        outputs, resources = self.state_of(stack) if healthy and stack else ({}, [])
        if settled.cancelled:
            message = f"cancelled; the stack is {status}"
            return Outcome(OutcomeStatus.CANCELLED, message, outputs, resources, status)
        message = settled.reason or f"the stack ended in {status}"
        if status == ROLLBACK_FAILED:
            message = f"{message} (the rollback failed too: the stack is {status})"
        return Outcome(
            OutcomeStatus.FAILED,
            message,
            outputs,
            resources,
            status,
            rollback_failed=status == ROLLBACK_FAILED,
        )

    def succeeded(self, stack: dict[str, Any], template_body: str | None) -> Outcome:
        outputs, resources = self.state_of(stack)
        if template_body is not None:
            self._warn_missing_outputs(outputs, template_body)
        self._note_simulated(resources)
        return Outcome(OutcomeStatus.SUCCEEDED, None, outputs, resources, stack["StackStatus"])

    def _note_simulated(self, resources: list[ProvisionedResource]) -> None:
        simulated = sorted(r.name for r in resources if r.simulated)
        if simulated:
            self.io.log(
                "note: the local cloud simulated these resources (nothing real was created): "
                + ", ".join(simulated)
            )

    def last_look(self) -> str | None:
        """After the cloud failed a call mid-way: logs the watched stack's events not yet
        logged and returns its failed resources with their reasons; None if there are none
        or the cloud cannot answer that either."""
        if self.events is None:
            return None
        try:
            self.events.poll()
        except (CloudFailure, *CLOUD_ERRORS):
            return None
        return self.events.failure_reason() if self.events.failures() else None

    def state_of(self, stack: dict[str, Any]) -> tuple[dict[str, str], list[ProvisionedResource]]:
        outputs = {
            str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs") or []
        }
        return outputs, self.resources(stack["StackId"])

    def resources(self, stack_id: str) -> list[ProvisionedResource]:
        found: list[ProvisionedResource] = []
        kwargs: dict[str, Any] = {"StackName": stack_id}
        while True:
            page = self.api.call("list_stack_resources", **kwargs)
            for row in page.get("StackResourceSummaries", []):
                # moto lists a resource of a type it does not support as a row of blanks.
                if row.get("LogicalResourceId") and row.get("PhysicalResourceId"):
                    found.append(
                        ProvisionedResource(
                            row["LogicalResourceId"],
                            row["PhysicalResourceId"],
                            ENGINE,
                            simulated=is_simulated(row.get("ResourceStatusReason")),
                        )
                    )
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def _warn_missing_outputs(self, outputs: dict[str, str], template_body: str) -> None:
        """Real CloudFormation never drops an output; moto drops those of resource types it
        does not support. Worth a warning, not a failure."""
        declared = declared_outputs(template_body) or {}
        missing = [name for name, conditional in declared.items() if name not in outputs]
        unconditional = [n for n in missing if not declared[n]]
        if unconditional:
            self.io.log(
                "warning: the template declares outputs that CloudFormation did not return: "
                f"{', '.join(sorted(unconditional))} (an emulated cloud skips resource types "
                "it does not support)"
            )
