"""CodeBuild-style provisioning run by Baryon: a bundle's ``provision`` commands on a worker.

Proton ran a CodeBuild manifest's commands in a CodeBuild project of the environment's
account; Baryon runs them itself, through the runner (runner/), in one private work directory
per run holding the section's folder as the bundle has it and the inputs file beside it
(``proton-inputs.json``, reference 4.5). Each command runs as ``bash -c <command>`` (``sh``
where there is no bash), in order, in that directory; the first that fails ends the run. A
delete runs the ``deprovision`` commands the same way. The manifest's ``image`` goes to the
runner, which uses it only when it runs programs in containers.

What a command sees:

- the manifest's ``env.variables`` and ``env.secrets_manager`` (CodeBuild's
  ``secret-id:json-key:version-stage:version-id``, read from the cloud's Secrets Manager with
  the run's cloud keys), then (winning over them) ``RESOURCE_ARN``,
  ``AWS_DEFAULT_REGION``/``AWS_REGION``, ``AWS_ENDPOINT_URL_PROTON`` (Baryon's API as
  programs reach it, settings.program_api_endpoint) and ``AWS_ENDPOINT_URL`` (the cloud's
  endpoint, when one is configured);
- two sets of credentials in the AWS CLI's own files under ``$HOME/.aws``, written by
  provisioners/program_credentials.py (Terraform runs get the same): profile ``proton`` holds
  a key that may act only on this resource (auth/scoped_keys.py), issued for the run and
  revoked when it ends; profile ``cloud`` holds the target cloud's (in embedded mode the local
  cloud's keys; otherwise the resource's role assumed through STS on the cloud endpoint, or
  nothing when it has none, leaving the machine's own).

The ``default`` profile is one of the two (settings.program_default_credentials), because the
AWS CLI and SDKs sign every service's calls with one profile's keys. On real AWS it is the
cloud's: the commands' cloud calls work unchanged, and their Proton calls need ``--profile
proton`` (``aws proton notify-resource-deployment-status-change --profile proton
--resource-arn "$RESOURCE_ARN" --outputs ...``), the one change an AWS sample needs. In
embedded mode it is the scoped key: the local cloud accepts any key, so AWS's samples run
unchanged, their ``aws proton`` calls reaching Baryon with the key and their cloud calls the
local cloud.

Outputs are those reported with NotifyResourceDeploymentStatusChange during the run
(operations/deployment_status_reports.py keeps them on the deployment), then those of a
``proton-outputs.json`` the commands leave in the work directory, which win. That file holds
either what ``--outputs`` takes (a JSON list of ``{"key": ..., "valueString": ...}``) or one
JSON object of keys to values (a value that is not a string is kept as its JSON text); at
most 50 outputs, keys and values of at most 1,024 characters, as the API allows.

Success is every command exiting 0; a SUCCEEDED or FAILED report from a command does not end
the run early. A failing command ends the deployment FAILED with the command, the runner's
reason and the last lines of its output. After a worker crash the runner has ended the
commands (they die with their worker) and the resumed deployment runs them all again, as a
CodeBuild retry would: provision commands are written to be re-run.

A delete needs no bundle (engine/provisioning.py), so each run's files and commands are
kept in the store (store/applied_sections.py) before the commands start; a delete runs the
``deprovision`` commands of the last run, and finds nothing to do for a resource CodeBuild
never ran for.

The commands' cloud keys are the resource's ``codebuildRoleArn`` (pipelines: the account's
``pipelineCodebuildRoleArn``) when it names one, else its service role: in Proton that role is
what CodeBuild ran the commands as, so it is the one the commands' cloud calls expect. With
settings.codebuild_runs_on = "aws" the same sections run on AWS CodeBuild instead
(provisioners/codebuild_aws.py).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from baryon.provisioners.applied_sections import AppliedSections, kept_status
from baryon.provisioners.base import (
    BuildCommands,
    DeploymentIO,
    DeployRequest,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    RenderedSection,
    ResourceIdentity,
)
from baryon.provisioners.program_credentials import (
    AwsKeys,
    CloudKeys,
    DefaultCredentials,
    IssuedKey,
    ResourceKeys,
    RoleAssumer,
    aws_credential_files,
)
from baryon.runner import Runner, RunResult, RunStatus, Workspace, WorkspaceFileTooLarge
from baryon.settings import Settings

OUTPUTS_FILE = "proton-outputs.json"
# NotifyResourceDeploymentStatusChange's limits, applied to proton-outputs.json as well.
MAX_OUTPUTS = 50
MAX_OUTPUT_CHARS = 1024
# How many of a failed command's last output lines the deployment's status message quotes.
TAIL_LINES = 10
# A scoped key outlives its run's time limit by this much, so it never expires mid-run.
KEY_TTL_MARGIN_SECONDS = 300


# --- the provisioner --------------------------------------------------------------------------


def no_rollback_to_continue() -> Outcome:
    """Commands have no rollback of their own, wherever they run (here or on AWS CodeBuild)."""
    return Outcome(
        OutcomeStatus.FAILED,
        "CodeBuild provisioning has no rollback to continue: deploy the resource again or "
        "delete it.",
    )


class Phase(StrEnum):
    PROVISION = "provision"  # create or update: the manifest's provision commands
    DEPROVISION = "deprovision"  # delete: its deprovision commands


@dataclass(frozen=True)
class CodeBuildConfig:
    region: str
    search_path: str  # the PATH programs see (settings.runner_path)
    program_api_endpoint: str  # Baryon's API as programs reach it
    run_timeout_seconds: float  # for all of a run's commands together
    # The cloud the commands provision into (empty endpoint: real AWS).
    cloud_endpoint: str
    cloud_keys: CloudKeys
    default_credentials: DefaultCredentials

    @classmethod
    def from_settings(cls, settings: Settings) -> CodeBuildConfig:
        return cls(
            region=settings.region,
            search_path=settings.runner_path,
            program_api_endpoint=settings.resolved_program_api_endpoint,
            run_timeout_seconds=settings.runner_time_limit_seconds,
            cloud_endpoint=settings.cloud_endpoint,
            cloud_keys=CloudKeys.from_settings(settings),
            default_credentials=DefaultCredentials(
                settings.program_default_credentials or DefaultCredentials.CLOUD
            ),
        )


class CodeBuildProvisioner:
    engine = ProvisioningEngine.CODEBUILD

    def __init__(
        self,
        config: CodeBuildConfig,
        runner: Runner,
        keys: ResourceKeys,
        runs: AppliedSections,
        assume_role: RoleAssumer,
        read_secret: SecretReader,
    ) -> None:
        self._config, self._runner, self._keys, self._runs = config, runner, keys, runs
        self._assume_role, self._read_secret = assume_role, read_secret

    # --- the Provisioner interface ----------------------------------------------------------

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        section, resource = request.section, request.resource
        # Proton ran CodeBuild commands as the codebuildRoleArn: they expect its permissions.
        resource = replace(resource, role_arn=resource.build_role_arn or resource.role_arn)
        commands = section.commands
        if commands is None:
            return Outcome(OutcomeStatus.FAILED, "The CodeBuild section has no commands.")
        saved = _saved_section(section, resource.role_arn)
        # Kept before anything runs: a delete after a crash still finds the deprovision steps.
        self._runs.save(resource.arn, saved, OutcomeStatus.IN_PROGRESS, {})
        run = self._run(resource, section.files, commands, Phase.PROVISION, io)
        if run.outcome.status != OutcomeStatus.SUCCEEDED:
            self._runs.save(resource.arn, saved, run.outcome.status, {})
            return run.outcome
        reported = self._runs.reported_outputs(request.request_token or io.deployment_id or "")
        outputs = {**reported, **run.file_outputs}
        self._runs.save(resource.arn, saved, OutcomeStatus.SUCCEEDED, outputs)
        return Outcome(
            OutcomeStatus.SUCCEEDED, outputs=outputs, engine_status=OutcomeStatus.SUCCEEDED
        )

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        saved = self._runs.last(resource.arn)
        if saved is None:
            return Outcome(OutcomeStatus.SUCCEEDED, "No CodeBuild run: nothing to deprovision.")
        section = _section_from(saved.section)
        commands = section.commands
        assert commands is not None  # _saved_section always stores them
        # A delete's identity names no role: the run's is the one its last deployment had.
        resource = replace(resource, role_arn=saved.section.get("role_arn"))
        run = self._run(resource, section.files, commands, Phase.DEPROVISION, io)
        if run.outcome.status == OutcomeStatus.SUCCEEDED:
            self._runs.forget(resource.arn)
        return run.outcome

    def cancel(self, resource: ResourceIdentity) -> None:
        """Nothing to send: the run polls the deployment's cancel request itself (the runner
        ends every process of the command that is running)."""

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        return kept_status(self._runs, resource.arn)

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        return no_rollback_to_continue()

    # --- one run ----------------------------------------------------------------------------

    def _run(
        self,
        resource: ResourceIdentity,
        files: Mapping[str, str],
        commands: BuildCommands,
        phase: Phase,
        io: DeploymentIO,
    ) -> _RunEnd:
        steps = commands.provision if phase == Phase.PROVISION else commands.deprovision
        io.log(
            f"CodeBuild {phase}: {len(steps)} command(s), run by Baryon "
            f"({self._runner.sandbox_description})."
        )
        deadline = time.monotonic() + self._config.run_timeout_seconds
        try:
            cloud = self._cloud_credentials(resource)
        except (BotoCoreError, ClientError) as exc:  # STS refused or could not be reached
            message = f"Could not assume the role {resource.role_arn}: {exc}"
            io.log(message)
            return _RunEnd(Outcome(OutcomeStatus.FAILED, message))
        try:
            secrets = self._secrets(commands, cloud)
        except SecretUnavailable as exc:
            io.log(str(exc))
            return _RunEnd(Outcome(OutcomeStatus.FAILED, str(exc)))
        with self._scoped_key(resource) as key:
            aws_files = aws_credential_files(
                self._config.region, self._config.default_credentials, cloud, key
            )
            with self._runner.workspace({**files, **aws_files}) as workspace:
                environment = {**secrets, **self._environment(resource, commands)}
                for index, command in enumerate(steps, start=1):
                    io.log(f"[{phase} {index}/{len(steps)}] {command}")
                    result = workspace.run(
                        _shell(command, self._config.search_path),
                        environment=environment,
                        io=io,
                        deadline=deadline,
                        image=commands.image,
                    )
                    if not result.succeeded:
                        return _RunEnd(_failed(phase, index, command, result))
                if phase == Phase.DEPROVISION:
                    return _RunEnd(Outcome(OutcomeStatus.SUCCEEDED))
                return _read_outputs_file(workspace, io)

    def _secrets(self, commands: BuildCommands, cloud: AwsKeys | None) -> dict[str, str]:
        """env.secrets_manager's variables, read from the cloud's Secrets Manager with the
        run's cloud keys (never logged)."""
        values: dict[str, str] = {}
        for variable, reference in commands.secrets.items():
            try:
                values[variable] = self._read_secret(cloud, parse_secret_reference(reference))
            except SecretUnavailable as exc:
                raise SecretUnavailable(f"env.secrets_manager {variable}: {exc}") from None
        return values

    @contextmanager
    def _scoped_key(self, resource: ResourceIdentity) -> Iterator[IssuedKey]:
        ttl = int(self._config.run_timeout_seconds) + KEY_TTL_MARGIN_SECONDS
        key = self._keys.issue(resource.arn, ttl)
        try:
            yield key
        finally:
            self._keys.revoke(key.access_key_id)

    def _cloud_credentials(self, resource: ResourceIdentity) -> AwsKeys | None:
        return self._config.cloud_keys.for_resource(resource, self._assume_role, "codebuild")

    def _environment(self, resource: ResourceIdentity, commands: BuildCommands) -> dict[str, str]:
        config = self._config
        environment = {
            **commands.variables,
            "RESOURCE_ARN": resource.arn,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_REGION": config.region,
            "AWS_ENDPOINT_URL_PROTON": config.program_api_endpoint,
        }
        if config.cloud_endpoint:
            environment["AWS_ENDPOINT_URL"] = config.cloud_endpoint
        return environment


