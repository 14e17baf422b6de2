"""A private PostgreSQL server for the tests, from Debian's binaries.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user
(created by Debian's package) in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.children import die_with_parent, free_port


def find_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class PostgresServer:
    """One private server in a temporary directory, on a free loopback port.

    ``durable=False`` (the tests) turns fsync and synchronous commits off; the benchmarks
    keep PostgreSQL's durable defaults, as operators run it. The server runs in a process
    group of its own, so a Ctrl-C reaches only its owner, who stops it; if the owner dies
    outright, the kernel sends it SIGTERM (PR_SET_PDEATHSIG).
    """

    def __init__(self, *, durable: bool = False) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found; run ./scripts/dev-setup")
        self.bin_dir = bin_dir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="baryon-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D", str(self.data),
                "-U", "baryon",
                "--auth=trust",
                "-E", "UTF8",
                "--no-sync",
            ]
        )  # fmt: skip

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
        args = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-k", str(self.root),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "max_connections=300",
        ]  # fmt: skip
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                self._command(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=die_with_parent,
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

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        # Sent to the postmaster itself: runuser, in between under root, would not pass it on.
        pid = self.postmaster_pid()
        _signal(pid or self.process.pid, signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            _signal(self.process.pid, signal.SIGKILL)
            if pid is not None:
                _signal(pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def create_database(self, name: str | None = None) -> str:
        """The SQLAlchemy URL of a new, empty database."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
