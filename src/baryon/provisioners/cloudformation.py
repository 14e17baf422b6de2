"""CloudFormation as a provisioner: one rendered template, one stack per resource.

The stack is named from the resource's identity (names.stack_name), its template is the
section's one file, and it runs as the identity's role with the identity's tags.

Every operation is a small reconcile loop: look at the stack, take the one step its status
calls for, wait, look again. Nothing is remembered between calls, so a deploy re-run after a
crash (by any process) continues from what CloudFormation says:

- no stack                                -> CreateStack
- *_IN_PROGRESS                           -> wait for it; never start a second operation
- ROLLBACK_COMPLETE, ROLLBACK_FAILED,
  CREATE_FAILED, DELETE_FAILED, REVIEW_IN_PROGRESS (a dead or empty stack that cannot be
  updated)                                -> DeleteStack, wait, then create again
- CREATE_COMPLETE, UPDATE_COMPLETE,
  UPDATE_ROLLBACK_COMPLETE (healthy)      -> UpdateStack ("No updates are to be performed"
                                             is success)
- UPDATE_ROLLBACK_FAILED                  -> FAILED (rollback_failed): a person must
                                             continue the rollback (`continue_rollback`,
                                             ContinueUpdateRollback) or destroy the stack

The common case, a healthy stack taking an update, is tried first without looking: an
UpdateStack that CloudFormation refuses (no stack, a busy or dead one) costs one call and hands
over to the loop above.

Create and update carry a ClientRequestToken made from the deployment's token, so real
CloudFormation treats a retried request as the same operation.

An adopted stack (``ResourceIdentity.stack_name``: one Proton created, kept by an import) is
the resource's production infrastructure, so a deploy only ever updates it: absent or dead, it
is never created or replaced, and the deploy fails saying so. Its update keeps what Baryon's
template does not say: the stack's tags (Proton's ``proton:*`` among them) and the previous
values of its parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from baryon.provisioners import cloudformation_change_sets as change_sets
from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    ResourceIdentity,
    SilentIO,
)
from baryon.provisioners.cloudformation_api import (
    CLOUD_ERRORS,
    CloudFailure,
    error_code,
    error_message,
    error_text,
)
from baryon.provisioners.cloudformation_change_sets import ChangeSetPlan, PlanStatus
from baryon.provisioners.cloudformation_drift import revert_drift
from baryon.provisioners.cloudformation_session import (
    GONE,
    ROLLBACK_FAILED,
    SUCCESS,
    UPDATABLE,
    Session,
    Settled,
    in_progress,
)
from baryon.provisioners.cloudformation_template import declared_parameters
from baryon.provisioners.names import request_token, resource_stack_name, stack_name_for

__all__ = ["CloudFormationProvisioner", "stack_name_for"]

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Stacks that hold nothing worth keeping and cannot be updated: delete, then create.
REPLACEABLE = frozenset({
    "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED",
    "REVIEW_IN_PROGRESS",
})  # fmt: skip
NO_UPDATES = "No updates are to be performed"
ROLLED_BACK = "UPDATE_ROLLBACK_COMPLETE"
# Where a continued rollback ends well: the stack is back at its last good template.
RECOVERED = frozenset({ROLLED_BACK})
# Each round observes the stack once and takes one step; a deploy needs at most
# wait -> delete -> create. More rounds mean someone else keeps changing the stack.
MAX_ROUNDS = 6

SUCCEEDED, FAILED = OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED
CANCELLED, IN_PROGRESS = OutcomeStatus.CANCELLED, OutcomeStatus.IN_PROGRESS


@dataclass(frozen=True)
class StackSpec:
    """One rendered stack to bring into being (or up to date): a DeployRequest in
    CloudFormation's terms."""

    name: str
    template_body: str
    role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    client_token: str | None = None
    adopted: bool = False  # the resource adopted the stack: update it, never replace it

    @classmethod
    def of(cls, request: DeployRequest) -> StackSpec:
        section, resource = request.section, request.resource
        if section.engine != ProvisioningEngine.CLOUDFORMATION:
            raise ValueError(f"a {section.engine} section is not a CloudFormation template")
        # A CloudFormation section is its one template (bundles/ allows no other files).
        template_body = next(iter(section.files.values()))
        return cls(
            name=resource_stack_name(resource),
            template_body=template_body,
            role_arn=resource.role_arn,
            tags=dict(resource.tags),
            client_token=request.request_token,
            adopted=resource.stack_name is not None,
        )


