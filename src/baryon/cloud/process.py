"""Starts and stops the local cloud (``baryon.cloud.server``) as a child process."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import IO, Any

LOG_TAIL_BYTES = 4000


class LocalCloudProcess:
    """moto's server in a child process whose state survives restarts.

    The child runs in its own process group, so a Ctrl-C in the terminal reaches only the
    parent, which then stops the child in order. If the parent dies without stopping it, the
    child gets SIGTERM (Linux) and saves its state before it exits.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None,
        log_file: Path | None,
        stack_operation_seconds: float = 0.0,
        listen_socket: socket.socket | None = None,
    ) -> None:
        self.host = host
        self.stack_operation_seconds = stack_operation_seconds
        self.port = port
        # A socket the caller bound and listens on: the endpoint is known before the child
        # runs, and clients that call early wait in its backlog instead of being refused.
        self.listen_socket = listen_socket
        self.state_file = state_file
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None
        self._endpoint: str | None = None
        self._released = threading.Event()

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the local cloud is not running")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> str:
        """Starts the child and returns its endpoint once it answers HTTP."""
        self.launch()
        return self.wait_until_ready(timeout)

    def launch(self) -> str | None:
        """Starts the child without waiting for it; returns its endpoint if already known
        (a listen_socket was given), else None (wait_until_ready says it)."""
        if self.is_running():
            raise RuntimeError(f"the local cloud is already running at {self._endpoint}")
        self.stop()  # reap a child that died on its own and release its keeper thread
        self._scratch = Path(tempfile.mkdtemp(prefix="baryon-cloud-"))
        port_file = self._scratch / "port"
        command = [
            sys.executable, "-m", "baryon.cloud.server",
            "--host", self.host,
            "--port", str(self.port),
            "--port-file", str(port_file),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        if self.listen_socket is not None:
            command += ["--listen-fd", str(self.listen_socket.fileno())]
        if self.state_file is not None:
            command += ["--state-file", str(self.state_file)]
        if self.stack_operation_seconds > 0:
            command += ["--stack-operation-seconds", repr(self.stack_operation_seconds)]
        log: IO[bytes] | int = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_file.open("ab")
        try:
            self._process = self._spawn(command, log)
        finally:
            if not isinstance(log, int):
                log.close()
        if self.listen_socket is not None:
            self._endpoint = _endpoint(self.host, self.listen_socket.getsockname()[1])
        return self._endpoint

    def wait_until_ready(self, timeout: float = 60.0, cancel: threading.Event | None = None) -> str:
        """Waits until the launched child answers HTTP (its state restored); stops it and
        raises RuntimeError if it exits or does not answer in time, or ``cancel`` is set."""
        assert self._scratch is not None, "launch() first"
        try:
            self._endpoint = self._wait_until_ready(self._scratch / "port", timeout, cancel)
        except BaseException:
            self.stop()
            raise
        return self._endpoint

    def _spawn(self, command: list[str], log: IO[bytes] | int) -> subprocess.Popen[bytes]:
        """Spawns from a keeper thread that lives until stop().

        Linux's PR_SET_PDEATHSIG fires when the thread that forked the child exits, not the
        process: spawned from a short-lived caller thread, the child would die with it.
        """
        spawned: list[subprocess.Popen[bytes] | BaseException] = []
        ready, self._released = threading.Event(), threading.Event()
        pass_fds = () if self.listen_socket is None else (self.listen_socket.fileno(),)

        def keep(released: threading.Event) -> None:
            try:
                spawned.append(
                    subprocess.Popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        process_group=0,
                        pass_fds=pass_fds,
                        # moto's own messages (unsupported CloudFormation types) are prints.
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    )
                )
            except BaseException as exc:
                spawned.append(exc)
            ready.set()
            released.wait()

        threading.Thread(
            target=keep, args=(self._released,), name="local-cloud-keeper", daemon=True
        ).start()
        ready.wait()
        if isinstance(spawned[0], BaseException):
            self._released.set()
            raise spawned[0]
        return spawned[0]

    def _wait_until_ready(
        self, port_file: Path, timeout: float, cancel: threading.Event | None
    ) -> str:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise RuntimeError("stopped before the local cloud was ready")
            code = process.poll()
            if code is not None:
                raise RuntimeError(f"the local cloud exited with code {code}{self._log_tail()}")
            if port_file.exists():
                endpoint = _endpoint(self.host, int(port_file.read_text()))
                if _answers(endpoint):
                    return endpoint
            time.sleep(0.05)
        raise RuntimeError(
            f"the local cloud did not answer within {timeout:.0f} s{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self.log_file is None:
            return " (no log_file configured)"
        try:
            with self.log_file.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                tail = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return f"; end of {self.log_file}:\n{tail}"

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the child then saves its state), SIGKILL if it does not exit in time.

        Returns the child's exit code (0 after a clean shutdown), None if none was running.
        """
        process, self._process, self._endpoint = self._process, None, None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if process is None:
            return None
        try:
            _signal_group(process, signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                return process.wait()
        finally:
            self._released.set()  # the keeper thread may end only once the child is gone

    def __enter__(self) -> LocalCloudProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[Any], signum: signal.Signals) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signum)  # the child leads its own group (process_group=0)


def _endpoint(host: str, port: int) -> str:
    return f"http://{_url_host(host)}:{port}"


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _answers(endpoint: str) -> bool:
    """Any HTTP answer will do; http.client ignores *_PROXY variables, unlike urllib."""
    host, _, port = endpoint.removeprefix("http://").rpartition(":")
    connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=2)
    try:
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
