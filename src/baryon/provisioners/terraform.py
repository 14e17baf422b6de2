"""Terraform run by Baryon: `init`, `plan`, `apply` of the saved plan, with state in Baryon.

A deployment's run gets a fresh work directory (runner/) holding the section's files as
rendered (the bundle's .tf files, ``proton.auto.tfvars.json`` and the variables file that
declares them, reference 4.3), an override file pointing Terraform's http backend at Baryon
(terraform_files.py), a CLI config naming the resource's plugin cache, and the AWS
credential files of provisioners/program_credentials.py (profile ``cloud``, the default, holds
the target cloud's keys or the resource's role assumed through STS; profile ``proton`` the
run's scoped key). Nothing else survives the run on the worker: state is Baryon's
(api/terraform_state_backend.py), reached with a key scoped to the one resource, issued for
the run and revoked when it ends.

Plugin caches are per resource (a directory named from its ARN under
settings.terraform_plugin_cache_dir), not shared by every run: a Terraform run executes the
bundle's code (local-exec, external data sources) with write access to its cache, so a cache
shared by all runs would let one resource's run plant a provider binary that every later run
of every resource executes. A resource's own runs already trust its bundle. Only the run's
own cache is mounted writable into its sandbox (bubblewrap hides the other caches); the
provider mirror (settings.terraform_provider_mirror) is mounted read-only. Under a root
worker the cache is handed to the user programs run as, so Terraform can fill it.

Crash safety comes from the state lock, which names the deployment that holds it. Before it
starts Terraform, a run releases a lock left by a dead run (an earlier attempt of the same
deployment, or a deployment that has ended); a lock of another live deployment makes
Terraform wait `terraform_lock_timeout_seconds` and then fail, saying who holds it. A run
cut off mid-apply that is still writing is refused by the backend once its lock is gone, so
two runs never both write one resource's state.

`plan -out` comes first and its summary and `show -json` are kept with the deployment
before the saved plan is applied. Outputs and provisioned resources are read from the state
Baryon holds, after apply and in `status`, without running Terraform.

A fleet preview keeps a saved plan instead (`prepare_plan`: `plan -out` without the state
lock, the plan file sealed like state, since it holds every variable's value); the deployment
its approval starts applies exactly that file (``DeployRequest.exact``) and never plans
afresh. Terraform refuses a saved plan whose state moved since (another apply): the deploy
then fails at once, saying to preview again.

A delete reads no bundle (engine/provisioning.py), so each deploy keeps its configuration
(the rendered .tf files and tfvars, and the role it ran as) in the store before Terraform
starts (store/applied_sections.py), and `terraform destroy` runs with the last one: the
bundle's provider blocks and variables hold at destroy as they did at apply. A resource
deployed before configurations were kept is destroyed with only the backend (Terraform then
initialises the providers the state names, with their default settings). A resource
Terraform never deployed has no state, so its delete does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from baryon.provisioners.applied_sections import AppliedSections
from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    ResourceIdentity,
)
from baryon.provisioners.program_credentials import (
    CloudKeys,
    DefaultCredentials,
    IssuedKey,
    ResourceKeys,
    RoleAssumer,
    aws_credential_files,
)
from baryon.provisioners.terraform_files import (
    BACKEND_FILE,
    CLI_CONFIG_FILE,
    backend_block,
    cli_config,
)
from baryon.provisioners.terraform_results import (
    outputs_of,
    parse_state,
    plan_summary,
    resources_of,
)
from baryon.runner import Runner, RunResult, RunStatus, Workspace
from baryon.settings import Settings

PLAN_FILE = "baryon.tfplan"
PLAN_JSON_FILE = "baryon-plan.json"
# A plan's JSON holds every value of the configuration; big configurations reach a few MiB.
PLAN_JSON_LIMIT = 32 * 1024 * 1024
# A saved plan file (a zip of the configuration, its variables and the planned changes).
PLAN_FILE_LIMIT = 64 * 1024 * 1024
# How many of a failed step's last output lines its deployment's status message quotes.
TAIL_LINES = 8


class LockTakeOver(Protocol):
    @property
    def released_from(self) -> str | None: ...

    @property
    def held_by(self) -> str | None: ...


class TerraformStateAccess(Protocol):
    """What a run asks of the stored state (operations/terraform_state.TerraformStates)."""

    def read(self, resource_arn: str) -> str | None: ...

    def locked_by(self, resource_arn: str) -> str | None: ...

    def take_over(self, resource_arn: str, holder: str) -> LockTakeOver: ...

    def save_plan(self, deployment_id: str, summary: str, plan_json: str) -> None: ...

    def seal_plan(self, plan: bytes) -> bytes: ...

    def open_plan(self, sealed: bytes) -> bytes: ...


@dataclass(frozen=True)
class PreparedPlan:
    """A fleet preview's saved plan: the plan file sealed, with its JSON; or why Terraform
    could not make one (``failure``)."""

    sealed: bytes | None
    plan_json: str | None
    failure: str | None = None


@dataclass(frozen=True)
class TerraformConfig:
    binary: str  # a name looked up on search_path, or a path
    search_path: str  # the PATH programs see (settings.runner_path)
    state_endpoint: str  # Baryon's API as programs reach it
    plugin_cache_dir: Path
    provider_mirror: str
    lock_timeout_seconds: int
    run_timeout_seconds: float
    # The cloud the configuration's AWS provider talks to (empty endpoint: real AWS).
    cloud_endpoint: str
    cloud_keys: CloudKeys

    @classmethod
    def from_settings(cls, settings: Settings, state_endpoint: str) -> TerraformConfig:
        return cls(
            binary=settings.terraform_binary,
            search_path=settings.runner_path,
            state_endpoint=state_endpoint,
            plugin_cache_dir=settings.resolved_terraform_plugin_cache_dir,
            provider_mirror=settings.terraform_provider_mirror,
            lock_timeout_seconds=settings.terraform_lock_timeout_seconds,
            run_timeout_seconds=settings.deployment_timeout_seconds,
            cloud_endpoint=settings.cloud_endpoint,
            cloud_keys=CloudKeys.from_settings(settings),
        )


class StepFailed(Exception):
    """A Terraform step did not succeed; carries the outcome the deployment ends with."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


