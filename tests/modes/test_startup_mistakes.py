"""Start-up mistakes made as a user makes them (`baryon up`, `baryon server`, `baryon worker`
in a subprocess): each ends at once with one line on stderr saying what is wrong and what to
do, and an exit status of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from baryon.cli.failures import ExitStatus
from tests.support.processes import BaryonProcess, clean_environment, start_baryon

BARYON = Path(sys.executable).parent / "baryon"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BARYON), *args],
        capture_output=True,
        text=True,
        env=clean_environment(**env),
        timeout=60,
    )


def _first_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert lines, f"nothing on stderr; stdout:\n{done.stdout}"
    return lines[0]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Another process's server on a loopback port (any free one)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock
    sock.close()


def test_a_port_in_use_is_one_line_and_exit_status_6(
    tmp_path: Path, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    done = _run("up", "--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == ExitStatus.PORT_IN_USE, done.stderr
    line = _first_line(done)
    assert line.startswith(f"baryon: port {port} on 127.0.0.1, which the API needs, is in use")
    assert "--port" in line
    assert len(done.stderr.splitlines()) == 1, done.stderr  # no traceback


def test_the_local_clouds_port_in_use_names_the_local_cloud(
    tmp_path: Path, listener: socket.socket
) -> None:
    cloud_port = listener.getsockname()[1]
    done = _run(
        "up", "--port", "0", "--data-dir", str(tmp_path / "data"),
        BARYON_LOCAL_CLOUD_PORT=str(cloud_port),
    )  # fmt: skip
    assert done.returncode == ExitStatus.PORT_IN_USE, done.stderr
    line = _first_line(done)
    assert f"port {cloud_port} on 127.0.0.1, which the local cloud needs" in line
    assert "BARYON_LOCAL_CLOUD_PORT" in line


def test_a_data_directory_under_a_file_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    data_dir = tmp_path / "a-file" / "data"
    done = _run("up", "--port", "0", "--data-dir", str(data_dir))
    assert done.returncode == ExitStatus.DATA_DIR_UNUSABLE, done.stderr
    line = _first_line(done)
    assert line.startswith(f"baryon: cannot create the data directory {data_dir}")
    assert "--data-dir" in line


def test_a_data_directory_without_write_permission_is_unusable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    command: tuple[str, ...] = ("up", "--port", "0", "--data-dir", str(data_dir))
    if os.geteuid() == 0:
        # Root writes whatever the mode says (as CI runs): a read-only bind mount of the
        # directory (bubblewrap, which scripts/dev-setup installs) refuses root too.
        bwrap = shutil.which("bwrap")
        assert bwrap is not None, "bubblewrap is needed to make a directory root cannot write"
        command = (
            "--dev-bind", "/", "/", "--ro-bind", str(data_dir), str(data_dir), str(BARYON),
            *command,
        )  # fmt: skip
        done = subprocess.run(
            [bwrap, *command], capture_output=True, text=True, env=clean_environment(), timeout=60
        )
    else:
        try:
            done = _run(*command)
        finally:
            data_dir.chmod(0o700)
    assert done.returncode == ExitStatus.DATA_DIR_UNUSABLE, done.stderr
    # "cannot write in" (permission) or "cannot create" (its logs folder, read-only file system).
    line = _first_line(done)
    assert line.startswith("baryon: cannot ") and f"the data directory {data_dir}" in line
    assert "--data-dir" in line
    assert len(done.stderr.splitlines()) == 1, done.stderr  # no traceback


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    server = start_baryon(tmp_path_factory.mktemp("running") / "data")
    yield server
    server.stop()


def test_a_second_baryon_on_the_same_data_directory_is_refused_at_once(
    running: BaryonProcess,
) -> None:
    done = _run("up", "--port", "0", "--data-dir", str(running.data_dir))
    assert done.returncode == ExitStatus.ALREADY_RUNNING, done.stderr
    line = _first_line(done)
    assert line.startswith(f"baryon: Baryon already runs on {running.data_dir}")
    assert f"pid {running.process.pid}" in line and running.endpoint in line
    assert "baryon stop" in line
    # The first one is untouched and still answers.
    assert running.process.poll() is None
    running.client("proton").list_environment_templates()


# --- scaled mode -----------------------------------------------------------------------------

MASTER_KEY = Fernet.generate_key().decode()
# A loopback port nothing listens on: connecting is refused at once.
NOBODY = "postgresql+psycopg://baryon:s3cret-word@127.0.0.1:1/baryon"


@pytest.mark.parametrize("role", ["server", "worker"])
def test_a_replica_without_a_master_key_refuses_to_start(role: str) -> None:
    done = _run(role, BARYON_DATABASE_URL=NOBODY)
    assert done.returncode == ExitStatus.NOT_CONFIGURED, done.stderr
    assert _first_line(done).startswith(f"baryon: baryon {role} needs BARYON_MASTER_KEY")
    assert len(done.stderr.splitlines()) == 1


def test_a_malformed_master_key_is_named() -> None:
    done = _run("server", BARYON_DATABASE_URL=NOBODY, BARYON_MASTER_KEY="not-a-key")
    assert done.returncode == ExitStatus.NOT_CONFIGURED, done.stderr
    assert _first_line(done).startswith("baryon: BARYON_MASTER_KEY is not a valid key")


def test_a_replica_without_a_database_url_refuses_to_start() -> None:
    done = _run("worker", BARYON_MASTER_KEY=MASTER_KEY)
    assert done.returncode == ExitStatus.NOT_CONFIGURED, done.stderr
    assert _first_line(done).startswith("baryon: baryon worker needs BARYON_DATABASE_URL")


def test_a_replica_without_cloud_credentials_says_so_at_start(tmp_path: Path) -> None:
    # No keys of Baryon's own, and nothing for boto3's chain to find.
    done = _run(
        "server",
        BARYON_DATABASE_URL=NOBODY,
        BARYON_MASTER_KEY=MASTER_KEY,
        BARYON_CLOUD_ENDPOINT="http://127.0.0.1:1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert done.returncode == ExitStatus.NOT_CONFIGURED, done.stderr
    line = _first_line(done)
    assert line.startswith("baryon: baryon server has no credentials for the cloud")
    assert "BARYON_CLOUD_ACCESS_KEY_ID" in line


def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    done = _run(
        "worker",
        BARYON_DATABASE_URL=NOBODY,
        BARYON_MASTER_KEY=MASTER_KEY,
        BARYON_CLOUD_ACCESS_KEY_ID="key",
        BARYON_CLOUD_SECRET_ACCESS_KEY="secret",
    )
    assert done.returncode == ExitStatus.DATABASE_UNREACHABLE, done.stderr
    line = _first_line(done)
    assert line.startswith("baryon: cannot reach the database postgresql+psycopg://baryon:***@")
    assert "s3cret-word" not in done.stderr
