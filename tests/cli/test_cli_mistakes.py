"""Every common mistake with a `baryon` client command ends in one line saying what is wrong
and what to do, with an exit status of its own, never a traceback; and the commands find the
running Baryon the way the AWS CLI finds a profile (flags, AWS settings, the env file)."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from baryon.cli.failures import ExitStatus
from tests.support.cli import BARYON, CommandRun, run_baryon
from tests.support.processes import BaryonProcess, clean_environment

# Client commands that only read, runnable against any Baryon.
READING_COMMANDS = {
    "connection-list": ["connection", "list"],
    "repository-list": ["repository", "list"],
    "deployment-plan": ["deployment", "plan", "no-such-deployment"],
    "deployment-retry": ["deployment", "retry", "no-such-deployment"],
}


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> CommandRun:
    """The command in this process (tests.support.cli): what it prints and its status."""
    return run_baryon(args, env, stdin)


def _process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed ``baryon`` executable, for the tests that hold the real entry point."""
    return subprocess.run(
        [str(BARYON), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _environment(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell with no AWS or Baryon settings and none in their home either."""
    isolated = {
        "BARYON_DATA_DIR": str(home / "baryon-data"),
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }
    return clean_environment(**{**isolated, **extra})


def _one_line_failure(
    done: CommandRun | subprocess.CompletedProcess[str], status: ExitStatus
) -> str:
    """The message, once it is checked to be one line of ours with ``status``."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("baryon: "), done.stderr
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_shell(baryon: BaryonProcess, home: Path, **extra: str) -> dict[str, str]:
    """A shell that sourced the server's env file."""
    exports = {k: v for k, v in baryon.exports.items() if k != "AWS_DATA_PATH"}
    return _environment(home, **{**exports, **extra})


# Without a server.


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_with_no_env_file_and_no_endpoint_the_command_says_to_start_baryon(
    command: str, tmp_path: Path
) -> None:
    done = _run(READING_COMMANDS[command], _environment(tmp_path))
    line = _one_line_failure(done, ExitStatus.NOT_CONFIGURED)
    assert f"no env file at {tmp_path / 'baryon-data' / 'env'}" in line
    assert "baryon up" in line


def test_a_data_dir_where_no_baryon_ran_is_named(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    done = _process(["connection", "list", "--data-dir", str(elsewhere)], _environment(tmp_path))
    line = _one_line_failure(done, ExitStatus.NOT_CONFIGURED)
    assert f"no env file at {elsewhere / 'env'}" in line
    assert f"baryon up --data-dir {elsewhere}" in line


def test_an_endpoint_without_an_access_key_asks_for_one(tmp_path: Path) -> None:
    env = _environment(tmp_path, AWS_ENDPOINT_URL_PROTON=f"http://127.0.0.1:{_closed_port()}")
    line = _one_line_failure(_run(["repository", "list"], env), ExitStatus.NOT_CONFIGURED)
    assert "no access key" in line and "AWS_ACCESS_KEY_ID" in line


def test_a_server_that_is_down_is_named_by_its_endpoint(tmp_path: Path) -> None:
    # The env file of a Baryon that has stopped: the shell did not source it.
    data_dir = tmp_path / "baryon-data"
    data_dir.mkdir()
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    (data_dir / "env").write_text(
        f"export AWS_ENDPOINT_URL_PROTON={endpoint}\n"
        f"export AWS_ENDPOINT_URL_BARYON={endpoint}\n"
        "export AWS_ACCESS_KEY_ID=BARYEXAMPLE\n"
        "export AWS_SECRET_ACCESS_KEY=secret\n"
        "export AWS_DEFAULT_REGION=us-east-1\n"
    )
    for args in READING_COMMANDS.values():
        line = _one_line_failure(_run(args, _environment(tmp_path)), ExitStatus.SERVER_UNREACHABLE)
        assert f"nothing answers at {endpoint}" in line and "baryon up" in line


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "delete", "BARYEXAMPLE"],
        ["users", "list"],
        ["users", "delete", "ada"],
        ["terraform", "state", "versions", "environment/dev"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_store_commands_never_create_a_database_where_none_is(
    args: list[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "baryon-data"
    line = _one_line_failure(_run(args, _environment(tmp_path)), ExitStatus.NOT_CONFIGURED)
    assert line == (
        f"baryon: no Baryon data directory at {data_dir} (no baryon.db); "
        "run `baryon up` first or pass --data-dir"
    )
    assert not data_dir.exists()


def test_users_create_refuses_before_asking_for_a_password(tmp_path: Path) -> None:
    for command in ("create", "set-password"):
        done = _run(["users", command, "ada"], _environment(tmp_path), "long password 1\n")
        _one_line_failure(done, ExitStatus.NOT_CONFIGURED)
        assert "Password" not in done.stdout
    assert not (tmp_path / "baryon-data").exists()


def test_a_database_url_without_the_master_key_is_refused_before_a_key_is_made(
    tmp_path: Path,
) -> None:
    # A key sealed with a master key of its own would be one that no server can read.
    env = _environment(tmp_path, BARYON_DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}")
    line = _one_line_failure(_run(["keys", "create"], env), ExitStatus.NOT_CONFIGURED)
    assert "BARYON_DATABASE_URL is set but BARYON_MASTER_KEY is not" in line
    assert not (tmp_path / "shared.db").exists()
    assert not (tmp_path / "baryon-data" / "master.key").exists()


def test_a_database_that_does_not_answer_is_its_own_mistake(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    env = _environment(
        tmp_path,
        BARYON_DATABASE_URL=f"postgresql+psycopg://baryon:pw@127.0.0.1:{_closed_port()}/baryon",
        BARYON_MASTER_KEY=Fernet.generate_key().decode(),
    )
    line = _one_line_failure(_run(["keys", "list"], env), ExitStatus.DATABASE_UNREACHABLE)
    assert "cannot use the database of BARYON_DATABASE_URL" in line
    assert ":pw@" not in line


def test_invalid_settings_name_the_setting(tmp_path: Path) -> None:
    env = _environment(tmp_path, BARYON_GIT_HOSTING="maybe")
    line = _one_line_failure(_run(["keys", "list"], env), ExitStatus.INVALID_INPUT)
    assert "invalid settings" in line and "git_hosting" in line


# Against a running Baryon.


def test_after_baryon_up_commands_find_it_through_its_env_file_alone(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    # Nothing sourced: the settings' data directory is the server's, and its env file says
    # where it is and which key to use.
    bare = _environment(tmp_path, BARYON_DATA_DIR=str(baryon.data_dir))
    listed = _process(["repository", "list", "--output", "json"], bare)
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout)["repositories"], list)
    # --data-dir names it the same way from a shell whose settings point elsewhere.
    flagged = _process(
        ["connection", "list", "--data-dir", str(baryon.data_dir)], _environment(tmp_path)
    )
    assert flagged.returncode == 0, flagged.stderr
    assert "baryon" in flagged.stdout


def test_a_sourced_shell_wins_over_the_env_file_as_environment_variables_win_over_a_profile(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    # The data directory's env file names a server that is down; the shell names the live one.
    data_dir = tmp_path / "baryon-data"
    data_dir.mkdir()
    (data_dir / "env").write_text(
        f"export AWS_ENDPOINT_URL_PROTON=http://127.0.0.1:{_closed_port()}\n"
    )
    done = _run(["connection", "list"], _server_shell(baryon, tmp_path))
    assert done.returncode == 0, done.stderr
    # An explicit --endpoint-url beats both.
    down = f"http://127.0.0.1:{_closed_port()}"
    done = _run(["connection", "list", "--endpoint-url", down], _server_shell(baryon, tmp_path))
    assert f"nothing answers at {down}" in _one_line_failure(done, ExitStatus.SERVER_UNREACHABLE)


@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_a_wrong_secret_or_unknown_key_is_credentials_refused(
    wrong: str, baryon: BaryonProcess, tmp_path: Path
) -> None:
    field = "AWS_SECRET_ACCESS_KEY" if wrong == "secret" else "AWS_ACCESS_KEY_ID"
    env = _server_shell(baryon, tmp_path, **{field: "BARYNOTAREALONE0000"})
    for args in READING_COMMANDS.values():
        line = _one_line_failure(_run(args, env), ExitStatus.CREDENTIALS_REFUSED)
        assert "refused the credentials" in line and "baryon keys create" in line


def test_a_refused_request_says_the_apis_error_code_and_message(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    env = _server_shell(baryon, tmp_path)
    unknown = str(uuid.uuid4())
    line = _one_line_failure(_run(["deployment", "retry", unknown], env), ExitStatus.REFUSED)
    assert line.startswith("baryon: ResourceNotFoundException: "), line
    line = _one_line_failure(_run(["deployment", "plan", "bad id"], env), ExitStatus.REFUSED)
    assert line.startswith("baryon: ValidationException: "), line
    line = _one_line_failure(
        _run(["connection", "delete", f"nobody-{uuid.uuid4().hex[:6]}"], env), ExitStatus.REFUSED
    )
    assert "no connection is named" in line and "baryon connection list" in line


def test_keys_without_data_dir_use_the_servers_store_so_the_key_works(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    env = _environment(tmp_path, BARYON_DATA_DIR=str(baryon.data_dir))
    created = _run(["keys", "create", "--description", "r3", "--output", "json"], env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    client: Any = baryon.client(
        "proton",
        aws_access_key_id=key["accessKeyId"],
        aws_secret_access_key=key["secretAccessKey"],
    )
    client.list_environment_templates()
    listed = _run(["keys", "list", "--output", "json"], env)
    found = {entry["accessKeyId"]: entry for entry in json.loads(listed.stdout)["accessKeys"]}
    assert found[key["accessKeyId"]]["description"] == "r3"
    assert "secretAccessKey" not in found[key["accessKeyId"]]


def test_output_json_parses_for_every_printing_command(
    baryon: BaryonProcess, tmp_path: Path
) -> None:
    env = _server_shell(baryon, tmp_path, BARYON_DATA_DIR=str(baryon.data_dir))
    suffix = uuid.uuid4().hex[:8]

    def as_json(*args: str, stdin: str | None = None) -> Any:
        done = _run([*args, "--output", "json"], env, stdin)
        assert done.returncode == 0, (args, done.stderr)
        return json.loads(done.stdout)

    created = as_json("connection", "create", f"c-{suffix}", "--provider", "GIT",
                      "--base-url", "/srv/git/")  # fmt: skip
    assert created["arn"].startswith("arn:") and "webhookUrl" in created
    connections = as_json("connection", "list")["connections"]
    assert created["arn"] in {entry["arn"] for entry in connections}
    repository = as_json("repository", "create", f"team/r-{suffix}")
    assert repository["pushUrl"].endswith(f"/git/team/r-{suffix}.git")
    repositories = as_json("repository", "list")["repositories"]
    assert f"team/r-{suffix}" in {entry["name"] for entry in repositories}
    run = _run(["users", "create", f"u{suffix}", "--password-stdin"], env, "long password 1\n")
    assert run.returncode == 0, run.stderr
    users = as_json("users", "list")["users"]
    assert f"u{suffix}" in {entry["name"] for entry in users}
    assert {"name", "createdAt"} <= set(users[0])