class TerraformProvisioner:
    engine = ProvisioningEngine.TERRAFORM

    def __init__(
        self,
        config: TerraformConfig,
        runner: Runner,
        states: TerraformStateAccess,
        keys: ResourceKeys,
        sections: AppliedSections,
        assume_role: RoleAssumer,
    ) -> None:
        self._config, self._runner, self._states, self._keys = config, runner, states, keys
        self._sections, self._assume_role = sections, assume_role

    # --- the Provisioner interface ----------------------------------------------------------

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        resource = request.resource
        files = dict(request.section.files)
        # Kept before Terraform starts: a delete, even after a crash mid-apply, destroys with
        # this configuration (its providers' settings, its variables).
        applied = {"files": files, "role_arn": resource.role_arn}
        self._sections.save(resource.arn, applied, OutcomeStatus.IN_PROGRESS, {})
        owner = request.request_token or io.deployment_id
        saved = None
        if request.exact is not None and request.exact.plan is not None:
            saved = self._states.open_plan(request.exact.plan)
            io.log("Applying the saved plan of the approved fleet preview (no new plan).")
        outcome = self._run(
            resource, _holder(owner, "run"), files, io, plan_owner=owner, saved_plan=saved
        )
        self._sections.save(resource.arn, applied, outcome.status, outcome.outputs)
        return outcome

    def prepare_plan(self, request: DeployRequest, io: DeploymentIO) -> PreparedPlan:
        """A fleet preview's saved plan of ``request`` (`plan -out`, no state lock, nothing
        applied), sealed; a run that fails says why."""
        found: list[tuple[bytes, str]] = []
        files = dict(request.section.files)
        holder = _holder(None, "preview")
        outcome = self._run(request.resource, holder, files, io, plan_owner=None, prepared=found)
        if outcome.status != OutcomeStatus.SUCCEEDED or not found:
            return PreparedPlan(None, None, outcome.message or "Terraform made no plan.")
        plan, plan_json = found[0]
        return PreparedPlan(self._states.seal_plan(plan), plan_json)

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        saved = self._sections.last(resource.arn)
        if self._states.read(resource.arn) is None:
            if saved is not None:
                self._sections.forget(resource.arn)
            return Outcome(OutcomeStatus.SUCCEEDED, "No Terraform state: nothing to destroy.")
        files, role_arn = _applied(saved)
        if not files:
            io.log(
                "No configuration was kept for this resource: destroying with the backend "
                "only (providers get their default settings)."
            )
        resource = replace(resource, role_arn=role_arn)
        holder = _holder(io.deployment_id, "destroy")
        outcome = self._run(resource, holder, files, io, plan_owner=None, destroying=True)
        if outcome.status == OutcomeStatus.SUCCEEDED:
            self._sections.forget(resource.arn)
        return outcome

    def cancel(self, resource: ResourceIdentity) -> None:
        """Nothing to send: the run polls the deployment's cancel request itself (the runner
        stops Terraform's process group, and Terraform's lock is released after it)."""

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        state = parse_state(self._states.read(resource.arn))
        if state is None:
            return None
        in_progress = self._states.locked_by(resource.arn) is not None
        return Outcome(
            OutcomeStatus.IN_PROGRESS if in_progress else OutcomeStatus.SUCCEEDED,
            outputs=outputs_of(state),
            resources=resources_of(state),
            engine_status="LOCKED" if in_progress else "UNLOCKED",
        )

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        return Outcome(
            OutcomeStatus.FAILED,
            "Terraform has no rollback to continue: deploy the resource again or delete it.",
        )

    def refresh_only_plan(
        self, resource: ResourceIdentity, io: DeploymentIO
    ) -> tuple[Outcome, str | None]:
        """Drift detection (engine/drift.py): a refresh-only plan with the configuration the
        resource's last deploy applied. Terraform reads every object it manages; the plan's
        JSON (returned with the outcome) says what changed behind its back (resource_drift)
        and which outputs moved. Nothing is applied, and the plan takes no state lock."""
        files, role_arn = _applied(self._sections.last(resource.arn))
        if not files or self._states.read(resource.arn) is None:
            message = "Nothing was applied with Terraform for this resource: no drift to check."
            return Outcome(OutcomeStatus.FAILED, message), None
        found: list[str] = []
        resource = replace(resource, role_arn=role_arn)
        holder = _holder(None, "drift")
        outcome = self._run(resource, holder, files, io, plan_owner=None, refreshed=found)
        return outcome, (found[0] if found else None)

    # --- one run ----------------------------------------------------------------------------

    def _run(
        self,
        resource: ResourceIdentity,
        holder: str,
        files: Mapping[str, str],
        io: DeploymentIO,
        *,
        plan_owner: str | None,
        destroying: bool = False,
        refreshed: list[str] | None = None,
        prepared: list[tuple[bytes, str]] | None = None,
        saved_plan: bytes | None = None,
    ) -> Outcome:
        """Deploys ``files`` (applying ``saved_plan`` when given, planning otherwise), or
        destroys what the state holds with them; the plan of a deploy is kept with the
        deployment ``plan_owner``."""
        contents: dict[str, str | bytes] = dict(files)
        if saved_plan is not None:
            contents[PLAN_FILE] = saved_plan
        binary = self._binary()
        if binary is None:
            message = (
                f"Terraform is not installed here: {self._config.binary!r} was not found on "
                "the runner's PATH (setting terraform_binary names the binary; Baryon never "
                "downloads one)."
            )
            io.log(message)
            return Outcome(OutcomeStatus.FAILED, message)
        try:
            cloud = self._config.cloud_keys.for_resource(resource, self._assume_role, "terraform")
        except (BotoCoreError, ClientError) as exc:  # STS refused or could not be reached
            message = f"Could not assume the role {resource.role_arn}: {exc}"
            io.log(message)
            return Outcome(OutcomeStatus.FAILED, message)
        self._take_over_lock(resource, holder, io)
        cache = plugin_cache_for(self._config.plugin_cache_dir, resource.arn)
        contents[BACKEND_FILE] = backend_block(self._config.state_endpoint, resource.arn, holder)
        contents[CLI_CONFIG_FILE] = cli_config(cache, self._config.provider_mirror)
        key = self._keys.issue(resource.arn, int(self._config.run_timeout_seconds) + 300)
        # The AWS provider reads the default profile: the cloud's keys, always (a Terraform
        # configuration reaches Baryon only through its state backend, with TF_HTTP_*).
        contents.update(aws_credential_files(resource.region, DefaultCredentials.CLOUD, cloud, key))
        deadline = time.monotonic() + self._config.run_timeout_seconds
        mirror = self._config.provider_mirror
        try:
            with self._runner.workspace(
                contents,
                shared_read_only=[Path(mirror)] if mirror and Path(mirror).is_dir() else [],
                shared_writable=[cache],
            ) as workspace:
                _hand_over(cache, workspace.path)
                steps = _Steps(
                    workspace,
                    binary,
                    self._environment(resource, key, workspace),
                    io,
                    deadline,
                    self._config.lock_timeout_seconds,
                )
                if destroying:
                    return self._destroy_steps(steps)
                if refreshed is not None:
                    return self._refresh_steps(steps, refreshed)
                if prepared is not None:
                    return self._prepare_steps(steps, prepared)
                if saved_plan is not None:
                    return self._saved_plan_steps(steps, resource, plan_owner)
                return self._deploy_steps(steps, resource, plan_owner)
        except StepFailed as failed:
            return failed.outcome
        finally:
            self._keys.revoke(key.access_key_id)
            # A run killed (cancel, time limit) leaves its lock behind: it was ours.
            self._states.take_over(resource.arn, holder)

    def _deploy_steps(
        self, steps: _Steps, resource: ResourceIdentity, plan_owner: str | None
    ) -> Outcome:
        steps.run("init", ["init", "-input=false", "-no-color"])
        steps.run(
            "plan", ["plan", "-input=false", "-no-color", steps.lock_timeout, f"-out={PLAN_FILE}"]
        )
        plan_json = steps.plan_json()
        summary = plan_summary(json.loads(plan_json))
        steps.io.log(summary)
        if plan_owner is not None:
            self._states.save_plan(plan_owner, summary, plan_json)
        steps.run("apply", ["apply", "-input=false", "-no-color", steps.lock_timeout, PLAN_FILE])
        return self._settled(resource, f"Terraform applied the plan. {summary}")

    def _prepare_steps(self, steps: _Steps, prepared: list[tuple[bytes, str]]) -> Outcome:
        steps.run("init", ["init", "-input=false", "-no-color"])
        # No state lock: a preview changes nothing, and must not wait for a running deploy.
        plan = ["plan", "-lock=false", "-input=false", "-no-color", f"-out={PLAN_FILE}"]
        steps.run("plan", plan)
        plan_json = steps.plan_json()
        data = steps.workspace.read(PLAN_FILE, limit=PLAN_FILE_LIMIT)
        if data is None:
            raise StepFailed(Outcome(OutcomeStatus.FAILED, "terraform plan wrote no plan file."))
        prepared.append((data, plan_json))
        summary = plan_summary(json.loads(plan_json))
        steps.io.log(summary)
        return Outcome(OutcomeStatus.SUCCEEDED, summary)

    def _saved_plan_steps(
        self, steps: _Steps, resource: ResourceIdentity, plan_owner: str | None
    ) -> Outcome:
        steps.run("init", ["init", "-input=false", "-no-color"])
        plan_json = steps.plan_json()
        summary = plan_summary(json.loads(plan_json))
        steps.io.log(f"The approved plan: {summary}")
        if plan_owner is not None:
            self._states.save_plan(plan_owner, summary, plan_json)
        try:
            steps.run(
                "apply", ["apply", "-input=false", "-no-color", steps.lock_timeout, PLAN_FILE]
            )
        except StepFailed as failed:
            if failed.outcome.status != OutcomeStatus.FAILED:
                raise
            # Terraform refuses a saved plan whose state moved since it was made.
            message = (
                f"{failed.outcome.message}\nThe approved saved plan did not apply (if the "
                "state changed since the preview, it no longer can): preview the change again "
                "and approve the new preview."
            )
            raise StepFailed(replace(failed.outcome, message=message)) from failed
        return self._settled(resource, f"Terraform applied the approved plan. {summary}")

    def _refresh_steps(self, steps: _Steps, refreshed: list[str]) -> Outcome:
        steps.run("init", ["init", "-input=false", "-no-color"])
        plan = ["plan", "-refresh-only", "-lock=false", "-input=false", "-no-color"]
        steps.run("plan", [*plan, f"-out={PLAN_FILE}"])
        refreshed.append(steps.plan_json())
        return Outcome(OutcomeStatus.SUCCEEDED, "Terraform planned a refresh-only plan.")

    def _destroy_steps(self, steps: _Steps) -> Outcome:
        steps.run("init", ["init", "-input=false", "-no-color"])
        steps.run(
            "destroy", ["destroy", "-auto-approve", "-input=false", "-no-color", steps.lock_timeout]
        )
        return Outcome(OutcomeStatus.SUCCEEDED, "Terraform destroyed every resource.")

    def _settled(self, resource: ResourceIdentity, message: str) -> Outcome:
        state = parse_state(self._states.read(resource.arn)) or {}
        return Outcome(
            OutcomeStatus.SUCCEEDED,
            message,
            outputs=outputs_of(state),
            resources=resources_of(state),
        )

    def _take_over_lock(self, resource: ResourceIdentity, holder: str, io: DeploymentIO) -> None:
        taken = self._states.take_over(resource.arn, holder)
        if taken.released_from is not None:
            io.log(
                f"Released the state lock left by an earlier run ({taken.released_from}), "
                "which is no longer running."
            )
        if taken.held_by is not None:
            io.log(
                f"The state is locked by deployment {taken.held_by}, still running; waiting "
                f"up to {self._config.lock_timeout_seconds} s for it."
            )

    def _binary(self) -> str | None:
        if "/" in self._config.binary:
            return self._config.binary if Path(self._config.binary).exists() else None
        return shutil.which(self._config.binary, path=self._config.search_path)

    def _environment(
        self, resource: ResourceIdentity, key: IssuedKey, workspace: Workspace
    ) -> dict[str, str]:
        environment = {
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_CLI_CONFIG_FILE": str(workspace.path / CLI_CONFIG_FILE),
            # Baryon's state backend reads the run's scoped key as basic auth.
            "TF_HTTP_USERNAME": key.access_key_id,
            "TF_HTTP_PASSWORD": key.secret_access_key,
            "RESOURCE_ARN": resource.arn,
            "AWS_REGION": resource.region,
            "AWS_DEFAULT_REGION": resource.region,
        }
        # The target cloud for the configuration's AWS provider (its keys are in the work
        # directory's $HOME/.aws files).
        if self._config.cloud_endpoint:
            environment["AWS_ENDPOINT_URL"] = self._config.cloud_endpoint
        return environment


