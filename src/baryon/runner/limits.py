"""What a run may use, filled in from the settings object (never read from the
environment here), so that the runner's code never reaches for Settings fields one by one."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class RunLimits:
    time_seconds: float = 3600.0  # a run without a deadline of its caller's
    output_bytes: int = 10 * MIB  # stdout and stderr together, counted as read
    line_bytes: int = 4 * KIB  # a longer line reaches the log cut, with a note
    processes: int = 256  # at once, threads included (RLIMIT_NPROC or --pids-limit)
    memory_bytes: int = 0  # address space per process (RLIMIT_AS); 0 = no limit
    kill_grace_seconds: float = 10.0  # between SIGTERM and SIGKILL
    tail_lines: int = 20  # last lines kept for RunResult.tail
