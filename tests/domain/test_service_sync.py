"""Service sync's rules: the proton-ops file (hostile input refused with file, line and field)
and the sync's decisions and blockers, exercised in process.

The flow tests call the operation functions the API calls (in_process contexts) and run the
SERVICE_SYNC job itself (engine/service_sync.py) against a real bare git repository on disk
reached through a GIT connection; deployments are then recorded as a worker would, short of
the cloud (the live test, tests/live/test_service_sync.py, deploys on the local cloud).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from baryon.domain import outcomes, service_sync
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.engine import deploy
from baryon.engine import service_sync as service_sync_job
from baryon.engine.handlers import JobContext
from baryon.operations import connections as connection_operations
from baryon.operations import environments as environment_operations
from baryon.operations import in_process
from baryon.operations import repositories as repository_operations
from baryon.operations import service_instances as instance_operations
from baryon.operations import service_sync as sync_operations
from baryon.operations import services as service_operations
from baryon.runtime import Runtime
from baryon.store.tables import Deployment, Job, RepositoryBranch, Service
from tests.support.principals import ADMIN

OPS = "proton-ops.yaml"

# --- the proton-ops file -----------------------------------------------------------------------


def _ops(services: dict[str, Any]) -> bytes:
    return yaml.safe_dump({"sync": {"services": services}}, sort_keys=False).encode()


def _refusal(data: bytes, service: str = "web") -> str:
    with pytest.raises(InvalidInput) as caught:
        service_sync.parse_ops_file(data, OPS, service)
    return caught.value.message


def test_an_ops_file_gives_this_services_instances_by_name_with_paths_from_the_root() -> None:
    data = _ops(
        {
            "web": {
                "staging": {"branch": "main", "spec": "./deploy/web.yaml"},
                "prod": {"branch": "release", "spec": "deploy/prod.yaml"},
            },
            "other": {"x": {"branch": "main", "spec": "other.yaml"}},
        }
    )

    ops = service_sync.parse_ops_file(data, OPS, "web")

    assert ops.instances == (
        service_sync.InstanceSource("prod", "release", "deploy/prod.yaml"),
        service_sync.InstanceSource("staging", "main", "deploy/web.yaml"),
    )


def test_an_ops_file_that_does_not_list_the_service_gives_no_instances() -> None:
    assert service_sync.parse_ops_file(_ops({"other": {}}), OPS, "web").instances == ()
    assert service_sync.parse_ops_file(b"sync:\n  services:\n", OPS, "web").instances == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: 7\n        spec: a.yaml\n",
            "proton-ops.yaml line 5 (sync.services.web.a.branch): is required and must be a "
            "string.",
        ),
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: main\n",
            "proton-ops.yaml line 4 (sync.services.web.a.spec): is required",
        ),
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: main\n"
            "        spec: ../../etc/passwd\n",
            "proton-ops.yaml line 6 (sync.services.web.a.spec): '../../etc/passwd' is not a file "
            "path inside the repository",
        ),
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: main\n        spec: /a.yaml\n",
            "(sync.services.web.a.spec): '/a.yaml' is not a file path",
        ),
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: 'a..b'\n"
            "        spec: a.yaml\n",
            "proton-ops.yaml line 5 (sync.services.web.a.branch): 'a..b' is not a git branch name",
        ),
        (
            "sync:\n  services:\n    web:\n      a:\n        branch: main\n        spec: a.yaml\n"
            "        extra: 1\n",
            "proton-ops.yaml line 4 (sync.services.web.a): unknown key(s) extra.",
        ),
        (
            "sync:\n  services:\n    web:\n      'bad name':\n        branch: main\n",
            "proton-ops.yaml line 3 (sync.services.web): 'bad name' is not an instance name",
        ),
        ("sync:\n  services: [web]\n", "line 2 (sync.services): must map service names"),
        ("sync: {}\nmore: 1\n", "proton-ops.yaml line 2 (more): unknown key 'more'."),
        ("- sync\n", "proton-ops.yaml line 1: must be a mapping with the key 'sync'."),
        ("sync:\n  services:\n  services:\n", "proton-ops.yaml line 3: duplicate key"),
        ("sync: [\n", "proton-ops.yaml line 2: invalid YAML"),
    ],
)
def test_a_bad_ops_file_is_refused_naming_the_file_the_line_and_the_field(
    text: str, expected: str
) -> None:
    assert expected in _refusal(text.encode())


def test_an_ops_file_that_is_not_utf8_is_refused_naming_its_line() -> None:
    assert _refusal(b"sync:\n  services:\n    w\xffb: {}\n") == (
        "proton-ops.yaml line 3: the file is not UTF-8 text."
    )


def test_an_oversized_ops_file_is_refused_before_it_is_parsed() -> None:
    data = b"# " + b"x" * service_sync.MAX_OPS_FILE_BYTES + b"\nsync: {services: {}}\n"
    assert "proton-ops.yaml: file is" in _refusal(data)


def test_alias_bombs_and_too_many_instances_are_refused() -> None:
    bomb = "a: &a [x, x]\n" + "".join(
        f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}, *{'a' if i == 0 else f'b{i - 1}'}]\n"
        for i in range(60)
    )
    assert "more than 100 YAML aliases" in _refusal(bomb.encode())
    many = {
        f"i{n}": {"branch": "main", "spec": "s.yaml"}
        for n in range(service_sync.MAX_INSTANCES_PER_SERVICE + 1)
    }
    assert "at most 1000 are allowed" in _refusal(_ops({"web": many}))


def test_paths_drop_dot_slash_and_refuse_escapes_and_git_internals() -> None:
    assert service_sync.repository_path("././a/b.yaml", "filePath") == "a/b.yaml"
    for bad in ("", "a//b", "a/./b", "a/../b", ".git/config", "a\\b", "a\x00b", "x/"):
        with pytest.raises(InvalidInput) as caught:
            service_sync.repository_path(bad, "filePath")
        assert caught.value.field == ("filePath",)
    with pytest.raises(InvalidInput, match="folders deep"):
        service_sync.repository_path("/".join(["d"] * 40), "filePath")


# --- the sync, in process ---------------------------------------------------------------------

ROLE = "arn:aws:iam::111122223333:role/proton-service-role"
PROVIDER, REPOSITORY = "GITHUB", "acme/web-ops"


class Remote:
    """A bare repository on disk and a working copy that pushes to it with the git CLI."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remotes" / f"{REPOSITORY}.git"
        self.work = root / "work"
        self.bare.parent.mkdir(parents=True)
        self._git(root, "init", "--bare", "-q", "-b", "main", str(self.bare))
        self._git(root, "init", "-q", "-b", "main", str(self.work))
        self._git(self.work, "remote", "add", "origin", str(self.bare))

    def push(self, files: dict[str, str], branch: str = "main") -> str:
        self._git(self.work, "checkout", "-q", "-B", branch)
        for path, text in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "-q", "--allow-empty", "-m", f"change {sorted(files)}")
        self._git(self.work, "push", "-q", "-f", "origin", f"HEAD:{branch}")
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


