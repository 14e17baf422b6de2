"""Waiting politely: exponential backoff with jitter, in slices that keep the lease alive."""

from __future__ import annotations

import random
import time

from baryon.provisioners.base import DeploymentIO


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
    while True:
        io.heartbeat()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (wake_on_cancel and io.cancel_requested()):
            return
        time.sleep(min(heartbeat_interval, remaining))
