"""Real git repositories (made and changed with the git CLI) and a real git server (the
hosting app under uvicorn on a loopback port) for the git library's tests."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from baryon.git.hosting import HostedRepositories, RefUpdate, hosting_app
from baryon.git.limits import GitLimits

GIT_TIMEOUT = 60
KEY, SECRET = "BARYTESTKEY", "test-secret"


def git_env(home: Path) -> dict[str, str]:
    """git with no user or system configuration and no prompt: a test must not hang."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false",
        GIT_AUTHOR_NAME="Tester",
        GIT_AUTHOR_EMAIL="tester@example.com",
        GIT_COMMITTER_NAME="Tester",
        GIT_COMMITTER_EMAIL="tester@example.com",
    )
    return env


def git(
    cwd: Path, *args: str, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=git_env(cwd),
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        input=input.decode() if input is not None else None,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Origin:
    """A bare repository on disk and a working clone that commits and pushes to it."""

    bare: Path
    work: Path

    @property
    def url(self) -> str:
        return str(self.bare)

    def commit(
        self, files: dict[str, bytes | None], message: str = "change", branch: str = "main"
    ) -> str:
        git(self.work, "checkout", "-q", "-B", branch, *self._start(branch))
        for path, content in files.items():
            target = self.work / path
            if content is None:
                git(self.work, "rm", "-q", path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            git(self.work, "add", path)
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "origin", f"{branch}:{branch}")
        return self.head(branch)

    def _start(self, branch: str) -> list[str]:
        git(self.work, "fetch", "-q", "origin")
        remote = git(self.work, "rev-parse", "--verify", "-q", f"origin/{branch}", check=False)
        return [f"origin/{branch}"] if remote.returncode == 0 else []

    def head(self, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}").stdout.strip()

    def branches(self) -> set[str]:
        out = git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").stdout
        return set(out.split())


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return Origin(bare, work)


@dataclass
class HostingServer:
    base_url: str
    repositories: HostedRepositories
    pushes: list[tuple[str, list[RefUpdate]]] = field(default_factory=list)

    def url(self, name: str, user: str = KEY, password: str = SECRET) -> str:
        plain = self.repositories.url(self.base_url, name)
        return plain.replace("http://", f"http://{user}:{password}@", 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(app: object) -> Iterator[str]:
    """Runs an ASGI app under uvicorn on a loopback port: yields its URL, stops when resumed."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


HostingFactory = Callable[..., HostingServer]


def _finish(running: Iterator[str]) -> None:
    next(running, None)


@pytest.fixture
def start_hosting(tmp_path: Path) -> Iterator[HostingFactory]:
    """Starts hosting servers (with the limits and push handler a test wants)."""
    stops: list[Callable[[], None]] = []

    def start(
        limits: GitLimits | None = None,
        on_push: Callable[[str, Sequence[RefUpdate]], None] | None = None,
    ) -> HostingServer:
        repositories = HostedRepositories(tmp_path / f"hosted-{len(stops)}")
        hosting = HostingServer("", repositories)

        def record(name: str, updates: Sequence[RefUpdate]) -> None:
            hosting.pushes.append((name, list(updates)))
            if on_push is not None:
                on_push(name, updates)

        app = Starlette(
            routes=[
                Mount(
                    "/git",
                    app=hosting_app(
                        repositories,
                        lambda user, password: (user, password) == (KEY, SECRET),
                        record,
                        limits=limits,
                    ),
                )
            ]
        )
        running = serve(app)
        hosting.base_url = next(running)
        stops.append(lambda: _finish(running))
        return hosting

    yield start
    for stop in stops:
        stop()
