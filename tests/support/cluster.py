"""A scaled-mode Baryon made of real processes: servers, workers, a local cloud, PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from cryptography.fernet import Fernet

from baryon.cloud.process import LocalCloudProcess
from tests.support.children import free_port
from tests.support.processes import NO_RETRIES, clean_environment

REGION = "us-east-1"


@dataclass
class Member:
    """One server or worker process."""

    role: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.process.send_signal(sig)
            self.process.wait(60)


@dataclass
class Cluster:
    root: Path
    database_url: str
    cloud: LocalCloudProcess
    env: dict[str, str]
    access_key: tuple[str, str] = ("", "")
    servers: list[Member] = field(default_factory=list)
    workers: list[Member] = field(default_factory=list)

    def _spawn(self, role: str, args: list[str], port: int | None = None) -> Member:
        log_path = self.root / f"{role}-{time.time_ns()}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baryon.cli.main", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        return Member(role, process, log_path, port)

    def start_server(self, processes: int = 1) -> Member:
        port = free_port()
        args = ["server", "--port", str(port), "--processes", str(processes)]
        member = self._spawn("server", args, port)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert member.alive(), member.log_path.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    self.servers.append(member)
                    return member
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready:\n" + member.log_path.read_text())

    def start_worker(self, threads: int = 2) -> Member:
        member = self._spawn("worker", ["worker", "--threads", str(threads)])
        self.workers.append(member)
        return member

    def client(self, service: str = "proton", server: int = 0, **config: Any) -> Any:
        endpoint = (
            f"http://127.0.0.1:{self.servers[server].port}"
            if service == "proton"
            else self.cloud.endpoint
        )
        return boto3.session.Session().client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key[0],
            aws_secret_access_key=self.access_key[1],
            config=config.get("config", NO_RETRIES),
        )

    def stop(self) -> None:
        for member in [*self.workers, *self.servers]:
            member.kill(signal.SIGTERM) if member.alive() else None
        self.cloud.stop()


def start_cluster(
    root: Path,
    database_url: str,
    *,
    servers: int,
    workers: int,
    stack_seconds: float = 1.0,
    lease_seconds: int = 6,
) -> Cluster:
    root.mkdir(parents=True, exist_ok=True)
    cloud = LocalCloudProcess(
        state_file=None, log_file=root / "cloud.log", stack_operation_seconds=stack_seconds
    )
    cloud.start()
    env = clean_environment(
        BARYON_DATABASE_URL=database_url,
        BARYON_MASTER_KEY=Fernet.generate_key().decode(),
        BARYON_CLOUD_ENDPOINT=cloud.endpoint,
        BARYON_CLOUD_ACCESS_KEY_ID="cluster",
        BARYON_CLOUD_SECRET_ACCESS_KEY="cluster-secret",
        BARYON_DATA_DIR=str(root / "data"),
        BARYON_JOB_LEASE_SECONDS=str(lease_seconds),
        BARYON_JOB_POLL_SECONDS="0.2",
        BARYON_WORKER_STOP_GRACE_SECONDS="2",
        BARYON_LOG_FORMAT="json",
    )
    cluster = Cluster(root, database_url, cloud, env)
    created = subprocess.run(
        [sys.executable, "-m", "baryon.cli.main", "keys", "create", "--description", "tests"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    values = dict(line.split("=", 1) for line in created.stdout.split())
    cluster.access_key = (values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
    for _ in range(servers):
        cluster.start_server()
    for _ in range(workers):
        cluster.start_worker()
    return cluster
