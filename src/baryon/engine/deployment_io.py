"""What a provisioner may do to the deployment it works on: log, ask about cancellation, and
prove the job is still ours."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select

from baryon.domain.deployments import log_event
from baryon.engine.handlers import LeaseLost
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.store.tables import Deployment

_CANCEL_CHECK_SECONDS = 1.0


class DatabaseDeploymentIO:
    def __init__(
        self, runtime: WorkerRuntime, deployment_id: str, lease_lost: threading.Event
    ) -> None:
        self._runtime = runtime
        self.deployment_id = deployment_id  # provisioners name their runs with it
        self._lease_lost = lease_lost
        self._checked_at = 0.0
        self._cancel = False

    def log(self, message: str) -> None:
        with self._runtime.db.session(write=True) as session:
            log_event(session, self.deployment_id, message, datetime.now(UTC))

    def cancel_requested(self) -> bool:
        # Polled in wait loops; one read a second is plenty and keeps the database calm.
        now = time.monotonic()
        if not self._cancel and now - self._checked_at >= _CANCEL_CHECK_SECONDS:
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
        if self._lease_lost.is_set():
            raise LeaseLost(f"deployment {self.deployment_id} is being run by another worker")
