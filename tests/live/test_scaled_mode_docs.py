"""docs/scaled-mode.md, run as written: every shell block of the page, in order, on a private
PostgreSQL. The database's role and database, a local cloud, two `baryon server` replicas and a
`baryon worker` with exactly the settings the page exports, the AWS CLI and boto3 pointed at a
server as the page says, AWS's fargate-env sample published with `baryon template publish` and
deployed by the worker.

The commands come from the page itself, so that it cannot drift from what works. The test
swaps only what must differ on a test machine, each swap listed in ``_swaps`` (and each must
still be found on the page): host names, ports, paths, the role and database names (the private
server's superuser is already called baryon), and `NAME=...` filled with what the page says
the value is.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest

from tests.support.children import die_with_parent, free_port
from tests.support.deploying import stack
from tests.support.processes import NO_RETRIES
from tests.support.samples import REPO, SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")

PAGE = REPO / "docs" / "scaled-mode.md"
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
TEXT_BLOCK = re.compile(r"```text\n(.*?)```", re.DOTALL)
# `NAME=...` on the page: a value the reader fills in (the text beside it says which).
FILL_IN = re.compile(r"\b([A-Z][A-Z0-9_]*)=\.\.\.")
# Processes that run until stopped; everything else runs to its end.
LONG_RUNNING = ("baryon cloud ", "baryon server ", "baryon worker ")
SERVERS = 2


def page_commands() -> list[str]:
    """Every command of every shell block, in order, continuation lines joined."""
    commands: list[str] = []
    for block in SHELL_BLOCK.findall(PAGE.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def page_settings() -> set[str]:
    """The BARYON_* settings the page's tables list."""
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| `BARYON_")]
    return {name for row in rows for name in re.findall(r"`(BARYON_[A-Z0-9_]+)`", row)}


@dataclass
class Lab:
    root: Path
    work: Path
    env: dict[str, str]
    # Values the page tells the reader to fill in, by variable name.
    known: dict[str, str] = field(default_factory=dict)
    swaps: list[tuple[str, str]] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    server_ports: list[int] = field(default_factory=list)
    cloud_port: int = 0

    def prepare(self, command: str) -> str:
        for old, new in self.swaps:
            command = command.replace(old, new)

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.known, f"the page leaves {name} to fill in; nothing said what"
            return f"{name}={shlex.quote(self.known[name])}"

        return FILL_IN.sub(fill, command)

    def run(self, command: str) -> str:
        """Runs ``command`` in bash as the reader's shell would, keeping what it exports."""
        env_file = self.root / "env.out"
        script = f"set -eo pipefail\n{command}\nenv -0 > {shlex.quote(str(env_file))}\n"
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        self.env = dict(
            item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item
        )
        return done.stdout

    def start(self, command: str, name: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "wb") as log:
            child = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.work,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self.children.append(child)
        return child

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text()[-3000:]

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    work = tmp_path / "work"
    work.mkdir()
    # Where the reader cloned AWS's samples.
    (work / "environment-templates").symlink_to(SAMPLES / "environment-templates")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BARYON_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path / "home")  # no ~/.aws of this machine's
    running = Lab(tmp_path, work, env)
    try:
        yield running
    finally:
        running.stop()


def _swaps(lab: Lab, database_port: int, role: str, database: str) -> list[tuple[str, str]]:
    lab.cloud_port = free_port()
    lab.server_ports = [free_port() for _ in range(SERVERS)]
    return [
        ("ROLE baryon ", f"ROLE {role} "),
        ("DATABASE baryon OWNER baryon", f"DATABASE {database} OWNER {role}"),
        (
            "baryon:change-me@db.internal/baryon",
            f"{role}:change-me@127.0.0.1:{database_port}/{database}",
        ),
        ("/var/lib/baryon", str(lab.root / "var")),
        ("0.0.0.0", "127.0.0.1"),
        ("http://cloud.internal:8301", f"http://127.0.0.1:{lab.cloud_port}"),
        ("--port 8301", f"--port {lab.cloud_port}"),
        ("--metrics-port 9300", f"--metrics-port {free_port()}"),
        # The load balancer: the first server (the second is asked directly below).
        ("https://baryon.example.com", f"http://127.0.0.1:{lab.server_ports[0]}"),
    ]


def _sql(command: str) -> str:
    """The statement of `sudo -u postgres psql -c "..."`."""
    words = shlex.split(command)
    assert words[:4] == ["sudo", "-u", "postgres", "psql"], command
    return words[words.index("-c") + 1]


def _wait_until(ready: Any, child: subprocess.Popen[bytes], what: str, log: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert child.poll() is None, f"{what} exited:\n{log}"
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not become ready")


def test_the_scaled_mode_page_runs_as_written(lab: Lab, postgres_server: Any) -> None:
    commands = page_commands()
    suffix = uuid.uuid4().hex[:10]
    lab.swaps = _swaps(lab, postgres_server.port, f"r_{suffix}", f"d_{suffix}")
    text = PAGE.read_text()
    for old, _new in lab.swaps:
        assert old in text, f"the page no longer says {old!r}: update this test's swaps"

    servers_started = 0
    checked_start = False
    for command in commands:
        prepared = lab.prepare(command)
        if command.startswith("sudo -u postgres psql"):
            with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
                admin.execute(lab.prepare(_sql(command)).encode())
        elif command.startswith("python3 -c") and "Fernet" in command:
            lab.known["BARYON_MASTER_KEY"] = lab.run(command).strip()
        elif command.startswith("baryon keys create"):
            printed = lab.run(prepared)
            pairs = dict(line.split("=", 1) for line in printed.split())
            lab.known.update(pairs)
        elif command.startswith("baryon cloud "):
            child = lab.start(prepared, "cloud")
            cloud = f"http://127.0.0.1:{lab.cloud_port}"
            _wait_until(
                lambda url=cloud: httpx.get(url, timeout=2),  # type: ignore[misc]
                child,
                "the cloud",
                lab.log("cloud"),
            )
        elif command.startswith("baryon server "):
            _the_start_check_refuses_a_server_without_the_master_key(lab, prepared, text)
            checked_start = True
            # N of these: every replica from the same line, each on its own port.
            for port in lab.server_ports:
                _check_replica_settings(lab.env)
                line = prepared.replace("--port 8300", f"--port {port}")
                name = f"server-{servers_started}"
                child = lab.start(line, name)
                ready = f"http://127.0.0.1:{port}/readyz"
                _wait_until(
                    lambda url=ready: httpx.get(url, timeout=2).status_code == 200,  # type: ignore[misc]
                    child,
                    name,
                    lab.log(name),
                )
                servers_started += 1
        elif command.startswith("baryon worker "):
            _check_replica_settings(lab.env)
            lab.start(prepared, "worker")
        else:
            assert not command.startswith(LONG_RUNNING), command
            lab.run(prepared)

    assert servers_started == SERVERS and checked_start
    assert any(c.startswith("aws proton wait environment-deployed") for c in commands)
    _a_boto3_client_configured_as_the_page_says_sees_the_deployed_environment(lab)


def _check_replica_settings(env: dict[str, str]) -> None:
    """The replicas get exactly what the page exports, each a setting its tables list."""
    given = {name for name in env if name.startswith("BARYON_")}
    assert given <= page_settings(), given - page_settings()
    assert {"BARYON_DATABASE_URL", "BARYON_MASTER_KEY", "BARYON_CLOUD_ENDPOINT"} <= given


def _the_start_check_refuses_a_server_without_the_master_key(
    lab: Lab, command: str, page: str
) -> None:
    """As the page shows: one line naming the setting, exit status 3, nothing served."""
    env = {k: v for k, v in lab.env.items() if k != "BARYON_MASTER_KEY"}
    port = free_port()
    done = subprocess.run(
        ["bash", "-c", command.replace("--port 8300", f"--port {port}")],
        cwd=lab.work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    shown = next(b for b in TEXT_BLOCK.findall(page) if "BARYON_MASTER_KEY" in b).strip()
    assert lines[0].startswith(shown.removesuffix("...").rstrip()), (lines[0], shown)


def _a_boto3_client_configured_as_the_page_says_sees_the_deployed_environment(
    lab: Lab,
) -> None:
    names = (
        "AWS_ENDPOINT_URL_PROTON",
        "AWS_ENDPOINT_URL_BARYON",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_DATA_PATH",
    )
    exported = {name: lab.env[name] for name in names}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in exported.items():
            patch.setenv(name, value)
        patch.setenv("AWS_CONFIG_FILE", str(lab.root / "no-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(lab.root / "no-credentials"))
        session = boto3.session.Session()
        environment = session.client("proton", config=NO_RETRIES).get_environment(name="prod")
        assert environment["environment"]["deploymentStatus"] == "SUCCEEDED", environment
        # Any replica answers for it: the second server shares the database.
        other = session.client(
            "proton",
            endpoint_url=f"http://127.0.0.1:{lab.server_ports[1]}",
            config=NO_RETRIES,
        )
        assert [e["name"] for e in other.list_environments()["environments"]] == ["prod"]
        info = session.client("baryon", config=NO_RETRIES).get_server_info()
        assert info["cloudEndpoint"] == lab.env["BARYON_CLOUD_ENDPOINT"]
    cloudformation = boto3.session.Session().client(
        "cloudformation",
        endpoint_url=lab.env["BARYON_CLOUD_ENDPOINT"],
        region_name=exported["AWS_DEFAULT_REGION"],
        aws_access_key_id=lab.env["BARYON_CLOUD_ACCESS_KEY_ID"],
        aws_secret_access_key=lab.env["BARYON_CLOUD_SECRET_ACCESS_KEY"],
        config=NO_RETRIES,
    )
    deployed = stack(cloudformation, "environment", "prod")
    assert deployed is not None and deployed["StackStatus"].endswith("_COMPLETE"), deployed
