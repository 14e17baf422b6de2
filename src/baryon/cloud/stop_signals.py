"""SIGTERM and SIGINT as something a process's main loop can wait for.

The handler only writes a byte to a pipe. A handler that took a lock, as
``threading.Event.set`` does, runs on the main thread between two bytecodes, possibly while
that same thread holds the Event's lock inside ``Event.wait``: the process then hangs
forever on its own lock (seen in the local cloud, orphaned and never snapshotting).

It sits in cloud/ because the local cloud's server process needs it and imports nothing
above cloud/; the modes (``baryon up``, ``baryon server``/``worker``) use it from here.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal


class StopSignals:
    """Install once, from the main thread; ``wait`` from there too."""

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.received: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        for signum in signals:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        # A full pipe holds earlier signals already: one byte is enough to wake the waiter.
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        """True once a stop signal has arrived; False if ``timeout`` passed first."""
        if self.received is None:
            select.select([self._read], [], [], timeout)
        return self.received is not None
