"""How Baryon's API and portal are served: uvicorn's options and its h11 protocol, hardened.

uvicorn bounds idle kept-alive connections, but not a connection that opens and sends a
request head slowly or never: without a deadline, a few hundred such sockets hold the server
forever. Bodies get their deadline in api/request_body.py, where the application reads them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from baryon.observability import metrics
from baryon.settings import Settings

log = logging.getLogger("baryon.http")

# A request head (request line and headers) larger than this is answered 400 by h11 before
# it is complete. A signed AWS request's head is about 1 KiB and a portal request's, cookies
# included, a few; h11's default, stated here so that it is a decision.
MAX_REQUEST_HEAD_BYTES = 16 * 1024
# Idle kept-alive connections are closed after this long (uvicorn's default). SDKs reuse a
# connection for their next call, usually within it, and open a new one otherwise.
KEEP_ALIVE_SECONDS = 5


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The one uvicorn configuration of `baryon up` and `baryon server`."""
    return uvicorn.Config(
        app,
        http=protocol_class(settings.request_header_timeout_seconds),
        # libuv's event loop (a dependency): less CPU per request than asyncio's.
        loop="uvloop",
        # Baryon serves no WebSocket; an Upgrade header must not switch protocols.
        ws="none",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # No limit_concurrency: uvicorn counts open connections against it, idle and stalled
        # ones included, so a client holding that many sockets would turn every other
        # caller away with 503. Deadlines (head, body) and the body budget bound what a
        # connection costs instead; the thread pool bounds how many requests run at once.
        # No limit_max_requests either: restarting after N requests would drop the workers
        # of embedded mode with the server.
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
        # X-Forwarded-For/-Proto only from the configured load balancers; with none, uvicorn
        # must not fall back to trusting loopback (its default), where anyone on the machine
        # could claim any address and walk around the portal's sign-in throttle.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        **options,
    )


def protocol_class(head_timeout_seconds: float) -> type[H11Protocol]:
    """uvicorn builds its protocol from the config alone, so the deadline is a class attribute."""
    return type(
        "DeadlineH11Protocol", (DeadlineH11Protocol,), {"head_timeout": head_timeout_seconds}
    )


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol where every request head, and the rest of any body the
    application answered without reading, must arrive within ``head_timeout`` seconds."""

    head_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._arm()  # uvicorn arms no timer before a connection's first request

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        if self.transport.is_closing():
            self._disarm()
        elif self._waiting_for_client():
            self._arm()  # a deadline already running keeps running: it is not extended
        else:
            self._disarm()

    def _waiting_for_client(self) -> bool:
        """A head begun but not complete, or a body nobody will read any more."""
        if self.conn.their_state is h11.IDLE:
            return bool(self.conn.trailing_data[0])
        if self.conn.their_state is h11.SEND_BODY:
            return self.cycle is not None and self.cycle.response_complete
        return False

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.head_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and self.cycle is not None and not self.conn.trailing_data[0]:
            return  # between requests: the keep-alive timer is in charge
        if state is h11.SEND_BODY and not (self.cycle and self.cycle.response_complete):
            return  # the application is reading the body against its own deadline
        if state not in (h11.IDLE, h11.SEND_BODY):
            return
        stage = "head" if state is h11.IDLE else "rest"
        metrics.slow_clients.labels(stage).inc()
        log.info(
            "closing the connection from %s: its request %s did not arrive within %.0f s",
            _peer(self.client),
            "head" if stage == "head" else "body",
            self.head_timeout,
        )
        self.transport.close()


def _no_delay(transport: asyncio.Transport) -> None:
    """uvicorn writes a response's head and body separately. asyncio turns Nagle's algorithm
    off only for sockets made with proto=IPPROTO_TCP, which a socket bound beforehand (as
    embedded mode does) or by uvicorn is not; then the body waits for the client's delayed
    ACK, and every answer takes 40 ms more on Linux."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown address"
