"""Service sync through boto3 on a live Baryon, from a real git repository.

AWS's CloudFormation samples (fargate-env and load-balanced-fargate-svc, read from
../shared/samples and published by the test) deploy on the local cloud. A plain git
repository on disk, reached through a GIT connection, holds proton-ops.yaml and one ServiceSpec
file for both instances; the test pushes to it with the git CLI and Baryon notices by polling.
The tests run in order, each building on the service the previous one left:

- proton-ops.yaml creates two instances; a push changing one entry updates only that one;
- a manual UpdateServiceInstance blocks only that instance (the other keeps syncing) until
  UpdateServiceSyncBlocker resolves it, after which what was pushed meanwhile, and the next
  push, sync it;
- removing an instance from proton-ops.yaml deletes nothing;
- deleting an instance by hand (UpdateService leaving it out) blocks the whole service.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.support.bundles import Registry, tar_gz
from tests.support.deploying import REPO, error_message, stack
from tests.support.processes import BaryonProcess, own_baryon
from tests.support.samples import SAMPLES, Sample, sample_bundles

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

SUFFIX = uuid.uuid4().hex[:6]
SERVICE = f"lbweb{SUFFIX}"
ENVIRONMENT = f"fargate-{SUFFIX}"
REPOSITORY = f"acme/ops-{SUFFIX}"
OPS = "proton-ops.yaml"
SPEC = "deploy/web.yaml"
ROLE = "arn:aws:iam::123456789012:role/proton-service"
T = TypeVar("T")

server = own_baryon(
    "service-sync",
    env={
        "BARYON_LOCAL_CLOUD_STACK_SECONDS": "0.05",
        "BARYON_GIT_POLL_SECONDS": "0.5",
        "BARYON_WORKERS": "3",
    },
)


class Remote:
    """A bare repository on disk and a working copy that pushes to it with the git CLI."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remotes" / f"{REPOSITORY}.git"
        self.work = root / "work"
        self.bare.parent.mkdir(parents=True)
        self._git(root, "init", "--bare", "-q", "-b", "main", str(self.bare))
        self._git(root, "init", "-q", "-b", "main", str(self.work))
        self._git(self.work, "remote", "add", "origin", str(self.bare))

    def push(self, files: dict[str, str]) -> str:
        for path, text in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "-q", "-m", f"change {', '.join(sorted(files))}")
        self._git(self.work, "push", "-q", "origin", "HEAD:main")
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


def _sample(folder: str) -> Sample:
    (found,) = [b for b in sample_bundles() if b.id.startswith(folder + "/")]
    return found


