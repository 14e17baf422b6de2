"""The durable queue: leases, heartbeats, retries, no job claimed twice, and none claimed
forever (a job whose worker dies on every attempt is given up)."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, select, update

from baryon.domain.deployments import TERMINAL
from baryon.engine.worker import WORKER_STOPPED, WorkerPool
from baryon.runtime import build_runtime
from baryon.service_models.proton import DeploymentStatus
from baryon.settings import load_settings
from baryon.store import jobs
from baryon.store.database import Database
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import Deployment, Job
from tests.domain.conftest import _add_version
from tests.domain.test_spec_parsing import _environment
from tests.support.bundles import ENV_SCHEMA, env_bundle
from tests.support.waiting import eventually

LEASE = timedelta(seconds=30)


def _enqueue(db: Database, count: int) -> None:
    with db.session(write=True) as session:
        for index in range(count):
            jobs.enqueue(session, "test", {"n": index}, datetime.now(UTC))


def test_claim_finish_and_nothing_left(database: Database) -> None:
    _enqueue(database, 1)
    job = jobs.claim(database, "w1", LEASE)
    assert job is not None and job.payload == {"n": 0} and job.attempts == 1
    assert jobs.claim(database, "w2", LEASE) is None  # leased to w1
    jobs.finish(database, job.id, "w1")
    assert jobs.claim(database, "w2", LEASE) is None


def test_a_claim_on_postgresql_is_one_statement_in_a_transaction_of_its_own(
    database: Database,
) -> None:
    """PostgreSQL picks and leases the job in one UPDATE, in autocommit (no BEGIN or COMMIT
    round trips); SQLite (one writer at a time, and a RETURNING that cannot see the row as it
    was) in a SELECT and an UPDATE of a transaction."""
    _enqueue(database, 1)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0].upper())

    engines = {database.engine, database.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        claimed = jobs.claim(database, "w1", LEASE, max_attempts=3)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    assert claimed is not None and claimed.attempts == 1 and not claimed.exhausted
    if database.is_sqlite:
        assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["SELECT", "UPDATE"]
    else:
        assert statements == ["WITH"]
    assert jobs.claim(database, "w2", LEASE, max_attempts=3) is None  # leased to w1 already


def test_concurrent_claimers_never_share_a_job(database: Database) -> None:
    _enqueue(database, 40)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := jobs.claim(database, name, LEASE)) is not None:
            with lock:
                claimed.append(job.id)
            jobs.finish(database, job.id, name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40


def test_an_expired_lease_is_taken_over_and_the_old_owner_loses_it(database: Database) -> None:
    _enqueue(database, 1)
    job = jobs.claim(database, "dead", LEASE)
    assert job is not None
    with database.session(write=True) as session:
        session.execute(
            update(Job).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = jobs.claim(database, "alive", LEASE)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert not jobs.heartbeat(database, job.id, "dead", LEASE)
    assert jobs.heartbeat(database, job.id, "alive", LEASE)
    jobs.finish(database, job.id, "dead")  # a stale owner's late write changes nothing
    with database.session() as session:
        assert session.get(Job, job.id).status == jobs.JobStatus.RUNNING


def test_retry_later_waits_for_its_time(database: Database) -> None:
    _enqueue(database, 1)
    job = jobs.claim(database, "w", LEASE)
    assert job is not None
    jobs.retry_later(database, job.id, "w", "throttled", timedelta(hours=1))
    assert jobs.claim(database, "w", LEASE) is None
    with database.session() as session:
        row = session.get(Job, job.id)
        assert row.status == jobs.JobStatus.QUEUED and row.last_error == "throttled"


def _expire_leases(db: Database) -> None:
    with db.session(write=True) as session:
        session.execute(
            update(Job).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_a_job_whose_worker_died_on_its_last_attempt_comes_back_exhausted_not_run_again(
    database: Database,
) -> None:
    _enqueue(database, 1)
    for attempt in (1, 2, 3):
        job = jobs.claim(database, f"dies-{attempt}", LEASE, max_attempts=3)
        assert job is not None and job.attempts == attempt and not job.exhausted
        _expire_leases(database)  # the worker died without settling it
    last = jobs.claim(database, "survivor", LEASE, max_attempts=3)
    assert last is not None and last.exhausted and last.attempts == 3
    jobs.finish(database, last.id, "survivor", error="given up")
    assert jobs.claim(database, "anyone", LEASE, max_attempts=3) is None


def test_a_poison_deployment_ends_failed_saying_its_worker_stopped(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path / "data", "job_max_attempts": 2}, environ={})
    runtime = build_runtime(settings)
    try:
        _add_version(runtime, "ENVIRONMENT", "network", env_bundle(), ENV_SCHEMA)
        _environment(runtime)
        with runtime.db.session(write=True) as session:
            job = session.scalars(select(Job).where(Job.kind == JobKind.DEPLOY)).one()
            deployment_id = job.payload["deployment_id"]
            # Its worker died during both attempts allowed: the lease ran out each time.
            job.status, job.attempts, job.lease_owner = JobStatus.RUNNING, 2, "a dead worker"
            job.lease_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        pool = WorkerPool(runtime, threads=1)
        pool.start()
        try:

            def ended() -> Deployment | None:
                with runtime.db.session() as session:
                    row = session.get(Deployment, deployment_id)
                    return row if row is not None and row.status in TERMINAL else None

            deployment = eventually(ended, "end of the poison deployment")
        finally:
            pool.stop(grace=5)
        assert deployment.status == DeploymentStatus.FAILED
        assert WORKER_STOPPED in (deployment.status_message or "")
        with runtime.db.session() as session:
            row = session.get(Job, job.id)
            assert row is not None and row.status == JobStatus.FAILED and row.attempts == 2
    finally:
        runtime.close()


def test_a_job_finished_in_its_handlers_transaction_ends_only_if_that_commits(
    database: Database,
) -> None:
    _enqueue(database, 2)
    kept, undone = jobs.claim(database, "w", LEASE), jobs.claim(database, "w", LEASE)
    assert kept is not None and undone is not None
    with database.session(write=True) as session:
        jobs.finish_in(session, kept.id, "w")
    with contextlib.suppress(RuntimeError), database.session(write=True) as session:
        jobs.finish_in(session, undone.id, "w")
        raise RuntimeError("the outcome's transaction failed")
    with database.session() as session:
        assert session.get(Job, kept.id).status == JobStatus.DONE
        assert session.get(Job, undone.id).status == JobStatus.RUNNING
