"""A test GitHub per test (GitHub.com-shaped, or GitHub Enterprise Server-shaped), whose
recorded OpenAPI violations fail the test, and a loopback receiver for webhooks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.test_forge import TestForge, running_forge


@pytest.fixture
def github_forge(tmp_path: Path) -> Iterator[TestForge]:
    with running_forge(tmp_path / "forge") as forge:
        yield forge


@pytest.fixture
def enterprise_forge(tmp_path: Path) -> Iterator[TestForge]:
    with running_forge(tmp_path / "forge", enterprise=True) as forge:
        yield forge


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Where the test forge delivers webhooks: keeps each delivery as it came."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int) -> list[Received]:
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.received) >= count, timeout=30)
        assert arrived, f"{len(self.received)} webhooks arrived, {count} expected"
        return list(self.received)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self._arrived:
            self.received.append(Received(dict(request.headers), body))
            self._arrived.notify_all()
        return Response(status_code=204)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    app = Starlette(routes=[Route("/hooks", receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.02)
    yield receiver
    server.should_exit = True
    thread.join(timeout=15)
