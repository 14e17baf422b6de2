"""provisioners/polling.pause: a wait that a cancel may end looks for one often enough to act
before a short stack operation has finished; one that no cancel ends sleeps in heartbeats."""

from __future__ import annotations

import pytest

from baryon.provisioners import polling


class _IO:
    """Counts heartbeats; the cancel arrives at the given check."""

    def __init__(self, cancel_at_check: int | None) -> None:
        self.heartbeats = 0
        self.checks = 0
        self.cancel_at_check = cancel_at_check

    def heartbeat(self) -> None:
        self.heartbeats += 1

    def cancel_requested(self) -> bool:
        self.checks += 1
        return self.cancel_at_check is not None and self.checks >= self.cancel_at_check

    def log(self, line: str) -> None:  # pragma: no cover - DeploymentIO's other member
        pass


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pause's sleeps, taken at once (the clock moves by what was asked)."""
    asked: list[float] = []
    clock = [1000.0]
    monkeypatch.setattr(polling.time, "monotonic", lambda: clock[0])

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(polling.time, "sleep", sleep)
    return asked


def test_a_cancellable_pause_sleeps_no_longer_than_a_cancel_check_between_looks(
    slept: list[float],
) -> None:
    io = _IO(cancel_at_check=3)
    polling.pause(10.0, io, heartbeat_interval=2.0, wake_on_cancel=True)  # type: ignore[arg-type]
    assert slept == [polling.CANCEL_CHECK_SECONDS] * 2  # the third look saw the cancel
    assert io.heartbeats == 3


def test_a_pause_no_cancel_may_end_sleeps_in_heartbeats_until_its_end(
    slept: list[float],
) -> None:
    io = _IO(cancel_at_check=None)
    polling.pause(5.0, io, heartbeat_interval=2.0)  # type: ignore[arg-type]
    assert slept == [2.0, 2.0, 1.0]
    assert io.checks == 0
