"""`baryon up` (server and workers in one process) killed with SIGKILL while a self-managed
deployment waits on its pull request: the merge made while it was down is noticed after the
restart, a second kill while it waits for the report loses nothing either, and the report
then ends the deployment; the deployment's branch was pushed once."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.live.test_pull_request_provisioning import (
    ARN,
    SETTINGS,
    DiskRepository,
    branch_of,
    env_bundle,
    notify,
)
from tests.support.bundles import Registry
from tests.support.deploying import env_spec, outputs, publish_environment_template, settled
from tests.support.processes import BaryonProcess, start_baryon


def _wait(check: Callable[[], Any], what: str, timeout: float = 120.0, pause: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


def _status_message(server: BaryonProcess) -> str:
    environment = server.client("proton").get_environment(name="restarted")["environment"]
    return str(environment.get("deploymentStatusMessage") or "")


def test_a_merge_made_while_baryon_was_down_is_noticed_and_the_deployment_completes(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    repository = DiskRepository(tmp_path, "acme/infra")
    first = start_baryon(data_dir, env=SETTINGS)
    try:
        proton = first.client("proton")
        connection = first.client("baryon").create_connection(
            name="disk", provider="GIT", baseUrl=str(tmp_path / "remotes") + "/"
        )["connection"]
        proton.create_repository(
            name=repository.name, provider="GITHUB", connectionArn=connection["arn"]
        )
        publish_environment_template(Registry(proton, first.client("s3")), "pr-env", env_bundle())
        deployment_id = proton.create_environment(
            name="restarted",
            templateName="pr-env",
            templateMajorVersion="1",
            spec=env_spec(size="large"),
            provisioningRepository={
                "provider": "GITHUB",
                "name": repository.name,
                "branch": "main",
            },
        )["environment"]["lastAttemptedDeploymentId"]
        branch = branch_of("environment", deployment_id)
        # Killed the moment the branch exists: before or after Baryon recorded its hand-off.
        _wait(lambda: branch in repository.branches(), "the branch", pause=0.02)
    finally:
        first.stop(signal.SIGKILL)
    pushed = repository.branches()
    repository.merge(branch)

    second = start_baryon(data_dir, env=SETTINGS)
    try:
        _wait(lambda: "was merged" in _status_message(second), "the merge to be noticed")
        environment = second.client("proton").get_environment(name="restarted")["environment"]
        assert environment["deploymentStatus"] == "IN_PROGRESS"
    finally:
        second.stop(signal.SIGKILL)

    third = start_baryon(data_dir, env=SETTINGS)
    try:
        proton = third.client("proton")
        assert "was merged" in _status_message(third)
        reported = '[{"key": "Network", "valueString": "restarted:10.0.0.0/16"}]'
        done = notify(third, f"{ARN}:environment/restarted", deployment_id, reported)
        assert done.returncode == 0, done.stderr
        ended = settled(lambda: proton.get_environment(name="restarted"), "environment")
        assert ended["deploymentStatus"] == "SUCCEEDED", ended
        assert outputs(proton.list_environment_outputs(environmentName="restarted")["outputs"]) == {
            "Network": "restarted:10.0.0.0/16"
        }
        # The deploy job re-run after the first kill (if it was cut short) found its branch.
        assert pushed == {"main", branch}
        assert repository.branches() == {"main", branch}
        events = _events(third, deployment_id)
        assert sum("was merged" in line for line in events) == 1, events
    finally:
        third.stop()


def _events(server: BaryonProcess, deployment_id: str) -> list[str]:
    """The deployment's log, as the portal shows it."""
    with closing(sqlite3.connect(server.data_dir / "baryon.db")) as db:
        rows = db.execute(
            "SELECT message FROM deployment_events WHERE deployment_id = ? ORDER BY id",
            (deployment_id,),
        ).fetchall()
    return [row[0] for row in rows]
