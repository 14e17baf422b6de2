"""What a job kind does: ``run`` it, and ``give_up`` when it cannot succeed.

``give_up`` exists so that no resource is left in a non-terminal state: after the last
attempt, it records a failure the user can see (REGISTRATION_FAILED, FAILED, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from baryon.engine.worker_runtime import WorkerRuntime
from baryon.store import jobs
from baryon.store.jobs import JobKind


class TransientError(Exception):
    """The job may succeed later (throttling, a cloud endpoint not answering)."""


class LeaseLost(Exception):
    """Another worker owns the job now (this one stalled past its lease): stop touching it."""


@dataclass
class JobContext:
    runtime: WorkerRuntime
    job_id: int
    attempt: int
    max_attempts: int
    # Set by the worker when a heartbeat finds the lease gone.
    lease_lost: threading.Event = field(default_factory=threading.Event)
    # Who holds the lease (the worker's claim); None where a test runs a handler by hand.
    owner: str | None = None
    # The handler ended the job itself (finish_in), in its last transaction.
    finished: bool = False

    def finish_in(self, session: Session) -> None:
        """Ends the job DONE in ``session``'s transaction, which must be the handler's last
        write: the worker then has nothing left to record for it."""
        if self.owner is None:
            return
        jobs.finish_in(session, self.job_id, self.owner)
        self.finished = True


Run = Callable[[JobContext, dict[str, Any]], None]
GiveUp = Callable[[JobContext, dict[str, Any], str], None]


@dataclass(frozen=True)
class JobHandler:
    kind: JobKind
    run: Run
    give_up: GiveUp


_HANDLERS: dict[JobKind, JobHandler] = {}


def register_job(kind: JobKind, run: Run, give_up: GiveUp) -> JobHandler:
    if kind in _HANDLERS:
        raise LookupError(f"job kind {kind!r} is registered twice")
    handler = JobHandler(kind, run, give_up)
    _HANDLERS[kind] = handler
    return handler


def handler_for(kind: str) -> JobHandler | None:
    """The handler of a claimed job's kind, None for a kind this build does not know."""
    try:
        return _HANDLERS.get(JobKind(kind))
    except ValueError:
        return None