class CloudFormationProvisioner:
    """Deploys rendered CloudFormation templates as stacks; see the module docstring."""

    engine = ProvisioningEngine.CLOUDFORMATION

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        poll_initial: float = 1.0,
        poll_max: float = 15.0,
        timeout: float = 3600.0,
        max_retries: int = 5,
        server_error_retries: int = 1,
        server_error_pause: float = 1.0,
        heartbeat_interval: float = 2.0,
    ) -> None:
        self.client_factory = client_factory
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.timeout = timeout
        self.max_retries = max_retries
        self.server_error_retries = server_error_retries
        self.server_error_pause = server_error_pause
        self.heartbeat_interval = heartbeat_interval

    # --- deploy ---

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        spec = StackSpec.of(request)
        adopted = " (adopted: updated in place, never replaced)" if spec.adopted else ""
        io.log(f"Deploying stack {spec.name}{adopted}.")
        exact = request.exact
        if exact is not None and exact.change_set_id is not None:
            change_set_id = exact.change_set_id
            return self._guarded(
                io,
                lambda session: change_sets.execute(
                    session, spec.name, spec.template_body, change_set_id, spec.client_token
                ),
            )
        return self._guarded(io, lambda session: self._deploy(session, spec))

    def prepare(self, request: DeployRequest, name: str, io: DeploymentIO) -> ChangeSetPlan:
        """The change set (named ``name``) a deploy of ``request`` would execute, made and
        kept for a fleet preview; cloud trouble is a FAILED plan."""
        spec = StackSpec.of(request)
        try:
            return change_sets.prepare(Session(self, io), spec.name, spec.template_body, name)
        except (CloudFailure, *CLOUD_ERRORS) as exc:
            return ChangeSetPlan(PlanStatus.FAILED, reason=error_text(exc))

    def drop_change_set(self, resource: ResourceIdentity, change_set_id: str) -> None:
        """Deletes a kept change set (its preview was deleted); one already gone is fine."""
        change_sets.delete(Session(self, SilentIO()), change_set_id)

    def _deploy(self, s: Session, spec: StackSpec) -> Outcome:
        if not spec.adopted:
            outcome = self._update_unseen(s, spec)
            if outcome is not None:
                return outcome
        # A create that replaces a dead stack gets its own token: the dead stack may have been
        # created by this very deployment, with the plain "create" token.
        create_action = "create"
        for _ in range(MAX_ROUNDS):
            stack = s.api.stack(spec.name)
            if stack is None and spec.adopted:
                return Outcome(
                    FAILED,
                    f"the adopted stack {spec.name} does not exist: Baryon does not create a new "
                    "stack in place of an adopted one; restore the stack, or remove the adoption "
                    "to let Baryon create its own",
                )
            if stack is None:
                outcome = self._create(s, spec, create_action)
            else:
                if stack["StackStatus"] in REPLACEABLE:
                    create_action = f"create-after-{stack['StackId'].rsplit('/', 1)[-1][:8]}"
                outcome = self._advance(s, spec, stack)
            if outcome is not None:
                return outcome
        return Outcome(FAILED, f"stack {spec.name} kept changing under Baryon; try again")

    def _advance(self, s: Session, spec: StackSpec, stack: dict[str, Any]) -> Outcome | None:
        """One step for an existing stack; None means: look at it again."""
        status, stack_id = stack["StackStatus"], stack["StackId"]
        if status in REPLACEABLE and spec.adopted:
            return Outcome(
                FAILED,
                f"the adopted stack {spec.name} is {status} and cannot be updated; Baryon does "
                "not delete an adopted stack to create it again: repair or delete it first",
                engine_status=status,
            )
        if status in REPLACEABLE:
            s.io.log(f"stack {spec.name} is {status} and cannot be updated: deleting it first")
            s.api.call("delete_stack", StackName=stack_id)
            settled = s.wait(stack_id, cancellable=False)
            if settled.status != GONE:
                reason = settled.reason or settled.status
                return Outcome(FAILED, f"could not delete the failed stack: {reason}")
            return None
        if in_progress(status):
            s.io.log(f"stack {spec.name} is {status}: waiting for that operation to finish")
            settled = s.wait(stack_id, cancellable=True)
            if settled.cancelled:
                return s.outcome(settled, spec.template_body)
            return None
        if status in UPDATABLE:
            return self._update(s, spec, stack)
        if status == ROLLBACK_FAILED:
            return Outcome(
                FAILED,
                f"stack {spec.name} is {status} (an earlier update's rollback failed): "
                "continue the rollback or destroy it before deploying again",
                engine_status=status,
                rollback_failed=True,
            )
        return Outcome(FAILED, f"stack {spec.name} is {status}; Baryon cannot deploy over it")

    def _stack_arguments(self, spec: StackSpec, action: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "StackName": spec.name,
            "TemplateBody": spec.template_body,
            "Capabilities": CAPABILITIES,
        }
        if spec.role_arn:
            kwargs["RoleARN"] = spec.role_arn
        if spec.tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        if spec.client_token:
            kwargs["ClientRequestToken"] = request_token(spec.client_token, action)
        return kwargs

    def _create(self, s: Session, spec: StackSpec, action: str) -> Outcome | None:
        if s.io.cancel_requested():
            return Outcome(CANCELLED, "cancelled before the stack was created")
        s.io.log(f"creating stack {spec.name}")
        try:
            created = s.api.call("create_stack", **self._stack_arguments(spec, action))
        except ClientError as exc:
            if error_code(exc) == "AlreadyExistsException":
                return None  # created meanwhile, maybe by our own earlier attempt
            return Outcome(FAILED, f"CloudFormation rejected the stack: {error_message(exc)}")
        return s.outcome(s.wait(created["StackId"], cancellable=True), spec.template_body)

    def _update_unseen(self, s: Session, spec: StackSpec) -> Outcome | None:
        """The common case first: the stack exists, is healthy and takes the update, so one
        UpdateStack replaces a DescribeStacks and an UpdateStack (issue 17: a fleet upgrade asks
        the cloud no more than a direct client would, plus two). Whatever else the stack is
        (absent, busy, dead, rejecting the template) CloudFormation refuses the update, and
        None hands over to the reconcile loop, which looks and decides. An adopted stack is
        never updated unseen: its update keeps the stack's own tags and parameters."""
        if s.io.cancel_requested():
            return None  # the loop says how far the stack got
        s.io.log(f"updating stack {spec.name}")
        try:
            updated = s.api.call("update_stack", **self._stack_arguments(spec, "update"))
        except ClientError as exc:
            if NO_UPDATES not in error_message(exc):
                return None
            stack = s.api.stack(spec.name)
            return None if stack is None else self._up_to_date(s, spec, stack)
        return s.outcome(s.wait(updated["StackId"], cancellable=True), spec.template_body)

    def _up_to_date(self, s: Session, spec: StackSpec, stack: dict[str, Any]) -> Outcome:
        """CloudFormation had nothing to update: drift it reverts, else success as it is."""
        reverted = revert_drift(s, stack, spec.template_body, spec.client_token)
        if reverted is not None:
            return reverted
        s.io.log(f"stack {spec.name} is already up to date")
        return s.succeeded(stack, spec.template_body)

    def _update(self, s: Session, spec: StackSpec, stack: dict[str, Any]) -> Outcome | None:
        if s.io.cancel_requested():
            outputs, resources = s.state_of(stack)
            message = f"cancelled before the stack was updated; it is {stack['StackStatus']}"
            return Outcome(CANCELLED, message, outputs, resources, stack["StackStatus"])
        s.io.log(f"updating stack {spec.name} (now {stack['StackStatus']})")
        arguments = self._stack_arguments(spec, "update")
        if spec.adopted:
            arguments = _keeping_what_the_stack_has(arguments, spec, stack)
        try:
            s.api.call("update_stack", **arguments)
        except ClientError as exc:
            message = error_message(exc)
            if NO_UPDATES in message:
                return self._up_to_date(s, spec, stack)
            if "can not be updated" in message:
                return None  # another operation began since we looked
            return Outcome(
                FAILED,
                f"CloudFormation rejected the update: {message}",
                *s.state_of(stack),
                engine_status=stack["StackStatus"],
            )
        return s.outcome(s.wait(stack["StackId"], cancellable=True), spec.template_body)

    # --- destroy ---

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        name = resource_stack_name(resource)
        io.log(f"Deleting stack {name}.")
        return self._guarded(io, lambda session: self._destroy(session, name))

    def _destroy(self, s: Session, stack_name: str) -> Outcome:
        for _ in range(MAX_ROUNDS):
            try:
                stack = s.api.stack(stack_name)
            except CloudFailure as exc:
                # moto answers 500 to every DescribeStacks of some broken stacks; deleting by
                # name still works, and destroy must always be a way out.
                s.io.log(f"cannot read stack {stack_name} ({exc}); deleting it by name")
                s.api.call("delete_stack", StackName=stack_name)
                return self._deleted(s.wait(stack_name, cancellable=False), stack_name)
            if stack is None:
                s.io.log(f"stack {stack_name} does not exist: nothing to delete")
                return Outcome(SUCCEEDED, None, engine_status=GONE)
            status, stack_id = stack["StackStatus"], stack["StackId"]
            if status == "DELETE_IN_PROGRESS":
                return self._deleted(s.wait(stack_id, cancellable=False), stack_name)
            if in_progress(status):
                # CloudFormation refuses to delete a stack while it is updating.
                s.io.log(f"stack {stack_name} is {status}: waiting before deleting it")
                s.wait(stack_id, cancellable=False)
                continue
            if s.io.cancel_requested():
                return Outcome(CANCELLED, "cancelled before the stack was deleted")
            s.io.log(f"deleting stack {stack_name} (now {status})")
            s.api.call("delete_stack", StackName=stack_id)
            return self._deleted(s.wait(stack_id, cancellable=False), stack_name)
        return Outcome(FAILED, f"stack {stack_name} kept changing under Baryon; try again")

    @staticmethod
    def _deleted(settled: Settled, stack_name: str) -> Outcome:
        if settled.status == GONE:
            return Outcome(SUCCEEDED, None, engine_status=GONE)
        reason = settled.reason or f"the stack ended in {settled.status}"
        message = f"could not delete stack {stack_name}: {reason}"
        return Outcome(FAILED, message, engine_status=settled.status)

    # --- continuing a failed rollback ---

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        name = resource_stack_name(resource)
        io.log(f"Continuing the rollback of stack {name}.")
        return self._guarded(
            io, lambda session: self._continue_rollback(session, name, resources_to_skip)
        )

    def _continue_rollback(self, s: Session, name: str, skip: Sequence[str]) -> Outcome:
        stack = s.api.stack(name)
        if stack is None:
            return Outcome(FAILED, f"stack {name} does not exist: there is no rollback to continue")
        status, stack_id = stack["StackStatus"], stack["StackId"]
        if status == ROLLBACK_FAILED:
            skipped = f", skipping {', '.join(skip)}" if skip else ""
            s.io.log(f"continuing the rollback of stack {name}{skipped}")
            kwargs: dict[str, Any] = {"StackName": stack_id}
            if skip:
                kwargs["ResourcesToSkip"] = list(skip)
            try:
                s.api.call("continue_update_rollback", **kwargs)
            except ClientError as exc:
                return Outcome(
                    FAILED,
                    f"CloudFormation refused to continue the rollback: {error_text(exc)}",
                    engine_status=status,
                    rollback_failed=True,
                )
        elif status != ROLLED_BACK and not in_progress(status):
            return Outcome(
                FAILED,
                f"stack {name} is {status}, not {ROLLBACK_FAILED}: "
                "there is no rollback to continue",
                engine_status=status,
            )
        # UPDATE_ROLLBACK_IN_PROGRESS (ours, before a crash) is waited for; COMPLETE is done.
        return s.outcome(s.wait(stack_id, cancellable=False), None, success=RECOVERED)

    # --- out of band ---

    def cancel(self, resource: ResourceIdentity) -> None:
        session = Session(self, SilentIO())
        stack = session.api.stack(resource_stack_name(resource))
        if stack is not None:
            session.stop(stack, stack["StackStatus"])

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        session = Session(self, SilentIO())
        stack = session.api.stack(resource_stack_name(resource))
        if stack is None:
            return None
        status = stack["StackStatus"]
        if in_progress(status):
            return Outcome(IN_PROGRESS, None, engine_status=status)
        outputs, resources = session.state_of(stack)
        if status in SUCCESS:
            return Outcome(SUCCEEDED, None, outputs, resources, status)
        reason = stack.get("StackStatusReason") or f"the stack is {status}"
        return Outcome(
            FAILED, reason, outputs, resources, status, rollback_failed=status == ROLLBACK_FAILED
        )

    # --- plumbing ---

    def _guarded(self, io: DeploymentIO, work: Callable[[Session], Outcome]) -> Outcome:
        """Cloud trouble becomes a FAILED outcome; io.heartbeat()'s exception does not."""
        session = Session(self, io)
        try:
            return work(session)
        except CloudFailure as exc:
            message = str(exc)
        except CLOUD_ERRORS as exc:
            message = f"CloudFormation error: {error_text(exc)}"
        io.log(message)
        failed = session.last_look()
        return Outcome(FAILED, f"{message}; failed resources: {failed}" if failed else message)


def _keeping_what_the_stack_has(
    arguments: dict[str, Any], spec: StackSpec, stack: dict[str, Any]
) -> dict[str, Any]:
    """An adopted stack's UpdateStack: its own tags win over Baryon's (Proton's ``proton:*``
    values name Proton's ARNs), Baryon's fill only keys it lacks, and with nothing to add the
    tags are left out so CloudFormation leaves them as they are (no tag change ripples through
    every resource). Parameters Baryon's template still declares keep their previous values
    (UsePreviousValue also keeps NoEcho values, which DescribeStacks shows masked)."""
    kept = dict(arguments)
    existing = {str(t["Key"]): str(t["Value"]) for t in stack.get("Tags") or []}
    tags = {**spec.tags, **existing}
    kept.pop("Tags", None)
    if tags != existing:
        kept["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    declared = declared_parameters(spec.template_body) or frozenset()
    previous = [str(p["ParameterKey"]) for p in stack.get("Parameters") or []]
    parameters = [{"ParameterKey": k, "UsePreviousValue": True} for k in previous if k in declared]
    if parameters:
        kept["Parameters"] = parameters
    return kept
