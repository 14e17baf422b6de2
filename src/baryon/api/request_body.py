"""Reading request bodies so that no client can stall the server or grow its memory.

A body is read against a deadline: it may pause only so long, and must keep up a minimum
average rate (as Apache's mod_reqtimeout asks). It never grows past a size limit, and it is
held only in bytes reserved from one budget that all connections of the process share.
Callers check what they can from the headers first (route, credentials, session) and answer
a request they refuse without reading its body.

Everything here runs on the event loop and only awaits; the budget is never touched from
another thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from baryon.observability import metrics
from baryon.settings import Settings

__all__ = [
    "BodyBudget",
    "BodyBudgetExhausted",
    "BodyLimits",
    "BodyRefused",
    "BodyTimedOut",
    "BodyTooLarge",
    "ClientDisconnect",
    "buffered_body",
    "declared_too_large",
]

# How long an upload waits for room in the budget before it is refused: long enough for the
# bodies ahead of it to be handled, short enough that the client's retry comes soon.
BUDGET_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_seconds: float
    min_bytes_per_second: float

    @classmethod
    def from_settings(cls, settings: Settings, max_bytes: int) -> BodyLimits:
        return cls(
            max_bytes=max_bytes,
            timeout_seconds=settings.request_body_timeout_seconds,
            min_bytes_per_second=max(1, settings.request_body_min_bytes_per_second),
        )

    def deadline(self, started: float, last_progress: float, received: int) -> float:
        """When the next bytes must have come: never more than ``timeout_seconds`` of
        silence, and never behind the minimum rate (after a first ``timeout_seconds``)."""
        return min(
            last_progress + self.timeout_seconds,
            started + self.timeout_seconds + received / self.min_bytes_per_second,
        )


class BodyRefused(Exception):
    """The body was not read in full: answer, then close the connection."""


class BodyTooLarge(BodyRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body exceeds {limit} bytes.")
        self.limit = limit


class BodyTimedOut(BodyRefused):
    def __init__(self, received: int, declared: int | None, seconds: float) -> None:
        expected = f"{received} of {declared}" if declared is not None else f"{received}"
        super().__init__(
            f"The request body did not arrive in time: {expected} bytes in {seconds:.1f} s."
        )
        self.received = received
        self.declared = declared


class BodyBudgetExhausted(BodyRefused):
    def __init__(self, wanted: int) -> None:
        super().__init__("The server is receiving too many request bodies at once; retry shortly.")
        self.wanted = wanted


class BodyBudget:
    """Bytes of request bodies this process may hold at once, across all connections."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._freed = asyncio.Event()

    async def reserve(self, size: int, wait_seconds: float = BUDGET_WAIT_SECONDS) -> None:
        if size > self.capacity:
            raise BodyBudgetExhausted(size)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_seconds
        while self.in_use + size > self.capacity:
            remaining = give_up - loop.time()
            if remaining <= 0:
                raise BodyBudgetExhausted(size)
            freed = self._freed
            try:
                async with asyncio.timeout(remaining):
                    await freed.wait()
            except TimeoutError:
                raise BodyBudgetExhausted(size) from None
        self.in_use += size

    def release(self, size: int) -> None:
        if size <= 0:
            return
        self.in_use -= size
        # Wake every waiter; each checks again whether its size fits now.
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()


def declared_length(request: Request) -> int | None:
    """Content-Length (None for a chunked body); modes/http_server.py has refused a
    malformed or duplicate one, or one beside Transfer-Encoding, already."""
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


@asynccontextmanager
async def buffered_body(
    request: Request, limits: BodyLimits, budget: BodyBudget
) -> AsyncIterator[bytes]:
    """The whole body, held within the budget until the block ends."""
    declared = declared_length(request)
    if declared is not None and declared > limits.max_bytes:
        raise BodyTooLarge(limits.max_bytes)
    reserved = 0
    try:
        if declared is not None:
            await budget.reserve(declared)
            reserved = declared
        # A list, not a growing bytearray: while a body arrives it holds what came and no
        # more (no over-allocation, no copies), however long the client takes.
        chunks: list[bytes] = []
        received = 0
        async for chunk in _chunks(request, limits, declared):
            received += len(chunk)
            if received > reserved:  # chunked: reserve as it comes
                await budget.reserve(received - reserved)
                reserved = received
            chunks.append(chunk)
        body = b"".join(chunks)
        del chunks
        yield body
    finally:
        budget.release(reserved)


def declared_too_large(request: Request, limits: BodyLimits) -> bool:
    """Whether the headers announce a body over the limit.

    A request refused from its headers is answered at once, unread; uvicorn then drops the
    rest of its body as it comes, so that the client reads the answer rather than a reset
    connection, and modes/http_server.py closes the connection if that rest does not come
    in time. A body announced too large is not worth that: close after answering."""
    declared = declared_length(request)
    return declared is not None and declared > limits.max_bytes


async def _chunks(
    request: Request, limits: BodyLimits, declared: int | None
) -> AsyncIterator[bytes]:
    started = last_progress = time.monotonic()
    received = 0
    while True:
        remaining = limits.deadline(started, last_progress, received) - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                message = await request.receive()
        except TimeoutError:
            metrics.slow_clients.labels("body").inc()
            raise BodyTimedOut(received, declared, time.monotonic() - started) from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            last_progress = time.monotonic()
        received += len(chunk)
        if received > limits.max_bytes:
            raise BodyTooLarge(limits.max_bytes)
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
