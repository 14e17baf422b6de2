"""Terraform run by Baryon: `init`, `plan`, `apply` of the saved plan, with state in Baryon.

A deployment's run gets a fresh work directory (runner/) holding the section's files as
rendered (the bundle's .tf files, ``proton.auto.tfvars.json`` and the variables file that
declares them, reference 4.3), an override file pointing Terraform's http backend at Baryon
(terraform_files.py) and a CLI config with the shared plugin cache. Nothing survives the
run on the worker: state is Baryon's (api/terraform_state_backend.py), reached with a key
scoped to the one resource, issued for the run and revoked when it ends.

Crash safety comes from the state lock, which names the deployment that holds it. Before it
starts Terraform, a run releases a lock left by a dead run (an earlier attempt of the same
deployment, or a deployment that has ended); a lock of another live deployment makes
Terraform wait `terraform_lock_timeout_seconds` and then fail, saying who holds it. A run
cut off mid-apply that is still writing is refused by the backend once its lock is gone, so
two runs never both write one resource's state.

`plan -out` comes first and its summary and `show -json` are kept with the deployment
before the saved plan is applied. Outputs and provisioned resources are read from the state
Baryon holds, after apply and in `status`, without running Terraform.

A delete runs `terraform destroy` against the stored state with a configuration holding only
the backend: Terraform destroys every resource the state records, initialising the providers
the state names (their settings come from the environment, AWS_REGION and the cloud's
credentials). A resource Terraform never deployed has no state, so its delete does nothing.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    ResourceIdentity,
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


class IssuedKey(Protocol):
    @property
    def access_key_id(self) -> str: ...

    @property
    def secret_access_key(self) -> str: ...


class ResourceKeys(Protocol):
    """Keys scoped to one resource (auth/scoped_keys.ScopedKeys)."""

    def issue(self, resource_arn: str, ttl_seconds: int) -> IssuedKey: ...

    def revoke(self, access_key_id: str) -> None: ...


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
    cloud_access_key_id: str
    cloud_secret_access_key: str

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
            cloud_access_key_id=settings.cloud_access_key_id,
            cloud_secret_access_key=settings.cloud_secret_access_key,
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
    ) -> None:
        self._config, self._runner, self._states, self._keys = config, runner, states, keys

    # --- the Provisioner interface ----------------------------------------------------------

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        # The deployment's id: its lock is known again when the deployment resumes.
        holder = request.request_token or f"run-{uuid.uuid4()}"
        files = dict(request.section.files)
        return self._run(request.resource, holder, files, io, plan_owner=request.request_token)

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        if self._states.read(resource.arn) is None:
            return Outcome(OutcomeStatus.SUCCEEDED, "No Terraform state: nothing to destroy.")
        # The interface gives a delete no deployment id; a fresh holder is enough because one
        # resource's deployments never run at once, so any lock found is a dead run's.
        return self._run(resource, f"destroy-{uuid.uuid4()}", {}, io, plan_owner=None)

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

    # --- one run ----------------------------------------------------------------------------

    def _run(
        self,
        resource: ResourceIdentity,
        holder: str,
        files: dict[str, str],
        io: DeploymentIO,
        *,
        plan_owner: str | None,
    ) -> Outcome:
        """Deploys ``files``, or destroys when there are none; the plan of a deploy is kept
        with the deployment ``plan_owner``."""
        destroying = not files
        binary = self._binary()
        if binary is None:
            message = (
                f"Terraform is not installed here: {self._config.binary!r} was not found on "
                "the runner's PATH (setting terraform_binary names the binary; Baryon never "
                "downloads one)."
            )
            io.log(message)
            return Outcome(OutcomeStatus.FAILED, message)
        self._take_over_lock(resource, holder, io)
        self._config.plugin_cache_dir.mkdir(parents=True, exist_ok=True)
        files[BACKEND_FILE] = backend_block(self._config.state_endpoint, resource.arn, holder)
        files[CLI_CONFIG_FILE] = cli_config(
            self._config.plugin_cache_dir, self._config.provider_mirror
        )
        key = self._keys.issue(resource.arn, int(self._config.run_timeout_seconds) + 300)
        deadline = time.monotonic() + self._config.run_timeout_seconds
        try:
            with self._runner.workspace(files) as workspace:
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
        # The target cloud for the configuration's AWS provider.
        # TODO(issue 12): the environment role assumed through STS, as provisioners/codebuild
        # does it, once its helper lands.
        if self._config.cloud_endpoint:
            environment["AWS_ENDPOINT_URL"] = self._config.cloud_endpoint
        if self._config.cloud_access_key_id:
            environment["AWS_ACCESS_KEY_ID"] = self._config.cloud_access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = self._config.cloud_secret_access_key
        return environment


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
