"""How much work a Baryon has in hand, for `baryon status`, `baryon stop` and its own
stopping progress: jobs running now, and jobs due to run (repository polls that wait for
their next turn are not counted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from baryon.modes.regions import cells
from baryon.settings import Settings
from baryon.store.database import Database
from baryon.store.jobs import JobStatus
from baryon.store.tables import Job


@dataclass(frozen=True)
class JobCounts:
    running: int
    due: int


def count_jobs(db: Database) -> JobCounts:
    now = datetime.now(UTC)
    with db.session() as session:
        running = session.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.RUNNING)
        )
        due = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.status == JobStatus.QUEUED, Job.run_after <= now)
        )
    return JobCounts(running=int(running or 0), due=int(due or 0))


def count_served_jobs(settings: Settings, regions: str) -> JobCounts | None:
    """Summed over the databases of ``regions`` (comma-separated, the home one first) as
    ``settings`` places them; None if one cannot be read (locked for a moment, say)."""
    served = [region for region in regions.split(",") if region]
    if served:
        settings = settings.replace(region=served[0], regions=",".join(served))
    running = due = 0
    try:
        for cell in cells(settings):
            db = Database(cell.settings.sqlalchemy_url)
            try:
                counts = count_jobs(db)
            finally:
                db.dispose()
            running, due = running + counts.running, due + counts.due
    except Exception:
        return None
    return JobCounts(running=running, due=due)
