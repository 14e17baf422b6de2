"""`baryon backup` while deployments run, and `baryon restore` into a new data directory: a
Baryon started there has every template, environment, service and deployment, resumes the
deployments that were running to an end, and takes the old access key."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.support.bundles import Registry, env_bundle, service_bundle, tar_gz
from tests.support.cli import CommandRun, run_baryon
from tests.support.processes import BaryonProcess, clean_environment, start_baryon

# Stacks take a few seconds, so the backup lands while some are in progress.
SLOW_STACKS = {"BARYON_LOCAL_CLOUD_STACK_SECONDS": "4", "BARYON_REGIONS": "us-east-1,us-west-2"}
FAST = {"Delay": 1, "MaxAttempts": 120}
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
REPO = {
    "repositoryConnectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/x",
    "repositoryId": "org/app",
    "branchName": "main",
}
INSTANCES = ("one", "two", "three")


def _baryon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", *args],
        capture_output=True,
        text=True,
        env=clean_environment(**(env or {})),
        timeout=180,
    )


def _in_process(*args: str, env: dict[str, str] | None = None) -> CommandRun:
    """The same in this process (tests.support.cli), for the refusals: what they print and
    their status; the backup and restore of a live Baryon above run the real entry point."""
    return run_baryon(args, clean_environment(**(env or {})))


def _publish_templates(server: BaryonProcess) -> None:
    proton = server.client("proton")
    registry = Registry(proton, server.client("s3"))
    proton.create_environment_template(name="backup-env")
    registry.publish(
        "environment",
        "backup-env",
        registry.register("environment", "backup-env", tar_gz(env_bundle())),
    )
    proton.create_service_template(name="backup-svc")
    registry.publish(
        "service",
        "backup-svc",
        registry.register(
            "service",
            "backup-svc",
            tar_gz(service_bundle()),
            compatibleEnvironmentTemplates=[{"templateName": "backup-env", "majorVersion": "1"}],
        ),
    )


def _deployments(proton: Any) -> dict[str, str]:
    return {
        d["id"]: d["deploymentStatus"]
        for page in proton.get_paginator("list_deployments").paginate()
        for d in page["deployments"]
    }


def _wait_for_stack_in_progress(server: BaryonProcess) -> None:
    cloudformation = server.client("cloudformation")
    for _ in range(200):
        stacks = cloudformation.list_stacks()["StackSummaries"]
        if any(s["StackStatus"].endswith("_IN_PROGRESS") for s in stacks):
            return
        time.sleep(0.1)
    raise AssertionError("no stack went IN_PROGRESS")


def _live_stacks(server: BaryonProcess) -> list[str]:
    summaries = server.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def test_a_backup_taken_while_deployments_run_restores_with_nothing_lost(tmp_path: Path) -> None:
    data_dir, restored_dir, archive = tmp_path / "data", tmp_path / "restored", tmp_path / "b.tgz"
    first = start_baryon(data_dir, env=SLOW_STACKS)
    try:
        _publish_templates(first)
        # A second region keeps a database of its own (data_dir/regions): backed up too.
        first.client("proton", region_name="us-west-2").create_environment_template(name="west")
        proton = first.client("proton")
        proton.create_environment(
            name="backupenv",
            templateName="backup-env",
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\n",
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        )
        proton.get_waiter("environment_deployed").wait(name="backupenv", WaiterConfig=FAST)
        instances = "".join(f"  - name: {n}\n    environment: backupenv\n" for n in INSTANCES)
        proton.create_service(
            name="backupsvc",
            templateName="backup-svc",
            templateMajorVersion="1",
            **REPO,
            spec=f"proton: ServiceSpec\npipeline: {{}}\ninstances:\n{instances}",
        )
        _wait_for_stack_in_progress(first)
        before = _deployments(proton)
        templates = proton.list_service_templates()["templates"]

        taken = _baryon("backup", "--data-dir", str(data_dir), str(archive))
        assert taken.returncode == 0, taken.stderr
        # Some deployments were still running when the backup was taken.
        during = _deployments(proton)
        assert any(status not in TERMINAL for status in during.values()), during
        old_key = (first.exports["AWS_ACCESS_KEY_ID"], first.exports["AWS_SECRET_ACCESS_KEY"])
    finally:
        first.stop(signal.SIGKILL)

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds the master key
    with tarfile.open(archive) as opened:
        names = set(opened.getnames())
    assert {"manifest.json", "baryon.db", "master.key", "local-cloud.state"} <= names
    assert "regions/us-west-2.db" in names

    restored = _baryon("restore", str(archive), "--data-dir", str(restored_dir))
    assert restored.returncode == 0, restored.stderr
    assert stat.S_IMODE(restored_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((restored_dir / "master.key").stat().st_mode) == 0o600

    second = start_baryon(restored_dir, env=SLOW_STACKS)
    try:
        # The access key of the backed-up Baryon still signs requests.
        proton = second.client(
            "proton", aws_access_key_id=old_key[0], aws_secret_access_key=old_key[1]
        )
        proton.get_waiter("service_created").wait(name="backupsvc", WaiterConfig=FAST)
        for name in INSTANCES:
            instance = proton.get_service_instance(serviceName="backupsvc", name=name)
            assert instance["serviceInstance"]["deploymentStatus"] == "SUCCEEDED", instance
        assert proton.get_service(name="backupsvc")["service"]["status"] == "ACTIVE"
        assert proton.get_environment(name="backupenv")["environment"]["deploymentStatus"] == (
            "SUCCEEDED"
        )
        assert proton.list_service_templates()["templates"] == templates
        west = second.client(
            "proton",
            region_name="us-west-2",
            aws_access_key_id=old_key[0],
            aws_secret_access_key=old_key[1],
        )
        assert [t["name"] for t in west.list_environment_templates()["templates"]] == ["west"]
        after = _wait_for_terminal_deployments(proton)
        assert set(before) <= set(after), set(before) - set(after)
        # One stack per resource (environment, three instances, pipeline), none twice.
        stacks = _live_stacks(second)
        assert len(stacks) == len(INSTANCES) + 2 == len(set(stacks)), stacks
    finally:
        second.stop()


def _wait_for_terminal_deployments(proton: Any) -> dict[str, str]:
    for _ in range(120):
        found = _deployments(proton)
        if all(status in TERMINAL for status in found.values()):
            return found
        time.sleep(0.5)
    raise AssertionError(f"deployments still running: {found}")


def test_restore_refuses_a_data_directory_in_use(tmp_path: Path) -> None:
    archive = tmp_path / "not-a-backup.tgz"
    archive.write_bytes(b"")
    target = tmp_path / "data"
    target.mkdir()
    (target / "baryon.db").write_bytes(b"")
    refused = _in_process("restore", str(archive), "--data-dir", str(target))
    assert refused.returncode == 9, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"baryon: {target} is not empty; restore into a new data directory"
    ]


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    archive = tmp_path / "other.tgz"
    with tarfile.open(archive, "w:gz") as made:
        made.add(Path(__file__), arcname="../escape.py")
    refused = _in_process("restore", str(archive), "--data-dir", str(tmp_path / "new"))
    assert refused.returncode == 9, refused.stderr
    assert "no manifest.json; not a Baryon backup" in refused.stderr
    assert not (tmp_path / "new").exists()
    assert not (tmp_path / "escape.py").exists()


def test_backup_of_a_postgresql_baryon_points_at_pg_dump(tmp_path: Path) -> None:
    refused = _in_process(
        "backup",
        "--data-dir",
        str(tmp_path),
        str(tmp_path / "b.tgz"),
        env={"BARYON_DATABASE_URL": "postgresql+psycopg://baryon@db.invalid/baryon"},
    )
    assert refused.returncode == 7, refused.stderr
    assert "pg_dump" in refused.stderr
    assert not (tmp_path / "b.tgz").exists()
