"""Prometheus metrics of this process, served at /metrics (servers) or on a worker's port."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from baryon.store.database import Database
from baryon.store.jobs import JobStatus
from baryon.store.tables import Job

REGISTRY = CollectorRegistry()

requests = Counter(
    "baryon_api_requests_total",
    "API requests by operation and outcome.",
    ["operation", "code"],
    registry=REGISTRY,
)
request_seconds = Histogram(
    "baryon_api_request_seconds",
    "API request latency.",
    ["operation"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
slow_clients = Counter(
    "baryon_http_slow_clients_total",
    "Requests cut off because the client sent too slowly, by what it was sending "
    "(head: request line and headers; body; rest: the body of a request already answered).",
    ["stage"],
    registry=REGISTRY,
)
job_seconds = Histogram(
    "baryon_job_seconds",
    "How long jobs ran, by kind and result.",
    ["kind", "result"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
job_failures = Counter(
    "baryon_job_failures_total",
    "Job attempts that raised, by kind.",
    ["kind"],
    registry=REGISTRY,
)
jobs_running = Gauge("baryon_jobs_running", "Jobs this process is running now.", registry=REGISTRY)


# What the queue depth counts: jobs not yet settled.
_WAITING = (JobStatus.QUEUED, JobStatus.RUNNING)


class QueueDepthCollector:
    """Jobs waiting in each region's queue, read from its database at scrape time."""

    def __init__(self, databases: Mapping[str, Database]) -> None:
        self._databases = dict(databases)

    def watch(self, databases: Mapping[str, Database]) -> None:
        self._databases = dict(databases)

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            "baryon_job_queue_depth",
            "Jobs waiting or running, by region and status.",
            labels=["region", "status"],
        )
        for region, db in self._databases.items():
            counts = _queue_counts(db)
            for status in _WAITING:
                family.add_metric([region, status], counts.get(status, 0))
        yield family


def _queue_counts(db: Database) -> dict[str, int]:
    try:
        with db.session() as session:
            rows = session.execute(
                select(Job.status, func.count())
                .where(Job.status.in_(_WAITING))
                .group_by(Job.status)
            ).all()
    except Exception:  # the database may be away; a scrape must still answer
        return {}
    return {status: count for status, count in rows}


# Registered once: each process serves one Baryon, whose regions watch_queue names.
_queue = QueueDepthCollector({})
REGISTRY.register(_queue)


def watch_queue(databases: Mapping[str, Database]) -> None:
    """Counts every region's queue in this process's metrics (the last Baryon built wins)."""
    _queue.watch(databases)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
