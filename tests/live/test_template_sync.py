"""Template sync through boto3 on a live Baryon, from real git repositories.

Plain git repositories on disk, reached through a GIT connection, hold template folders laid
out as Proton's guide shows (``[subdirectory/]<template>/v<N>/``); the tests push to them with
the git CLI and Baryon notices by polling. Bundles are AWS's CloudFormation samples, copied
from ../shared/samples into the repositories at test time, and the tests' own small bundles.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from tests.support.bundles import ENV_SCHEMA, Registry, env_bundle, tar_gz
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.samples import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

SUFFIX = uuid.uuid4().hex[:6]
FARGATE_ENV = SAMPLES / "environment-templates" / "fargate-env"
FARGATE_SVC = SAMPLES / "service-templates" / "load-balanced-fargate-svc"
T = TypeVar("T")

server = own_baryon("template-sync", env={"BARYON_GIT_POLL_SECONDS": "0.5"})


class Remote:
    """A bare repository under ``<root>/remotes/<owner>/<name>.git`` and a working copy that
    commits and pushes to it with the git CLI."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.bare = root / "remotes" / f"{name}.git"
        self.work = root / "work" / name
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True)
        self._git(root, "init", "--bare", "-q", "-b", "main", str(self.bare))
        self._git(self.work, "init", "-q", "-b", "main")
        self._git(self.work, "remote", "add", "origin", str(self.bare))

    def copy(self, source: Path, to: str) -> None:
        shutil.copytree(source, self.work / to, dirs_exist_ok=True)

    def write(self, path: str, content: str | bytes) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)

    def remove(self, path: str) -> None:
        target = self.work / path
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    def push(self, message: str, branch: str = "main") -> str:
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        self._git(self.work, "push", "-q", "origin", f"HEAD:{branch}")
        return self._git(self.work, "rev-parse", "HEAD").strip()

    @staticmethod
    def _git(where: Path, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=where,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout


@pytest.fixture(scope="module")
def proton(server: BaryonProcess) -> Any:
    return server.client("proton")


@pytest.fixture(scope="module")
def registry(server: BaryonProcess, proton: Any) -> Registry:
    return Registry(proton, server.client("s3"))


@pytest.fixture(scope="module")
def remotes(server: BaryonProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template-repositories")
    (root / "remotes").mkdir()
    server.client("baryon").create_connection(
        name="disk", provider="GIT", baseUrl=str(root / "remotes") + "/"
    )
    return root


@pytest.fixture(scope="module")
def connection_arn(server: BaryonProcess, remotes: Path) -> str:
    listed = server.client("baryon").list_connections()["connections"]
    return str(next(c["arn"] for c in listed if c["name"] == "disk"))


def _repository(proton: Any, remotes: Path, connection_arn: str, name: str) -> Remote:
    remote = Remote(remotes, name)
    proton.create_repository(name=name, provider="GITHUB", connectionArn=connection_arn)
    return remote


def _until(check: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _synced(proton: Any, kind: str, name: str, major: str, sha: str) -> dict[str, Any]:
    """Waits until major version ``major`` of a template has ended a sync of commit ``sha``."""

    def ended() -> dict[str, Any] | None:
        status = proton.get_template_sync_status(
            templateName=name, templateType=kind, templateVersion=major
        )
        latest = status.get("latestSync")
        if (
            latest
            and latest["targetRevision"]["sha"] == sha
            and latest["status"] in ("SUCCEEDED", "FAILED")
        ):
            return dict(status)
        return None

    return _until(ended, f"{kind} template {name} v{major} to sync {sha}")


def _versions(proton: Any, kind: str, name: str) -> dict[str, dict[str, Any]]:
    listed = getattr(proton, f"list_{kind}_template_versions")(templateName=name)
    return {f"{v['majorVersion']}.{v['minorVersion']}": v for v in listed["templateVersions"]}


def _events(attempt: dict[str, Any]) -> list[str]:
    return [event["event"] for event in attempt["events"]]


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_three_pushes_create_exactly_the_versions_whose_folders_changed(
    proton: Any, remotes: Path, connection_arn: str
) -> None:
    name = f"fargate-env-{SUFFIX}"
    repository = f"platform/templates-{SUFFIX}"
    remote = _repository(proton, remotes, connection_arn, repository)
    proton.create_environment_template(name=name)
    # As AWS's samples lay it out: the bundle in v1/, a spec/ and a README beside it.
    remote.copy(FARGATE_ENV, f"templates/{name}")
    remote.write("README.md", "Platform templates\n")
    first = remote.push("fargate environment, version 1")
    config = proton.create_template_sync_config(
        templateName=name,
        templateType="ENVIRONMENT",
        repositoryName=repository,
        repositoryProvider="GITHUB",
        branch="main",
        subdirectory="/templates/",
    )["templateSyncConfig"]
    assert config == {
        "templateName": name,
        "templateType": "ENVIRONMENT",
        "repositoryName": repository,
        "repositoryProvider": "GITHUB",
        "branch": "main",
        "subdirectory": "templates",
    }
    status = _synced(proton, "ENVIRONMENT", name, "1", first)
    assert status["latestSync"]["status"] == "SUCCEEDED"
    assert f"Version 1.0 created (DRAFT) from {first}" in _events(status["latestSync"])
    assert status["latestSync"]["targetRevision"] == {
        "repositoryName": repository,
        "repositoryProvider": "GITHUB",
        "branch": "main",
        "sha": first,
        "directory": f"templates/{name}/v1",
    }

    # Push 2: v1 changes (a comment in its CloudFormation template): version 1.1.
    iac = remote.work / f"templates/{name}/v1/infrastructure/cloudformation.yaml"
    iac.write_text("# Maintained by the platform team\n" + iac.read_text())
    second = remote.push("comment the fargate environment")
    status = _synced(proton, "ENVIRONMENT", name, "1", second)
    assert f"Version 1.1 created (DRAFT) from {second}" in _events(status["latestSync"])
    assert status["latestSync"]["initialRevision"]["sha"] == first

    # Push 3: a v2 appears and v1 stays as it was: version 2.0 only.
    remote.copy(FARGATE_ENV / "v1", f"templates/{name}/v2")
    readme = remote.work / f"templates/{name}/v2/infrastructure/cloudformation.yaml"
    readme.write_text("# Version 2 of the fargate environment\n" + readme.read_text())
    third = remote.push("fargate environment, version 2")
    major_2 = _synced(proton, "ENVIRONMENT", name, "2", third)
    major_1 = _synced(proton, "ENVIRONMENT", name, "1", third)
    assert f"Version 2.0 created (DRAFT) from {third}" in _events(major_2["latestSync"])
    assert major_1["latestSync"]["status"] == "SUCCEEDED"
    assert f"No change in v1 since version 1.1 (commit {second})" in _events(major_1["latestSync"])
    assert major_1["latestSuccessfulSync"] == major_1["latestSync"]
    assert major_1["desiredState"]["sha"] == third
    assert major_2["latestSync"]["target"] == name

    versions = _versions(proton, "environment", name)
    assert sorted(versions) == ["1.0", "1.1", "2.0"]
    assert {v["status"] for v in versions.values()} == {"DRAFT"}
    assert first in versions["1.0"]["description"] and third in versions["2.0"]["description"]
    synced = proton.get_environment_template_version(
        templateName=name, majorVersion="1", minorVersion="1"
    )["environmentTemplateVersion"]
    assert "environment_input_type" in synced["schema"]

    repository_status = proton.get_repository_sync_status(
        repositoryName=repository,
        repositoryProvider="GITHUB",
        branch="main",
        syncType="TEMPLATE_SYNC",
    )["latestSync"]
    assert repository_status["status"] == "SUCCEEDED"
    starting = [e for e in repository_status["events"] if e["type"] == "STARTING_SYNC"]
    assert starting[-1]["externalId"] == third
    assert starting[-1]["event"] == f"Starting syncs for commit {third}"

    definitions = proton.list_repository_sync_definitions(
        repositoryName=repository, repositoryProvider="GITHUB", syncType="TEMPLATE_SYNC"
    )["syncDefinitions"]
    assert definitions == [
        {"parent": name, "target": name, "branch": "main", "directory": f"templates/{name}"}
    ]


def test_a_service_template_syncs_with_the_environments_its_registration_file_names(
    proton: Any, remotes: Path, connection_arn: str
) -> None:
    environment, service = f"net-{SUFFIX}", f"web-{SUFFIX}"
    repository = f"platform/services-{SUFFIX}"
    remote = _repository(proton, remotes, connection_arn, repository)
    # The environment template and the service template listing it arrive in one commit.
    remote.copy(FARGATE_ENV / "v1", f"{environment}/v1")
    remote.copy(FARGATE_SVC / "v1", f"{service}/v1")
    remote.remove(f"{service}/v1/.compatible-envs")
    remote.write(
        f"{service}/v1/.template-registration.yaml",
        f"compatible_environments:\n  - {environment}:1\n"
        "supported_component_sources:\n  - DIRECTLY_DEFINED\n",
    )
    sha = remote.push("an environment and a service that runs in it")
    proton.create_environment_template(name=environment)
    proton.create_service_template(name=service)
    for name, kind in ((service, "SERVICE"), (environment, "ENVIRONMENT")):
        proton.create_template_sync_config(
            templateName=name,
            templateType=kind,
            repositoryName=repository,
            repositoryProvider="GITHUB",
            branch="main",
        )
    _synced(proton, "ENVIRONMENT", environment, "1", sha)

    def service_synced() -> dict[str, Any] | None:
        status = _synced(proton, "SERVICE", service, "1", sha)
        return status if status["latestSync"]["status"] == "SUCCEEDED" else None

    _until(service_synced, "the service template to sync once its environment exists")
    version = proton.get_service_template_version(
        templateName=service, majorVersion="1", minorVersion="0"
    )["serviceTemplateVersion"]
    assert version["status"] == "DRAFT"
    assert version["compatibleEnvironmentTemplates"] == [
        {"templateName": environment, "majorVersion": "1"}
    ]
    assert version["supportedComponentSources"] == ["DIRECTLY_DEFINED"]
    assert "pipeline_input_type" in version["schema"]
    definitions = proton.list_repository_sync_definitions(
        repositoryName=repository, repositoryProvider="GITHUB", syncType="TEMPLATE_SYNC"
    )["syncDefinitions"]
    assert sorted(d["target"] for d in definitions) == sorted([environment, service])


def test_an_invalid_bundle_fails_the_sync_with_its_reason_and_keeps_earlier_versions(
    proton: Any, registry: Registry, remotes: Path, connection_arn: str
) -> None:
    name = f"small-env-{SUFFIX}"
    repository = f"platform/small-{SUFFIX}"
    remote = _repository(proton, remotes, connection_arn, repository)
    for path, text in env_bundle().items():
        remote.write(f"{name}/v1/{path}", text)
    good = remote.push("a small environment")
    proton.create_environment_template(name=name)
    proton.create_template_sync_config(
        templateName=name,
        templateType="ENVIRONMENT",
        repositoryName=repository,
        repositoryProvider="GITHUB",
        branch="main",
    )
    assert _synced(proton, "ENVIRONMENT", name, "1", good)["latestSync"]["status"] == "SUCCEEDED"

    broken_schema = ENV_SCHEMA.replace("  types:\n", "  types: [\n")
    remote.write(f"{name}/v1/schema/schema.yaml", broken_schema)
    bad = remote.push("break the schema")
    status = _synced(proton, "ENVIRONMENT", name, "1", bad)
    assert status["latestSync"]["status"] == "FAILED"
    assert status["latestSuccessfulSync"]["targetRevision"]["sha"] == good
    failure = _events(status["latestSync"])[-1]
    assert failure.startswith(f"Version 1.1 created from {bad} failed registration")
    assert "schema/schema.yaml" in failure and "line" in failure

    versions = _versions(proton, "environment", name)
    assert versions["1.0"]["status"] == "DRAFT"
    assert versions["1.1"]["status"] == "REGISTRATION_FAILED"
    # The same bundle uploaded by hand fails with the same words.
    files: dict[str, str | bytes] = {**env_bundle(), "schema/schema.yaml": broken_schema}
    uploaded = registry.register("environment", name, tar_gz(files), majorVersion="1")
    assert uploaded["status"] == "REGISTRATION_FAILED"
    assert versions["1.1"]["statusMessage"] == uploaded["statusMessage"]
    assert uploaded["statusMessage"] in failure

    # Pushing the same broken content again makes nothing new and still says why.
    remote.write(f"{name}/README.md", "unrelated\n")
    again = remote.push("unrelated change")
    status = _synced(proton, "ENVIRONMENT", name, "1", again)
    assert status["latestSync"]["status"] == "FAILED"
    assert "whose registration failed" in _events(status["latestSync"])[-1]
    assert sorted(_versions(proton, "environment", name)) == ["1.0", "1.1", "1.2"]


def test_a_sync_config_is_refused_naming_the_member_at_fault(
    proton: Any, remotes: Path, connection_arn: str
) -> None:
    name = f"rules-env-{SUFFIX}"
    repository = f"platform/rules-{SUFFIX}"
    _repository(proton, remotes, connection_arn, repository)
    request = {
        "templateName": name,
        "templateType": "ENVIRONMENT",
        "repositoryName": repository,
        "repositoryProvider": "GITHUB",
        "branch": "main",
    }
    with pytest.raises(ClientError) as error:
        proton.create_template_sync_config(**request)
    assert _code(error) == "ValidationException" and "templateName" in str(error.value)
    proton.create_environment_template(name=name)
    for member, value in (
        ("repositoryName", "platform/unregistered"),
        ("subdirectory", "templates/../../etc"),
        ("branch", "bad..branch"),
    ):
        with pytest.raises(ClientError) as error:
            proton.create_template_sync_config(**{**request, member: value})
        assert _code(error) == "ValidationException", member
        assert member in str(error.value)
    proton.create_template_sync_config(**request)
    with pytest.raises(ClientError) as error:
        proton.create_template_sync_config(**request)
    assert _code(error) == "ConflictException"
    with pytest.raises(ClientError) as error:
        proton.get_template_sync_status(
            templateName=f"nothing-{SUFFIX}", templateType="ENVIRONMENT", templateVersion="1"
        )
    assert _code(error) == "ResourceNotFoundException"


def test_a_changed_branch_syncs_from_the_new_branch_and_a_deleted_config_stops(
    proton: Any, remotes: Path, connection_arn: str
) -> None:
    name = f"branch-env-{SUFFIX}"
    repository = f"platform/branches-{SUFFIX}"
    remote = _repository(proton, remotes, connection_arn, repository)
    for path, text in env_bundle().items():
        remote.write(f"{name}/v1/{path}", text)
    on_main = remote.push("on main")
    remote.write(
        f"{name}/v1/infrastructure/cloudformation.yaml",
        "# release\n" + env_bundle()["infrastructure/cloudformation.yaml"],
    )
    on_release = remote.push("on release", branch="release")
    proton.create_environment_template(name=name)
    request = {
        "templateName": name,
        "templateType": "ENVIRONMENT",
        "repositoryName": repository,
        "repositoryProvider": "GITHUB",
        "branch": "main",
    }
    proton.create_template_sync_config(**request)
    _synced(proton, "ENVIRONMENT", name, "1", on_main)
    updated = proton.update_template_sync_config(**{**request, "branch": "release"})
    assert updated["templateSyncConfig"]["branch"] == "release"
    status = _synced(proton, "ENVIRONMENT", name, "1", on_release)
    assert status["latestSync"]["targetRevision"]["branch"] == "release"
    assert sorted(_versions(proton, "environment", name)) == ["1.0", "1.1"]
    assert (
        proton.get_repository_sync_status(
            repositoryName=repository,
            repositoryProvider="GITHUB",
            branch="release",
            syncType="TEMPLATE_SYNC",
        )["latestSync"]["status"]
        == "SUCCEEDED"
    )

    deleted = proton.delete_template_sync_config(templateName=name, templateType="ENVIRONMENT")
    assert deleted["templateSyncConfig"]["branch"] == "release"
    with pytest.raises(ClientError) as error:
        proton.get_template_sync_config(templateName=name, templateType="ENVIRONMENT")
    assert _code(error) == "ResourceNotFoundException"
    # The history stays; the repository can be deleted now that nothing syncs from it.
    assert (
        proton.get_template_sync_status(
            templateName=name, templateType="ENVIRONMENT", templateVersion="1"
        )["latestSync"]["targetRevision"]["sha"]
        == on_release
    )
    proton.delete_repository(name=repository, provider="GITHUB")
