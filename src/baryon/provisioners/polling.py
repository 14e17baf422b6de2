"""Waiting politely: exponential backoff with jitter, in slices that keep the lease alive."""

from __future__ import annotations

import random
import time

from baryon.provisioners.base import DeploymentIO

# How often a wait that a cancel may end looks for one (DeploymentIO.cancel_requested reads
# the database at most this often).
CANCEL_CHECK_SECONDS = 0.5


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each with random jitter.

    The jitter keeps many workers that started together from polling in lockstep (AWS
    throttles DescribeStacks per account).
    """

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = max(initial, maximum)
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return random.uniform(max(self.initial, ceiling / 2), ceiling)


def pause(
    seconds: float,
    io: DeploymentIO,
    *,
    heartbeat_interval: float,
    wake_on_cancel: bool = False,
) -> None:
    """Sleeps ``seconds``, heartbeating at least every ``heartbeat_interval``.

    ``io.heartbeat()`` raising (lease lost) ends the wait by propagating. With
    ``wake_on_cancel`` a cancel request ends the pause early, so cancelling is prompt even
    when polls are far apart.
    """
    deadline = time.monotonic() + seconds
    # Slices no longer than a cancel check's interval when a cancel may end the pause: a
    # heartbeat's two seconds let a cancel asked for just after a poll go unseen until the
    # stack had finished (a 2 s update, cancelled at once, ended SUCCEEDED).
    slice_seconds = (
        min(heartbeat_interval, CANCEL_CHECK_SECONDS) if wake_on_cancel else heartbeat_interval
    )
    while True:
        io.heartbeat()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (wake_on_cancel and io.cancel_requested()):
            return
        time.sleep(min(slice_seconds, remaining))
