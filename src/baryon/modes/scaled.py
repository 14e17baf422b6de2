"""Scaled mode: any number of stateless `baryon server` replicas and `baryon worker`
processes on one PostgreSQL. Neither keeps state of its own: everything is in the database,
so replicas can be added, removed or killed at any time."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import uvicorn
from prometheus_client import start_http_server

from baryon.app import create_app
from baryon.cloud.buckets import ensure_bundle_bucket
from baryon.cloud.stop_signals import StopSignals
from baryon.engine.worker import RegionalWorkers
from baryon.modes.embedded import bind_socket
from baryon.modes.http_server import server_config
from baryon.modes.scaled_checks import check_scaled_settings, open_scaled_runtime
from baryon.modes.server_processes import ServerProcessEnded, serve_in_processes
from baryon.modes.startup_errors import NotConfigured, ServerStopped
from baryon.observability import metrics
from baryon.runtime import Runtime, build_runtime
from baryon.settings import Settings

log = logging.getLogger(__name__)


def run_server(settings: Settings, announce: Callable[[str], None]) -> None:
    """Raises a StartupError (modes/startup_errors.py) for a setting it lacks, a database
    it cannot reach or a port in use, before it answers anything."""
    check_scaled_settings(settings, "server")
    if settings.server_processes < 1:
        raise NotConfigured(
            f"BARYON_SERVER_PROCESSES is {settings.server_processes}: at least 1 is needed",
            "set it to the number of cores the server may use, or unset it",
        )
    sock = bind_socket(settings.host, settings.port)
    try:
        runtime = open_scaled_runtime(_without_git_hosting(settings))
    except BaseException:
        sock.close()
        raise
    try:
        ensure_bundle_bucket(settings)
    except Exception as exc:  # the cloud may come up later; uploads will say so then
        bucket = settings.resolved_bundle_bucket
        log.warning("could not make sure the bundle bucket %s exists: %s", bucket, exc)
        announce(
            f"warning: the bundle bucket {bucket} could not be checked or made ({exc}); "
            "template uploads fail until it can"
        )
    processes = settings.server_processes
    listening = f"http://{settings.host}:{sock.getsockname()[1]}"
    if processes == 1:
        announce(f"baryon server listening on {listening}")
        _serve(runtime, sock, settings)
        return
    # The checks and migrations above ran once, here; each process opens its own runtime
    # (database connections do not survive a fork) without migrating again.
    runtime.close()
    announce(f"baryon server listening on {listening} ({processes} processes)")
    try:
        serve_in_processes(processes, lambda: _serve(_process_runtime(settings), sock, settings))
    except ServerProcessEnded as exc:
        raise ServerStopped(str(exc), "see the log above for why; restart the server") from exc
    finally:
        sock.close()


def _process_runtime(settings: Settings) -> Runtime:
    return build_runtime(_without_git_hosting(settings), migrate=False)


def _serve(runtime: Runtime, sock: socket.socket, settings: Settings) -> None:
    try:
        uvicorn.Server(server_config(create_app(runtime), settings)).run(sockets=[sock])
    finally:
        runtime.close()
        sock.close()


def run_worker(
    settings: Settings, threads: int, metrics_port: int | None, announce: Callable[[str], None]
) -> None:
    check_scaled_settings(settings, "worker")
    runtime = open_scaled_runtime(_without_git_hosting(settings))
    metrics.watch_queue({cell.region: cell.db for cell in runtime.cells})
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.host, registry=metrics.REGISTRY)
    stop = StopSignals()
    # Every served region's queue: a worker serves them all.
    pool = RegionalWorkers(runtime.cells, threads)
    pool.start()
    announce(f"baryon worker running {threads} thread(s)")
    stop.wait()
    announce("baryon worker stopping: no new jobs; running ones finish or are handed back")
    pool.stop()
    runtime.close()
    announce("baryon worker stopped")


def _without_git_hosting(settings: Settings) -> Settings:
    """Hosted repositories live on one machine's disk (data_dir/git): replicas, each with its
    own, would serve different repositories under one name. Nor may a connection read
    repositories off a shared server's disk, unless the operator says so."""
    return settings.replace(
        git_hosting=False, git_local_remotes=settings.git_local_remotes or "refuse"
    )