def _holder(deployment_id: str | None, fallback: str) -> str:
    """What a run's state lock names: its deployment, so that the deployment resumed after a
    crash takes over its dead run's lock; a call without one gets a name of its own."""
    return deployment_id or f"{fallback}-{uuid.uuid4()}"


def _applied(saved: Any) -> tuple[dict[str, str], str | None]:
    """The files and role of the configuration a resource's last deploy kept (none kept: a
    backend-only configuration and no role)."""
    if saved is None:
        return {}, None
    return dict(saved.section.get("files") or {}), saved.section.get("role_arn")


def plugin_cache_for(root: Path, resource_arn: str) -> Path:
    """The resource's own plugin cache under ``root`` (see the module's docstring for why
    runs share none), created when missing."""
    # Traversable by the user programs run as, not listable: no run learns the others'.
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    cache = root / hashlib.sha256(resource_arn.encode()).hexdigest()[:32]
    cache.mkdir(mode=0o700, exist_ok=True)
    return cache


def _hand_over(cache: Path, workspace: Path) -> None:
    """Gives the cache to whoever owns the run's work directory (runner_user under a root
    worker), so Terraform can fill it."""
    owner = workspace.stat()
    if os.geteuid() != 0 or cache.stat().st_uid == owner.st_uid:
        return
    for directory, names, files in os.walk(cache):
        os.lchown(directory, owner.st_uid, owner.st_gid)
        for name in [*names, *files]:
            os.lchown(Path(directory) / name, owner.st_uid, owner.st_gid)