def _call(runtime: Runtime, operation: Any, name: str, request: dict[str, Any]) -> Any:
    return operation(in_process.context(runtime, "portal:robin", name, principal=ADMIN), request)


def _work_off(runtime: Runtime) -> list[str]:
    """Deployments in flight read, rendered and recorded SUCCEEDED as a worker would (no
    cloud), a service's pipeline after its instances; returns the instances deployed (not
    deleted)."""
    deployed = []
    while True:
        with runtime.db.session() as session:
            waiting = {
                (service.operation or {}).get("pipeline")
                for service in session.scalars(select(Service))
            }
            ready = [
                row
                for row in session.scalars(
                    select(Deployment)
                    .where(Deployment.status.in_(["IN_PROGRESS", "DELETE_IN_PROGRESS"]))
                    .order_by(Deployment.created_at, Deployment.id)
                )
                if row.id not in waiting
            ]
            for deployment in ready:
                work = deploy._prepare(session, runtime, deployment)
                if work.target is not None:
                    assert work.target.render().files
            names = [
                (row.id, row.service_instance_name if row.operation == "DEPLOY" else None)
                for row in ready
            ]
        if not names:
            return deployed
        for deployment_id, instance in names:
            with runtime.db.session(write=True) as session:
                outcomes.record(
                    session,
                    runtime.arns,
                    deployment_id,
                    outcomes.Result("SUCCEEDED", outputs={"BucketName": "b", "Port": "80"}),
                    datetime.now(UTC),
                )
            if instance:
                deployed.append(instance)


