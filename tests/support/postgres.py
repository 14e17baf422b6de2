"""A private PostgreSQL server for the tests, from Debian's binaries.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user
(created by Debian's package) in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg


def find_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found; run ./scripts/test")
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="baryon-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "baryon",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )

    def _command(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *args] if self._user else args

    def _run(self, args: list[str]) -> None:
        subprocess.run(self._command(args), check=True, capture_output=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://baryon@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://baryon@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root / "server.log", "ab")  # noqa: SIM115  (owned by the child)
        self.process = subprocess.Popen(
            self._command(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "synchronous_commit=off",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.root / "server.log").read_text()) from None
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # "smart" shutdown would wait for clients; SIGTERM is fast
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