@dataclass(frozen=True)
class _RunEnd:
    outcome: Outcome
    file_outputs: dict[str, str] = field(default_factory=dict)


def _shell(command: str, search_path: str) -> list[str]:
    # CodeBuild's images run commands with bash; a minimal machine may have only sh.
    shell = "bash" if shutil.which("bash", path=search_path) else "sh"
    return [shell, "-c", command]


def _failed(phase: Phase, index: int, command: str, result: RunResult) -> Outcome:
    status = OutcomeStatus.CANCELLED if result.status == RunStatus.CANCELLED else None
    tail = "\n".join(result.tail[-TAIL_LINES:])
    message = f"The {phase} command {index} ({command}) {result.reason}."
    if tail:
        message += f" Its last output:\n{tail}"
    return Outcome(status or OutcomeStatus.FAILED, message, engine_status=result.status)


def _read_outputs_file(workspace: Workspace, io: DeploymentIO) -> _RunEnd:
    try:
        data = workspace.read(OUTPUTS_FILE)
    except WorkspaceFileTooLarge as exc:
        return _outputs_file_refused(str(exc), io)
    if data is None:
        return _RunEnd(Outcome(OutcomeStatus.SUCCEEDED))
    try:
        outputs = parse_outputs_file(data)
    except ValueError as exc:
        return _outputs_file_refused(str(exc), io)
    io.log(f"{OUTPUTS_FILE}: {len(outputs)} output(s).")
    return _RunEnd(Outcome(OutcomeStatus.SUCCEEDED), outputs)


