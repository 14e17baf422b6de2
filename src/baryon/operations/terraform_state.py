"""Terraform state kept by Baryon: the rules of its HTTP state backend, and what workers and
the CLI ask of it.

Terraform reads and writes a resource's state through Baryon (api/terraform_state_backend.py)
instead of a worker's disk, so a worker that dies mid-apply loses nothing. Every version
written is kept, sealed under the master key (state holds every secret Terraform saw). One lock
per resource names the deployment that holds it: a deployment resumed by another worker takes
its own lock over, and a lock whose deployment has ended belongs to a dead run and is released;
a write from a run that no longer holds the lock is refused, so a stale run cannot overwrite
what a newer one wrote.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from baryon.domain.deployments import TERMINAL
from baryon.store import terraform_state as rows
from baryon.store.database import Database


class Sealer(Protocol):
    """The master key's box (auth/master_key.SecretBox)."""

    def seal(self, plaintext: str) -> bytes: ...

    def open(self, ciphertext: bytes) -> str: ...


class LockOutcome(StrEnum):
    ACQUIRED = "ACQUIRED"
    HELD = "HELD"  # by someone else: `info` is their lock


class WriteOutcome(StrEnum):
    WRITTEN = "WRITTEN"
    LOCKED = "LOCKED"  # the writer does not hold the lock: `info` is whoever does, if anyone


class UnlockOutcome(StrEnum):
    RELEASED = "RELEASED"
    NOT_LOCKED = "NOT_LOCKED"
    HELD_BY_OTHER = "HELD_BY_OTHER"


@dataclass(frozen=True)
class LockAnswer:
    outcome: LockOutcome
    info: str  # Terraform's lock info JSON of the lock now held


@dataclass(frozen=True)
class WriteAnswer:
    outcome: WriteOutcome
    version: int | None = None
    info: str | None = None


@dataclass(frozen=True)
class UnlockAnswer:
    outcome: UnlockOutcome
    info: str | None = None


@dataclass(frozen=True)
class StateVersion:
    resource_arn: str
    version: int
    state: str  # the state JSON as Terraform wrote it
    written_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class TakeOver:
    """What a run found before starting Terraform: None when the state was free."""

    released_from: str | None  # the deployment whose stale lock was released
    held_by: str | None  # a live deployment that holds the lock: this run must wait or fail


@dataclass(frozen=True)
class SavedPlan:
    summary: str
    plan_json: str


