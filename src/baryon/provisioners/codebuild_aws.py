"""CodeBuild bundles run on AWS CodeBuild itself, in the resource's account, as Proton ran them
(settings.codebuild_runs_on = "aws"; provisioners/codebuild.py runs them on a worker instead).

Each resource gets one CodeBuild project, named from its ResourceIdentity alone
(``baryon-<kind>-<names>``), so any worker finds it again after a crash; a service instance's
identity names no environment, so the project is per resource rather than per environment.
Baryon makes its calls (S3, CodeBuild, CloudWatch Logs) with the resource's keys
(program_credentials.CloudKeys: the configured ones, else its service role through STS); the
project runs as the resource's ``codebuildRoleArn`` (pipelines: ``pipelineCodebuildRoleArn``),
the role Proton's builds had. A deploy

1. zips the rendered files and ``proton-inputs.json`` to ``<project>/source.zip`` in a bucket
   of that account (settings.codebuild_source_bucket, else
   ``baryon-codebuild-<account>-<region>``, made when missing);
2. creates (or updates) the project: that zip as its S3 source, the manifest's image and
   ``runtimes``, ``env.variables`` as plain variables and ``env.secrets_manager`` as CodeBuild
   reads secrets itself, ``RESOURCE_ARN``, ``AWS_DEFAULT_REGION`` and
   ``AWS_ENDPOINT_URL_PROTON`` (settings.program_api_endpoint: Baryon must be reachable from
   the build), then ``project_properties`` (CloudFormation's AWS::CodeBuild::Project names)
   merged over them; its buildspec runs the provision commands in order in the build phase;
3. starts a build, handing it a key scoped to the resource (auth/scoped_keys.py) in two
   variables only for this build, which the buildspec's pre_build phase writes as AWS profile
   ``proton``: the build's own credentials stay the role's, so a command reports outputs with
   ``aws proton notify-resource-deployment-status-change --profile proton ...``;
4. records the build's id (and its key's) with the applied section before waiting, then polls
   BatchGetBuilds, heartbeating, and StopBuild on a cancel request.

A worker that dies while a build runs leaves the record: the resumed deployment polls the
same build instead of starting a second (StartBuild's idempotency token covers the moment
between starting and recording). The key is revoked once the build has ended. SUCCEEDED is
the build's SUCCEEDED; STOPPED is CANCELLED; anything else FAILED with the failing phase's
message and the last lines of the build's CloudWatch log. Outputs are those the commands
reported; ``proton-outputs.json`` stays in the build (a build has no way back but the API). A
delete runs the last deploy's deprovision commands the same way, then removes the project and
its source.
"""

from __future__ import annotations

import io as bytes_io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from baryon.provisioners.applied_sections import AppliedSections, SavedRun, kept_status
from baryon.provisioners.base import (
    DeploymentIO,
    DeployRequest,
    Outcome,
    OutcomeStatus,
    ProvisioningEngine,
    ResourceIdentity,
)
from baryon.provisioners.codebuild import (
    KEY_TTL_MARGIN_SECONDS,
    TAIL_LINES,
    Phase,
    _saved_section,
    no_rollback_to_continue,
)
from baryon.provisioners.polling import Backoff, pause
from baryon.provisioners.program_credentials import (
    PROTON_PROFILE,
    AwsKeys,
    CloudKeys,
    ResourceKeys,
    RoleAssumer,
)
from baryon.settings import Settings

DEFAULT_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
SOURCE_OBJECT = "source.zip"
PROTON_KEY_ID_VARIABLE = "BARYON_PROTON_ACCESS_KEY_ID"
PROTON_SECRET_VARIABLE = "BARYON_PROTON_SECRET_ACCESS_KEY"
# Written first in every build: the scoped key as profile "proton", beside the role's own.
PROTON_PROFILE_COMMAND = (
    'mkdir -p "$HOME/.aws" && '
    f"printf '[profile {PROTON_PROFILE}]\\nregion = %s\\n' \"$AWS_DEFAULT_REGION\" "
    '>> "$HOME/.aws/config" && '
    f"printf '[{PROTON_PROFILE}]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' "
    f'"${PROTON_KEY_ID_VARIABLE}" "${PROTON_SECRET_VARIABLE}" >> "$HOME/.aws/credentials"'
)
MAX_POLL_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0
_ENDED_AS = {
    "SUCCEEDED": OutcomeStatus.SUCCEEDED,
    "STOPPED": OutcomeStatus.CANCELLED,
}
_RUNNING = "IN_PROGRESS"