def _instance_spec(**ports: int) -> str:
    return yaml.safe_dump(
        {
            "proton": "ServiceSpec",
            "instances": [
                {"name": name, "environment": "dev", "spec": {"port": port}}
                for name, port in ports.items()
            ],
        },
        sort_keys=False,
    )


def _ops_text(*names: str) -> str:
    entries = {name: {"branch": "main", "spec": "./deploy/web.yaml"} for name in names}
    return _ops({"web": entries}).decode()


@dataclass
class Synced:
    runtime: Runtime
    remote: Remote

    def sync(self) -> None:
        """One SERVICE_SYNC run, as a worker runs it."""
        service_sync_job.run(JobContext(self.runtime, 0, 1, 5), {"service_name": "web"})

    def status(self, instance: str) -> dict[str, Any]:
        return _call(
            self.runtime,
            sync_operations.get_service_instance_sync_status,
            "GetServiceInstanceSyncStatus",
            {"serviceName": "web", "serviceInstanceName": instance},
        )

    def port(self, instance: str) -> Any:
        view = _call(
            self.runtime,
            instance_operations.get_service_instance,
            "GetServiceInstance",
            {"serviceName": "web", "name": instance},
        )["serviceInstance"]
        entries = yaml.safe_load(view["spec"])["instances"]
        return next(e["spec"]["port"] for e in entries if e["name"] == instance)

    def blockers(self, instance: str | None = None) -> list[dict[str, Any]]:
        request = {"serviceName": "web", **({"serviceInstanceName": instance} if instance else {})}
        summary = _call(
            self.runtime,
            sync_operations.get_service_sync_blocker_summary,
            "GetServiceSyncBlockerSummary",
            request,
        )["serviceSyncBlockerSummary"]
        return list(summary["latestBlockers"])

    def resolve(self, blocker_id: str) -> dict[str, Any]:
        return _call(
            self.runtime,
            sync_operations.update_service_sync_blocker,
            "UpdateServiceSyncBlocker",
            {"id": blocker_id, "resolvedReason": "the change is in git now"},
        )

    def queued_syncs(self) -> int:
        with self.runtime.db.session() as session:
            return len(
                session.scalars(
                    select(Job).where(Job.kind == "service-sync", Job.status == "QUEUED")
                ).all()
            )


