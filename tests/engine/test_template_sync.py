"""The TEMPLATE_SYNC job run in-process against a real store and real git repositories, where
the order of jobs must be chosen by the test: a second job while one runs, a dead job's
leftovers, an environment arriving after the service template that needs it, QUEUED.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from baryon.domain import repositories, template_sync
from baryon.domain.git import ConnectionSecrets, SyncScope
from baryon.domain.repositories import NewConnection
from baryon.domain.templates import TemplateKind
from baryon.engine import template_sync as job
from baryon.engine.handlers import JobContext
from baryon.runtime import Runtime, build_runtime
from baryon.service_models.baryon import ConnectionProvider
from baryon.service_models.proton import SyncType
from baryon.settings import load_settings
from baryon.store import jobs
from baryon.store.jobs import JobKind, JobStatus
from baryon.store.tables import Job, SyncAttemptRow, Template, TemplateVersion
from tests.support.bundles import env_bundle, service_bundle

REPOSITORY = "platform/templates"
LEASE = timedelta(seconds=60)


class Remote:
    """A bare repository where the GIT connection finds it, and a working copy pushing to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remotes" / f"{REPOSITORY}.git"
        self.work = root / "work"
        self.bare.parent.mkdir(parents=True)
        self.work.mkdir()
        self._git(root, "init", "--bare", "-q", "-b", "main", str(self.bare))
        self._git(self.work, "init", "-q", "-b", "main")
        self._git(self.work, "remote", "add", "origin", str(self.bare))

    def push(self, files: dict[str, str | bytes]) -> str:
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        self._git(self.work, "add", "-A")
        self._git(self.work, "commit", "-q", "--allow-empty", "-m", "change")
        self._git(self.work, "push", "-q", "origin", "HEAD:main")
        return self._git(self.work, "rev-parse", "HEAD").strip()

    @staticmethod
    def _git(where: Path, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=where,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout


def _in(folder: str, files: dict[str, str]) -> dict[str, str | bytes]:
    return {f"{folder}/{path}": text for path, text in files.items()}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(load_settings({"data_dir": tmp_path / "data"}, environ={}))
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        connection = repositories.create_connection(
            session,
            runtime.arns,
            NewConnection(
                "disk", ConnectionProvider.GIT, str(tmp_path / "remotes") + "/", ConnectionSecrets()
            ),
            None,
            now,
        )
        repositories.create_repository(
            session,
            runtime.arns,
            provider="GITHUB",
            name=REPOSITORY,
            connection_arn=connection.arn,
            encryption_key=None,
            now=now,
        )
    yield runtime
    runtime.close()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path)


def _template(runtime: Runtime, kind: TemplateKind, name: str, *, sync: bool = True) -> None:
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        session.add(Template(kind=kind.value, name=name, created_at=now, last_modified_at=now))
        session.flush()
        if sync:
            template_sync.create_config(
                session,
                kind,
                name,
                repository_provider="GITHUB",
                repository_name=REPOSITORY,
                branch="main",
                subdirectory=None,
                now=now,
            )


def _claim(runtime: Runtime, name: str) -> JobContext:
    """Claims the next runnable TEMPLATE_SYNC job of template ``name`` (others wait)."""
    owner = f"test-{name}"
    for _ in range(20):
        claimed = jobs.claim(runtime.db, owner, LEASE)
        assert claimed is not None, f"no job runnable for {name}"
        if claimed.kind == JobKind.TEMPLATE_SYNC and claimed.payload["template_name"] == name:
            return JobContext(runtime, claimed.id, claimed.attempts, 5)
        jobs.release(runtime.db, claimed.id, owner)  # a poll, another template's sync
    raise AssertionError(f"no TEMPLATE_SYNC job of {name} is runnable")


def _run(context: JobContext, kind: TemplateKind, name: str) -> None:
    job.run(context, template_sync.sync_payload(kind, name))
    jobs.finish(context.runtime.db, context.job_id, f"test-{name}")


def _sync(runtime: Runtime, kind: TemplateKind, name: str) -> None:
    _run(_claim(runtime, name), kind, name)


def _versions(runtime: Runtime, name: str) -> dict[str, str]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(TemplateVersion.major, TemplateVersion.minor, TemplateVersion.status)
            .join(Template)
            .where(Template.name == name)
        )
        return {f"{major}.{minor}": status for major, minor, status in rows}


def _attempts(runtime: Runtime, kind: TemplateKind, name: str, major: int) -> list[Any]:
    with runtime.db.session() as session:
        rows = session.scalars(
            select(SyncAttemptRow)
            .where(SyncAttemptRow.target == template_sync.attempt_target(kind, name, major))
            .order_by(SyncAttemptRow.id)
        )
        return [(row.status, [e["event"] for e in row.events]) for row in rows]


