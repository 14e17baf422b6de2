"""The durable queue: leases, heartbeats, retries, and no job claimed twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from baryon.store import jobs
from baryon.store.database import Database
from baryon.store.tables import Job

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