class CodeBuildRunsOn(StrEnum):
    """settings.codebuild_runs_on: where CodeBuild sections run."""

    BARYON = "baryon"  # the runner, on a worker (provisioners/codebuild.py)
    AWS = "aws"  # AWS CodeBuild in the resource's account (this module)


# (keys, service) -> a boto3 client on the configured cloud signed with those keys.
CloudClients = Callable[[AwsKeys | None, str], Any]


@dataclass(frozen=True)
class AwsCodeBuildConfig:
    region: str
    program_api_endpoint: str  # Baryon's API as builds reach it
    cloud_keys: CloudKeys
    source_bucket: str  # empty: baryon-codebuild-<account>-<region>
    poll_seconds: float
    timeout_seconds: float  # a build's limit (CodeBuild counts whole minutes, 5 to 2160)

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsCodeBuildConfig:
        return cls(
            region=settings.region,
            program_api_endpoint=settings.resolved_program_api_endpoint,
            cloud_keys=CloudKeys.from_settings(settings),
            source_bucket=settings.codebuild_source_bucket,
            poll_seconds=settings.codebuild_poll_seconds,
            timeout_seconds=settings.runner_time_limit_seconds,
        )

    def bucket_for(self, resource: ResourceIdentity) -> str:
        return self.source_bucket or f"baryon-codebuild-{resource.account}-{resource.region}"


def cloud_clients(settings: Settings) -> CloudClients:
    """Clients on the configured cloud (local or real AWS) signed with a run's keys."""

    def client(keys: AwsKeys | None, service: str) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=keys.access_key_id if keys else None,
            aws_secret_access_key=keys.secret_access_key if keys else None,
            aws_session_token=keys.session_token if keys else None,
            region_name=settings.region,
        )
        return session.client(service, endpoint_url=settings.cloud_endpoint or None)

    return client


def project_name(resource: ResourceIdentity) -> str:
    """Deterministic, and within CodeBuild's [A-Za-z0-9][A-Za-z0-9_-]{1,254}."""
    kind = resource.kind.value.replace("_", "-")
    return f"baryon-{kind}-{'-'.join(resource.names)}"[:255]


@dataclass(frozen=True)
class RecordedBuild:
    """A build started for one deployment's phase, kept with the applied section."""

    build_id: str
    deployment: str
    phase: Phase
    key_id: str

    def as_record(self) -> dict[str, str]:
        return {
            "id": self.build_id,
            "deployment": self.deployment,
            "phase": self.phase.value,
            "key": self.key_id,
        }