def _waiting(runtime: Runtime, name: str) -> list[Job]:
    with runtime.db.session() as session:
        return [
            row
            for row in session.scalars(
                select(Job).where(Job.kind == JobKind.TEMPLATE_SYNC, Job.status == JobStatus.QUEUED)
            )
            if row.payload["template_name"] == name
        ]


ENV = TemplateKind.ENVIRONMENT


def test_a_second_sync_waits_for_the_running_one_and_nothing_is_made_twice(
    runtime: Runtime, remote: Remote
) -> None:
    remote.push(_in("net/v1", env_bundle()))
    _template(runtime, ENV, "net")
    first = _claim(runtime, "net")
    with runtime.db.session(write=True) as session:
        # The first job holds the claim, as it does while it reads the repository.
        template_sync.get_config(session, ENV, "net").sync_job_id = first.job_id
        jobs.enqueue(
            session,
            JobKind.TEMPLATE_SYNC,
            template_sync.sync_payload(ENV, "net"),
            datetime.now(UTC),
        )
    _run(_claim(runtime, "net"), ENV, "net")
    assert _versions(runtime, "net") == {}
    assert _attempts(runtime, ENV, "net", 1) == []
    (successor,) = _waiting(runtime, "net")
    assert successor.run_after > datetime.now(UTC)  # it runs after the first one

    _run(first, ENV, "net")
    assert _versions(runtime, "net") == {"1.0": "DRAFT"}
    (successor,) = _waiting(runtime, "net")
    assert successor.run_after <= datetime.now(UTC)  # the first brought it forward
    _sync(runtime, ENV, "net")
    assert _versions(runtime, "net") == {"1.0": "DRAFT"}
    (only,) = _attempts(runtime, ENV, "net", 1)  # the same commit is not synced again
    assert only[0] == "SUCCEEDED"


def test_a_dead_jobs_claim_is_taken_over_and_its_open_attempts_closed(
    runtime: Runtime, remote: Remote
) -> None:
    sha = remote.push(_in("net/v1", env_bundle()))
    _template(runtime, ENV, "net")
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        dead = Job(
            kind=JobKind.TEMPLATE_SYNC,
            payload=template_sync.sync_payload(ENV, "net"),
            status=JobStatus.RUNNING,
            attempts=1,
            run_after=now,
            lease_owner="a worker that died",
            lease_expires_at=now - timedelta(seconds=5),
            created_at=now,
            updated_at=now,
        )
        session.add(dead)
        session.flush()
        template_sync.get_config(session, ENV, "net").sync_job_id = dead.id
        session.add(
            SyncAttemptRow(
                sync_type=SyncType.TEMPLATE_SYNC,
                scope=SyncScope.TEMPLATE,
                target=template_sync.attempt_target(ENV, "net", 1),
                status="IN_PROGRESS",
                started_at=now,
                target_revision=None,
                events=[],
            )
        )
    _sync(runtime, ENV, "net")
    interrupted, synced = _attempts(runtime, ENV, "net", 1)
    assert interrupted[0] == "FAILED" and interrupted[1][0].startswith("Interrupted")
    assert synced == (
        "SUCCEEDED",
        [f"Sync started for commit {sha} (net/v1)", f"Version 1.0 created (DRAFT) from {sha}"],
    )
    assert _versions(runtime, "net") == {"1.0": "DRAFT"}
    with runtime.db.session() as session:
        assert template_sync.get_config(session, ENV, "net").sync_job_id is None


def test_versions_made_by_hand_are_left_alone_and_a_deleted_synced_one_is_made_again(
    runtime: Runtime, remote: Remote
) -> None:
    remote.push(_in("net/v1", env_bundle()))
    _template(runtime, ENV, "net", sync=False)
    now = datetime.now(UTC)
    with runtime.db.session(write=True) as session:
        template = session.scalars(select(Template).where(Template.name == "net")).one()
        session.add(
            TemplateVersion(
                template_id=template.id,
                major=1,
                minor=0,
                status="PUBLISHED",
                source={"s3": {"bucket": "b", "key": "k"}},
                description="by hand",
                created_at=now,
                last_modified_at=now,
            )
        )
        template_sync.create_config(
            session,
            ENV,
            "net",
            repository_provider="GITHUB",
            repository_name=REPOSITORY,
            branch="main",
            subdirectory=None,
            now=now,
        )
    _sync(runtime, ENV, "net")
    assert _versions(runtime, "net") == {"1.0": "PUBLISHED", "1.1": "DRAFT"}

    with runtime.db.session(write=True) as session:
        synced = session.scalars(select(TemplateVersion).where(TemplateVersion.minor == 1)).one()
        session.delete(synced)
        template_sync.request_sync(session, ENV, "net", now)
    remote.push({"README.md": "templates\n"})  # the folder itself is unchanged
    _sync(runtime, ENV, "net")
    assert _versions(runtime, "net") == {"1.0": "PUBLISHED", "1.1": "DRAFT"}
    assert _attempts(runtime, ENV, "net", 1)[-1][1][-1].startswith("Version 1.1 created (DRAFT)")
    with runtime.db.session() as session:
        by_hand = session.scalars(select(TemplateVersion).where(TemplateVersion.minor == 0)).one()
        assert (by_hand.description, by_hand.source) == (
            "by hand",
            {"s3": {"bucket": "b", "key": "k"}},
        )


