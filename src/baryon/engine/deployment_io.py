"""What a provisioner may do to the deployment it works on: log, ask about cancellation, and
prove the job is still ours.

Log lines are written in batches: one transaction per line made a deployment's log the
worker's busiest database work (issue 17). A line is kept until the provisioner next waits
(every poll and pause heartbeats, which writes what is pending), until a line comes more than
``FLUSH_SECONDS`` after the oldest one kept (a program's steady output), or until the outcome
is recorded, in the outcome's own transaction (``write_pending``). So the live log lags a
running deployment by at most one poll, and each line keeps the moment it was logged.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from baryon.domain.deployments import log_event
from baryon.engine.handlers import LeaseLost
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.provisioners.polling import CANCEL_CHECK_SECONDS
from baryon.store.tables import Deployment

FLUSH_SECONDS = 1.0


class DatabaseDeploymentIO:
    def __init__(
        self,
        runtime: WorkerRuntime,
        deployment_id: str,
        lease_lost: threading.Event,
        *,
        cancel_requested: bool | None = None,
    ) -> None:
        """``cancel_requested``: what the caller has just read of the deployment, which then
        counts as the first check (a fast deployment then reads it no second time)."""
        self._runtime = runtime
        self.deployment_id = deployment_id  # provisioners name their runs with it
        self._lease_lost = lease_lost
        self._checked_at = 0.0 if cancel_requested is None else time.monotonic()
        self._cancel = bool(cancel_requested)
        # Lines not yet written, with the moment each was logged; a program's output may be
        # logged from another thread than the one that heartbeats.
        self._pending: list[tuple[str, datetime]] = []
        self._pending_since = 0.0
        self._lock = threading.Lock()

    def log(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._pending_since = now
            self._pending.append((message, datetime.now(UTC)))
            due = now - self._pending_since >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Writes the lines kept so far, in one transaction."""
        with self._lock:
            if not self._pending:
                return
            with self._runtime.db.session(write=True) as session:
                self._write(session)

    def write_pending(self, session: Session) -> None:
        """Adds the lines kept so far to ``session``'s transaction (the outcome's)."""
        with self._lock:
            self._write(session)

    def _write(self, session: Session) -> None:
        for message, at in self._pending:
            log_event(session, self.deployment_id, message, at)
        self._pending = []

    def cancel_requested(self) -> bool:
        # Polled in wait loops; two reads a second are plenty and keep the database calm.
        now = time.monotonic()
        if not self._cancel and now - self._checked_at >= CANCEL_CHECK_SECONDS:
            self._checked_at = now
            with self._runtime.db.session() as session:
                self._cancel = bool(
                    session.scalar(
                        select(Deployment.cancel_requested).where(
                            Deployment.id == self.deployment_id
                        )
                    )
                )
        return self._cancel

    def heartbeat(self) -> None:
        # Called at each poll and pause: what was logged since becomes visible now.
        self.flush()
        if self._lease_lost.is_set():
            raise LeaseLost(f"deployment {self.deployment_id} is being run by another worker")