@pytest.fixture
def synced(runtime: Runtime, tmp_path: Path) -> Iterator[Synced]:
    """Environment dev, service web (no instances yet), its repository through a GIT
    connection, and a service sync config reading proton-ops.yaml on main."""
    remote = Remote(tmp_path)
    _call(
        runtime,
        environment_operations.create_environment,
        "CreateEnvironment",
        {
            "name": "dev",
            "templateName": "network",
            "templateMajorVersion": "1",
            "spec": "proton: EnvironmentSpec\nspec: {}\n",
            "protonServiceRoleArn": ROLE,
        },
    )
    _call(
        runtime,
        service_operations.create_service,
        "CreateService",
        {
            "name": "web",
            "templateName": "webapp",
            "templateMajorVersion": "1",
            "spec": "proton: ServiceSpec\npipeline: {}\ninstances: []\n",
            "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:1:connection/x",
            "repositoryId": "org/web",
            "branchName": "main",
        },
    )
    _work_off(runtime)
    connection = _call(
        runtime,
        connection_operations.create_connection,
        "CreateConnection",
        {"name": "disk", "provider": "GIT", "baseUrl": str(tmp_path / "remotes") + "/"},
    )["connection"]
    _call(
        runtime,
        repository_operations.create_repository,
        "CreateRepository",
        {"name": REPOSITORY, "provider": PROVIDER, "connectionArn": connection["arn"]},
    )
    remote.push(
        {OPS: _ops_text("one", "two"), "deploy/web.yaml": _instance_spec(one=8001, two=8002)}
    )
    _call(
        runtime,
        sync_operations.create_service_sync_config,
        "CreateServiceSyncConfig",
        {
            "serviceName": "web",
            "repositoryProvider": PROVIDER,
            "repositoryName": REPOSITORY,
            "branch": "main",
            "filePath": OPS,
        },
    )
    yield Synced(runtime, remote)


def test_a_sync_creates_the_listed_instances_and_a_second_run_changes_nothing(
    synced: Synced,
) -> None:
    assert synced.queued_syncs() == 1  # CreateServiceSyncConfig asked for the first sync

    synced.sync()
    assert sorted(_work_off(synced.runtime)) == ["one", "two"]
    synced.sync()

    assert _work_off(synced.runtime) == []
    status = synced.status("one")
    assert status["latestSync"]["status"] == "SUCCEEDED"
    assert status["latestSuccessfulSync"] == status["latestSync"]
    revision = status["desiredState"]
    assert revision["directory"] == "deploy/web.yaml"
    assert (revision["repositoryName"], revision["branch"]) == (REPOSITORY, "main")
    assert [e["type"] for e in status["latestSync"]["events"]] == [
        "STARTED",
        "DEPLOYMENT_STARTED",
        "DEPLOYMENT_SUCCEEDED",
    ]
    assert (synced.port("one"), synced.port("two")) == (8001, 8002)
    assert synced.blockers() == [] and synced.blockers("one") == []
    with synced.runtime.db.session() as session:
        watched = session.scalars(select(RepositoryBranch.branch)).all()
    assert watched == ["main"]


def test_a_push_that_changes_one_entry_of_a_shared_spec_file_updates_only_that_instance(
    synced: Synced,
) -> None:
    synced.sync()
    _work_off(synced.runtime)
    before = synced.status("two")["latestSync"]

    sha = synced.remote.push({"deploy/web.yaml": _instance_spec(one=9001, two=8002)})
    synced.sync()

    assert _work_off(synced.runtime) == ["one"]
    assert synced.port("one") == 9001
    one = synced.status("one")
    assert one["latestSync"]["targetRevision"]["sha"] == sha
    assert one["latestSync"]["initialRevision"]["sha"] != sha
    assert synced.status("two")["latestSync"] == before