def test_a_service_template_waiting_for_its_environment_syncs_once_the_environment_does(
    runtime: Runtime, remote: Remote
) -> None:
    registration = "compatible_environments:\n  - net:1\n"
    remote.push(
        {
            **_in("net/v1", env_bundle()),
            **_in("web/v1", service_bundle()),
            "web/v1/.template-registration.yaml": registration,
        }
    )
    _template(runtime, TemplateKind.SERVICE, "web")
    _template(runtime, ENV, "net")
    _sync(runtime, TemplateKind.SERVICE, "web")
    ((status, events),) = _attempts(runtime, TemplateKind.SERVICE, "web", 1)
    assert status == "FAILED"
    assert "web/v1/.template-registration.yaml" in events[-1]
    assert "environment template 'net' has no major version 1" in events[-1]
    assert _versions(runtime, "web") == {}

    _sync(runtime, ENV, "net")  # it wakes the service template's sync
    _sync(runtime, TemplateKind.SERVICE, "web")
    assert _versions(runtime, "web") == {"1.0": "DRAFT"}
    with runtime.db.session() as session:
        version = session.scalars(
            select(TemplateVersion).join(Template).where(Template.name == "web")
        ).one()
        assert version.compatible_environment_templates == [
            {"templateName": "net", "majorVersion": "1"}
        ]


def test_the_repository_reads_queued_while_a_template_sync_waits_and_says_what_it_found(
    runtime: Runtime, remote: Remote
) -> None:
    sha = remote.push({"elsewhere/README.md": "no templates here\n"})
    _template(runtime, ENV, "net")
    with runtime.db.session() as session:
        waiting = template_sync.repository_status(session, "GITHUB", REPOSITORY, "main")
        assert waiting is not None and waiting["status"] == "QUEUED"
        assert template_sync.repository_status(session, "GITHUB", REPOSITORY, "other") is None
    _sync(runtime, ENV, "net")
    with runtime.db.session() as session:
        read = template_sync.repository_status(session, "GITHUB", REPOSITORY, "main")
    assert read is not None and read["status"] == "SUCCEEDED"
    assert [e["type"] for e in read["events"]] == [
        "CLONE_STARTED",
        "STARTING_SYNC",
        "TEMPLATE_NOT_FOUND",
    ]
    assert read["events"][1]["externalId"] == sha
    assert _attempts(runtime, ENV, "net", 1) == []


def test_a_missing_branch_fails_the_repository_attempt_without_retrying(
    runtime: Runtime, remote: Remote
) -> None:
    remote.push(_in("net/v1", env_bundle()))
    _template(runtime, ENV, "net")
    with runtime.db.session(write=True) as session:
        template_sync.get_config(session, ENV, "net").branch = "gone"
    _sync(runtime, ENV, "net")  # returns: nothing to retry until someone pushes or fixes it
    with runtime.db.session() as session:
        read = template_sync.repository_status(session, "GITHUB", REPOSITORY, "gone")
    assert read is not None and read["status"] == "FAILED"
    assert "the branch 'gone' does not exist" in read["events"][-1]["event"]


def test_a_bundle_over_the_limits_fails_registration_naming_the_file(
    runtime: Runtime, remote: Remote
) -> None:
    limit = runtime.settings.bundle_limits.max_file_bytes
    remote.push(
        {**_in("net/v1", env_bundle()), "net/v1/infrastructure/big.bin": b"x" * (limit + 1)}
    )
    _template(runtime, ENV, "net")
    _sync(runtime, ENV, "net")
    ((status, events),) = _attempts(runtime, ENV, "net", 1)
    assert status == "FAILED"
    assert "infrastructure/big.bin" in events[-1] and "REGISTRATION_FAILED" in events[-1]
    assert _versions(runtime, "net") == {"1.0": "REGISTRATION_FAILED"}
