"""Baryon's access keys: what SigV4 signatures are checked against."""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from baryon.auth.master_key import SecretBox
from baryon.store.database import Database
from baryon.store.tables import AccessKey

KEY_ID_PREFIX = "BARY"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class AccessKeyInfo:
    access_key_id: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class NewAccessKey:
    access_key_id: str
    secret_access_key: str


def create_access_key(db: Database, box: SecretBox, description: str = "") -> NewAccessKey:
    key_id = KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    with db.session(write=True) as session:
        session.add(
            AccessKey(
                access_key_id=key_id,
                secret_ciphertext=box.seal(secret),
                description=description,
                created_at=datetime.now(UTC),
            )
        )
    return NewAccessKey(key_id, secret)


def list_access_keys(db: Database) -> list[AccessKeyInfo]:
    with db.session() as session:
        rows = session.scalars(select(AccessKey).order_by(AccessKey.created_at, AccessKey.id))
        return [AccessKeyInfo(r.access_key_id, r.description, r.created_at) for r in rows]


def delete_access_key(db: Database, access_key_id: str) -> bool:
    with db.session(write=True) as session:
        result = session.execute(delete(AccessKey).where(AccessKey.access_key_id == access_key_id))
        return result.rowcount > 0


def read_secret(db: Database, box: SecretBox, access_key_id: str) -> str | None:
    with db.session() as session:
        ciphertext = session.scalar(
            select(AccessKey.secret_ciphertext).where(AccessKey.access_key_id == access_key_id)
        )
    return None if ciphertext is None else box.open(ciphertext)


class SecretResolver:
    """Looks secrets up for SigV4 with a short cache.

    Decrypting and querying on every request would dominate the cost of small reads; a few
    seconds of cache bounds how long a deleted key keeps working on another replica.
    """

    def __init__(self, db: Database, box: SecretBox, ttl_seconds: float = 5.0) -> None:
        self._db, self._box, self._ttl = db, box, ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(access_key_id)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        secret = read_secret(self._db, self._box, access_key_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[access_key_id] = (now, secret)
        return secret
