"""A pool of worker threads that claim and run jobs.

Embedded mode runs the pool inside ``baryon up``; scaled mode runs it in ``baryon worker``
processes. Either way a job's lease is renewed while it runs, and stopping the pool stops
claiming and lets running jobs finish (or their leases lapse for another worker).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterable
from datetime import timedelta

# deploy and registration are imported for the job kinds they register.
from baryon.engine import (  # noqa: F401
    deploy,
    drift,
    fleet_previews,
    imports,
    pull_requests,
    registration,
    repository_changes,
    rollouts,
    service_sync,
    template_sync,
)
from baryon.engine.handlers import JobContext, LeaseLost, TransientError, handler_for
from baryon.engine.worker_runtime import WorkerRuntime
from baryon.observability import context as log_context
from baryon.observability import metrics
from baryon.store import jobs

log = logging.getLogger(__name__)


# Why a job whose worker died during its last attempt (its lease expired) is given up.
WORKER_STOPPED = "the worker running it stopped before it finished (its lease expired)"


def backoff(attempt: int) -> timedelta:
    """Exponential with full jitter, capped at a minute."""
    return timedelta(seconds=random.uniform(0.5, min(60.0, 2.0**attempt)))


class WorkerPool:
    def __init__(self, runtime: WorkerRuntime, threads: int | None = None) -> None:
        self.runtime = runtime
        self.threads = threads or runtime.settings.worker_threads
        self.owner_prefix = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._current: dict[str, int] = {}  # owner -> job it is running
        self._current_lock = threading.Lock()
        self._lease = timedelta(seconds=runtime.settings.job_lease_seconds)

    def start(self) -> None:
        self.runtime.job_wakeup.clear()
        repository_changes.ensure_polling(self.runtime.db)
        drift.ensure_schedule(self.runtime.db, self.runtime.settings.drift_check_interval)
        rollouts.ensure_sweep(self.runtime.db)
        for index in range(self.threads):
            thread = threading.Thread(
                target=self._loop,
                args=(f"{self.owner_prefix}:{index}",),
                name=f"baryon-worker-{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, grace: float | None = None) -> None:
        """Stops claiming; running jobs get ``grace`` seconds to finish, then are handed back
        so another worker resumes them (their steps are idempotent)."""
        grace = self.runtime.settings.worker_stop_grace_seconds if grace is None else grace
        self.stop_claiming()
        self.wait_or_hand_back(time.monotonic() + grace, grace)

    def stop_claiming(self) -> None:
        self._stopping.set()
        self.runtime.job_wakeup.set()

    def wait_or_hand_back(self, deadline: float, grace: float) -> None:
        """After stop_claiming: waits for running jobs until ``deadline`` (a monotonic time),
        then hands back those still running."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._current_lock:
            unfinished = dict(self._current)
        for owner, job_id in unfinished.items():
            log.warning("handing job %s back: it did not finish within %.0f s", job_id, grace)
            try:
                jobs.release(self.runtime.db, job_id, owner)
            except Exception:  # its lease will expire instead
                log.exception("could not release job %s", job_id)
        self._threads.clear()

    @property
    def running_jobs(self) -> int:
        with self._current_lock:
            return len(self._current)

    def _loop(self, owner: str) -> None:
        poll = self.runtime.settings.job_poll_seconds
        while not self._stopping.is_set():
            try:
                job = jobs.claim(
                    self.runtime.db,
                    owner,
                    self._lease,
                    max_attempts=self.runtime.settings.job_max_attempts,
                )
            except Exception:  # the database may be restarting: wait and try again
                log.exception("claiming a job failed")
                self._stopping.wait(poll * 4)
                continue
            if job is None:
                self.runtime.job_wakeup.wait(poll)
                self.runtime.job_wakeup.clear()
                continue
            with self._current_lock:
                self._current[owner] = job.id
            try:
                self._run(job, owner)
            except Exception:
                # Typically the database went away while settling the job: its lease will
                # expire and a worker will run it again from what the cloud shows.
                log.exception("job %s could not be settled", job.id)
                self._stopping.wait(poll * 4)
            finally:
                with self._current_lock:
                    self._current.pop(owner, None)

    def _run(self, job: jobs.ClaimedJob, owner: str) -> None:
        db = self.runtime.db
        handler = handler_for(job.kind)
        if handler is None:
            jobs.finish(db, job.id, owner, error=f"no handler for job kind {job.kind!r}")
            return
        max_attempts = self.runtime.settings.job_max_attempts
        context = JobContext(self.runtime, job.id, job.attempts, max_attempts, owner=owner)
        if job.exhausted:
            log.error("job %s (%s): %s; giving up", job.id, job.kind, WORKER_STOPPED)
            self._give_up(handler, context, job, owner, WORKER_STOPPED)
            return
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(context, beat_stop),
            daemon=True,
        )
        beat.start()
        log_context.job_id.set(job.id)
        log_context.deployment_id.set(job.payload.get("deployment_id"))
        started = time.perf_counter()
        metrics.jobs_running.inc()
        result = "succeeded"
        try:
            handler.run(context, job.payload)
        except LeaseLost:
            result = "lost"
            log.warning("job %s (%s) was taken over by another worker", job.id, job.kind)
        except Exception as exc:
            result = "failed"
            metrics.job_failures.labels(job.kind).inc()
            error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, TransientError):
                log.error("job %s (%s) failed:\n%s", job.id, job.kind, traceback.format_exc())
            if job.attempts < max_attempts:
                jobs.retry_later(db, job.id, owner, error, backoff(job.attempts))
            else:
                self._give_up(handler, context, job, owner, error)
        else:
            if not context.finished:
                jobs.finish(db, job.id, owner)
        finally:
            beat_stop.set()
            beat.join()
            metrics.jobs_running.dec()
            metrics.job_seconds.labels(job.kind, result).observe(time.perf_counter() - started)
            log_context.job_id.set(None)
            log_context.deployment_id.set(None)

    def _give_up(self, handler, context, job, owner, error) -> None:  # type: ignore[no-untyped-def]
        try:
            handler.give_up(context, job.payload, error)
        finally:
            jobs.finish(self.runtime.db, job.id, owner, error=error)

    def _heartbeat(self, context: JobContext, stop: threading.Event) -> None:
        interval = self._lease.total_seconds() / 3
        job_id, owner = context.job_id, context.owner
        assert owner is not None
        while not stop.wait(interval):
            try:
                if not jobs.heartbeat(self.runtime.db, job_id, owner, self._lease):
                    if not context.finished:  # ended by its handler, not taken over
                        log.warning("lost the lease of job %s", job_id)
                        context.lease_lost.set()
                    return
            except Exception:
                log.exception("heartbeat of job %s failed", job_id)


class RegionalWorkers:
    """A pool per region this process serves: each region is a cell with its own database
    and queue, as AWS regions keep their work apart. Started and stopped together, sharing
    one grace period."""

    def __init__(self, runtimes: Iterable[WorkerRuntime], threads: int | None = None) -> None:
        self.pools = [WorkerPool(runtime, threads) for runtime in runtimes]

    def start(self) -> None:
        for pool in self.pools:
            pool.start()

    def stop(self, grace: float | None = None) -> None:
        if not self.pools:
            return
        settings = self.pools[0].runtime.settings
        grace = settings.worker_stop_grace_seconds if grace is None else grace
        for pool in self.pools:
            pool.stop_claiming()
        deadline = time.monotonic() + grace
        for pool in self.pools:
            pool.wait_or_hand_back(deadline, grace)

    @property
    def running_jobs(self) -> int:
        return sum(pool.running_jobs for pool in self.pools)