def test_a_manual_update_blocks_only_that_instance_until_resolved(synced: Synced) -> None:
    synced.sync()
    _work_off(synced.runtime)
    _call(
        synced.runtime,
        instance_operations.update_service_instance,
        "UpdateServiceInstance",
        {
            "serviceName": "web",
            "name": "two",
            "deploymentType": "CURRENT_VERSION",
            "spec": _instance_spec(two=7777),
        },
    )
    _work_off(synced.runtime)
    [blocker] = synced.blockers("two")
    assert blocker["status"] == "ACTIVE" and blocker["type"] == "AUTOMATED"
    assert "UpdateServiceInstance by portal:robin" in blocker["createdReason"]
    assert {"key": "serviceInstanceName", "value": "two"} in blocker["contexts"]
    assert synced.blockers() == []  # nothing on the service as a whole

    synced.remote.push({"deploy/web.yaml": _instance_spec(one=9001, two=9002)})
    synced.sync()
    synced.sync()  # a second run adds no second event

    assert _work_off(synced.runtime) == ["one"]
    assert synced.port("two") == 7777
    pending = synced.status("two")["latestSync"]
    assert pending["status"] == "INITIATED"
    assert [e["type"] for e in pending["events"]] == ["STARTED", "BLOCKED"]
    assert pending["events"][-1]["externalId"] == blocker["id"]

    resolved = synced.resolve(blocker["id"])["serviceSyncBlocker"]
    assert resolved["status"] == "RESOLVED" and resolved["resolvedAt"]
    assert synced.queued_syncs() == 1
    synced.sync()

    assert _work_off(synced.runtime) == ["two"]
    assert synced.port("two") == 9002
    assert synced.status("two")["latestSync"]["status"] == "SUCCEEDED"
    assert synced.blockers("two") == []
    with pytest.raises(InvalidInput, match="resolved already"):
        synced.resolve(blocker["id"])
    with pytest.raises(NotFound):
        synced.resolve("no-such-blocker")


def test_a_manual_create_blocks_the_new_instance(synced: Synced) -> None:
    synced.sync()
    _work_off(synced.runtime)
    _call(
        synced.runtime,
        instance_operations.create_service_instance,
        "CreateServiceInstance",
        {"serviceName": "web", "name": "three", "spec": _instance_spec(three=8003)},
    )

    [blocker] = synced.blockers("three")

    assert "was created by hand (CreateServiceInstance" in blocker["createdReason"]


def test_a_manual_delete_blocks_every_instance_of_the_service(synced: Synced) -> None:
    synced.sync()
    _work_off(synced.runtime)
    _call(
        synced.runtime,
        service_operations.update_service,
        "UpdateService",
        {"name": "web", "spec": _instance_spec(one=8001)},
    )
    _work_off(synced.runtime)
    [blocker] = synced.blockers()
    assert "'two' of service 'web' were deleted by hand (UpdateService" in blocker["createdReason"]

    synced.remote.push({"deploy/web.yaml": _instance_spec(one=9001, two=9002)})
    synced.sync()

    assert _work_off(synced.runtime) == []
    assert synced.status("one")["latestSync"]["events"][-1]["type"] == "BLOCKED"
    synced.resolve(blocker["id"])
    synced.sync()
    assert sorted(_work_off(synced.runtime)) == ["one", "two"]  # two is listed: made again


def test_removing_an_instance_from_the_ops_file_deletes_nothing(synced: Synced) -> None:
    synced.sync()
    _work_off(synced.runtime)

    synced.remote.push(
        {OPS: _ops_text("one"), "deploy/web.yaml": _instance_spec(one=8001, two=5555)}
    )
    synced.sync()

    assert _work_off(synced.runtime) == []
    assert synced.port("two") == 8002
    with synced.runtime.db.session() as session:
        assert session.scalar(select(Deployment.id).where(Deployment.operation == "DELETE")) is None


def test_a_busy_instance_waits_and_the_sync_runs_again_later(synced: Synced) -> None:
    synced.sync()
    # The creations are still IN_PROGRESS when the next commit arrives.
    synced.remote.push({"deploy/web.yaml": _instance_spec(one=9001, two=8002)})
    with synced.runtime.db.session(write=True) as session:
        session.query(Job).filter(Job.kind == "service-sync").delete()

    synced.sync()

    latest = synced.status("one")["latestSync"]
    assert latest["status"] == "INITIATED" and latest["events"][-1]["type"] == "WAITING"
    assert "has a deployment in progress" in latest["events"][-1]["event"]
    assert synced.queued_syncs() == 1
    assert sorted(_work_off(synced.runtime)) == ["one", "two"]
    synced.sync()
    assert _work_off(synced.runtime) == ["one"]
    assert synced.port("one") == 9001


