"""How a run ended, in words a provisioner can pass on to a person."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # exited non-zero, was killed by a signal, or could not start
    TIMED_OUT = "TIMED_OUT"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    exit_code: int | None  # None when the program never started or a signal ended it
    reason: str  # one line a person can act on: "exited with status 2", ...
    tail: tuple[str, ...]  # the last lines of output, stdout and stderr interleaved

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED
