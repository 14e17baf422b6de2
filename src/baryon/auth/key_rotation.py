"""Master key rotation: every value sealed with the master key, sealed again with a new one.

Each region's database is re-sealed in one transaction, so a database holds its values under
one key or the other, never half of each. Re-sealing opens a value with either key, so a
rotation that stopped between two databases is finished by running it again with the same
two keys:

- a key file (embedded mode) keeps the new key in ``master.key.new`` until every database is
  done, then makes it ``master.key`` and keeps the old one as ``master.key.old``; a box opens
  with both meanwhile (auth/master_key.load_previous_keys), and the next start that finds
  every table readable with the new key alone forgets the old one;
- ``BARYON_MASTER_KEY`` (scaled mode) is the new key on every replica first, with
  ``BARYON_MASTER_KEY_PREVIOUS`` the old one, so each replica opens both while the values move.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from baryon.auth.master_key import (
    NEW_KEY_SUFFIX,
    OLD_KEY_SUFFIX,
    SealedValueUnreadable,
    SecretBox,
    key_file_beside,
)
from baryon.store.database import Database
from baryon.store.tables import (
    AccessKey,
    Base,
    Connection,
    FleetPreviewItemRow,
    ScopedAccessKey,
    TerraformPlan,
    TerraformStateVersion,
)

log = logging.getLogger(__name__)

# Rows re-sealed per round trip: Terraform states can be large, and a database may hold many.
_BATCH_ROWS = 200


@dataclass(frozen=True)
class SealedColumn:
    """A column that holds values sealed with the master key."""

    table: type[Base]
    column: InstrumentedAttribute[bytes] | InstrumentedAttribute[bytes | None]


# Every sealed value Baryon stores; a new sealed column must be added here to be rotated
# (tests/auth/test_key_rotation.py checks this list against the tables' LargeBinary columns).
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(AccessKey, AccessKey.secret_ciphertext),
    SealedColumn(ScopedAccessKey, ScopedAccessKey.secret_ciphertext),
    SealedColumn(TerraformStateVersion, TerraformStateVersion.state_ciphertext),
    SealedColumn(TerraformPlan, TerraformPlan.plan_ciphertext),
    SealedColumn(Connection, Connection.secrets_ciphertext),
    # A fleet preview's saved Terraform plan, sealed like state (it holds every variable).
    SealedColumn(FleetPreviewItemRow, FleetPreviewItemRow.plan_ciphertext),
)


@dataclass(frozen=True)
class RegionDatabase:
    region: str
    db: Database


@dataclass(frozen=True)
class Resealed:
    """How many values of one table of one region's database were sealed again."""

    region: str
    table: str
    values: int


@dataclass(frozen=True)
class KeyFileRotation:
    key_file: Path
    # The replaced key, kept until the next start succeeds.
    old_key_file: Path
    resealed: tuple[Resealed, ...]


class StaleKeyFile(RuntimeError):
    """master.key.new holds no key: a rotation was interrupted while writing it."""


def new_master_key() -> str:
    return Fernet.generate_key().decode()


def reseal_database(region: RegionDatabase, box: SecretBox) -> tuple[Resealed, ...]:
    """Every sealed value of one database, sealed again with ``box``'s current key, in one
    transaction. Raises SealedValueUnreadable (and changes nothing) if a value opens with
    none of the box's keys."""
    counts = []
    with region.db.session(write=True) as session:
        for sealed in SEALED_COLUMNS:
            primary = sealed.table.id  # type: ignore[attr-defined]
            ids = session.scalars(
                select(primary).where(sealed.column.is_not(None)).order_by(primary)
            ).all()
            for start in range(0, len(ids), _BATCH_ROWS):
                batch = ids[start : start + _BATCH_ROWS]
                rows = session.execute(
                    select(primary, sealed.column).where(primary.in_(batch))
                ).all()
                session.execute(
                    update(sealed.table),
                    [
                        {"id": row_id, sealed.column.key: box.reseal(value)}
                        for row_id, value in rows
                    ],
                )
            counts.append(Resealed(region.region, sealed.table.__tablename__, len(ids)))
    return tuple(counts)


def reseal_everywhere(
    databases: Sequence[RegionDatabase], key: bytes, previous: Sequence[bytes]
) -> tuple[Resealed, ...]:
    """Every database re-sealed with ``key``, each value opened with ``key`` or ``previous``."""
    box = SecretBox(key, previous)
    return tuple(count for region in databases for count in reseal_database(region, box))


def rotate_key_file(key_file: Path, databases: Sequence[RegionDatabase]) -> KeyFileRotation:
    """Embedded mode's rotation; the caller makes sure no Baryon runs on these databases
    (one would keep sealing with the key it read at start)."""
    old_key = key_file.read_bytes().strip()
    staged = key_file_beside(key_file, NEW_KEY_SUFFIX)
    old_file = key_file_beside(key_file, OLD_KEY_SUFFIX)
    if staged.is_file():  # an interrupted rotation: some values may be sealed with it already
        new_key = staged.read_bytes().strip()
        _check_key(new_key, staged)
    else:
        new_key = Fernet.generate_key()
        _write_private(staged, new_key + b"\n")
    # A key from an older rotation, if no start has forgotten it yet, still opens.
    previous = [old_key]
    if old_file.is_file():
        previous.append(old_file.read_bytes().strip())
    resealed = reseal_everywhere(databases, new_key, previous)
    _write_private(old_file, old_key + b"\n")
    os.replace(staged, key_file)
    _sync_directory(key_file.parent)
    return KeyFileRotation(key_file, old_file, resealed)


def forget_replaced_key(key_file: Path, databases: Sequence[RegionDatabase]) -> bool:
    """Called once a start has succeeded: removes ``master.key.old`` if the newest value of
    every sealed table opens with ``master.key`` alone. False when it keeps it."""
    old_file = key_file_beside(key_file, OLD_KEY_SUFFIX)
    if not old_file.is_file() or key_file_beside(key_file, NEW_KEY_SUFFIX).is_file():
        return False
    box = SecretBox(key_file.read_bytes().strip())
    for region in databases:
        with region.db.session() as session:
            for sealed in SEALED_COLUMNS:
                primary = sealed.table.id  # type: ignore[attr-defined]
                newest = session.scalar(select(func.max(primary)).where(sealed.column.is_not(None)))
                if newest is None:
                    continue
                value = session.scalar(select(sealed.column).where(primary == newest))
                try:
                    box.open(value or b"")
                except SealedValueUnreadable:
                    log.warning(
                        "%s in %s holds values the current master key does not open; "
                        "keeping %s (run `baryon keys rotate-master` again)",
                        sealed.table.__tablename__,
                        region.region,
                        old_file,
                    )
                    return False
    old_file.unlink()
    log.info("the master key rotation is complete: removed %s", old_file)
    return True


def _check_key(key: bytes, path: Path) -> None:
    try:
        Fernet(key)
    except ValueError as exc:
        raise StaleKeyFile(f"{path} holds no valid key") from exc


def _write_private(path: Path, data: bytes) -> None:
    """Written whole and flushed to disk before it replaces ``path``: a crash leaves the old
    file or the new one, never a key cut short."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