def test_an_unusable_spec_file_fails_the_attempt_once_with_the_files_reason(
    synced: Synced,
) -> None:
    synced.sync()
    _work_off(synced.runtime)
    synced.remote.push({"deploy/web.yaml": _instance_spec(one=99999, two=8002)})

    synced.sync()
    synced.sync()

    failed = synced.status("one")["latestSync"]
    assert failed["status"] == "FAILED"
    assert failed["events"][-1]["event"].startswith("deploy/web.yaml: The spec does not match")
    assert synced.status("one")["latestSuccessfulSync"]["status"] == "SUCCEEDED"
    with synced.runtime.db.session() as session:
        attempts = session.scalars(
            select(Deployment.id).where(Deployment.service_instance_name == "one")
        ).all()
    assert len(attempts) == 1  # the creation only


def test_config_operations_check_the_service_the_repository_and_the_path(
    synced: Synced,
) -> None:
    runtime = synced.runtime
    base = {
        "serviceName": "web",
        "repositoryProvider": PROVIDER,
        "repositoryName": REPOSITORY,
        "branch": "main",
        "filePath": OPS,
    }
    create = sync_operations.create_service_sync_config
    with pytest.raises(Conflict, match="already has a service sync configuration"):
        _call(runtime, create, "CreateServiceSyncConfig", base)
    with pytest.raises(InvalidInput, match="serviceName: the service 'nope' does not exist"):
        _call(runtime, create, "CreateServiceSyncConfig", {**base, "serviceName": "nope"})
    update = sync_operations.update_service_sync_config
    with pytest.raises(InvalidInput, match="repositoryName: the repository 'acme/other'"):
        _call(runtime, update, "UpdateServiceSyncConfig", {**base, "repositoryName": "acme/other"})
    with pytest.raises(InvalidInput, match=r"filePath: '\.\./x' is not a file path"):
        _call(runtime, update, "UpdateServiceSyncConfig", {**base, "filePath": "../x"})

    changed = _call(runtime, update, "UpdateServiceSyncConfig", {**base, "filePath": "./ops.yaml"})
    assert changed["serviceSyncConfig"]["filePath"] == "ops.yaml"
    get = sync_operations.get_service_sync_config
    assert _call(runtime, get, "GetServiceSyncConfig", {"serviceName": "web"}) == changed
    delete = sync_operations.delete_service_sync_config
    assert _call(runtime, delete, "DeleteServiceSyncConfig", {"serviceName": "web"}) == changed
    assert _call(runtime, get, "GetServiceSyncConfig", {"serviceName": "web"}) == {}
    with pytest.raises(NotFound, match="The service 'nope' was not found"):
        _call(runtime, get, "GetServiceSyncConfig", {"serviceName": "nope"})
    with pytest.raises(NotFound):
        _call(runtime, delete, "DeleteServiceSyncConfig", {"serviceName": "web"})


def test_a_missing_ops_file_is_a_failed_repository_sync(synced: Synced) -> None:
    _call(
        synced.runtime,
        sync_operations.update_service_sync_config,
        "UpdateServiceSyncConfig",
        {
            "serviceName": "web",
            "repositoryProvider": PROVIDER,
            "repositoryName": REPOSITORY,
            "branch": "main",
            "filePath": "missing/ops.yaml",
        },
    )

    synced.sync()

    with synced.runtime.db.session() as session:
        status = sync_operations.repository_sync_status(
            session,
            {
                "repositoryProvider": PROVIDER,
                "repositoryName": REPOSITORY,
                "branch": "main",
                "syncType": "SERVICE_SYNC",
            },
        )
    latest = status["latestSync"]
    assert latest["status"] == "FAILED"
    assert "missing/ops.yaml does not exist at commit" in latest["events"][0]["event"]