class TerraformStates:
    """The one way into stored Terraform state; built by the composition root."""

    def __init__(self, db: Database, box: Sealer) -> None:
        self._db, self._box = db, box

    # --- the HTTP backend's protocol ---------------------------------------------------------

    def read(self, resource_arn: str) -> str | None:
        with self._db.session() as session:
            row = rows.latest_version(session, resource_arn)
            return None if row is None else self._box.open(row.state_ciphertext)

    def write(self, resource_arn: str, state: str, lock_id: str | None) -> WriteAnswer:
        """Keeps ``state`` as the next version if the writer holds the lock (or, writing
        without one, nobody holds it)."""
        ciphertext = self._box.seal(state)
        with self._db.session(write=True) as session:
            held = rows.current_lock(session, resource_arn)
            if held is None and lock_id is not None:
                # Its lock was released (taken over): a newer run owns the state now.
                return WriteAnswer(WriteOutcome.LOCKED)
            if held is not None and held.lock_id != lock_id:
                return WriteAnswer(WriteOutcome.LOCKED, info=held.info)
            writer = held.holder if held is not None else None
            number = rows.add_version(session, resource_arn, ciphertext, writer, _now())
            return WriteAnswer(WriteOutcome.WRITTEN, version=number)

    def lock(self, resource_arn: str, info: str, holder: str) -> LockAnswer:
        """Takes the lock for ``holder`` (a deployment id) with Terraform's lock ``info``;
        a holder asking again with the same lock id is answered as the holder."""
        lock_id = _lock_id(info)
        with self._db.session(write=True) as session:
            row = rows.try_lock(session, resource_arn, lock_id, holder, info, _now())
            mine = row.lock_id == lock_id
            return LockAnswer(LockOutcome.ACQUIRED if mine else LockOutcome.HELD, row.info)

    def unlock(self, resource_arn: str, info: str) -> UnlockAnswer:
        lock_id = _lock_id(info)
        with self._db.session(write=True) as session:
            held = rows.current_lock(session, resource_arn)
            if held is None:
                return UnlockAnswer(UnlockOutcome.NOT_LOCKED)
            if held.lock_id != lock_id:
                return UnlockAnswer(UnlockOutcome.HELD_BY_OTHER, held.info)
            rows.release_lock(session, resource_arn)
            return UnlockAnswer(UnlockOutcome.RELEASED)

    # --- what workers ask before and after a run ----------------------------------------------

    def locked_by(self, resource_arn: str) -> str | None:
        """The deployment holding the state's lock, if any."""
        with self._db.session() as session:
            held = rows.current_lock(session, resource_arn)
            return None if held is None else held.holder

    def take_over(self, resource_arn: str, holder: str) -> TakeOver:
        """Releases a lock left by a dead run: this deployment's own (an earlier attempt of it
        died) or that of a deployment that has ended. A live deployment's lock stays."""
        with self._db.session(write=True) as session:
            held = rows.current_lock(session, resource_arn)
            if held is None:
                return TakeOver(None, None)
            status = rows.deployment_status(session, held.holder)
            if held.holder == holder or status is None or status in TERMINAL:
                rows.release_lock(session, resource_arn)
                return TakeOver(held.holder, None)
            return TakeOver(None, held.holder)

    def save_plan(self, deployment_id: str, summary: str, plan_json: str) -> None:
        with self._db.session(write=True) as session:
            rows.save_plan(session, deployment_id, summary, self._box.seal(plan_json), _now())

    def seal_plan(self, plan: bytes) -> bytes:
        """A fleet preview's saved plan file, sealed like state: it holds every variable's
        value (provisioners/terraform.py prepare_plan)."""
        return self._box.seal(base64.b64encode(plan).decode("ascii"))

    def open_plan(self, sealed: bytes) -> bytes:
        return base64.b64decode(self._box.open(sealed))

    def plan(self, deployment_id: str) -> SavedPlan | None:
        with self._db.session() as session:
            row = rows.plan_of(session, deployment_id)
            if row is None:
                return None
            return SavedPlan(row.summary, self._box.open(row.plan_ciphertext))

    # --- recovery (the CLI) ------------------------------------------------------------------

    def version(self, resource_arn: str, number: int | None = None) -> StateVersion | None:
        """The latest version, or version ``number``."""
        with self._db.session() as session:
            if number is None:
                row = rows.latest_version(session, resource_arn)
            else:
                row = rows.version(session, resource_arn, number)
            if row is None:
                return None
            return StateVersion(
                row.resource_arn,
                row.version,
                self._box.open(row.state_ciphertext),
                row.written_by,
                row.created_at,
            )

    def version_numbers(self, resource_arn: str) -> list[int]:
        with self._db.session() as session:
            return [row.version for row in rows.versions(session, resource_arn)]


class InvalidLockInfo(ValueError):
    """The lock request's body is not Terraform's lock info (a JSON object with an ID)."""


def _lock_id(info: str) -> str:
    try:
        parsed = json.loads(info)
    except ValueError as exc:
        raise InvalidLockInfo("the lock info is not JSON") from exc
    lock_id = parsed.get("ID") if isinstance(parsed, dict) else None
    if not isinstance(lock_id, str) or not lock_id:
        raise InvalidLockInfo("the lock info has no ID")
    return lock_id


def _now() -> datetime:
    return datetime.now(UTC)
