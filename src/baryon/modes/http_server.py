"""How Baryon's API and portal are served: uvicorn's options and its httptools protocol, hardened.

httptools (llhttp, in C) parses request heads with much less Python per request than h11
(server CPU per kept-alive GET /healthz: 0.133 ms with h11, 0.070 with httptools, medians
of 5 x 3000), but it holds a connection to no deadline and a head to no size. Here, a
connection that opens and sends a request head slowly or never is closed after a deadline
(without one, a few hundred such sockets would hold the server forever), and so is one
that leaves the rest of a body the application answered without reading; a head over a
size limit is refused before it completes. Bodies the application reads get their deadline
in api/request_body.py, which relies on the framing checks here and in llhttp: a malformed
or duplicate Content-Length, or Content-Length with Transfer-Encoding, never reaches it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from baryon.observability import metrics
from baryon.settings import Settings

log = logging.getLogger("baryon.http")

# A request head (request line and headers) larger than this is refused before it is
# complete. A signed AWS request's head is about 1 KiB and a portal request's, cookies
# included, a few; h11's default, which Baryon served with before httptools.
MAX_REQUEST_HEAD_BYTES = 16 * 1024
# Idle kept-alive connections are closed after this long (uvicorn's default). SDKs reuse a
# connection for their next call, usually within it, and open a new one otherwise.
KEEP_ALIVE_SECONDS = 5
# What a head holds besides its URL and header names and values: the method, the version
# and the separators of the request line ("PATCH " + " HTTP/1.1\r\n"), and per header ": "
# and "\r\n". Only used to size a head whose parts llhttp has already handed over.
_REQUEST_LINE_OVERHEAD = 16
_HEADER_OVERHEAD = 4


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The one uvicorn configuration of `baryon up` and `baryon server`."""
    return uvicorn.Config(
        app,
        http=protocol_class(settings.request_header_timeout_seconds),
        # libuv's event loop (a dependency): less CPU per request than asyncio's.
        loop="uvloop",
        # Baryon serves no WebSocket; an Upgrade header must not switch protocols.
        ws="none",
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


def protocol_class(head_timeout_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn builds its protocol from the config alone, so the deadline is a class attribute."""
    return type(
        "DeadlineHttpToolsProtocol",
        (DeadlineHttpToolsProtocol,),
        {"head_timeout": head_timeout_seconds},
    )


@dataclass(frozen=True)
class Refusal:
    """A request answered from its head alone, before the application sees it; the
    connection is closed after the answer."""

    status: HTTPStatus
    reason: str


class Refused(Exception):
    """Raised from a parser callback: llhttp stops there, and data_received answers."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


HEAD_TOO_LARGE = Refusal(
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
    f"The request head exceeds {MAX_REQUEST_HEAD_BYTES} bytes.",
)
MISSING_HOST = Refusal(HTTPStatus.BAD_REQUEST, "An HTTP/1.1 request must have a Host header.")
UNSUPPORTED_TRANSFER_ENCODING = Refusal(
    HTTPStatus.BAD_REQUEST, "The only Transfer-Encoding accepted is chunked."
)
UPGRADE_WITH_BODY = Refusal(HTTPStatus.BAD_REQUEST, "A request asking to Upgrade has no body.")
INVALID_REQUEST = Refusal(HTTPStatus.BAD_REQUEST, "Invalid HTTP request.")
UNSUPPORTED_VERSION = Refusal(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Only HTTP/1.x is served.")


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol where every request head, and the rest of any body the
    application answered without reading, must arrive within ``head_timeout`` seconds, a
    head must stay under MAX_REQUEST_HEAD_BYTES, and what h11 refused is refused."""

    head_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None
    # From the start of a head (or of the connection) until the head is complete.
    _head_open = False
    # From the start of a head until llhttp has the whole message, body included.
    _message_open = False
    # Bytes of the open head received in chunks parsed before the current one.
    _head_bytes = 0
    _chunk_bytes = 0
    _head_began_in_chunk = False
    _message_ended_in_chunk = False
    # llhttp hands what follows an Upgrade request to another protocol; there is none, so
    # the connection is closed after the answer and nothing after the request is parsed.
    _upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._head_open = True  # waiting for the first head: uvicorn arms no timer here
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._upgraded:
            return
        self._unset_keepalive_if_required()
        self._chunk_bytes = len(data)
        self._head_began_in_chunk = self._message_ended_in_chunk = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgraded = True
        except httptools.HttpParserError as error:
            self._refuse(*_refusal_of(error))
            return
        if self._head_open:
            self._count_open_head(len(data))
            if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
                self._refuse(HEAD_TOO_LARGE)
                return
        self._watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = self._message_open = self._head_began_in_chunk = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_open = False
        # Its earlier chunks and all of this one bound the head from above; sizing it
        # exactly costs a pass over its headers, needed only when that bound is over.
        if (
            self._head_bytes + self._chunk_bytes > MAX_REQUEST_HEAD_BYTES
            and self._parsed_head_bytes() > MAX_REQUEST_HEAD_BYTES
        ):
            raise Refused(HEAD_TOO_LARGE)
        refusal = self._framing_refusal()
        if refusal is not None:
            raise Refused(refusal)
        super().on_headers_complete()
        if self.parser.should_upgrade():
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._message_open = False
        self._message_ended_in_chunk = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _count_open_head(self, chunk_bytes: int) -> None:
        """Add this chunk's share of a head still incomplete at its end."""
        if not self._head_began_in_chunk:
            self._head_bytes += chunk_bytes
        elif not self._message_ended_in_chunk:
            self._head_bytes = chunk_bytes  # the head began at the chunk's first byte
        else:
            # A pipelined head after the end of another message: where it began in the
            # chunk is unknown, so count what llhttp has handed over of it (the header
            # being received is left out, once) rather than refuse a head for its
            # neighbour's bytes.
            self._head_bytes = self._parsed_head_bytes()

    def _parsed_head_bytes(self) -> int:
        return (
            _REQUEST_LINE_OVERHEAD
            + len(self.url)
            + sum(len(name) + len(value) + _HEADER_OVERHEAD for name, value in self.headers)
        )

    def _framing_refusal(self) -> Refusal | None:
        """What h11 refused and llhttp lets through: a version other than HTTP/1.x (0.9
        included), an HTTP/1.1 request without Host, a Transfer-Encoding other than chunked
        (llhttp fails those only after the head, once uvicorn has started the
        application), and an Upgrade request with a body, which llhttp would take for the
        upgraded protocol's bytes. llhttp itself refuses a malformed or duplicate
        Content-Length and Content-Length with Transfer-Encoding."""
        version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            return UNSUPPORTED_VERSION
        has_host = has_body = False
        for name, value in self.headers:
            if name == b"host":
                has_host = True
            elif name == b"content-length":
                has_body = int(value) > 0
            elif name == b"transfer-encoding":
                if value.lower() != b"chunked":
                    return UNSUPPORTED_TRANSFER_ENCODING
                has_body = True
        if not has_host and version == "1.1":
            return MISSING_HOST
        if has_body and self.parser.should_upgrade():
            return UPGRADE_WITH_BODY
        return None

    def _refuse(self, refusal: Refusal, detail: str = "") -> None:
        """Answer from the head alone and close: llhttp cannot go on after an error."""
        log.info(
            "refusing a request from %s with %d: %s",
            _peer(self.client),
            refusal.status.value,
            detail or refusal.reason,
        )
        body = refusal.reason.encode()
        head = [f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}\r\n".encode()]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._disarm()

    def _watch(self) -> None:
        if self.transport.is_closing():
            self._disarm()
        elif self._waiting_for_client():
            self._arm()  # a deadline already running keeps running: it is not extended
            # A pipelined head begun, or a body left unread, before the answer: the
            # deadline is in charge, not the keep-alive timer uvicorn armed with it.
            self._unset_keepalive_if_required()
        else:
            self._disarm()
            if self._idle() and self.timeout_keep_alive_task is None:
                # The rest of a body came after its answer, which armed the keep-alive
                # timer, and uvicorn unarms it whenever bytes come: arm it again.
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def _waiting_for_client(self) -> bool:
        """A head begun but not complete, or a body nobody will read any more."""
        return self._head_open or self._rest_unread()

    def _rest_unread(self) -> bool:
        return self._message_open and self.cycle is not None and self.cycle.response_complete

    def _idle(self) -> bool:
        return not self._message_open and (self.cycle is None or self.cycle.response_complete)

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
        if self._head_open:
            stage = "head"
        elif self._rest_unread():
            stage = "rest"
        else:
            return  # between requests, or the application is reading the body
        metrics.slow_clients.labels(stage).inc()
        log.info(
            "closing the connection from %s: its request %s did not arrive within %.0f s",
            _peer(self.client),
            "head" if stage == "head" else "body",
            self.head_timeout,
        )
        self.transport.close()


def _refusal_of(error: httptools.HttpParserError) -> tuple[Refusal, str]:
    """Our own refusal raised from a callback, or else llhttp's (or uvicorn's, whose head
    callback fails on a URL it cannot parse): a 400, its reason only logged."""
    cause = error.__context__
    if isinstance(cause, Refused):
        return cause.refusal, ""
    return INVALID_REQUEST, str(cause or error)


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