def _until(check: Callable[[], T | None], what: str, timeout: float = 240.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _ops(*names: str) -> str:
    entries = {name: {"branch": "main", "spec": f"./{SPEC}"} for name in names}
    return yaml.safe_dump({"sync": {"services": {SERVICE: entries}}}, sort_keys=False)


def _spec(**desired_counts: int) -> str:
    """One ServiceSpec file for every instance (Proton allows several in one file)."""
    return yaml.safe_dump(
        {
            "proton": "ServiceSpec",
            "instances": [
                {"name": name, "environment": ENVIRONMENT, "spec": {"desired_count": count}}
                for name, count in desired_counts.items()
            ],
        },
        sort_keys=False,
    )


@dataclass
class Synced:
    proton: Any
    remote: Remote

    def instance(self, name: str) -> dict[str, Any]:
        return dict(
            self.proton.get_service_instance(serviceName=SERVICE, name=name)["serviceInstance"]
        )

    def desired_count(self, name: str) -> int:
        entries = yaml.safe_load(self.instance(name)["spec"])["instances"]
        return int(next(e for e in entries if e["name"] == name)["spec"]["desired_count"])

    def deployed_again(self, name: str, before: str | None) -> dict[str, Any]:
        """Waits for a deployment of ``name`` other than ``before`` to succeed."""

        def done() -> dict[str, Any] | None:
            try:
                current = self.instance(name)
            except self.proton.exceptions.ResourceNotFoundException:
                return None
            if current.get("lastAttemptedDeploymentId") in (None, before):
                return None
            status = current["deploymentStatus"]
            assert status not in ("FAILED", "CANCELLED"), current.get("deploymentStatusMessage")
            return current if status == "SUCCEEDED" else None

        return _until(done, f"a new deployment of {name}")

    def sync_status(self, name: str) -> dict[str, Any]:
        return dict(
            self.proton.get_service_instance_sync_status(
                serviceName=SERVICE, serviceInstanceName=name
            )
        )

    def latest_sync_at(self, name: str, sha: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            latest = self.sync_status(name).get("latestSync")
            return latest if latest and latest["targetRevision"]["sha"] == sha else None

        return _until(found, f"a sync of {name} from {sha}")

    def blockers(self, name: str | None = None) -> list[dict[str, Any]]:
        scope = {"serviceInstanceName": name} if name else {}
        summary = self.proton.get_service_sync_blocker_summary(serviceName=SERVICE, **scope)
        return list(summary["serviceSyncBlockerSummary"].get("latestBlockers") or [])


@pytest.fixture(scope="module")
def synced(server: BaryonProcess, tmp_path_factory: pytest.TempPathFactory) -> Synced:
    """The samples published, an environment deployed, the service created without
    instances, its repository registered and its service sync configured."""
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    environment, service = (
        _sample("environment-templates/fargate-env"),
        _sample("service-templates/load-balanced-fargate-svc"),
    )
    for bundle in (environment, service):
        extra: dict[str, Any] = {}
        if bundle.kind == "service":
            extra["compatibleEnvironmentTemplates"] = [
                {"templateName": name, "majorVersion": major}
                for name, major in bundle.compatible_environments
            ]
        registry.ensure_template(bundle.kind, bundle.template)
        version = registry.register(bundle.kind, bundle.template, tar_gz(bundle.files()), **extra)
        assert version["status"] == "DRAFT", version.get("statusMessage")
        registry.publish(bundle.kind, bundle.template, version)
    (env_spec,) = [
        d for d in environment.spec_documents().values() if d["proton"] == "EnvironmentSpec"
    ]
    proton.create_environment(
        name=ENVIRONMENT,
        templateName=environment.template,
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=yaml.safe_dump(env_spec),
    )
    _until(
        lambda: (
            proton.get_environment(name=ENVIRONMENT)["environment"]["deploymentStatus"]
            == "SUCCEEDED"
        ),
        "the environment",
    )
    (svc_spec,) = [d for d in service.spec_documents().values() if d["proton"] == "ServiceSpec"]
    proton.create_service(
        name=SERVICE,
        templateName=service.template,
        templateMajorVersion="1",
        spec=yaml.safe_dump(
            {"proton": "ServiceSpec", "pipeline": svc_spec["pipeline"], "instances": []}
        ),
        **REPO,
    )
    _until(lambda: proton.get_service(name=SERVICE)["service"]["status"] == "ACTIVE", "the service")
    root = tmp_path_factory.mktemp("service-sync-git")
    remote = Remote(root)
    remote.push({OPS: _ops("one", "two"), SPEC: _spec(one=1, two=1)})
    connection = server.client("baryon").create_connection(
        name=f"disk-{SUFFIX}", provider="GIT", baseUrl=str(root / "remotes") + "/"
    )["connection"]
    proton.create_repository(name=REPOSITORY, provider="GITHUB", connectionArn=connection["arn"])
    config = proton.create_service_sync_config(
        serviceName=SERVICE,
        repositoryProvider="GITHUB",
        repositoryName=REPOSITORY,
        branch="main",
        filePath=OPS,
    )["serviceSyncConfig"]
    assert config == {
        "serviceName": SERVICE,
        "repositoryProvider": "GITHUB",
        "repositoryName": REPOSITORY,
        "branch": "main",
        "filePath": OPS,
    }
    assert proton.get_service_sync_config(serviceName=SERVICE)["serviceSyncConfig"] == config
    return Synced(proton, remote)


def test_the_proton_ops_file_creates_both_instances(server: BaryonProcess, synced: Synced) -> None:
    cloudformation = server.client("cloudformation")
    for name in ("one", "two"):
        synced.deployed_again(name, None)
        assert synced.desired_count(name) == 1
        assert stack(cloudformation, "service-instance", SERVICE, name) is not None
        status = _until(
            lambda n=name: (
                synced.sync_status(n)["latestSync"]["status"] == "SUCCEEDED"
                and synced.sync_status(n)
            ),
            f"the sync of {name} to succeed",
        )
        assert status["latestSuccessfulSync"] == status["latestSync"]
        assert status["desiredState"] == status["latestSync"]["targetRevision"]
        assert status["desiredState"]["directory"] == SPEC
        assert status["desiredState"]["repositoryName"] == REPOSITORY
        assert [e["type"] for e in status["latestSync"]["events"]] == [
            "STARTED",
            "DEPLOYMENT_STARTED",
            "DEPLOYMENT_SUCCEEDED",
        ]
    assert synced.blockers() == [] and synced.blockers("one") == []
    where = {"repositoryName": REPOSITORY, "repositoryProvider": "GITHUB"}
    repository = synced.proton.get_repository_sync_status(
        branch="main", syncType="SERVICE_SYNC", **where
    )["latestSync"]
    assert repository["status"] == "SUCCEEDED"
    assert f"{OPS} at commit" in repository["events"][0]["event"]
    definitions = synced.proton.list_repository_sync_definitions(syncType="SERVICE_SYNC", **where)[
        "syncDefinitions"
    ]
    assert sorted((d["target"], d["directory"]) for d in definitions) == sorted(
        [(SERVICE, OPS), ("one", SPEC), ("two", SPEC)]
    )
    assert {(d["parent"], d["branch"]) for d in definitions} == {(SERVICE, "main")}


def test_a_push_changing_one_instance_updates_only_that_one(synced: Synced) -> None:
    one, two = synced.instance("one"), synced.instance("two")

    sha = synced.remote.push({SPEC: _spec(one=2, two=1)})

    synced.deployed_again("one", one["lastAttemptedDeploymentId"])
    assert synced.desired_count("one") == 2
    assert synced.latest_sync_at("one", sha)["initialRevision"]["sha"] != sha
    assert synced.instance("two")["lastAttemptedDeploymentId"] == two["lastAttemptedDeploymentId"]


def test_a_manual_update_blocks_only_that_instance_until_resolved(synced: Synced) -> None:
    proton = synced.proton
    two_before = synced.instance("two")["lastAttemptedDeploymentId"]
    manual = proton.update_service_instance(
        serviceName=SERVICE,
        name="two",
        deploymentType="CURRENT_VERSION",
        spec=_spec(two=5),
    )["serviceInstance"]
    synced.deployed_again("two", two_before)
    (blocker,) = synced.blockers("two")
    assert (blocker["status"], blocker["type"]) == ("ACTIVE", "AUTOMATED")
    assert "UpdateServiceInstance" in blocker["createdReason"]
    assert {"key": "serviceInstanceName", "value": "two"} in blocker["contexts"]
    assert synced.blockers() == []
    one_before = synced.instance("one")["lastAttemptedDeploymentId"]

    sha = synced.remote.push({SPEC: _spec(one=3, two=3)})

    synced.deployed_again("one", one_before)  # the other instance keeps syncing
    assert synced.desired_count("one") == 3
    held = _until(
        lambda: (
            synced.latest_sync_at("two", sha)["events"][-1]["type"] == "BLOCKED"
            and synced.latest_sync_at("two", sha)
        ),
        "the blocked event of two",
    )
    assert held["status"] == "INITIATED"
    assert held["events"][-1]["externalId"] == blocker["id"]
    assert (
        synced.instance("two")["lastAttemptedDeploymentId"] == manual["lastAttemptedDeploymentId"]
    )
    assert synced.desired_count("two") == 5

    resolved = proton.update_service_sync_blocker(id=blocker["id"], resolvedReason="in git now")
    assert resolved["serviceName"] == SERVICE and resolved["serviceInstanceName"] == "two"
    assert resolved["serviceSyncBlocker"]["status"] == "RESOLVED"
    assert resolved["serviceSyncBlocker"]["resolvedReason"] == "in git now"
    with pytest.raises(proton.exceptions.ValidationException) as caught:
        proton.update_service_sync_blocker(id=blocker["id"], resolvedReason="again")
    assert "resolved already" in error_message(caught)

    # What was pushed while blocked is deployed now, and so is the next push.
    synced.deployed_again("two", manual["lastAttemptedDeploymentId"])
    assert synced.desired_count("two") == 3
    assert synced.blockers("two") == []
    two_before = synced.instance("two")["lastAttemptedDeploymentId"]
    synced.remote.push({SPEC: _spec(one=3, two=4)})
    synced.deployed_again("two", two_before)
    assert synced.desired_count("two") == 4


def test_removing_an_instance_from_the_ops_file_deletes_nothing(synced: Synced) -> None:
    one, two = synced.instance("one"), synced.instance("two")

    synced.remote.push({OPS: _ops("one"), SPEC: _spec(one=2, two=9)})

    synced.deployed_again("one", one["lastAttemptedDeploymentId"])
    after = synced.instance("two")
    assert after["lastAttemptedDeploymentId"] == two["lastAttemptedDeploymentId"]
    assert after["deploymentStatus"] == "SUCCEEDED"
    assert synced.desired_count("two") == 4


def test_a_manual_delete_blocks_the_whole_service(synced: Synced) -> None:
    proton = synced.proton
    proton.update_service(name=SERVICE, spec=_spec(one=2))
    _until(
        lambda: (
            proton.get_service(name=SERVICE)["service"]["status"] == "ACTIVE"
            and len(proton.list_service_instances(serviceName=SERVICE)["serviceInstances"]) == 1
        ),
        "the deletion of two",
    )
    (blocker,) = synced.blockers()
    assert "deleted by hand (UpdateService" in blocker["createdReason"]
    one_before = synced.instance("one")["lastAttemptedDeploymentId"]

    sha = synced.remote.push({OPS: _ops("one", "two"), SPEC: _spec(one=6, two=6)})

    held = _until(
        lambda: (
            synced.latest_sync_at("one", sha)["events"][-1]["type"] == "BLOCKED"
            and synced.latest_sync_at("one", sha)
        ),
        "the blocked event of one",
    )
    assert held["events"][-1]["externalId"] == blocker["id"]
    assert synced.instance("one")["lastAttemptedDeploymentId"] == one_before

    proton.update_service_sync_blocker(id=blocker["id"], resolvedReason="two goes back")
    synced.deployed_again("one", one_before)
    synced.deployed_again("two", None)  # still listed in proton-ops.yaml: made again
    assert (synced.desired_count("one"), synced.desired_count("two")) == (6, 6)
