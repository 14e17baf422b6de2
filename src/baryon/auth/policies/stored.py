"""The policies in force: the shipped built-in role policies, as edited, and the policies an
admin added, kept in the database (store/tables.py PolicyRow) and compiled once per process.

An unedited built-in policy has no row, so an upgrade that changes a shipped policy reaches
every install that did not edit it; an edited one is a row with ``builtin`` set, and ``reset``
deletes the row. Every change bumps policy_generation in the same transaction.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from baryon.auth.policies.builtin import builtin_policies, builtin_text
from baryon.auth.policies.engine import NamedPolicy, Policies, check
from baryon.store.database import Database
from baryon.store.tables import PolicyGeneration, PolicyRow

POLICY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)


class PolicyNameInvalid(ValueError):
    """A policy name that is not 1-100 letters, digits, '_', '.', '-' (it names decisions)."""


class BuiltinPolicyKept(ValueError):
    """A built-in role policy cannot be deleted (reset it, or put an empty one)."""


class NotBuiltin(ValueError):
    """Only a built-in policy can be reset."""


@dataclass(frozen=True)
class StoredPolicy:
    name: str
    text: str
    builtin: bool  # a built-in role's policy (auth/policies/builtin/<role>.cedar)
    edited: bool  # a built-in whose shipped text was replaced; False for the others
    updated_by: str | None  # principal label; None for an unedited built-in
    updated_at: datetime | None


def _check_name(name: str) -> None:
    if not POLICY_NAME.fullmatch(name):
        raise PolicyNameInvalid(
            f"policy name {name!r}: 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


def list_policies(db: Database) -> list[StoredPolicy]:
    with db.session() as session:
        rows = {row.name: row for row in session.scalars(select(PolicyRow))}
    policies: list[StoredPolicy] = []
    for shipped in builtin_policies():
        row = rows.pop(shipped.name, None)
        if row is None:
            policies.append(StoredPolicy(shipped.name, shipped.text, True, False, None, None))
        else:
            policies.append(
                StoredPolicy(row.name, row.text, True, True, row.updated_by, row.updated_at)
            )
    for row in sorted(rows.values(), key=lambda row: row.name):
        policies.append(
            StoredPolicy(row.name, row.text, False, False, row.updated_by, row.updated_at)
        )
    return policies


def get_policy(db: Database, name: str) -> StoredPolicy | None:
    for policy in list_policies(db):
        if policy.name == name:
            return policy
    return None


def put_policy(db: Database, name: str, text: str, by: str) -> StoredPolicy:
    """Adds or replaces a policy; raises InvalidPolicy (engine.py) when the text does not
    parse or fit the schema, so that no stored policy is broken."""
    _check_name(name)
    check(NamedPolicy(name, text))
    builtin = builtin_text(name) is not None
    now = datetime.now(UTC)
    with db.session(write=True) as session:
        row = session.get(PolicyRow, name)
        if row is None:
            session.add(
                PolicyRow(name=name, text=text, builtin=builtin, updated_by=by, updated_at=now)
            )
        else:
            row.text, row.updated_by, row.updated_at = text, by, now
        _bump(session)
    return StoredPolicy(name, text, builtin, builtin, by, now)


def reset_policy(db: Database, name: str) -> StoredPolicy:
    """A built-in policy's shipped text, back in force."""
    shipped = builtin_text(name)
    if shipped is None:
        raise NotBuiltin(f"policy {name} is not a built-in role policy: there is nothing to reset")
    with db.session(write=True) as session:
        session.execute(delete(PolicyRow).where(PolicyRow.name == name))
        _bump(session)
    return StoredPolicy(name, shipped, True, False, None, None)


def delete_policy(db: Database, name: str) -> bool:
    """False when there was no such policy."""
    if builtin_text(name) is not None:
        raise BuiltinPolicyKept(
            f"policy {name} is a built-in role policy: reset it, or put an empty one to disable it"
        )
    with db.session(write=True) as session:
        deleted = session.execute(delete(PolicyRow).where(PolicyRow.name == name)).rowcount > 0
        if deleted:
            _bump(session)
    return deleted


def _bump(session: Session) -> None:
    session.execute(
        update(PolicyGeneration)
        .where(PolicyGeneration.id == 1)
        .values(generation=PolicyGeneration.generation + 1)
    )


_GENERATION = select(PolicyGeneration.generation).where(PolicyGeneration.id == 1)


def generation(db: Database) -> int:
    # A bare connection, not an ORM session: a point read on the one-row table.
    with db.single_read() as connection:
        return connection.execute(_GENERATION).scalar() or 0


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.policies: Policies | None = None


_CACHES: weakref.WeakKeyDictionary[Database, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def policies_in_force(db: Database, current: int | None = None) -> Policies:
    """The compiled policy set, recompiled only when policy_generation moved; ``current`` is
    the generation as the caller read it for this call (the API reads it with the caller's key,
    api/front_door.py), else it is read here.

    Why a read per call and not a time-to-live: an edit (a revoked permission above all) must
    hold on every replica the moment ``baryon policy put`` returns, and only the database
    knows that across replicas. The read is one point query on a one-row table, or a part of
    the statement that reads the caller's key. Compiling happens once per change per process.
    """
    with _CACHES_LOCK:
        cache = _CACHES.get(db)
        if cache is None:
            cache = _CACHES[db] = _Cache()
    if current is None:
        current = generation(db)
    policies = cache.policies
    if policies is not None and policies.generation == current:
        return policies
    with cache.lock:
        policies = cache.policies
        if policies is None or policies.generation != current:
            in_force = [NamedPolicy(p.name, p.text) for p in list_policies(db)]
            policies = cache.policies = Policies(in_force, current)
    return policies
