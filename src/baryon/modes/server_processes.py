"""Several `baryon server` processes on one port: a Python process answers on one core at
most, so a replica that should use more runs more processes (`--processes N`).

The parent binds the listening socket, then forks the processes; each inherits the socket
and accepts from it, with its own runtime and database connections (none cross a fork).
The parent only supervises: SIGTERM or SIGINT goes on to every process, which stops
gracefully; a process that ends on its own ends the replica (the rest are stopped and the
parent exits with a failure), so that the operator's supervisor restarts it whole rather than
leaving it at part strength unnoticed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ServerProcessEnded(Exception):
    """A server process ended without being asked to: the replica stops."""


def serve_in_processes(count: int, serve: Callable[[], None]) -> None:
    """Forks ``count`` processes that each run ``serve`` and waits for them; returns once all
    have stopped after a stop signal, raises ServerProcessEnded when one ended unasked."""
    children: set[int] = set()
    stopping = False
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            _child(serve)
        children.add(pid)

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(children, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        ended_unasked: str | None = None
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            children.discard(pid)
            if not stopping:
                ended_unasked = f"server process {pid} ended ({_describe(status)})"
                log.error("%s: stopping the other %d", ended_unasked, len(children))
                stopping = True
                _signal_all(children, signal.SIGTERM)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if ended_unasked is not None:
        raise ServerProcessEnded(ended_unasked)


def _child(serve: Callable[[], None]) -> None:
    """Runs ``serve`` in a forked process and leaves it without running the parent's clean-up
    (its atexit handlers, open files' buffers, finally blocks up the stack)."""
    code = 0
    try:
        # Its own process group: a terminal's Ctrl-C reaches the parent, which passes it on
        # once; a parent killed outright takes its processes with it (Linux).
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        serve()
    except BaseException:
        log.exception("server process %d failed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _signal_all(children: set[int], signum: int) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):  # it has just ended
            os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
