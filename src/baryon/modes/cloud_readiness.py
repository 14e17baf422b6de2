"""What embedded mode does once its API answers: wait for the local cloud to restore its
state, then make the bundle bucket, start the workers and write the env file.

The API answers first because API calls never touch a cloud (ARCHITECTURE rule 3): a warm
`baryon up` answers in the time it takes to import Baryon, however large the cloud's saved
state. Workers are what need the cloud, so they start only once it answers; jobs queued
before then wait for them. The env file is written last: a client that sources it (or a
test that waits for it) finds the cloud answering, the bundle bucket there and the workers
running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from baryon.cloud.buckets import ensure_bundle_bucket
from baryon.cloud.process import LocalCloudProcess
from baryon.modes.env_file import write_env_file
from baryon.modes.instance_lock import InstanceLock, InstanceState
from baryon.modes.startup_errors import StartupError
from baryon.runtime import Runtime

if TYPE_CHECKING:
    # Imported when the cloud answers (a tenth of a second off the API's first answer).
    from baryon.engine.worker import RegionalWorkers

log = logging.getLogger(__name__)

# Longer than a large state takes to load; the cloud's own lock wait (45 s) fits in it.
CLOUD_START_TIMEOUT_SECONDS = 120.0
# How often stopping says how many jobs are still running.
STOP_PROGRESS_SECONDS = 2.0


class LocalCloudFailed(StartupError):
    """The local cloud exited or did not answer while Baryon started."""


class CloudReadiness:
    def __init__(
        self,
        *,
        runtime: Runtime,
        cloud: LocalCloudProcess,
        server: uvicorn.Server,
        lock: InstanceLock,
        env_path: Path,
        exports: dict[str, str],
        ready_message: str,
        announce: Callable[[str], None],
    ) -> None:
        self.runtime = runtime
        self.cloud = cloud
        self.server = server
        self.lock = lock
        self.env_path = env_path
        self.exports = exports
        self.ready_message = ready_message
        self.announce = announce
        self.failure: StartupError | None = None
        self.pool: RegionalWorkers | None = None
        self._stopping = threading.Event()
        self._pool_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cloud-readiness", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        api_url = self.exports["AWS_ENDPOINT_URL_PROTON"]
        while not self.server.started and not self._stopping.wait(0.02):
            pass
        if self._stopping.is_set():
            return
        self.announce(f"API answering at {api_url}; the local cloud is still starting...")
        log.info("API answering at %s", api_url)
        try:
            self.cloud.wait_until_ready(CLOUD_START_TIMEOUT_SECONDS, cancel=self._stopping)
            if self._stopping.is_set():
                return
            ensure_bundle_bucket(self.runtime.settings)
        except Exception as exc:
            if self._stopping.is_set():
                return
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("the local cloud did not start: %s", exc)
            self.failure = LocalCloudFailed(
                f"the local cloud did not start: {first_line}",
                f"see the end of {self.cloud.log_file}",
            )
            self.server.should_exit = True
            return
        from baryon.engine.worker import RegionalWorkers

        with self._pool_lock:
            if self._stopping.is_set():
                return
            self.pool = RegionalWorkers(self.runtime.cells)
            self.pool.start()
        self.lock.set_state(InstanceState.RUNNING)
        log.info("Baryon is running on %s", api_url)
        # Last: whoever waits for the env file finds everything else done.
        write_env_file(self.env_path, self.exports)
        self.announce(self.ready_message)

    def stop(self) -> None:
        """Stops waiting for the cloud, then stops the workers, saying what is in flight."""
        self._stopping.set()
        self._thread.join()
        with self._pool_lock:
            pool, self.pool = self.pool, None
        if pool is None:
            return
        running = pool.running_jobs
        if not running:
            pool.stop()
            return
        grace = self.runtime.settings.worker_stop_grace_seconds
        self.announce(
            f"stopping: {running} job(s) in flight, waiting up to {grace:.0f} s for them "
            "(what does not finish resumes at the next start)..."
        )
        done = threading.Event()
        ticker = threading.Thread(target=self._tell_progress, args=(pool, done), daemon=True)
        ticker.start()
        try:
            pool.stop()
        finally:
            done.set()
            ticker.join()
        self.announce("stopping: workers stopped (a job that did not finish resumes next start)")

    def _tell_progress(self, pool: RegionalWorkers, done: threading.Event) -> None:
        started = time.monotonic()
        while not done.wait(STOP_PROGRESS_SECONDS):
            running = pool.running_jobs
            waited = time.monotonic() - started
            self.announce(f"stopping: {running} job(s) still running after {waited:.0f} s...")