class CodeBuildOnAwsProvisioner:
    engine = ProvisioningEngine.CODEBUILD

    def __init__(
        self,
        config: AwsCodeBuildConfig,
        keys: ResourceKeys,
        runs: AppliedSections,
        assume_role: RoleAssumer,
        clients: CloudClients,
    ) -> None:
        self._config, self._keys, self._runs = config, keys, runs
        self._assume_role, self._clients = assume_role, clients

    # --- the Provisioner interface ----------------------------------------------------------

    def deploy(self, request: DeployRequest, io: DeploymentIO) -> Outcome:
        section, resource = request.section, request.resource
        if section.commands is None:
            return Outcome(OutcomeStatus.FAILED, "The CodeBuild section has no commands.")
        if not resource.build_role_arn:
            message = (
                "AWS CodeBuild runs a CodeBuild section as the environment's codebuildRoleArn "
                "(a pipeline: the account's pipelineCodebuildRoleArn); this resource has none."
            )
            io.log(message)
            return Outcome(OutcomeStatus.FAILED, message)
        saved = {
            **_saved_section(section, resource.role_arn),
            "build_role_arn": resource.build_role_arn,
            "runtimes": dict(section.commands.runtimes),
            "project_properties": dict(section.commands.project_properties),
        }
        token = request.request_token or io.deployment_id or ""
        outcome = self._build(resource, saved, Phase.PROVISION, token, io)
        if outcome.status != OutcomeStatus.SUCCEEDED:
            self._runs.save(resource.arn, saved, outcome.status, {})
            return outcome
        outputs = self._runs.reported_outputs(token)
        self._runs.save(resource.arn, saved, OutcomeStatus.SUCCEEDED, outputs)
        return replace(outcome, outputs=outputs)

    def destroy(self, resource: ResourceIdentity, io: DeploymentIO) -> Outcome:
        last = self._runs.last(resource.arn)
        if last is None:
            return Outcome(OutcomeStatus.SUCCEEDED, "No CodeBuild run: nothing to deprovision.")
        saved = {key: value for key, value in last.section.items() if key != "build"}
        resource = replace(resource, role_arn=saved.get("role_arn"))
        outcome = self._build(resource, saved, Phase.DEPROVISION, io.deployment_id or "", io)
        if outcome.status != OutcomeStatus.SUCCEEDED:
            self._runs.save(resource.arn, saved, last.status, dict(last.outputs))
            return outcome
        self._remove_project(resource, io)
        self._runs.forget(resource.arn)
        return outcome

    def cancel(self, resource: ResourceIdentity) -> None:
        last = self._runs.last(resource.arn)
        recorded = _recorded(last)
        if last is None or recorded is None:
            return
        try:
            codebuild = self._client(replace(resource, role_arn=last.section.get("role_arn")))
            codebuild("codebuild").stop_build(id=recorded.build_id)
        except (BotoCoreError, ClientError):
            pass  # ended already, or unreachable: the deployment's own poll stops it too

    def status(self, resource: ResourceIdentity) -> Outcome | None:
        return kept_status(self._runs, resource.arn)

    def continue_rollback(
        self, resource: ResourceIdentity, resources_to_skip: Sequence[str], io: DeploymentIO
    ) -> Outcome:
        return no_rollback_to_continue()

    # --- one build --------------------------------------------------------------------------

    def _build(
        self,
        resource: ResourceIdentity,
        saved: Mapping[str, Any],
        phase: Phase,
        deployment: str,
        io: DeploymentIO,
    ) -> Outcome:
        try:
            client = self._client(resource)
        except (BotoCoreError, ClientError) as exc:
            return _failed(f"Could not assume the role {resource.role_arn}: {exc}", io)
        recorded = _recorded(self._runs.last(resource.arn))
        if recorded and (recorded.deployment, recorded.phase) == (deployment, phase):
            io.log(f"Resuming: waiting for AWS CodeBuild build {recorded.build_id} again.")
        else:
            try:
                if recorded is not None:
                    self._stop_abandoned(client("codebuild"), recorded, io)
                recorded = self._start(client, resource, saved, phase, deployment, io)
            except (BotoCoreError, ClientError) as exc:
                return _failed(f"AWS CodeBuild could not start the {phase}: {exc}", io)
        build = self._wait(client("codebuild"), recorded.build_id, io)
        # Only once the build has ended: a lost lease leaves the key to the resumed poll.
        self._keys.revoke(recorded.key_id)
        return build_outcome(client("logs"), build, phase, io)

    def _stop_abandoned(self, codebuild: Any, recorded: RecordedBuild, io: DeploymentIO) -> None:
        """A build an earlier deployment left running (it timed out or was given up) must not
        go on beside the new one: never two runs on one resource."""
        builds = codebuild.batch_get_builds(ids=[recorded.build_id])["builds"]
        if builds and builds[0].get("buildStatus") == "IN_PROGRESS":
            io.log(
                f"Stopping AWS CodeBuild build {recorded.build_id}, left running by deployment "
                f"{recorded.deployment}."
            )
            codebuild.stop_build(id=recorded.build_id)
        self._keys.revoke(recorded.key_id)

    def _client(self, resource: ResourceIdentity) -> Callable[[str], Any]:
        keys = self._config.cloud_keys.for_resource(resource, self._assume_role, "codebuild")
        return lambda service: self._clients(keys, service)

    def _start(
        self,
        client: Callable[[str], Any],
        resource: ResourceIdentity,
        saved: Mapping[str, Any],
        phase: Phase,
        deployment: str,
        io: DeploymentIO,
    ) -> RecordedBuild:
        name = project_name(resource)
        bucket = self._config.bucket_for(resource)
        _ensure_bucket(client("s3"), bucket, resource.region)
        client("s3").put_object(
            Bucket=bucket, Key=f"{name}/{SOURCE_OBJECT}", Body=source_zip(saved["files"])
        )
        project = project_request(resource, saved, phase, bucket, self._project_settings())
        _create_or_update(client("codebuild"), project)
        ttl = int(self._config.timeout_seconds) + KEY_TTL_MARGIN_SECONDS
        key = self._keys.issue(resource.arn, ttl)
        try:
            answer = client("codebuild").start_build(
                projectName=name,
                idempotencyToken=f"{deployment}-{phase}"[:64],
                environmentVariablesOverride=[
                    _variable(PROTON_KEY_ID_VARIABLE, key.access_key_id),
                    _variable(PROTON_SECRET_VARIABLE, key.secret_access_key),
                ],
            )
        except (BotoCoreError, ClientError):
            self._keys.revoke(key.access_key_id)
            raise
        recorded = RecordedBuild(answer["build"]["id"], deployment, phase, key.access_key_id)
        last = self._runs.last(resource.arn)
        self._runs.save(
            resource.arn,
            {**saved, "build": recorded.as_record()},
            OutcomeStatus.IN_PROGRESS,
            dict(last.outputs) if last else {},
        )
        io.log(f"AWS CodeBuild {phase}: project {name}, build {recorded.build_id}.")
        return recorded

    def _project_settings(self) -> ProjectSettings:
        config = self._config
        return ProjectSettings(
            config.region,
            config.program_api_endpoint,
            max(5, min(2160, int(config.timeout_seconds // 60))),
        )

    def _wait(self, codebuild: Any, build_id: str, io: DeploymentIO) -> dict[str, Any]:
        backoff = Backoff(self._config.poll_seconds, MAX_POLL_SECONDS)
        stopping = False
        while True:
            if not stopping and io.cancel_requested():
                io.log(f"Cancel requested: stopping AWS CodeBuild build {build_id}.")
                stopped: dict[str, Any] = codebuild.stop_build(id=build_id)["build"]
                stopping = True
                if stopped.get("buildStatus") != _RUNNING:
                    return stopped
            builds = codebuild.batch_get_builds(ids=[build_id])["builds"]
            if not builds:
                return {"id": build_id, "buildStatus": "FAILED", "phases": []}
            build: dict[str, Any] = builds[0]
            if build.get("buildStatus") != _RUNNING:
                return build
            pause(
                backoff.next_delay(),
                io,
                heartbeat_interval=HEARTBEAT_SECONDS,
                wake_on_cancel=not stopping,
            )

    def _remove_project(self, resource: ResourceIdentity, io: DeploymentIO) -> None:
        name = project_name(resource)
        try:
            client = self._client(resource)
            client("codebuild").delete_project(name=name)
            client("s3").delete_object(
                Bucket=self._config.bucket_for(resource), Key=f"{name}/{SOURCE_OBJECT}"
            )
        except (BotoCoreError, ClientError) as exc:
            io.log(f"The CodeBuild project {name} or its source was left behind: {exc}")


# --- what is sent to AWS ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectSettings:
    region: str
    program_api_endpoint: str
    timeout_minutes: int


def source_zip(files: Mapping[str, str]) -> bytes:
    """The run's files (the section's, and the inputs file) as CodeBuild's S3 source."""
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def buildspec(commands: Sequence[str], runtimes: Mapping[str, Any]) -> str:
    """The build's steps: the scoped key as profile proton, then the phase's commands in
    order (a failing one fails the build). JSON is YAML, which CodeBuild reads."""
    phases: dict[str, Any] = {"pre_build": {"commands": [PROTON_PROFILE_COMMAND]}}
    if runtimes:
        phases["install"] = {"runtime-versions": dict(runtimes)}
    phases["build"] = {"commands": list(commands)}
    return json.dumps({"version": 0.2, "env": {"shell": "bash"}, "phases": phases}, indent=2)


def project_request(
    resource: ResourceIdentity,
    saved: Mapping[str, Any],
    phase: Phase,
    bucket: str,
    settings: ProjectSettings,
) -> dict[str, Any]:
    """CreateProject's (and UpdateProject's) arguments for a phase of a saved section."""
    name = project_name(resource)
    commands = saved["provision"] if phase == Phase.PROVISION else saved["deprovision"]
    variables = [
        *(_variable(key, str(value)) for key, value in (saved.get("variables") or {}).items()),
        *(
            _variable(key, str(value), "SECRETS_MANAGER")
            for key, value in (saved.get("secrets") or {}).items()
        ),
        _variable("RESOURCE_ARN", resource.arn),
        _variable("AWS_DEFAULT_REGION", settings.region),
        _variable("AWS_ENDPOINT_URL_PROTON", settings.program_api_endpoint),
    ]
    properties = _camel(saved.get("project_properties") or {})
    environment = {
        "type": "LINUX_CONTAINER",
        "image": saved.get("image") or DEFAULT_IMAGE,
        "computeType": "BUILD_GENERAL1_SMALL",
        **(properties.pop("environment", None) or {}),
    }
    environment["environmentVariables"] = [*variables, *environment.get("environmentVariables", [])]
    for owned in ("name", "source", "serviceRole", "artifacts"):
        properties.pop(owned, None)
    return {
        **properties,
        "name": name,
        "description": f"Baryon: {phase} for {resource.arn}",
        "source": {
            "type": "S3",
            "location": f"{bucket}/{name}/{SOURCE_OBJECT}",
            "buildspec": buildspec(commands, saved.get("runtimes") or {}),
        },
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": environment,
        "serviceRole": saved["build_role_arn"],
        "timeoutInMinutes": settings.timeout_minutes,
        "tags": [{"key": key, "value": value} for key, value in resource.tags.items()],
    }


def _variable(name: str, value: str, kind: str = "PLAINTEXT") -> dict[str, str]:
    return {"name": name, "value": value, "type": kind}


def _camel(value: Any) -> Any:
    """CloudFormation's property names (VpcConfig, ComputeType) as CodeBuild's API spells
    them (vpcConfig, computeType)."""
    if isinstance(value, Mapping):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {}))


def _create_or_update(codebuild: Any, project: Mapping[str, Any]) -> None:
    try:
        codebuild.create_project(**project)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
            raise
        codebuild.update_project(**project)


def ran_on_aws_codebuild(section: Mapping[str, Any]) -> bool:
    """Whether this module applied a kept section: only it keeps a build role, which every
    build runs as. The section's resource is deleted here even if settings.codebuild_runs_on
    changed since (provisioners/selection.py)."""
    return bool(section.get("build_role_arn"))


def _recorded(last: SavedRun | None) -> RecordedBuild | None:
    if last is None or last.status != OutcomeStatus.IN_PROGRESS:
        return None
    record = last.section.get("build")
    if not isinstance(record, Mapping):
        return None
    return RecordedBuild(record["id"], record["deployment"], Phase(record["phase"]), record["key"])


def _failed(message: str, io: DeploymentIO) -> Outcome:
    io.log(message)
    return Outcome(OutcomeStatus.FAILED, message)


def build_outcome(logs: Any, build: Mapping[str, Any], phase: Phase, io: DeploymentIO) -> Outcome:
    state = str(build.get("buildStatus", "FAILED"))
    status = _ENDED_AS.get(state, OutcomeStatus.FAILED)
    io.log(f"AWS CodeBuild build {build.get('id')} ended {state}.")
    if status == OutcomeStatus.SUCCEEDED:
        return Outcome(status, engine_status=state)
    message = f"The AWS CodeBuild {phase} build {build.get('id')} ended {state}."
    reasons = [
        f"{item.get('phaseType')}: {context.get('message')}"
        for item in build.get("phases") or []
        if item.get("phaseStatus") not in (None, "SUCCEEDED")
        for context in item.get("contexts") or []
        if context.get("message")
    ]
    if reasons:
        message += " " + "; ".join(reasons)
    tail = _log_tail(logs, build.get("logs") or {})
    if tail:
        message += " Its last output:\n" + "\n".join(tail)
    return Outcome(status, message, engine_status=state)


def _log_tail(logs: Any, where: Mapping[str, Any]) -> list[str]:
    group, stream = where.get("groupName"), where.get("streamName")
    if not group or not stream or "null" in (group, stream):
        return []
    try:
        answer = logs.get_log_events(
            logGroupName=group, logStreamName=stream, limit=TAIL_LINES, startFromHead=False
        )
    except (BotoCoreError, ClientError):
        return []
    return [str(event.get("message", "")).rstrip("\n") for event in answer.get("events", [])]
