"""Starts a real ``baryon up`` on a loopback port and gives clients for it."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.config import Config

from baryon.service_models import MODELS_DIR

# Tests retry nothing behind the caller's back: a failure shows up at once.
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=60)


# Tests look at stacks more often than a production server would (its first poll is 1 s).
TEST_SETTINGS = {"BARYON_DEPLOYMENT_POLL_SECONDS": "0.2"}


def clean_environment(**extra: str) -> dict[str, str]:
    """The parent environment without AWS or Baryon settings that could leak into a test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BARYON_"))}
    env.update(TEST_SETTINGS)
    env.update(extra)
    return env


def parse_env_file(path: Path) -> dict[str, str]:
    exports: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


@dataclass
class BaryonProcess:
    data_dir: Path
    process: subprocess.Popen[bytes]
    exports: dict[str, str]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return self.exports["AWS_ENDPOINT_URL_PROTON"]

    @property
    def cloud_endpoint(self) -> str:
        return self.exports["AWS_ENDPOINT_URL_S3"]

    def client(self, service: str = "proton", **overrides: Any) -> Any:
        core = botocore.session.get_session()
        core.get_component("data_loader").search_paths.append(str(MODELS_DIR))
        session = boto3.session.Session(botocore_session=core)
        endpoint = self.cloud_endpoint if service not in ("proton", "baryon") else self.endpoint
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region_name": self.exports["AWS_DEFAULT_REGION"],
            "aws_access_key_id": self.exports["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.exports["AWS_SECRET_ACCESS_KEY"],
            "config": NO_RETRIES,
        }
        kwargs.update(overrides)
        return session.client(service, **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired as exc:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"baryon did not stop on {sig}:\n{self.log_tail()}") from exc
        return self.process.returncode


def start_baryon(
    data_dir: Path, *, port: int = 0, env: dict[str, str] | None = None, timeout: float = 90.0
) -> BaryonProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    env_file = data_dir / "env"
    env_file.unlink(missing_ok=True)
    log_path = data_dir / f"baryon-{time.time_ns()}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "baryon.cli.main",
                "up",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_environment(**(env or {})),
        )
    deadline = time.monotonic() + timeout
    baryon = BaryonProcess(data_dir, process, {}, log_path)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"baryon up exited with {process.returncode}:\n{baryon.log_tail()}"
            )
        if env_file.exists():
            baryon.exports = parse_env_file(env_file)
            try:
                if httpx.get(baryon.endpoint + "/_baryon/health", timeout=2).status_code == 200:
                    return baryon
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    baryon.stop(signal.SIGKILL)
    raise AssertionError(f"baryon up was not ready after {timeout}s:\n{baryon.log_tail()}")


def own_baryon(folder: str, env: dict[str, str] | None = None) -> Any:
    """A module-scoped ``server`` fixture: a Baryon of the module's own, with ``env``'s
    settings, for tests that change what the shared one must not see."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
        process = start_baryon(tmp_path_factory.mktemp(folder), env=env)
        yield process
        process.stop()

    return server
