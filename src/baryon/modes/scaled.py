"""Scaled mode: any number of stateless `baryon server` replicas and `baryon worker`
processes on one PostgreSQL. Neither keeps state of its own: everything is in the database,
so replicas can be added, removed or killed at any time."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn
from prometheus_client import start_http_server

from baryon.app import create_app
from baryon.cloud.buckets import ensure_bundle_bucket
from baryon.cloud.stop_signals import StopSignals
from baryon.engine.worker import RegionalWorkers
from baryon.modes.http_server import server_config
from baryon.observability import metrics
from baryon.runtime import build_runtime
from baryon.settings import Settings

log = logging.getLogger(__name__)


def run_server(settings: Settings, announce: Callable[[str], None]) -> None:
    runtime = build_runtime(_without_git_hosting(settings))
    try:
        ensure_bundle_bucket(settings)
    except Exception as exc:  # the cloud may come up later; uploads will say so then
        log.warning("could not make sure the bundle bucket exists: %s", exc)
    announce(f"baryon server listening on http://{settings.host}:{settings.port}")
    try:
        uvicorn.Server(
            server_config(
                create_app(runtime),
                settings,
                host=settings.host,
                port=settings.port,
            )
        ).run()
    finally:
        runtime.close()


def run_worker(
    settings: Settings, threads: int, metrics_port: int | None, announce: Callable[[str], None]
) -> None:
    runtime = build_runtime(_without_git_hosting(settings))
    metrics.watch_queue(runtime.db)
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
