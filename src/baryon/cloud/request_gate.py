"""Requests versus snapshots: requests share the gate, a snapshot holds it alone.

moto calls itself over HTTP (CloudFormation custom resources invoking Lambda), so one global
lock could deadlock; a snapshot instead waits until no request is running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# --- Requests vs snapshots -------------------------------------------------------------------


class RequestGate:
    """Requests share the gate; a snapshot holds it alone.

    Requests are not serialized among themselves: moto calls itself over HTTP at times (a
    CloudFormation custom resource invoking a Lambda, Step Functions), and one big lock would
    deadlock there. A waiting snapshot does not block new requests for the same reason; it
    times out instead and the next tick tries again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self.dirty = False

    def enter(self, mutating: bool) -> None:
        with self._cond:
            self._active += 1
            if mutating:
                self.dirty = True

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[bool]:
        """Yields True with no request in flight and none able to start, False on timeout."""
        with self._cond:
            yield self._cond.wait_for(lambda: self._active == 0, timeout)


class _ReleaseOnClose:
    """Keeps the gate shared until the server has sent the whole body.

    An S3 GetObject body streams from the same buffer a snapshot reads.
    """

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def gated(app: WSGIApp, gate: RequestGate) -> WSGIApp:
    def gated_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        gate.enter(environ.get("REQUEST_METHOD", "GET") not in READ_ONLY_METHODS)
        try:
            body = app(environ, start_response)
        except BaseException:
            gate.leave()
            raise
        return _ReleaseOnClose(body, gate.leave)

    return gated_app
