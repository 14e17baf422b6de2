"""Short-lived access keys that may act on one resource only.

A provisioning program (CodeBuild commands, Terraform) calls Baryon back: it reports outputs
with NotifyResourceDeploymentStatusChange, reads its resource with Get* calls, and Terraform
keeps its state in Baryon's HTTP state backend. It gets a key of its own for the run, never an
operator's key: one that names the resource it deploys, stops working by itself after a
time-to-live, and is deleted when the run ends (so a program that leaks it, or a run a crash
cut short, leaves nothing usable for long).

Scoped keys sign requests as every access key does (SigV4, secrets sealed under the master
key) and live in their own table; their ids start with ``BARS`` where operators' keys start
with ``BARY``, so a lookup reads one table only. What a scoped key may call is decided in
auth/scoped_access.py.
"""

from __future__ import annotations

import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, select

from baryon.auth.access_keys import read_secret
from baryon.auth.master_key import SecretBox
from baryon.store.database import Database
from baryon.store.tables import ScopedAccessKey

SCOPED_KEY_ID_PREFIX = "BARS"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class ScopedKey:
    access_key_id: str
    secret_access_key: str
    resource_arn: str


@dataclass(frozen=True)
class KeyHolder:
    """Who signed a request: any access key, and the one resource it is limited to (None for
    an operator's key, which may do anything)."""

    access_key_id: str
    resource_arn: str | None


def is_scoped_key_id(access_key_id: str) -> bool:
    return access_key_id.startswith(SCOPED_KEY_ID_PREFIX)


def issue_scoped_key(
    db: Database, box: SecretBox, resource_arn: str, ttl_seconds: int
) -> ScopedKey:
    """A new key for ``resource_arn``, valid for ``ttl_seconds``. Keys of earlier runs that
    expired are deleted on the way: a crashed run never revoked its own."""
    key_id = SCOPED_KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        session.execute(delete(ScopedAccessKey).where(ScopedAccessKey.expires_at < now))
        session.add(
            ScopedAccessKey(
                access_key_id=key_id,
                secret_ciphertext=box.seal(secret),
                resource_arn=resource_arn,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
        )
    return ScopedKey(key_id, secret, resource_arn)


def revoke_scoped_key(db: Database, access_key_id: str) -> None:
    """Refused from the moment this returns, on every replica (they all read the table)."""
    with db.session(write=True) as session:
        session.execute(
            delete(ScopedAccessKey).where(ScopedAccessKey.access_key_id == access_key_id)
        )


_LIVE_KEY = select(ScopedAccessKey.secret_ciphertext, ScopedAccessKey.resource_arn).where(
    ScopedAccessKey.access_key_id == bindparam("access_key_id"),
    ScopedAccessKey.expires_at > bindparam("now"),
)


def _live_key(db: Database, box: SecretBox, access_key_id: str) -> tuple[str, str] | None:
    """The secret and resource of a scoped key that has not expired."""
    with db.engine.connect() as connection:
        row = connection.execute(
            _LIVE_KEY, {"access_key_id": access_key_id, "now": datetime.now(UTC)}
        ).first()
    return None if row is None else (box.open(row.secret_ciphertext), row.resource_arn)


class CallerKeys:
    """Every key a caller may sign with: operators' access keys and live scoped keys.

    Like ``access_keys.SecretResolver`` it asks the database on every request (no cache), so
    a revoked or expired key is refused at once on every replica.
    """

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db, self._box = db, box

    def secret(self, access_key_id: str) -> str | None:
        """The secret to check a signature with; None for an unknown, revoked or expired key."""
        if is_scoped_key_id(access_key_id):
            live = _live_key(self._db, self._box, access_key_id)
            return None if live is None else live[0]
        return read_secret(self._db, self._box, access_key_id)

    def holder(self, access_key_id: str) -> KeyHolder | None:
        """The key and its scope, once its signature has been checked; None when it went away
        in between (revoked or expired mid-request)."""
        if not is_scoped_key_id(access_key_id):
            return KeyHolder(access_key_id, None)
        live = _live_key(self._db, self._box, access_key_id)
        return None if live is None else KeyHolder(access_key_id, live[1])

    def scoped_resource(self, access_key_id: str, secret: str) -> str | None:
        """The resource a live scoped key may act on, given its id and secret as HTTP basic
        auth carries them (Terraform's http state backend); None when the pair does not
        authenticate or the key is an operator's (scoped to nothing)."""
        if not is_scoped_key_id(access_key_id):
            return None
        live = _live_key(self._db, self._box, access_key_id)
        if live is None or not hmac.compare_digest(live[0].encode(), secret.encode()):
            return None
        return live[1]


class ScopedKeys:
    """Issues and revokes scoped keys for provisioners, which reach neither the database nor
    the master key themselves (the composition root hands them this)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db, self._box = db, box

    def issue(self, resource_arn: str, ttl_seconds: int) -> ScopedKey:
        return issue_scoped_key(self._db, self._box, resource_arn, ttl_seconds)

    def revoke(self, access_key_id: str) -> None:
        revoke_scoped_key(self._db, access_key_id)
