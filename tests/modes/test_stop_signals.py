"""A process whose main loop waits for SIGTERM stops on it, however the signals fall.

Signals come in a tight burst, so that one lands while the handler of another is still
running: a handler that took a lock (threading.Event.set) then waited forever for the lock
its own interrupted call held, and the local cloud, orphaned, never stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

LOOP = """
import signal
from baryon.cloud.stop_signals import StopSignals
stop = StopSignals()
print("ready", flush=True)
while not stop.wait(0.0002):
    pass
# The burst goes on while this process ends: from here on, signals are not the test's subject.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("stopped by", stop.received, flush=True)
"""


@pytest.mark.parametrize("attempt", range(5))
def test_a_burst_of_stop_signals_always_stops_the_loop(attempt: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", LOOP], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for index in range(3000):
            try:
                os.kill(child.pid, signal.SIGTERM if index % 2 else signal.SIGINT)
            except ProcessLookupError:
                break
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, f"attempt {attempt}: ended with {child.returncode}"
    assert out.strip() in (f"stopped by {int(signal.SIGTERM)}", f"stopped by {int(signal.SIGINT)}")