def _outputs_file_refused(reason: str, io: DeploymentIO) -> _RunEnd:
    message = f"The commands succeeded but {OUTPUTS_FILE} cannot be used: {reason}"
    io.log(message)
    return _RunEnd(Outcome(OutcomeStatus.FAILED, message))


def parse_outputs_file(data: bytes) -> dict[str, str]:
    """The outputs a ``proton-outputs.json`` holds (see the module's docstring for its two
    shapes); ValueError saying what is wrong."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"it is not JSON ({exc})") from None
    pairs: list[tuple[Any, Any]]
    if isinstance(document, list):
        if not all(isinstance(item, dict) and "key" in item for item in document):
            raise ValueError('a list must hold {"key": ..., "valueString": ...} objects')
        pairs = [(item["key"], item.get("valueString", "")) for item in document]
    elif isinstance(document, dict):
        pairs = list(document.items())
    else:
        raise ValueError('it must be a list of {"key", "valueString"} objects or one object')
    if len(pairs) > MAX_OUTPUTS:
        raise ValueError(f"it holds {len(pairs)} outputs; at most {MAX_OUTPUTS} are allowed")
    outputs: dict[str, str] = {}
    for key, value in pairs:
        text = value if isinstance(value, str) else json.dumps(value)
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_OUTPUT_CHARS:
            raise ValueError(f"the key {key!r} is not a string of 1 to {MAX_OUTPUT_CHARS} chars")
        if len(text) > MAX_OUTPUT_CHARS:
            raise ValueError(f"the value of {key} is longer than {MAX_OUTPUT_CHARS} characters")
        outputs[key] = text
    return outputs


def _saved_section(section: RenderedSection, role_arn: str | None) -> dict[str, Any]:
    commands = section.commands
    assert commands is not None
    return {
        "role_arn": role_arn,
        "files": dict(section.files),
        "provision": list(commands.provision),
        "deprovision": list(commands.deprovision),
        "image": commands.image,
        "variables": dict(commands.variables),
        "secrets": dict(commands.secrets),
    }


def _section_from(saved: Mapping[str, Any]) -> RenderedSection:
    commands = BuildCommands(
        provision=tuple(saved["provision"]),
        deprovision=tuple(saved["deprovision"]),
        image=saved.get("image"),
        variables=dict(saved.get("variables") or {}),
        secrets=dict(saved.get("secrets") or {}),
    )
    return RenderedSection(ProvisioningEngine.CODEBUILD, dict(saved["files"]), None, commands)


class SecretUnavailable(Exception):
    """A secret a manifest names cannot be read; the message says why (never its value)."""


@dataclass(frozen=True)
class SecretReference:
    """CodeBuild's ``secret-id:json-key:version-stage:version-id`` (all but the id optional;
    the id may be an ARN, which holds colons of its own)."""

    secret_id: str
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""


_SECRET_ARN_PARTS = 7  # arn:aws:secretsmanager:<region>:<account>:secret:<name>


def parse_secret_reference(text: str) -> SecretReference:
    parts = text.split(":")
    split = _SECRET_ARN_PARTS if text.startswith("arn:") else 1
    secret_id, rest = ":".join(parts[:split]), parts[split:]
    if not secret_id or len(rest) > 3:
        raise SecretUnavailable(f"{text!r} is not secret-id[:json-key[:stage[:version-id]]]")
    return SecretReference(secret_id, *rest)


# (the run's cloud keys, which secret) -> the secret's value, or SecretUnavailable.
SecretReader = Callable[[AwsKeys | None, SecretReference], str]


def cloud_secret_reader(settings: Settings) -> SecretReader:
    """Reads secrets from the configured cloud's Secrets Manager with the run's keys."""

    def read(keys: AwsKeys | None, reference: SecretReference) -> str:
        session = boto3.session.Session(
            aws_access_key_id=keys.access_key_id if keys else None,
            aws_secret_access_key=keys.secret_access_key if keys else None,
            aws_session_token=keys.session_token if keys else None,
            region_name=settings.region,
        )
        client = session.client("secretsmanager", endpoint_url=settings.cloud_endpoint or None)
        version = {
            name: value
            for name, value in (
                ("VersionStage", reference.version_stage),
                ("VersionId", reference.version_id),
            )
            if value
        }
        try:
            answer = client.get_secret_value(SecretId=reference.secret_id, **version)
        except (BotoCoreError, ClientError) as exc:
            raise SecretUnavailable(f"{reference.secret_id}: {exc}") from None
        text = answer.get("SecretString")
        if text is None:
            raise SecretUnavailable(f"{reference.secret_id} holds binary data, not text")
        return _json_key(text, reference) if reference.json_key else str(text)

    return read


def _json_key(text: str, reference: SecretReference) -> str:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise SecretUnavailable(f"{reference.secret_id} is not JSON") from None
    if not isinstance(document, dict) or reference.json_key not in document:
        raise SecretUnavailable(f"{reference.secret_id} has no key {reference.json_key!r}")
    value = document[reference.json_key]
    return value if isinstance(value, str) else json.dumps(value)