class _Steps:
    """Runs Terraform's steps in one workspace under one deadline; a step that does not
    succeed raises StepFailed with the outcome its deployment ends with."""

    def __init__(
        self,
        workspace: Workspace,
        binary: str,
        environment: Mapping[str, str],
        io: DeploymentIO,
        deadline: float,
        lock_timeout_seconds: int,
    ) -> None:
        self.workspace, self.binary, self.environment = workspace, binary, environment
        self.io, self.deadline = io, deadline
        self.lock_timeout = f"-lock-timeout={lock_timeout_seconds}s"

    def run(self, step: str, arguments: Sequence[str]) -> None:
        self._check(step, self._execute([self.binary, *arguments]))

    def plan_json(self) -> str:
        # The JSON is one line of up to megabytes: into a file, not into the deployment's log.
        script = f'exec "$0" show -json -no-color {PLAN_FILE} > {PLAN_JSON_FILE}'
        self._check("show", self._execute(["/bin/sh", "-c", script, self.binary]))
        data = self.workspace.read(PLAN_JSON_FILE, limit=PLAN_JSON_LIMIT)
        if data is None:
            raise StepFailed(Outcome(OutcomeStatus.FAILED, "terraform show wrote no plan."))
        return data.decode()

    def _execute(self, argv: Sequence[str]) -> RunResult:
        return self.workspace.run(
            argv, environment=self.environment, io=self.io, deadline=self.deadline
        )

    def _check(self, step: str, result: RunResult) -> None:
        if result.status == RunStatus.SUCCEEDED:
            return
        if result.status == RunStatus.CANCELLED:
            message = f"Cancelled during terraform {step}."
            raise StepFailed(Outcome(OutcomeStatus.CANCELLED, message))
        tail = "\n".join(line for line in result.tail[-TAIL_LINES:] if line.strip())
        message = f"terraform {step} failed: {result.reason}" + (f"\n{tail}" if tail else "")
        raise StepFailed(Outcome(OutcomeStatus.FAILED, message))
