"""`baryon status`, `baryon logs` and `baryon stop` against a live `baryon up`, run as a user
runs them: with --data-dir, their output and their exit status. `stop` and `logs --follow` run
as processes of their own (the installed executable); the rest in this process."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baryon.cli.failures import ExitStatus
from tests.support.bundles import Registry
from tests.support.cli import BARYON, CommandRun, run_baryon
from tests.support.deploying import publish_environment_template
from tests.support.processes import BaryonProcess, clean_environment, start_baryon


def _baryon(*args: str) -> CommandRun:
    return run_baryon(args)


def _process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BARYON), *args],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    process = start_baryon(tmp_path_factory.mktemp("instance") / "data")
    yield process
    process.stop()


def test_status_says_where_and_since_when_baryon_runs(server: BaryonProcess) -> None:
    done = _baryon("status", "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Baryon is running on {server.data_dir}")
    assert server.endpoint in done.stdout and server.cloud_endpoint in done.stdout
    assert f"pid:          {server.process.pid}" in done.stdout
    assert "us-east-1" in done.stdout
    assert "0 running" in done.stdout

    as_json = _baryon("status", "--data-dir", str(server.data_dir), "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)
    assert found["running"] is True and found["state"] == "running"
    assert found["pid"] == server.process.pid
    assert found["endpoint"] == server.endpoint
    assert found["cloudEndpoint"] == server.cloud_endpoint
    assert found["regions"] == ["us-east-1"]
    assert found["uptimeSeconds"] > 0 and found["jobsRunning"] == 0
    assert found["logFile"] == str(server.data_dir / "logs" / "baryon.log")


def test_status_of_a_data_directory_where_nothing_runs_exits_10(tmp_path: Path) -> None:
    done = _baryon("status", "--data-dir", str(tmp_path), "--output", "json")
    assert done.returncode == ExitStatus.NOT_RUNNING
    assert json.loads(done.stdout) == {
        "running": False,
        "dataDir": str(tmp_path),
        "state": None,
        "pid": None,
        "endpoint": None,
        "cloudEndpoint": None,
        "regions": [],
        "uptimeSeconds": None,
        "jobsRunning": None,
        "jobsDue": None,
        "logFile": None,
    }


def test_logs_shows_the_last_lines_of_the_servers_log(server: BaryonProcess) -> None:
    done = _baryon("logs", "--data-dir", str(server.data_dir), "--lines", "200")
    assert done.returncode == 0, done.stderr
    assert f"Baryon is running on {server.endpoint}" in done.stdout
    assert server.exports["AWS_SECRET_ACCESS_KEY"] not in done.stdout  # never logged
    two = _baryon("logs", "--data-dir", str(server.data_dir), "-n", "2")
    assert len(two.stdout.splitlines()) == 2
    cloud = _baryon("logs", "--data-dir", str(server.data_dir), "--cloud", "-n", "100000")
    assert "baryon local cloud listening" in cloud.stdout


def test_logs_of_a_data_directory_baryon_never_ran_on_is_one_line(tmp_path: Path) -> None:
    done = _baryon("logs", "--data-dir", str(tmp_path))
    assert done.returncode == ExitStatus.NOT_RUNNING
    assert done.stderr.startswith(f"baryon: no log at {tmp_path}/logs/baryon.log")


def test_stop_waits_for_jobs_in_flight_and_then_nothing_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # A stack operation far longer than the workers' grace: a deployment is surely in flight
    # when stopped, and is handed back after the grace.
    baryon = start_baryon(
        data_dir,
        env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "60", "BARYON_WORKER_STOP_GRACE_SECONDS": "3"},
    )
    try:
        proton = baryon.client("proton")
        publish_environment_template(Registry(proton, baryon.client("s3")), "slow-env")
        proton.create_environment(
            name="slow",
            templateName="slow-env",
            templateMajorVersion="1",
            spec="proton: EnvironmentSpec\nspec:\n  size: small\n",
            protonServiceRoleArn="arn:aws:iam::123456789012:role/proton",
        )
        _wait_for_a_running_job(data_dir)
        follower = subprocess.Popen(
            [str(BARYON), "logs", "--data-dir", str(data_dir), "--follow", "-n", "20"],
            stdout=subprocess.PIPE,
            text=True,
            env=clean_environment(),
        )
        stopped = _process("stop", "--data-dir", str(data_dir))
        assert stopped.returncode == 0, stopped.stderr
        lines = stopped.stdout.splitlines()
        assert lines[0] == f"stopping Baryon (pid {baryon.process.pid}, {baryon.endpoint})..."
        assert "job(s) in flight" in stopped.stdout
        assert lines[-1] == "Baryon stopped."
        assert baryon.process.wait(10) == 0
        # Baryon's own terminal said what it waited for.
        assert "stopping: 1 job(s) in flight" in baryon.log_tail(400)
        # A follow ends by itself once Baryon has stopped, its last lines shown.
        followed, _ = follower.communicate(timeout=30)
        assert follower.returncode == 0
        assert f"Finished server process [{baryon.process.pid}]" in followed

        again = _baryon("stop", "--data-dir", str(data_dir))
        assert again.returncode == ExitStatus.NOT_RUNNING
        assert again.stderr.startswith(f"baryon: no Baryon runs on {data_dir}")
        status = _baryon("status", "--data-dir", str(data_dir))
        assert status.returncode == ExitStatus.NOT_RUNNING
    finally:
        baryon.stop()


def _wait_for_a_running_job(data_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _baryon("status", "--data-dir", str(data_dir), "--output", "json")
        if json.loads(done.stdout).get("jobsRunning"):
            return
        time.sleep(0.2)
    raise AssertionError("no job was running")
